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

DATA_ROOT = Path(os.environ.get("FER_DATA_DIR", "data"))


def _require(path: Path, what: str) -> Path:
    if not path.exists():
        pytest.skip(f"{what} not found at {path.resolve()}: set FER_DATA_DIR to the data folder (see README)")
    return path


@pytest.fixture(scope="session")
def data_root() -> Path:
    _require(DATA_ROOT / "fer2013", "FER2013")
    _require(DATA_ROOT / "ckplus" / "CK+48", "CK+48")
    return DATA_ROOT


@pytest.fixture(scope="session")
def fer2013(data_root):
    from fer_lib.datasets import load_fer2013
    return load_fer2013(data_root)


@pytest.fixture(scope="session")
def ckplus(data_root):
    from fer_lib.datasets import load_ckplus48
    return load_ckplus48(data_root)


@pytest.fixture
def isolated_cache(tmp_path, monkeypatch) -> Path:
    """A private, empty FER_CACHE_DIR for tests about caching."""
    cache = tmp_path / "cache"
    monkeypatch.setenv("FER_CACHE_DIR", str(cache))
    return cache


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


def tiny_images(n: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 48x48 images with labels that depend on brightness (learnable in a few steps)."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, 3, n)
    images = (rng.integers(0, 60, (n, 48, 48)) + 90 * labels[:, None, None]).astype(np.uint8)
    return images, labels
