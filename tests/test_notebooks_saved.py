"""Notebooks re-executed from their saved runs, as a user re-runs one whose runs exist: a copy of the committed
reports, abdulkadir2025's, khalid2025's and mahdi2025's notebooks under cpu with train="none". Nothing trains and no
saved result changes; only the notebooks' HTML, the reproduce log and the index's compute table (their execution
times) are written. (Their smoke executions, which train ResNet50, MobileNetV2 and VGG19 backbones, took six
minutes of the suite's ten on two cores; the code paths they train are tested in tests/test_abdulkadir2025.py and
tests/test_attention_papers.py.)"""
from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest

from fer_lib import cli
from fer_lib.config import REPO_ROOT

PAPERS = ("abdulkadir2025", "khalid2025", "mahdi2025")
# what a re-execution from saved runs may write: each notebook's HTML, the log of executions, and the index
# (its compute table gives each notebook's execution time)
WRITTEN = {*(f"cpu/{paper}/notebook.html" for paper in PAPERS), "cpu/reproduce_log.json", "index.md", "index.html"}


def _digests(root: Path) -> dict[str, str]:
    return {p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in root.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def saved_reports(tmp_path_factory, data_root):
    committed = REPO_ROOT / "reports"
    missing = [paper for paper in PAPERS if not (committed / "cpu" / paper).is_dir()]
    if missing:
        pytest.skip(f"no committed cpu runs of {', '.join(missing)} in {committed}")
    root = tmp_path_factory.mktemp("saved") / "reports"
    shutil.copytree(committed, root)  # the committed reports stay as they are, whatever the notebooks do
    before = _digests(root)
    written = cli.reproduce("cpu", papers=list(PAPERS), reports_root=root,
                            parameters={"train": "none", "data_dir": str(data_root)})
    return root, before, written


def test_re_executing_from_saved_runs_trains_nothing_and_changes_no_result(saved_reports):
    root, before, written = saved_reports
    after = _digests(root)
    changed = {name for name in before.keys() | after.keys() if before.get(name) != after.get(name)}
    assert changed <= WRITTEN, sorted(changed - WRITTEN)
    assert {f"cpu/{p}/notebook.html" for p in PAPERS} <= changed  # executed afresh
    assert [Path(p).parent.name for p in written] == list(PAPERS)
    log = json.loads((root / "cpu" / "reproduce_log.json").read_text())
    assert all(log[paper]["parameters"]["train"] == "none" for paper in PAPERS)


def test_each_notebook_html_records_its_source_and_shows_its_runs(saved_reports):
    root, _, _ = saved_reports
    for entry in cli.manifest():
        if entry["paper"] in PAPERS:
            html = (root / "cpu" / entry["paper"] / "notebook.html").read_text()
            assert "Traceback" not in html
            assert cli.html_source_hash(html) == cli.notebook_source_hash(REPO_ROOT / entry["notebook"])
    abdulkadir = (root / "cpu" / "abdulkadir2025" / "notebook.html").read_text()
    for name in ("sequential_paper", "hybrid_cv_training", "vgg19_input_size"):
        assert name in abdulkadir, name
    assert "VGG19 at 48x48" in abdulkadir  # the input-size study's table, read from its saved runs
    for paper in ("khalid2025", "mahdi2025"):  # papers known from their abstracts
        html = (root / "cpu" / paper / "notebook.html").read_text()
        assert html.index("what the paper says") < html.index("Parameters")  # it opens with its reading
        assert "Does the attention help on our data?" in html  # the ablation, read from its saved runs
