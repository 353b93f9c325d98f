"""The decoded-array cache: a dataset decoded once is reloaded from one `.npz` under `FER_CACHE_DIR`.

Keyed by the data folder's resolved path and a fingerprint of every source file's path under it, size and
modification time, so the second load is near instant, a changed source is re-read, and two copies of one
tree (`cp -a`, `rsync -a`, one archive unpacked twice: the same names, sizes and times) never share an entry
whose `source` would name the other copy.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Iterator

try:
    import fcntl
except ImportError:  # Windows
    fcntl = None

import numpy as np

from ..config import cache_dir
from ..files import atomic_path
from .faces import FaceDataset

CACHE_VERSION = 2  # 2: the folder's own path is part of the key


def fingerprint(paths: list[Path], root: Path) -> str:
    """A digest of the folder `root` and of each file's path under it, size and modification time."""
    digest = hashlib.sha1(f"v{CACHE_VERSION}|{Path(root).resolve()}\n".encode())
    # each path's text after root's, the text of `relative_to(root)` without its cost on 36k files
    prefix = f"{root}{os.sep}"
    for path in paths:
        stat = os.stat(path)
        text = str(path)
        relative = text[len(prefix):] if text.startswith(prefix) else path.relative_to(root)
        digest.update(f"{relative}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


@contextlib.contextmanager
def _one_builder(path: Path) -> Iterator[None]:
    """Hold an exclusive lock beside `path` while a dataset is built: processes started together (test workers, a
    campaign's runs) decode a dataset once, the others wait and load it. Where `fcntl` is missing (Windows), each
    builds its own; the atomic write keeps the file whole either way."""
    if fcntl is None:
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_name(path.name + ".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


def cached(key: str, build: Callable[[], FaceDataset]) -> FaceDataset:
    """Load the dataset cached under `key`, or build and cache it (written atomically, one builder at a time)."""
    path = cache_dir() / "datasets" / f"{key}.npz"
    if not path.exists():
        with _one_builder(path):
            if not path.exists():
                return _build_and_save(path, build)
    with np.load(path, allow_pickle=False) as z:
        meta = json.loads(str(z["meta"]))
        return FaceDataset(
            name=meta["name"], images=z["images"], labels=z["labels"],
            class_names=tuple(meta["class_names"]), ids=z["ids"], source=meta["source"],
            layout=meta["layout"], split=z["split"] if "split" in z else None,
            subjects=z["subjects"] if "subjects" in z else None,
            skipped=[tuple(s) for s in meta["skipped"]],
        )


def _build_and_save(path: Path, build: Callable[[], FaceDataset]) -> FaceDataset:
    dataset = build()
    meta = {k: getattr(dataset, k) for k in ("name", "class_names", "source", "layout", "skipped")}
    arrays = {"images": dataset.images, "labels": dataset.labels, "ids": dataset.ids}
    if dataset.split is not None:
        arrays["split"] = dataset.split
    if dataset.subjects is not None:
        arrays["subjects"] = dataset.subjects
    with atomic_path(path) as tmp:
        np.savez(tmp, meta=json.dumps(meta), **arrays)
    return dataset

