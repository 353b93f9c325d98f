"""The log of every look at a test split: logged at scoring, recovered from git, and what the card says."""
from __future__ import annotations

import json
import subprocess

from fer_lib.evaluate import test_looks


def _record(experiment, accuracy, commit="abc1234"):
    return {"paper": "reference", "experiment": experiment, "label": experiment, "profile": "cpu",
            "protocol_description": "official", "accuracy": accuracy,
            "epochs": {"planned": 10, "run_per_seed": [10]}, "backends": [[{"git_commit": commit}]]}


def test_a_look_is_appended_with_the_commit_that_fixed_the_recipe(tmp_path):
    test_looks.log_look(tmp_path, _record("fer2013_standard", 0.65), "rule A")
    test_looks.log_look(tmp_path, _record("fer2013_restart", 0.67, "def5678"), "rule A")
    rows = test_looks.read_log(tmp_path)
    assert [r["experiment"] for r in rows] == ["fer2013_standard", "fer2013_restart"]
    assert rows[1]["recipe_fixed_at"] == "def5678" and rows[1]["selection_rule"] == "rule A"
    assert rows[0]["source"] == test_looks.SOURCE_LOGGED and rows[0]["accuracy"] == "0.6500"
    order = test_looks.recipes_tried_after_scores(rows, "reference", "cpu", ("fer2013_standard", "fer2013_restart"))
    assert order[0]["test scores visible before"] == "" and order[1]["test scores visible before"] == "fer2013_standard"


def test_superseded_scores_are_recovered_from_git_history(tmp_path):
    repo = tmp_path / "repo"
    folder = repo / "reports" / "cpu" / "reference" / "fer2013_standard"
    folder.mkdir(parents=True)

    def commit(accuracy, message):
        (folder / "experiment.json").write_text(json.dumps({**_record("fer2013_standard", accuracy), "note": message}))
        subprocess.run(["git", "add", "-A"], cwd=repo, check=True)
        subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", message], cwd=repo, check=True)

    subprocess.run(["git", "init", "-q"], cwd=repo, check=True)
    commit(0.653, "50 epochs")
    commit(0.653, "re-rendered, same score")
    commit(0.671, "100 epochs")
    rows = test_looks.from_git_history(repo)
    assert [r["accuracy"] for r in rows] == ["0.6530", "0.6710"]  # the re-render is not a new look
    assert all(r["source"] == test_looks.SOURCE_GIT and len(r["saved_in_commit"]) == 7 for r in rows)
    # rebuilding keeps the rows logged at scoring time
    test_looks.log_look(repo / "reports", _record("fer2013_light_reg", 0.66))
    test_looks.rebuild(repo, repo / "reports")
    assert len(test_looks.read_log(repo / "reports")) == 3


def test_the_committed_log_shows_every_reference_recipe_and_the_card_counts_those_tried_after_scores():
    from fer_lib.config import reports_dir
    from fer_lib.studies.model_card import test_look_summary

    rows = test_looks.read_log(reports_dir())
    summary = test_look_summary(rows, "cpu")
    # the four recipes the reference notebook chooses between, and eye_aligned, which issue 50's choice shipped
    assert (len(summary["after"]), summary["recipes"]) == (4, 5) and summary["after"][-1] == "eye_aligned"
    assert "fer2013_standard | 0.6528 | 50/50" in summary["table"]  # the superseded 50-epoch run, still shown
    assert test_look_summary(rows, "paper") is None  # no reference recipe scored under paper
    assert "4 of the 5 FER2013 recipes (the reference notebook's and the defaults issue 50's choice shipped) were tried " \
           "after test scores were visible" in (
        reports_dir().parent / "fer_lib" / "recognizer" / "models" / "MODEL_CARD.md").read_text()
    # the superseded 50-epoch run is still visible
    assert any(r["experiment"] == "fer2013_standard" and r["epochs"] == "50/50" for r in rows)
