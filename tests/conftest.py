"""Shared fixtures. Tests that need the real data read it from FER_DATA_DIR (as CI sets it) and
skip, saying why, only when it is absent."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("FER_PROGRESS", "0")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
# Tests train into temporary folders while a developer's checkout may hold uncommitted work; a run that
# records results refuses a dirty tree (test_training covers that refusal with this unset).
os.environ.setdefault("FER_ALLOW_DIRTY", "1")

DATA_ROOT = Path(os.environ.get("FER_DATA_DIR", "data"))


def worker_thread_settings(environ: dict[str, str], cores: int) -> dict[str, str]:
    """Under pytest-xdist, the variables that give each worker (and the notebook kernels and scripts it starts)
    its share of the cores; {} outside xdist or with one worker. A value the caller set is kept.

    TensorFlow and XLA size their thread pools to every core by default, so two workers on two cores ran four
    busy pools. On AMD EPYC (2 cores, AVX2), same checkout and warm data cache, 33 tests (backends, distributed,
    training, collapse study) on two workers took 216.7 s that way and 191.5 s with one thread each. Both
    libraries read these variables when they start, which is after this module is imported.
    """
    workers = int(environ.get("PYTEST_XDIST_WORKER_COUNT", "1"))
    if workers < 2:
        return {}
    threads = str(max(1, cores // workers))
    settings = {name: threads for name in ("TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS") if name not in environ}
    xla_flags = environ.get("XLA_FLAGS", "")
    if "intra_op_parallelism_threads" not in xla_flags:
        settings["XLA_FLAGS"] = f"{xla_flags} --xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads={threads}".strip()
    return settings


os.environ.update(worker_thread_settings(dict(os.environ), os.cpu_count() or 1))

# The heaviest files first, the rest after in their usual order: `make test` runs whole files on two processes
# (pytest-xdist, --dist loadfile) and, with --no-loadscope-reorder, hands them out in this order, so the long ones
# start early and the short ones fill in at the end (longest-processing-time order). xdist's own order (most tests
# first) had started the notebooks' executions 14th. The order is from `make test`'s slowest tests on AMD EPYC
# (2 cores), heaviest file first; a file missing here only runs later.
HEAVIEST_FIRST = ("test_attention_papers.py", "test_notebooks.py", "test_distributed.py", "test_backends.py",
                  "test_benchmark.py", "test_candidates.py", "test_training.py", "test_campaign.py",
                  "test_abdulkadir2025.py", "test_notebooks_saved.py", "test_out_of_domain.py",
                  "test_reference_model.py", "test_collapse_study.py")


def pytest_collection_modifyitems(config, items):
    rank = {name: position for position, name in enumerate(HEAVIEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(rank)))  # stable: the rest keep their order


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.skip(f"{what} not found at {path.resolve()}: set FER_DATA_DIR to the data folder (see README)")
    return path


def tree_digest(folder: Path) -> str:
    """One hash of every file's relative path and bytes under `folder`."""
    import hashlib

    digest = hashlib.sha1()
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            digest.update(str(path.relative_to(folder)).encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()


@pytest.fixture(scope="module")
def committed_reports_unchanged():
    """For a module of bad-input rows: the committed cpu reports hold the same bytes after its tests as before."""
    folder = Path(__file__).resolve().parent.parent / "reports" / "cpu"
    before = tree_digest(folder)
    yield
    assert tree_digest(folder) == before


@pytest.fixture(scope="session")
def data_root() -> Path:
    _require(DATA_ROOT / "fer2013", "FER2013")
    _require(DATA_ROOT / "ckplus" / "CK+48", "CK+48")
    return DATA_ROOT


@pytest.fixture(scope="session")
def fer2013(data_root):
    from fer_lib.data import load_fer2013
    return load_fer2013(data_root)


@pytest.fixture(scope="session")
def ckplus(data_root):
    from fer_lib.data import load_ckplus48
    return load_ckplus48(data_root)


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """A private, empty FER_CACHE_DIR for tests about caching."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("FER_CACHE_DIR", str(cache))
    return cache


# The parts of the cache that hold data, not runs: keyed by their sources' content, so tests may share them.
# FER2013's folder decodes in 20.7 s cold and loads in 1.1 s warm (AMD EPYC, 2 cores, the other busy training).
SHARED_CACHE_PARTS = ("datasets", "preprocessed")


@pytest.fixture
def run_cache(tmp_path, monkeypatch) -> Path:
    """A private FER_CACHE_DIR for a test that trains: runs and checkpoints of its own (none of another test's to
    resume), with the decoded datasets and preprocessed faces shared with the session's cache through links, so
    each such test does not decode FER2013 again. Tests about caching itself take `isolated_cache`."""
    from fer_lib.config import cache_dir

    shared, cache = cache_dir(), tmp_path / "cache"
    cache.mkdir()
    for part in SHARED_CACHE_PARTS:
        (shared / part).mkdir(parents=True, exist_ok=True)
        (cache / part).symlink_to(shared / part, target_is_directory=True)
    monkeypatch.setenv("FER_CACHE_DIR", str(cache))
    return cache


@pytest.fixture
def small_khalid2025_backbone(monkeypatch) -> None:
    """khalid2025's MobileNetV2 at a third of its width, cut after its second block (and fine-tuned from it), for
    tests of the machinery around the network: the full one (cut at block 12) took 96 s of the fine-tuning test
    on two cores, this 60."""
    from dataclasses import replace
    from functools import partial

    import keras

    from fer_lib.papers.khalid2025 import models as khalid_models

    full = khalid_models.BACKBONES["mobilenetv2"]
    monkeypatch.setitem(khalid_models.BACKBONES, "mobilenetv2",
                        replace(full, constructor=partial(keras.applications.MobileNetV2, alpha=0.35),
                                feature_layer="block_2_add", top_from="block_2_expand"))


@pytest.fixture
def small_fer_folder(tmp_path, data_root) -> Path:
    """A copy of a few real FER2013 images per class and split, in the Kaggle folder layout."""
    root = tmp_path / "fer2013"
    for part in ("train", "test"):
        for cls_dir in sorted((data_root / "fer2013" / part).iterdir()):
            files = sorted(cls_dir.iterdir())
            chosen = files[:3] if part == "train" else (
                [f for f in files if f.name.startswith("PublicTest")][:2] + [f for f in files if f.name.startswith("PrivateTest")][:2])
            (root / part / cls_dir.name).mkdir(parents=True)
            for f in chosen:
                shutil.copy(f, root / part / cls_dir.name / f.name)
    return root


def small_model(num_classes: int = 3):
    """A tiny yousaf2024 (4-8 filters, no dropout) that learns `tiny_images` in a few epochs on any backend."""
    from fer_lib.models import build_model
    return build_model("yousaf2024", (48, 48, 1), num_classes, filters=(4, 4, 8, 8), dense_units=16,
                       conv_dropout=0.0, dense_dropout=0.0)


def tiny_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 48x48 images with labels that depend on brightness (learnable in a few steps)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = (rng.integers(0, 60, (n, 48, 48)) + 90 * labels[:, None, None]).astype(np.uint8)
    return images, labels


def make_record(**over):
    """A complete ExperimentRecord for tests of the readers; `over` replaces fields."""
    from fer_lib.evaluate.record import EpochsRecord, ExperimentRecord

    values = dict(
        paper="yousaf2024", experiment="fer2013_official", label="fer2013_official", title="t", dataset="fer2013",
        protocol="official", protocol_options={}, protocol_description="official", model="yousaf2024", model_options={},
        profile="cpu", profile_description="d", learning_rate=3e-4, paper_learning_rate=0.01, trained=True,
        seeds=[0, 1, 2], split_sizes={"train": 28709, "val": 3589, "test": 3589}, n_images=35887,
        epochs=EpochsRecord(planned=100, run_per_seed=[9, 9, 8], best_epoch_per_seed=[9, 9, 8],
                            stop_reasons=["stopped by wall-clock budget"] * 3, train_seconds_per_seed=[720.0] * 3),
        train_seconds_total=2160, train_config={"budget_seconds": 720.0}, fast_paths={}, wall_seconds=2200,
        accuracy=0.61, accuracy_ci=[0.594, 0.626], seed_summary={"n_seeds": 3, "mean": 0.6, "std": 0.01},
        train_split_accuracy=0.7, headline_claim={"claimed": "85.4%", "verdict": "not reproduced"},
        preprocessing={}, note="", environment={})
    values.update(over)
    return ExperimentRecord(**values)


def ferplus_votes(**counts) -> list[float]:
    """One image's FER+ votes in fer2013new.csv's column order, from counts by column name."""
    from fer_lib.data.ferplus import VOTE_COLUMNS
    return [float(counts.get(c, 0)) for c in VOTE_COLUMNS]


@pytest.fixture
def candidate_choice() -> dict:
    """A choice between issue 50's candidates as `candidates.choose` saves it (selection.json), with made-up scores:
    one candidate scored and eligible but not better than the shipped model, one paused, the others not trained."""
    from fer_lib.studies.candidates import apply_rule, second_model_rule
    from fer_lib.studies.out_of_domain import SECOND_MODEL_RULE, SELECTION_RULE, SHIPPED

    accuracy, f1 = {SHIPPED: 0.7012, "ferplus_votes": 0.6950}, {SHIPPED: 0.4321, "ferplus_votes": 0.4109}
    return {"kind": "candidate_selection", "profile": "cpu", "git_commit": "abc1234", "selection_rule": SELECTION_RULE,
            "not_trained": ["ferplus_majority", "strong_augment", "eye_aligned"],
            "paused": {"ferplus_majority": "7 of 50 epochs"}, "epochs": {"ferplus_votes": {"run": 50, "planned": 50}},
            "publictest_accuracy": accuracy, "mean_selection_macro_f1": f1,
            "decision": apply_rule(accuracy, f1, ["ferplus_votes"]), "second_model_rule": SECOND_MODEL_RULE,
            "second_model": second_model_rule(f1, ["ferplus_votes"]), "caveat": "their score there is optimistic"}
