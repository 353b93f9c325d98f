"""The reference model's recipe and evaluation: the training settings it adds, ten-crop views, the
comparison table, and the benchmark's frames."""
from __future__ import annotations

import cv2
import numpy as np
import pandas as pd
import pytest

from fer_lib.errors import FerError
from fer_lib.train import TrainConfig


def test_cosine_schedule_warms_up_then_anneals_to_zero_and_sgd_gets_nesterov():
    import keras

    config = TrainConfig(optimizer="sgd", learning_rate=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4,
                         epochs=10, schedule="cosine", warmup_epochs=1)
    optimizer = config.optimizer_instance(steps_per_epoch=100)
    assert optimizer.nesterov and optimizer.momentum == 0.9 and optimizer.weight_decay == 5e-4
    rate = optimizer._learning_rate
    values = [float(keras.ops.convert_to_numpy(rate(step))) for step in (0, 100, 550, 1000)]
    assert values[0] == pytest.approx(0.001) and values[1] == pytest.approx(0.01)
    assert values[2] == pytest.approx(0.005, rel=0.01) and values[3] == pytest.approx(0.0, abs=1e-9)
    assert isinstance(TrainConfig(learning_rate=0.01).optimizer_instance(10), keras.optimizers.Adam)


def test_new_settings_leave_earlier_checkpoints_identity_unchanged_and_are_validated():
    earlier = TrainConfig(optimizer="adam", learning_rate=1e-3, epochs=50)
    assert not {"momentum", "schedule", "zoom", "erasing", "warmup_epochs"} & set(earlier.identity())
    assert TrainConfig(zoom=0.2).identity()["zoom"] == 0.2
    assert TrainConfig(epochs=60, warmup_epochs=1, schedule="cosine").capped(1).warmup_epochs == 0
    for bad, message in [(dict(schedule="step"), "schedule must be one of"),
                         (dict(nesterov=True), "needs a momentum"),
                         (dict(momentum=0.9), "SGD or RMSprop setting"),
                         (dict(erasing=1.5), "erasing must be a number in"),
                         (dict(epochs=5, warmup_epochs=5), "warmup_epochs must be")]:
        with pytest.raises(FerError, match=message):
            TrainConfig(**bad)


def test_augmenter_adds_zoom_shift_and_erasing_only_when_asked():
    from fer_lib.train.loop import augmenter_for

    names = [layer.name for layer in augmenter_for(TrainConfig()).layers]
    assert names == ["random_flip", "random_rotation"]
    names = [layer.name for layer in augmenter_for(TrainConfig(zoom=0.2, translate=0.1, erasing=0.5)).layers]
    assert names == ["random_flip", "random_rotation", "random_zoom", "random_translation", "random_erasing"]


def test_reference_network_crops_the_centre_and_exports_the_crop():
    import keras

    from fer_lib.models import build_model
    model = build_model("reference_cnn", width=8)
    crop = keras.Model(model.input, model.get_layer("center_crop").output)
    x = np.arange(48 * 48, dtype=np.float32).reshape(1, 48, 48, 1)
    np.testing.assert_array_equal(np.asarray(crop.predict_on_batch(x))[0], x[0, 4:44, 4:44])
    with pytest.raises(FerError, match="crop must be"):
        build_model("reference_cnn", crop=50)


def test_ten_crop_sees_the_centre_the_four_corners_and_their_mirrors():
    from fer_lib.studies.reference_model import ten_crop_proba

    faces = np.random.default_rng(0).integers(0, 255, (3, 48, 48), dtype=np.uint8)
    seen = []

    def classify(x):
        seen.append(x[:, 4:44, 4:44].copy())  # what a model with the 40x40 centre crop sees
        return np.tile([[0.25, 0.75]], (len(x), 1))

    proba = ten_crop_proba(classify, faces)
    np.testing.assert_allclose(proba, np.tile([[0.25, 0.75]], (3, 1)))
    expected = []
    for view in (faces, faces[:, :, ::-1]):
        expected += [view[:, 4:44, 4:44], view[:, :40, :40], view[:, :40, 8:], view[:, 8:, :40], view[:, 8:, 8:]]
    assert len(seen) == 10
    for crop in expected:
        assert any(np.array_equal(crop, s) for s in seen)


def test_comparison_scores_every_entry_on_the_same_images(tmp_path):
    from fer_lib.studies.reference_model import Entry, compare_models

    y = np.array([0, 1, 1, 0, 2, 2])
    perfect = np.eye(3)[y]
    wrong = np.eye(3)[(y + 1) % 3]
    table = compare_models([Entry("perfect", perfect, 100.0, "all right"), Entry("wrong", wrong, None, "all wrong")],
                           y, np.array([f"i{k}" for k in range(6)]), ("a", "b", "c"), np.array([1, 1, 0, 1, 1, 0], bool),
                           tmp_path / "comparison", "six images")
    assert table["accuracy"].tolist() == [1.0, 0.0] and table["deduplicated_accuracy"].tolist() == [1.0, 0.0]
    assert (tmp_path / "comparison" / "predictions_1.npz").exists()
    # each entry against the first, paired on the same images: every image flips from right to wrong
    assert table["minus_first_points"].tolist()[1] == -100.0 and table["minus_first_ci"][1] == [-100.0, -100.0]
    assert pd.isna(table["minus_first_points"][0])
    with pytest.raises(FerError, match="probabilities of shape"):
        compare_models([Entry("short", perfect[:3], 1.0, "")], y, np.arange(6), ("a", "b", "c"), None,
                       tmp_path / "bad", "")


def test_comparison_rerenders_from_its_saved_predictions_alone(tmp_path):
    import json

    from fer_lib.studies.reference_model import Entry, compare_models, rerender_comparison

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 200)
    a, b = rng.dirichlet(np.ones(3), 200), np.eye(3)[y] * 0.6 + 0.1
    folder = tmp_path / "comparison"
    first = compare_models([Entry("a", a, 10.0, "noise"), Entry("b", b, 5.0, "right")], y,
                           np.array([f"i{k}" for k in range(200)]), ("x", "y", "z"), None, folder, "two models")
    saved = json.loads((folder / "comparison.json").read_text())
    saved["rows"][1]["minus_first_points"] = 0.0  # a stale table: the rerender recomputes it from the predictions
    (folder / "comparison.json").write_text(json.dumps(saved))
    again = rerender_comparison(folder)
    pd.testing.assert_frame_equal(first, again)
    assert again["minus_first_points"][1] > 0 and again["minus_first_ci"][1][0] > 0
    assert json.loads((folder / "comparison.json").read_text())["description"].count("minus_first") == 1


def test_benchmark_frames_hold_real_faces_the_detector_finds(fer2013):
    from fer_lib.recognizer import HaarDetector
    from fer_lib.studies.recognizer_benchmark import build_frames, finding_rate

    faces = fer2013.images[fer2013.split == "PrivateTest"][:40]
    encoded, boxes = build_frames(faces, 4, n=10)
    frame = cv2.imdecode(np.frombuffer(encoded[0], np.uint8), cv2.IMREAD_COLOR)
    assert frame.shape == (480, 640, 3) and len(boxes[0]) == 4
    rate, ms = finding_rate(HaarDetector(), encoded, boxes)
    assert 0.5 <= rate <= 1.0 and ms > 0



def test_shipping_from_the_committed_cpu_run_writes_a_loadable_model_sidecar_and_card(fer2013, tmp_path, candidate_choice):
    """Ships from the real run's record and metrics (the structure the notebook reads), with a narrow
    untrained network standing in for the trained weights."""
    import json

    import keras

    from fer_lib.config import REPO_ROOT
    from fer_lib.evaluate.record import ExperimentRecord
    from fer_lib.models import build_model
    from fer_lib.recognizer import load_classifier
    from fer_lib.recognizer.classifiers import ModelInfo
    from fer_lib.studies.model_card import label_agreement, refresh_model_card
    from fer_lib.studies.shipping import ship_reference_model
    from fer_lib.train import predict_proba

    folder = REPO_ROOT / "reports" / "cpu" / "reference" / "fer2013_standard"
    if not (folder / "metrics.json").exists():
        pytest.skip("the reference model's cpu run is not in reports/ (run notebooks/reference_model.ipynb, profile cpu)")
    record, metrics = ExperimentRecord.read(folder), json.loads((folder / "metrics.json").read_text())
    record.model_options = {**record.model_options, "width": 8}  # the narrow stand-in, rebuilt as shipping rebuilds
    keras.utils.set_random_seed(0)
    model = build_model(record.model, **record.model_options)
    faces = fer2013.images[fer2013.split == "PrivateTest"][:64]
    path = ship_reference_model(model, record, faces, predict_proba(model, faces), tmp_path)

    info = ModelInfo.read(path)
    assert info.class_names == tuple(metrics["primary"]["class_names"]) and len(info.class_names) == 7
    assert info.source["epochs"] == max(record.epochs.run_per_seed) and info.source["same_top_class_as_run"] == 1.0
    assert info.source["accuracy_private_test"] == round(record.accuracy, 4)
    card = (tmp_path / "MODEL_CARD.md").read_text()
    assert f"**{metrics['pooled_over_seeds']['accuracy']:.1%}**" in card
    assert f"n = {metrics['deduplicated_test']['n']}" in card
    audit = label_agreement()
    if audit is not None:  # the data audit's agreement, as the audit wrote it
        assert f"on {audit['majority']:.1%} of the {audit['images']:,} images" in card
    assert "The rarest class, disgust, has" in card
    assert "The recipe's source reports 73.3% (Khaireddin and Chen 2021" in card
    assert f"{100 * (metrics['pooled_over_seeds']['accuracy'] - 0.7328):+.1f} points" in card
    assert load_classifier(path).predict(faces[:3]).shape == (3, 7)

    # the card comes from the saved reports alone (the run, the comparison, the choice), whoever writes it
    assert "## Beside other models" in card and "reference, ten-crop" in card
    comparison = json.loads((folder.parent / "model_comparison" / "comparison.json").read_text())
    assert comparison["description"].split("; minus_first:")[0] + "." in card  # the machine that measured speeds
    assert "Recipe `fer2013_standard`: weight decay 0.0005, dropout 0.4." in card
    # the committed out-of-domain scores are of the shipped model's bytes, not this stand-in's: not quoted
    assert "Not measured under this profile yet" in card.split("## Out of domain")[1]
    (tmp_path / "MODEL_CARD.md").write_text("stale")
    assert refresh_model_card(tmp_path).read_text() == card  # the card's one writer: the same text

    # the card quotes the PublicTest choice between recipes only where that choice picked the shipped run
    import shutil
    from fer_lib.studies.reference_model import PUBLIC_TEST_ACCURACY, SELECTION_FOLDER
    root = tmp_path / "reports"
    shutil.copytree(folder, root / "cpu" / "reference" / "fer2013_standard")
    for chosen, quoted in [("fer2013_standard", True), ("fer2013_light_reg", False)]:
        (root / "cpu" / "reference" / SELECTION_FOLDER).mkdir(parents=True, exist_ok=True)
        pd.DataFrame({"recipe": ["fer2013_standard", "fer2013_light_reg"], PUBLIC_TEST_ACCURACY: [0.6553, 0.6712],
                      "chosen": [chosen == "fer2013_standard", chosen == "fer2013_light_reg"]}).to_csv(
            root / "cpu" / "reference" / SELECTION_FOLDER / "selection.csv", index=False)
        text = refresh_model_card(tmp_path, root).read_text()
        assert ("(accuracy at each run's selected epoch: `fer2013_standard` 65.5%, `fer2013_light_reg` 67.1%;" in text) == quoted

    # the choice between issue 50's candidates, once saved under the shipped run's profile: what ships and why
    assert "Decision:" not in text
    from fer_lib.studies.candidate_runs import SELECTION_FILE, candidates_root
    candidates_root("cpu", root).mkdir(parents=True)
    (candidates_root("cpu", root) / SELECTION_FILE).write_text(json.dumps(candidate_choice))
    text = refresh_model_card(tmp_path, root).read_text().split("## Out of domain")[1]
    assert "**Decision: the shipped model stays the default**: the best eligible candidate, ferplus_votes" in text
    assert "| ferplus_votes | 69.5 | 41.1 | 50 of 50 |" in text

    record.n_images -= 1  # a run on less data than the one shipped is refused, and nothing is written
    before = path.stat().st_mtime_ns
    with pytest.raises(FerError, match="pass replace=True"):
        ship_reference_model(model, record, faces, predict_proba(model, faces), tmp_path)
    assert path.stat().st_mtime_ns == before
    record.n_images += 1  # a run whose report is not under the reports named: refused before anything is written
    with pytest.raises(FerError, match="holds no metrics.json"):
        ship_reference_model(model, record, faces, predict_proba(model, faces), tmp_path, reports_root=tmp_path / "none")
    assert path.stat().st_mtime_ns == before

    # shipping the weights already shipped leaves the saved file's bytes alone; new weights replace it
    saved = path.read_bytes()
    ship_reference_model(model, record, faces, predict_proba(model, faces), tmp_path)
    assert path.read_bytes() == saved
    # an out-of-domain benchmark of these bytes is quoted in the card shipping writes, as in the refreshed one
    from fer_lib.studies import out_of_domain
    ood = root / record.profile / out_of_domain.STUDY
    ood.mkdir(parents=True)
    (ood / "summary.md").write_text("Out-of-domain benchmark (stand-in): ahead.")
    (ood / "results.json").write_text(json.dumps(
        {"models": {out_of_domain.SHIPPED: {"sha256": out_of_domain.file_sha256(path)}}}))
    ship_reference_model(model, record, faces, predict_proba(model, faces), tmp_path, reports_root=root)
    assert "Out-of-domain benchmark (stand-in): ahead." in (tmp_path / "MODEL_CARD.md").read_text()
    model.set_weights([w * 1.01 for w in model.get_weights()])
    ship_reference_model(model, record, faces, predict_proba(model, faces), tmp_path, reports_root=root)
    assert path.read_bytes() != saved
    assert "Not measured under this profile yet" in (tmp_path / "MODEL_CARD.md").read_text()  # new bytes: not quoted


def _recipe_report(folder, name, *, test_accuracy, public_test, best_epoch, stop="completed all planned epochs",
                   planned=100, weight_decay=5e-4, dropout=None, trained=True):
    """A reference-model report folder whose seed-0 history peaks at `public_test` on `best_epoch`."""
    from fer_lib.evaluate.record import EpochsRecord
    from fer_lib.evaluate.spec import budget_seconds
    from fer_lib.config import get_profile
    from fer_lib.papers import get_experiments
    from conftest import make_record

    spec = get_experiments("reference", "fer2013_standard")[0]
    folder.mkdir(parents=True)
    make_record(paper="reference", experiment=name, label=name, model="reference_cnn", seeds=[0], trained=trained,
                model_options={} if dropout is None else {"dropout": dropout}, accuracy=test_accuracy,
                epochs=EpochsRecord(planned=planned, run_per_seed=[planned], best_epoch_per_seed=[best_epoch],
                                    stop_reasons=[stop], train_seconds_per_seed=[6000.0]),
                train_config={"budget_seconds": budget_seconds(spec, get_profile("cpu")), "weight_decay": weight_decay},
                ).write(folder)
    epochs = np.arange(1, planned + 1)
    val = np.where(epochs == best_epoch, public_test, public_test - 0.02)
    pd.DataFrame({"epoch": epochs, "accuracy": 0.7, "val_accuracy": val}).to_csv(folder / "history_seed0.csv", index=False)
    return folder


def test_shipping_refuses_less_data_a_shorter_run_of_the_same_recipe_and_a_budget_stopped_run():
    from conftest import make_record
    from fer_lib.evaluate.record import EpochsRecord
    from fer_lib.studies.shipping import _weaker_than_shipped

    # the shipped model: a warm restart, 40 of 40 epochs after 140 of the runs before it
    shipped = {"paper": "reference", "experiment": "fer2013_restart2", "profile": "cpu", "n_images": 35887,
               "epochs": 40, "epochs_planned": 40, "epochs_total": 180}

    def run(experiment, epochs, planned=100, n_images=35887, before=0):
        stop = "completed all planned epochs" if epochs == planned else "stopped by wall-clock budget"
        return make_record(paper="reference", experiment=experiment, seeds=[0], n_images=n_images,
                           started_from=[{"epochs": before}] if before else [],
                           epochs=EpochsRecord(planned=planned, run_per_seed=[epochs], best_epoch_per_seed=[epochs],
                                               stop_reasons=[stop], train_seconds_per_seed=[60.0]))

    # another recipe chosen on PublicTest replaces it, though trained from scratch with fewer epochs in all
    assert _weaker_than_shipped(run("fer2013_light_reg", 100), shipped) is None
    assert _weaker_than_shipped(run("fer2013_light_reg", 100), {}) is None  # nothing shipped yet
    assert "on 35887 images; this run on 3500" in _weaker_than_shipped(run("fer2013_light_reg", 100, n_images=3500), shipped)
    assert "this run stopped at 69 of 100" in _weaker_than_shipped(run("fer2013_light_reg", 69), shipped)
    # the shipped recipe itself: fewer epochs in all is refused, as many is not
    assert "180 epochs in all; this run of the same recipe has 179" in _weaker_than_shipped(
        run("fer2013_restart2", 39, planned=40, before=140), shipped)
    assert _weaker_than_shipped(run("fer2013_restart2", 40, planned=40, before=140), shipped) is None
    # the same recipe on another profile is another run
    assert _weaker_than_shipped(run("fer2013_restart2", 40, planned=40), {**shipped, "profile": "paper"}) is None


def test_the_target_check_reads_the_profile_s_target_and_says_where_the_ci_holds_it():
    from conftest import make_record
    from fer_lib.studies.reference_model import CPU_TARGET, target_check

    comparison = pd.DataFrame({"model": ["reference, centre crop", "reference, ten-crop", "fer package 22.5.1"],
                               "accuracy": [0.6709, 0.6982, 0.71],
                               "accuracy_ci": [[0.6554, 0.6861], [0.683, 0.713], [0.69, 0.73]]})
    cpu = target_check(comparison, make_record(paper="reference", profile="cpu"))
    assert list(cpu["model"]) == ["reference, centre crop", "reference, ten-crop"]  # the model's own rows only
    assert set(cpu["target"]) == {CPU_TARGET}
    assert list(cpu["verdict"]) == ["below the target and its 95% CI", "below the target; its 95% CI holds it"]
    comparison.loc[1, "accuracy"] = CPU_TARGET
    assert target_check(comparison, make_record(paper="reference", profile="cpu"))["verdict"][1] == "meets the target"
    paper = target_check(comparison, make_record(paper="reference", profile="paper"))
    assert set(paper["target"]) == {0.7328} and "Khaireddin and Chen 2021" in paper["target_from"][0]
    assert set(paper["verdict"]) == {"below the target and its 95% CI"}
    assert target_check(comparison, make_record(paper="reference", profile="smoke")) is None


def test_the_recipe_shipped_is_chosen_on_public_test_and_never_on_the_test_score(tmp_path):
    from fer_lib.studies.reference_model import select_recipe

    # the standard recipe scores higher on the test set, the light one on PublicTest: PublicTest decides
    folders = {"fer2013_standard": _recipe_report(tmp_path / "a", "fer2013_standard", test_accuracy=0.71,
                                                  public_test=0.655, best_epoch=74),
               "fer2013_light_reg": _recipe_report(tmp_path / "b", "fer2013_light_reg", test_accuracy=0.66,
                                                   public_test=0.672, best_epoch=90, weight_decay=1e-4, dropout=0.2)}
    choice = select_recipe(folders, tmp_path / "selection")
    assert choice.chosen == "fer2013_light_reg"
    table = choice.table.set_index("recipe")
    assert table.loc["fer2013_light_reg", "PublicTest accuracy at it"] == 0.672 and table["chosen"].sum() == 1
    assert table.loc["fer2013_light_reg", "dropout"] == 0.2 and table.loc["fer2013_standard", "selected epoch"] == "74"
    assert table.loc["fer2013_standard", "dropout"] == 0.4  # the builder's default, where the spec sets none
    saved = pd.read_csv(tmp_path / "selection" / "selection.csv")
    assert list(saved["chosen"]) == [False, True]
    assert "No test score is read" in (tmp_path / "selection" / "selection.md").read_text()
    # a tie goes to the first listed
    folders["fer2013_light_reg"] = _recipe_report(tmp_path / "c", "fer2013_light_reg", test_accuracy=0.9,
                                                  public_test=0.655, best_epoch=60)
    assert select_recipe(folders).chosen == "fer2013_standard"
    # a run that did not train ranks last, whatever its PublicTest accuracy
    folders["fer2013_standard"] = _recipe_report(tmp_path / "d", "fer2013_standard", test_accuracy=0.5,
                                                 public_test=0.7, best_epoch=60, trained=False)
    assert select_recipe(folders).chosen == "fer2013_light_reg"


def test_a_run_its_budget_stopped_ranks_below_every_completed_run(tmp_path):
    from fer_lib.studies.reference_model import not_chosen_note, select_recipe

    folders = {"fer2013_standard": _recipe_report(tmp_path / "a", "fer2013_standard", test_accuracy=0.67,
                                                  public_test=0.658, best_epoch=74),
               "fer2013_light_reg": _recipe_report(tmp_path / "b", "fer2013_light_reg", test_accuracy=0.66,
                                                   public_test=0.664, best_epoch=68, stop="stopped by wall-clock budget",
                                                   weight_decay=1e-4, dropout=0.2)}
    choice = select_recipe(folders)
    assert choice.chosen == "fer2013_standard"
    assert list(choice.table["completed"]) == [True, False]
    assert list(choice.table["starts from"]) == ["random weights"] * 2
    note = not_chosen_note(choice.table, "fer2013_light_reg")
    assert "PublicTest 66.4% at its selected epoch, stopped by its budget at 100 of 100 epochs" in note
    # completed, it would have won on PublicTest
    folders["fer2013_light_reg"] = _recipe_report(tmp_path / "c", "fer2013_light_reg", test_accuracy=0.66,
                                                  public_test=0.664, best_epoch=68)
    choice = select_recipe(folders)
    assert choice.chosen == "fer2013_light_reg"
    assert not_chosen_note(choice.table, "fer2013_standard").endswith("lower PublicTest accuracy")


def test_a_finished_full_strength_report_is_read_instead_of_trained_again(tmp_path):
    from fer_lib.evaluate.run_store import finished_report
    from fer_lib.papers import get_experiments

    spec = get_experiments("reference", "fer2013_standard")[0]
    folder = tmp_path / "cpu" / "reference" / "fer2013_standard"
    _recipe_report(folder, spec.name, test_accuracy=0.67, public_test=0.655, best_epoch=74)
    assert finished_report(spec, "cpu", 35887, reports_root=tmp_path) == folder
    assert finished_report(spec, "cpu", 40000, reports_root=tmp_path) is None  # a run now would see more images
    assert finished_report(spec, "paper", 35887, reports_root=tmp_path) is None  # no report under that profile
    for name, over in [("budget", dict(stop="stopped by wall-clock budget")), ("short", dict(planned=50))]:
        other = tmp_path / name
        _recipe_report(other / "cpu" / "reference" / "fer2013_standard", spec.name, test_accuracy=0.67,
                       public_test=0.655, best_epoch=40, **over)
        assert finished_report(spec, "cpu", 35887, reports_root=other) is None


def test_the_snapshot_ensemble_is_left_out_with_the_reason_where_a_member_is_missing(tmp_path, isolated_cache):
    from fer_lib.papers import get_experiments
    from fer_lib.papers.reference.experiments import SNAPSHOT_CHAIN
    from fer_lib.studies.reference_model import snapshot_ensemble_entries

    chain = [get_experiments("reference", name)[0] for name in SNAPSHOT_CHAIN]
    ids = np.array([f"PrivateTest/{i}" for i in range(6)])
    faces = np.zeros((6, 48, 48), np.uint8)
    folders = {}
    for k, name in enumerate(SNAPSHOT_CHAIN):
        folders[name] = _recipe_report(tmp_path / name, name, test_accuracy=0.67, public_test=0.66, best_epoch=30,
                                       stop="stopped by wall-clock budget" if k == 1 else "completed all planned epochs")
        np.savez(tmp_path / name / "predictions_seed0.npz", ids=ids if k < 2 else ids[::-1], proba=np.full((6, 7), 1 / 7))

    def left_out(which):
        rows, why = snapshot_ensemble_entries(chain, which, "cpu", 35887, ids, faces, 800.0, tmp_path / "no_models")
        assert rows == [] and why.startswith("snapshot ensemble of fer2013_standard, fer2013_restart, fer2013_restart2: ")
        return why

    assert left_out({name: f for name, f in folders.items() if name != "fer2013_standard"}).endswith(
        "fer2013_standard has no report")
    assert left_out(folders).endswith("fer2013_restart did not complete its planned epochs")
    folders["fer2013_restart"] = _recipe_report(tmp_path / "again", "fer2013_restart", test_accuracy=0.67,
                                                public_test=0.66, best_epoch=30)
    np.savez(tmp_path / "again" / "predictions_seed0.npz", ids=ids, proba=np.full((6, 7), 1 / 7))
    assert left_out(folders).endswith("fer2013_restart2 was tested on other images")
    np.savez(tmp_path / "fer2013_restart2" / "predictions_seed0.npz", ids=ids, proba=np.full((6, 7), 1 / 7))
    # every report is here, but no run's selected weights are (an empty cache, no shipped model): the centre-crop
    # row needs only the saved predictions, the ten-crop row is left out
    rows, why = snapshot_ensemble_entries(chain, folders, "cpu", 35887, ids, faces, 800.0, tmp_path / "no_models")
    assert [row.name for row in rows] == ["snapshot ensemble (3 networks), centre crop"] and rows[0].images_per_second == 800 / 3
    assert why == ("the snapshot ensemble's ten-crop row: the selected weights of fer2013_standard's reported run are not "
                   "here (neither in the cache nor shipped), and no saved row of the same members is")
    # the comparison saved by an earlier execution holds the ten-crop row: it is reused only when its centre-crop
    # row equals this one's, i.e. the members are the same runs
    from fer_lib.studies.reference_model import Entry, compare_models

    ten_crop = np.random.default_rng(0).dirichlet(np.ones(7), 6).astype(np.float32)
    y, classes = np.arange(6) % 7, tuple("abcdefg")

    def saved_comparison(centre, name):
        compare_models([Entry("reference, centre crop", centre, 1.0, ""), Entry(rows[0].name, centre, 1.0, ""),
                        Entry("snapshot ensemble (3 networks), ten-crop", ten_crop, 1.0, "")],
                       y, ids, classes, None, tmp_path / name, "saved")
        return snapshot_ensemble_entries(chain, folders, "cpu", 35887, ids, faces, 800.0, tmp_path / "no_models",
                                         saved_comparison=tmp_path / name)
    reused, why = saved_comparison(rows[0].proba, "same")
    assert why is None and [row.name for row in reused] == [rows[0].name, "snapshot ensemble (3 networks), ten-crop"]
    assert np.array_equal(reused[1].proba, ten_crop) and reused[1].images_per_second == 800 / 30
    assert "the probabilities the comparison saved when it last ran them" in reused[1].what
    other_members = rows[0].proba.copy()
    other_members[0] = ten_crop[0]  # one member from another run moves the mean
    reused, why = saved_comparison(other_members, "other")
    assert len(reused) == 1 and why.endswith("and no saved row of the same members is")


def test_ship_ships_a_saved_run_from_its_folder_and_its_checkpoint(tmp_path, data_root, run_cache, capsys):
    """`fer-lib ship FOLDER`: a smoke run's selected weights, checked against its own saved test predictions, with
    a sidecar naming the run and a card; a folder that is not a reference run, or whose weights are not here, is
    one line and exit 2, with nothing written."""
    import shutil

    from fer_lib import cli
    from fer_lib.papers import get_experiments
    from fer_lib.recognizer.classifiers import REFERENCE_MODEL, ModelInfo
    from fer_lib.studies.experiment_runs import run_experiment

    reports, models = tmp_path / "reports", tmp_path / "models"
    folder = run_experiment(get_experiments("reference", "fer2013_standard")[0], "smoke", data_root=data_root,
                            reports_root=reports)[0].folder
    args = ["--models-dir", str(models), "--data-dir", str(data_root), "--reports-root", str(reports)]
    assert not cli.main(["ship", str(folder), *args])
    source = ModelInfo.read(models / REFERENCE_MODEL.name).source
    assert (source["profile"], source["experiment"]) == ("smoke", "fer2013_standard")
    # the float32 copy against the run's own predictions (a run trained in bfloat16 may differ on near ties)
    assert 0.9 <= source["same_top_class_as_run"] <= 1.0
    card = (models / "MODEL_CARD.md").read_text()
    assert "`fer_lib.studies.model_card.model_card`" in card and "Recipe `fer2013_standard`" in card
    assert f"the run's top class on {source['same_top_class_as_run']:.2%} of the PrivateTest faces" in card
    capsys.readouterr()
    shipped = (models / REFERENCE_MODEL.name).read_bytes()
    shutil.rmtree(run_cache / "runs")  # the checkpoint gone, and the shipped model is in another folder
    for bad, says in [(tmp_path, "holds no run report"), (folder, "train it with `fer-lib train reference fer2013_standard")]:
        assert cli.main(["ship", str(bad), "--models-dir", str(tmp_path / "elsewhere"), "--data-dir", str(data_root),
                         "--reports-root", str(reports)]) == 2
        err = capsys.readouterr().err.strip()
        assert says in err and len(err.splitlines()) == 1
    assert not (tmp_path / "elsewhere").exists() and (models / REFERENCE_MODEL.name).read_bytes() == shipped


def test_the_float32_copy_of_a_mixed_precision_model_holds_its_weights_exactly():
    # candidates and the shipped model are saved through this one copy; the recognizer runs float32
    import keras

    from fer_lib.models import build_model
    from fer_lib.studies.shipping import float32_copy
    from fer_lib.train import dtype_policy

    with dtype_policy("mixed_bfloat16"):
        mixed = build_model("reference_cnn", (48, 48, 1), 7, width=8)
        assert mixed.layers[3].compute_dtype == "bfloat16"
        copy = float32_copy(mixed, "reference_cnn", {"width": 8})  # even while a mixed policy is set
    assert all(layer.compute_dtype == "float32" for layer in copy.layers if hasattr(layer, "compute_dtype"))
    assert all(np.array_equal(a, b) for a, b in zip(copy.get_weights(), mixed.get_weights()))
    faces = np.random.default_rng(0).uniform(0, 255, (4, 48, 48, 1)).astype("float32")
    assert copy.predict(faces, verbose=0).dtype == np.float32
    assert keras.config.dtype_policy().name == "float32"
