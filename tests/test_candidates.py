"""Issue 50's candidates: trained on real faces with no test split scored, and chosen by the fixed rule on the
selection parts alone."""
from __future__ import annotations

import json

import pytest

from fer_lib.errors import FerError


def test_the_rule_gates_on_publictest_then_needs_a_higher_selection_macro_f1():
    from fer_lib.studies.candidates import apply_rule
    from fer_lib.studies.out_of_domain import SHIPPED

    accuracy = {SHIPPED: 0.700, "a": 0.695, "b": 0.680, "c": 0.7001}
    f1 = {SHIPPED: 0.40, "a": 0.45, "b": 0.60, "c": 0.41}
    chosen = apply_rule(accuracy, f1, ["a", "b", "c"])
    assert chosen["eligible"] == ["a", "c"]  # b is 2 points below on PublicTest: out, whatever its macro F1
    assert chosen["ships"] == "a" and "a is within 1 point" in chosen["why"]
    kept = apply_rule(accuracy, {**f1, "a": 0.40, "c": 0.39}, ["a", "b", "c"])
    assert kept["best_eligible"] == "a" and kept["ships"] == SHIPPED and "not above" in kept["why"]  # a tie keeps it
    assert apply_rule({SHIPPED: 0.7}, {SHIPPED: 0.4}, [])["why"] == "no candidate is trained"


def test_the_second_model_is_the_best_fer_plus_candidate_and_ships_only_above_the_shipped_model():
    from fer_lib.studies.candidates import second_model_rule
    from fer_lib.studies.out_of_domain import SHIPPED

    f1 = {SHIPPED: 0.40, "ferplus_majority": 0.43, "ferplus_votes": 0.44, "strong_augment": 0.90}
    picked = second_model_rule(f1, ["ferplus_majority", "ferplus_votes", "strong_augment"])
    assert (picked["name"], picked["best"], picked["ships"]) == ("ferplus", "ferplus_votes", True)  # FER+ ones only
    assert picked["why"] == ("ferplus_votes, the best FER+ candidate, has mean macro F1 44.0% on CK+48's selection "
                             "half, above the shipped model's 40.0%")
    assert not second_model_rule({**f1, "ferplus_majority": 0.40}, ["ferplus_majority", "strong_augment"])["ships"]
    assert second_model_rule(f1, ["strong_augment"]) == {"name": "ferplus", "best": None, "ships": False,
                                                         "why": "no FER+ candidate is trained"}


def test_an_unknown_candidate_names_the_trainable_ones():
    from fer_lib.studies.candidates import candidate_spec

    with pytest.raises(FerError, match="ferplus_votes.*strong_augment, eye_aligned$"):
        candidate_spec("eye_alinged")
    from fer_lib.papers.reference.experiments import CANDIDATE_RUNS
    from fer_lib.studies.out_of_domain import CANDIDATES
    assert sorted(spec.name for spec in CANDIDATE_RUNS) == sorted(c["name"] for c in CANDIDATES)  # each one is built
    assert candidate_spec("ferplus_votes").training.targets == "distribution"


def test_candidates_train_with_no_test_look_and_are_chosen_on_the_selection_parts(run_cache, data_root, tmp_path):
    """Two real candidates under smoke (one with FER+'s eight classes, one with FER2013's seven): model files the
    recognizer loads, records that say no test split was scored, no test look logged; the choice scores the
    shipped model and both on the selection parts and applies the rule to what it saved."""
    from fer_lib import cli
    from fer_lib.recognizer import EmotionRecognizer
    from fer_lib.studies.candidates import (SELECTION_FILE, apply_rule, candidate_model_file, choose, second_model_rule,
                                           ship_second_model, train_candidates)
    from fer_lib.studies.out_of_domain import SHIPPED

    from fer_lib.studies.candidates import SUPERSEDED, SUPERSEDED_NOTE, candidate_folder

    reports = tmp_path / "reports"
    # a saved run of ferplus_votes whose checkpoint this cache lacks: refused as is, set aside with --restart
    lost = candidate_folder("ferplus_votes", "smoke", reports)
    lost.mkdir(parents=True)
    (lost / "record.json").write_text(json.dumps({"finished": False, "epochs": {"run": 3, "planned": 9},
                                                  "backends": [{"git_commit": "abc1234"}]}))
    with pytest.raises(FerError, match="--restart"):
        train_candidates(["ferplus_votes", "strong_augment"], "smoke", data_root=data_root, reports_root=reports)
    assert not candidate_folder("strong_augment", "smoke", reports).exists()
    records = train_candidates(["ferplus_votes", "strong_augment"], "smoke", data_root=data_root, reports_root=reports,
                               restart=True)
    kept = reports / "smoke" / "out_of_domain_candidates" / SUPERSEDED / "ferplus_votes-3of9-abc1234"
    assert json.loads((kept / "record.json").read_text())["epochs"]["run"] == 3
    assert "restarted from epoch 1" in json.loads((kept / SUPERSEDED_NOTE).read_text())["reason"]
    assert [r["test_split_scored"] for r in records] == [False, False]
    assert [r["finished"] for r in records] == [True, True]  # smoke's one epoch, completed
    assert [len(r["class_names"]) for r in records] == [8, 7]
    assert records[0]["train_config"]["targets"] == "distribution" and records[1]["train_config"]["shear"] == 0.2
    for record in records:
        assert EmotionRecognizer(candidate_model_file(record["candidate"], "smoke", reports)).class_names == \
            tuple(record["class_names"])
        assert (reports / "smoke" / "out_of_domain_candidates" / record["candidate"] / "history.csv").exists()
    assert not (reports / "test_looks.csv").exists()  # training scored no test split

    selection = choose("smoke", data_root=data_root, reports_root=reports)
    assert json.loads((reports / "smoke" / "out_of_domain_candidates" / SELECTION_FILE).read_text()) == \
        json.loads(json.dumps(selection))
    scored = {SHIPPED, "ferplus_votes", "strong_augment"}
    assert scored <= set(selection["publictest_accuracy"]) and selection["not_trained"] == ["ferplus_majority",
                                                                                               "eye_aligned"]
    assert selection["paused"] == {} and selection["epochs"]["strong_augment"]["run"] == 1
    assert [run["folder"] for run in selection["superseded"]] == ["ferplus_votes-3of9-abc1234"]  # still visible
    assert {s["set"] for s in selection["scores"]} == {"ckplus48_selection", "ferplus_publictest"}  # no report part
    assert {(s["set"], s["way"]) for s in selection["scores"] if s["model"] == SHIPPED} == {
        (part, way) for part in ("ckplus48_selection", "ferplus_publictest") for way in ("given box", "end to end")}
    assert selection["decision"] == apply_rule(selection["publictest_accuracy"], selection["mean_selection_macro_f1"],
                                               ["ferplus_votes", "strong_augment"])
    assert selection["second_model"] == second_model_rule(selection["mean_ckplus_selection_macro_f1"],
                                                          ["ferplus_votes", "strong_augment"])
    assert not (reports / "test_looks.csv").exists()
    assert cli.main(["candidates", "choose", "strong_augment"]) == 2  # a user mistake: one line, exit 2

    # the second model ships only where the saved choice says so, into the folder the recognizer reads by name
    models = tmp_path / "models"
    path = reports / "smoke" / "out_of_domain_candidates" / SELECTION_FILE
    for ships in (False, True):
        path.write_text(json.dumps({**selection, "second_model": {**selection["second_model"], "ships": ships,
                                                                  "best": "ferplus_votes", "why": "told so"}}))
        if not ships:
            with pytest.raises(FerError, match="ships no second model: told so"):
                ship_second_model("smoke", reports, models)
            assert not models.exists()
    shipped = ship_second_model("smoke", reports, models)
    assert shipped == models / "ferplus_cnn.keras"
    assert shipped.read_bytes() == candidate_model_file("ferplus_votes", "smoke", reports).read_bytes()
    recognizer = EmotionRecognizer(shipped)
    assert len(recognizer.class_names) == 8 and recognizer.classifier.info.source["candidate"] == "ferplus_votes"
    assert recognizer.classifier.info.source["why"] == "told so"


def test_a_paused_candidate_is_not_chosen_until_it_is_continued(tmp_path):
    """A run stopped by `--stop-after-minutes` with epochs and budget left writes its record and model file, but the
    choice must not read a half-trained candidate: it is listed as paused, with how far it got."""
    from fer_lib.studies.candidates import candidate_folder, candidate_model_file, paused_candidates, trained_candidates

    for name, finished in (("ferplus_votes", False), ("strong_augment", True), ("eye_aligned", None)):
        folder = candidate_folder(name, "cpu", tmp_path)
        folder.mkdir(parents=True)
        told = {} if finished is None else {"finished": finished}  # None: a record from before runs were told apart
        (folder / "record.json").write_text(json.dumps({**told, "epochs": {"run": 21, "planned": 50}}))
        candidate_model_file(name, "cpu", tmp_path).write_bytes(b"weights")
    assert list(trained_candidates("cpu", tmp_path)) == ["strong_augment"]
    assert paused_candidates("cpu", tmp_path) == {"ferplus_votes": "21 of 50 epochs", "eye_aligned": "21 of 50 epochs"}


def test_a_paused_candidate_whose_budget_ends_short_of_its_epochs_says_what_to_pass():
    from fer_lib.studies.candidates import budget_warning

    # 2 epochs of 400 s done, 180 minutes of budget: 10800 - 800 = 10000 s left, 25 more epochs, so epoch 27 of 50
    warning = budget_warning(2, 50, 800.0, [400.0, 400.0], 180 * 60)
    assert warning == ("at 400 s an epoch its budget of 180 minutes ends near epoch 27 of 50; pass --budget-minutes "
                       "370 to train all of them")  # (800 + 48 * 400) * 1.1 / 60 = 366.7, rounded up to tens
    assert budget_warning(2, 50, 800.0, [150.0, 160.0, 170.0], 180 * 60) is None  # 160 s an epoch: 64 epochs fit
    assert budget_warning(2, 50, 800.0, [400.0], None) is None and budget_warning(50, 50, 9e3, [400.0], 60.0) is None


def test_the_index_lists_each_candidate_run_and_the_runs_set_aside(tmp_path, candidate_choice):
    """The index's candidates table, read from the records alone: a paused run, a finished one and a run set aside
    (with why), each with its epochs, minutes, device and commits; no candidate run, no section. Once a choice is
    saved, the section says what it scored, what ships and why."""
    from fer_lib.reporting.index import build_index, compute_table
    from fer_lib.studies.candidate_runs import (SELECTION_FILE, SUPERSEDED, SUPERSEDED_NOTE, candidate_folder,
                                                candidates_root, candidates_status)

    assert candidates_status("cpu", tmp_path).empty
    build_index(tmp_path, ("cpu",))
    assert "Candidates for the shipped model" not in (tmp_path / "index.md").read_text()

    def record(run: int, finished: bool, commit: str) -> dict:
        return {"kind": "candidate", "budget_minutes": 380.0, "finished": finished,
                "epochs": {"run": run, "planned": 50, "best_epoch": run - 1,
                                                 "stop_reason": "completed" if finished else "stopped by wall-clock budget"},
                "publictest_accuracy_own_labels": 0.8168, "train_seconds": 600.0,
                "backends": [{"device": "CPU: test", "git_commit": commit}]}

    for name, saved in (("ferplus_votes", record(2, False, "bbb")), ("strong_augment", record(50, True, "ccc"))):
        candidate_folder(name, "cpu", tmp_path).mkdir(parents=True)
        (candidate_folder(name, "cpu", tmp_path) / "record.json").write_text(json.dumps(saved))
    aside = candidate_folder(SUPERSEDED, "cpu", tmp_path) / "ferplus_votes-39of50-aaa"
    aside.mkdir(parents=True)
    (aside / "record.json").write_text(json.dumps(record(39, False, "aaa")))
    (aside / SUPERSEDED_NOTE).write_text(json.dumps({"candidate": "ferplus_votes", "reason": "its checkpoint was lost"}))

    table = candidates_status("cpu", tmp_path)
    assert list(table["candidate"]) == ["ferplus_votes", "strong_augment", "ferplus_votes"]
    assert list(table["epochs"]) == ["2 of 50", "50 of 50", "39 of 50"]
    assert table["state"][0].startswith("paused") and table["state"][1] == "completed"
    assert table["state"][2] == "set aside (superseded/ferplus_votes-39of50-aaa): its checkpoint was lost"
    assert list(table["training minutes"]) == [10.0] * 3 and list(table["commits"]) == ["bbb", "ccc", "aaa"]
    (row,) = compute_table(tmp_path, "cpu", notebooks=[]).to_dict("records")  # the runs set aside count too
    assert (row["notebook"], row["training time in its runs"], row["training budget"]) == \
        ("out_of_domain_candidates", "30.0 min", "1140 min")
    build_index(tmp_path, ("cpu",))
    index = (tmp_path / "index.md").read_text()
    assert "## Candidates for the shipped model (cpu profile)" in index and "ferplus_votes-39of50-aaa" in index
    assert "ferplus_votes-39of50-aaa" in (tmp_path / "index.html").read_text()
    assert "Decision:" not in index  # no choice saved yet

    (candidates_root("cpu", tmp_path) / SELECTION_FILE).write_text(json.dumps(candidate_choice))
    build_index(tmp_path, ("cpu",))
    index = (tmp_path / "index.md").read_text()
    assert "| ferplus_votes | 69.5 | 41.1 | 50 of 50 |" in index and "| shipped model | 70.1 | 43.2 |  |" in index
    assert "**Decision: the shipped model stays the default**: the best eligible candidate, ferplus_votes, has mean " \
           "selection macro F1 41.1%, not above the shipped model's 43.2%." in index
    assert "Not weighed by this choice: strong_augment (not trained), eye_aligned (not trained), ferplus_majority " \
           "(paused at 7 of 50 epochs)." in index
    assert "**Second model (`--model ferplus`): does not ship** (ferplus_votes, the best FER+ candidate, has mean " \
           "macro F1 41.1% on CK+48's selection half, not above the shipped model's 43.2%). Its rule, fixed before " \
           "the choice: Of the FER+ candidates" in index
    assert "Decision: the shipped model stays the default" in (tmp_path / "index.html").read_text()


def test_the_chosen_default_is_scored_once_on_privatetest_then_shipped_and_the_former_default_is_kept(
        run_cache, data_root, tmp_path, monkeypatch, candidate_choice):
    """Real smoke runs: a reference run shipped as the default, then a candidate the saved choice ships over it. The
    candidate must first be an experiment (committed before its look); its finished run is scored once on PrivateTest
    (one logged look, under the choice's rule, however often it is shipped), shipped with the choice in its sidecar,
    the former default kept beside its report, where the benchmark finds it; the card sets the two side by side; and
    the reference notebook's recipe may no longer replace it."""
    from dataclasses import replace

    from fer_lib.evaluate import test_looks
    from fer_lib.files import file_sha256
    from fer_lib.papers import get_experiments
    from fer_lib.papers.reference import experiments
    from fer_lib.recognizer import EmotionRecognizer
    from fer_lib.recognizer.classifiers import REFERENCE_MODEL, ModelInfo
    from fer_lib.studies.candidates import (SELECTION_FILE, candidate_model_file, candidate_spec, candidates_root,
                                           ship_default, train_candidate)
    from fer_lib.studies.experiment_runs import run_experiment
    from fer_lib.studies.out_of_domain import SHIPPED, kept_models
    from fer_lib.studies.shipping import kept_by_choice, ship_run

    reports, models = tmp_path / "reports", tmp_path / "models"
    former = run_experiment(get_experiments("reference", "fer2013_standard")[0], "smoke", data_root=data_root,
                            reports_root=reports)[0].folder
    ship_run(former, models_dir=models, data_root=data_root, reports_root=reports)
    former_bytes = (models / REFERENCE_MODEL.name).read_bytes()
    train_candidate("strong_augment", "smoke", data_root=data_root, reports_root=reports)
    model_file = candidate_model_file("strong_augment", "smoke", reports)
    choice = {**candidate_choice, "profile": "smoke", "decision": {"ships": "strong_augment", "why": "strong_augment beats it"},
              "models": {"strong_augment": {"sha256": file_sha256(model_file)}}}
    (candidates_root("smoke", reports) / SELECTION_FILE).write_text(json.dumps(choice))
    looks_before = len(test_looks.read_log(reports))

    with pytest.raises(FerError, match="not yet an experiment.*CHOSEN_DEFAULTS"):
        ship_default("smoke", data_root=data_root, reports_root=reports, models_dir=models)
    monkeypatch.setattr(experiments, "CHOSEN_DEFAULTS", ("strong_augment",))
    monkeypatch.setattr(experiments, "EXPERIMENTS", [*experiments.EXPERIMENTS, replace(
        candidate_spec("strong_augment"), selection_rule=experiments.CHOSEN_DEFAULT_RULE)])
    assert len(test_looks.read_log(reports)) == looks_before and (models / REFERENCE_MODEL.name).read_bytes() == \
        former_bytes  # refused before anything was scored or written

    for _ in range(2):  # shipped twice: scored once
        path = ship_default("smoke", data_root=data_root, reports_root=reports, models_dir=models)
    looks = [r for r in test_looks.read_log(reports) if r["experiment"].startswith("strong_augment")]
    assert len(looks) == 1 and looks[0]["selection_rule"] == experiments.CHOSEN_DEFAULT_RULE
    assert (reports / "smoke" / "reference" / "strong_augment" / "experiment.json").exists()
    source = ModelInfo.read(path).source
    assert (source["experiment"], source["chosen_by"]["why"], source["chosen_by"]["commit"]) == (
        "strong_augment", "strong_augment beats it", "abc1234")
    kept = former / "model.keras"
    assert kept.read_bytes() == former_bytes and source["replaced"]["experiment"] == "fer2013_standard"
    assert ModelInfo.read(kept).source["experiment"] == "fer2013_standard"  # its sidecar came with it
    assert EmotionRecognizer(path).class_names == EmotionRecognizer(model_file).class_names
    card = (models / "MODEL_CARD.md").read_text()
    assert "shipped it over `fer2013_standard`, the recipe chosen on PublicTest" in card
    assert "Against `fer2013_standard`, the default it replaced, on the same" in card and "paired 95% CI" in card
    assert {"fer2013_standard", "strong_augment"} <= set(kept_models("smoke", reports))  # scored by the benchmark
    assert SHIPPED not in kept_models("smoke", reports)

    # the former default's weights are still found, from the copy kept beside its report, once its checkpoint is gone
    import shutil

    from fer_lib.evaluate.run_store import selected_weights
    from fer_lib.evaluate.warm_start import FROM_KEPT_MODEL
    shutil.rmtree(run_cache / "runs" / "smoke" / "reference" / "fer2013_standard")
    spec = get_experiments("reference", "fer2013_standard")[0]
    kept_weights = selected_weights(spec, "smoke", ModelInfo.read(kept).source["n_images"], models_dir=models,
                                    reports_root=reports)
    assert (kept_weights.where, kept_weights.sha256) == (FROM_KEPT_MODEL, file_sha256(kept))

    # the reference notebook's recipe no longer replaces it, unless told to
    from fer_lib.evaluate.record import ExperimentRecord
    assert "would undo that choice" in kept_by_choice(ExperimentRecord.read(former), models)
    with pytest.raises(FerError, match="would undo that choice"):
        ship_run(former, models_dir=models, data_root=data_root, reports_root=reports)
    assert ModelInfo.read(path).source["experiment"] == "strong_augment"


def test_a_chosen_defaults_report_is_claimed_by_the_benchmark_and_its_training_counted_once(tmp_path):
    """The report `fer-lib candidates ship` writes for the chosen default resumes its candidate's finished run: the
    compute table counts that training with the candidates, not again under reference/ or the benchmark's notebook."""
    import shutil

    from fer_lib.config import reports_dir
    from fer_lib.reporting.index import compute_table
    from fer_lib.studies.candidates import candidate_folder

    chosen = tmp_path / "cpu" / "reference" / "eye_aligned"
    chosen.mkdir(parents=True)
    shutil.copyfile(reports_dir() / "cpu" / "reference" / "eye_aligned" / "experiment.json", chosen / "experiment.json")
    candidate_folder("eye_aligned", "cpu", tmp_path).mkdir(parents=True)
    (candidate_folder("eye_aligned", "cpu", tmp_path) / "record.json").write_text(json.dumps(
        {"kind": "candidate", "train_seconds": 600.0, "budget_minutes": 420.0, "finished": True}))
    table = compute_table(tmp_path, "cpu", notebooks=[{"paper": "out_of_domain", "notebook": "notebooks/x.ipynb",
                                                      "runs": ["reference/eye_aligned"]}]).set_index("notebook")
    assert "reference" not in table.index  # claimed by the benchmark's notebook
    assert table.loc["out_of_domain", "training time in its runs"] == "0.0 min"
    assert table.loc["out_of_domain_candidates", "training time in its runs"] == "10.0 min"
