"""One render path: a report folder's kind is read from the folder, and its kind's renderer rewrites its derived
files from its raw outputs alone. The folders are copies of committed cpu reports in a temporary root, so the
tests do not depend on the committed reports staying as they are."""
from __future__ import annotations

import shutil

import pytest

from fer_lib.config import REPO_ROOT
from fer_lib.errors import FerError
from fer_lib.studies import render

CPU = REPO_ROOT / "reports" / "cpu"
KINDS = {"yousaf2024/ckplus48_subject": "experiment", "khalid2025/attention_ablation": "ablation",
         "khalid2025/ckplus_fine_tuning": "fine_tuning", "khalid2025/collapse_study": "collapse_study",
         "leakage_study": "leakage_study", "reference/model_comparison": "model_comparison",
         "out_of_domain": None, "data_audit/fer2013": None}


def _copy(root, name):
    shutil.copytree(CPU / name, root / "cpu" / name)
    return root / "cpu" / name


def test_each_committed_folder_is_read_as_its_kind():
    missing = [name for name in KINDS if not (CPU / name).is_dir()]
    if missing:
        pytest.skip(f"committed cpu reports missing: {missing}")
    assert {name: render.folder_kind(CPU / name) for name in KINDS} == KINDS


def test_a_fine_tuning_study_is_rebuilt_from_its_raw_files(tmp_path):
    folder = _copy(tmp_path, "khalid2025/ckplus_fine_tuning")
    assert render.render_folder(folder) == "fine_tuning"
    first = {name: (folder / name).read_bytes() for name in ("results.md", "results.csv", "report.html")}
    for name in first:  # derived files: removed, then written again from the predictions and histories
        (folder / name).unlink()
    render.render_folder(folder)
    assert {name: (folder / name).read_bytes() for name in first} == first
    assert "classes_predicted" in first["results.csv"].decode()  # the current table, not the one committed first


def test_a_folder_of_no_renderable_kind_is_named(tmp_path):
    folder = _copy(tmp_path, "out_of_domain")
    with pytest.raises(FerError, match="out_of_domain holds no report that can be re-rendered"):
        render.render_folder(folder)


def test_the_tree_renders_each_kind_and_checks_every_experiment_before_writing(tmp_path):
    experiment = _copy(tmp_path, "yousaf2024/ckplus48_subject")
    ablation = _copy(tmp_path, "khalid2025/attention_ablation")
    _copy(tmp_path, "out_of_domain")
    assert sorted(render.render_tree("cpu", tmp_path)) == sorted([experiment, ablation])
    assert "ckplus48_subject" in (tmp_path / "index.md").read_text()
    # a cut prediction file is refused, named, before any folder is written
    before = (ablation / "results.md").read_bytes()
    (ablation / "results.md").write_text("stale")
    predictions = next(experiment.glob("predictions_seed*.npz"))
    predictions.write_bytes(predictions.read_bytes()[:100])
    with pytest.raises(FerError, match=predictions.name):
        render.render_tree("cpu", tmp_path)
    assert (ablation / "results.md").read_text() == "stale"
    assert before != b"stale"
