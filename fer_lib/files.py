"""Atomic writes: the one way the suite writes a file or a folder that something else may read.

Everything is written beside its final place under a `.tmp-` name and renamed over it, so a killed
process never leaves a half-written report, checkpoint or cache entry where a reader would take it
for a whole one. `atomic_path` is the mechanism; the other helpers are shapes of it.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

import numpy as np

TMP_PREFIX = ".tmp-"


@contextmanager
def atomic_path(final: Path | str) -> Iterator[Path]:
    """Yield a temporary path beside `final` to write a file to; on success it is renamed over `final`.

    The temporary name keeps `final`'s suffix, so writers that choose a format by suffix
    (`np.savez`, `model.save`, `save_weights`) write the same format.
    """
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.with_name(f"{TMP_PREFIX}{uuid.uuid4().hex[:8]}-{final.name}")
    try:
        yield tmp
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)


def file_sha256(path: Path | str) -> str:
    """The SHA-256 of a file's bytes, as records keep it (read in 1 MB chunks: model files run to tens of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for chunk in iter(lambda: handle.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def write_text(path: Path | str, text: str) -> None:
    """Write `text` to `path` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def write_json(path: Path | str, data: object) -> None:
    """Write `data` as indented JSON atomically (NumPy scalars and arrays, and paths, allowed)."""
    write_text(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(o: object) -> object:
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, np.floating):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot write {type(o).__name__} to JSON")


@contextmanager
def atomic_folder(final: Path | str) -> Iterator[Path]:
    """Yield a fresh temporary folder; on success it replaces `final` whole, on error it is removed."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f"{TMP_PREFIX}{final.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = final.parent / f"{TMP_PREFIX}old-{final.name}-{uuid.uuid4().hex[:8]}"
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


def writable_dir(path: Path | str, what: str) -> Path:
    """`path` as a folder this process can write into (created if missing), or a FerError saying why not.

    Checked before any training, so that a bad output folder is found in a second, not after hours."""
    from .errors import FerError

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FerError(f"the {what} {path} is a file, not a folder; point it at a folder")
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f"{TMP_PREFIX}probe-{uuid.uuid4().hex[:8]}"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise FerError(f"cannot write into the {what} {path} ({exc.strerror or exc}); choose a folder you can write to") from None
    return path


def visible(root: Path | str, pattern: str) -> list[Path]:
    """`root.glob(pattern)`, sorted, without paths through a hidden or temporary folder below `root` (a
    `.tmp-` left by a killed swap, `.ipynb_checkpoints`): what a reader of reports should see."""
    root = Path(root)
    return sorted(p for p in root.glob(pattern) if not any(part.startswith(".") for part in p.relative_to(root).parts))
