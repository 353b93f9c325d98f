"""What a notebook trains when it is re-executed: only the runs with no saved report, unless told otherwise.

The saved runs are copies of committed cpu report folders in a temporary reports root, so the tests do not depend
on the committed reports staying as they are, and training is replaced by a function that fails the test."""
from __future__ import annotations

import shutil

import pytest

from fer_lib.config import REPO_ROOT
from fer_lib.errors import FerError
from fer_lib.evaluate.run_store import saved_folders
from fer_lib.evaluate.train_plan import TrainPlan
from fer_lib.papers import get_experiments, get_studies
from fer_lib.studies import experiment_runs, paper_studies

CPU = REPO_ROOT / "reports" / "cpu"


def test_a_plan_parses_the_modes_and_names_and_refuses_anything_else():
    assert TrainPlan.parse(None) == TrainPlan.parse("missing") == TrainPlan("missing")
    assert TrainPlan.parse("none").mode == "none" and TrainPlan.parse(" all ").mode == "all"
    assert TrainPlan.parse("a, b").names == TrainPlan.parse(["a", "b"]).names == frozenset({"a", "b"})
    for bad in ("", ",", [], ["a", 3], ["a", " "]):
        with pytest.raises(FerError, match="give one of 'missing', 'none', 'all'"):
            TrainPlan.parse(bad)


def test_a_plan_trains_missing_runs_by_default_every_run_under_all_and_named_runs_always():
    missing, none, every, named = (TrainPlan.parse(v) for v in ("missing", "none", "all", "x"))
    assert missing.trains("x", saved=False) and not missing.trains("x", saved=True)
    assert not none.trains("x", saved=False) and not none.trains("x", saved=True)
    assert every.trains("x", saved=True)
    assert named.trains("x", saved=True) and named.trains("y", saved=False) and not named.trains("y", saved=True)
    named.check_names(["x", "y"])
    with pytest.raises(FerError, match="train names z, which is not a run here; valid: x, y"):
        TrainPlan.parse("x,z").check_names(["x", "y"])


@pytest.fixture
def no_training(monkeypatch):
    def refuse(*args, **kwargs):
        raise AssertionError("trained although the plan reads the saved report")
    monkeypatch.setattr(experiment_runs, "run_experiment", refuse)
    monkeypatch.setattr(paper_studies, "run_ablation", refuse)
    monkeypatch.setattr(paper_studies, "run_fine_tuning", refuse)


def _copy(root, *folders):
    for folder in folders:
        shutil.copytree(CPU / folder, root / "cpu" / folder)


def test_a_saved_experiment_is_read_and_a_missing_one_is_listed_not_trained(tmp_path, no_training, capsys):
    spec = get_experiments("mahdi2025", "fer2013_standard")[0]
    assert experiment_runs.experiment_folders(spec, "cpu", TrainPlan.parse("none"), reports_root=tmp_path) == []
    assert "no saved cpu report, and train='none' trains nothing" in capsys.readouterr().out
    _copy(tmp_path, "mahdi2025/fer2013_standard")  # trained at the paper's rate: no fallback
    for plan in ("missing", "none"):
        assert experiment_runs.experiment_folders(spec, "cpu", TrainPlan.parse(plan), reports_root=tmp_path) == [
            tmp_path / "cpu" / "mahdi2025" / "fer2013_standard"]
    with pytest.raises(AssertionError, match="trained although"):  # named, it trains whatever is saved
        experiment_runs.experiment_folders(spec, "cpu", TrainPlan.parse("fer2013_standard"), reports_root=tmp_path)


def test_a_paper_rate_that_did_not_train_is_saved_only_with_its_fallback(tmp_path, no_training):
    spec = get_experiments("khalid2025", "fer2013_standard")[0]
    _copy(tmp_path, "khalid2025/fer2013_standard")
    assert saved_folders(spec, "cpu", tmp_path) == []  # the fallback is missing: "missing" would train it
    with pytest.raises(AssertionError, match="trained although"):
        experiment_runs.experiment_folders(spec, "cpu", TrainPlan(), reports_root=tmp_path)
    _copy(tmp_path, "khalid2025/fer2013_standard__lr0.0001")
    assert [f.name for f in experiment_runs.experiment_folders(spec, "cpu", TrainPlan(), reports_root=tmp_path)] == [
        "fer2013_standard", "fer2013_standard__lr0.0001"]


def test_a_saved_study_is_read_and_a_missing_one_returns_none(tmp_path, no_training):
    study = get_studies("mahdi2025", "attention_ablation")[0]
    assert paper_studies.study_report(study, "cpu", TrainPlan.parse("none"), reports_root=tmp_path) is None
    _copy(tmp_path, "mahdi2025/attention_ablation")
    assert paper_studies.study_report(study, "cpu", TrainPlan(), reports_root=tmp_path) == (
        tmp_path / "cpu" / "mahdi2025" / "attention_ablation")


def test_the_leakage_study_under_train_none_refuses_before_training_a_missing_arm(tmp_path, data_root):
    from fer_lib.studies import leakage

    # smoke runs one seed: six arms
    with pytest.raises(FerError, match=r"train='none', but 6 arm runs have no saved result .*train='missing' runs them"):
        leakage.run_study("smoke", seeds=(0,), data_root=data_root, reports_root=tmp_path, train="none")
    with pytest.raises(FerError, match="train names bogus, which is not a run here"):
        leakage.run_study("smoke", seeds=(0,), data_root=data_root, reports_root=tmp_path, train="bogus")


def test_reproduce_refuses_a_malformed_train_value_in_one_line(capsys):
    from fer_lib import cli

    assert cli.main(["reproduce", "--profile", "smoke", "--train", ","]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "give one of 'missing', 'none', 'all'" in err


def test_every_notebook_takes_train_and_defines_its_plan_before_using_it():
    """A static check of the notebooks' sources (the smoke executions run them): `make reproduce-all TRAIN=...`
    passes one `train` to every notebook, and a notebook that reads its plan parses it first."""
    import json

    from fer_lib import cli

    for entry in cli.manifest():
        cells = ["".join(c["source"]) for c in json.loads((REPO_ROOT / entry["notebook"]).read_text())["cells"]
                 if c["cell_type"] == "code"]
        parameters = next(c for c in cells if "profile = " in c)
        assert 'train = "missing"' in parameters, entry["notebook"]
        uses = [i for i, c in enumerate(cells) if "plan." in c or ", plan," in c]
        defines = [i for i, c in enumerate(cells) if "plan = TrainPlan.parse(train)" in c]
        assert not uses or (defines and defines[0] <= uses[0]), entry["notebook"]
