"""Decoding image files in the class-folder layouts users download: one grey 48x48 array per file."""
from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import cv2
import numpy as np

from ..errors import FerError
from ..progress import progress
from .faces import IMAGE_SIZE, LAYOUT_HELP

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}


def decode(path: Path) -> np.ndarray | None:
    """A 48x48 uint8 grayscale image, or None when the file cannot be decoded."""
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError:
        return None
    image = cv2.imdecode(raw, cv2.IMREAD_GRAYSCALE) if raw.size else None
    if image is None:
        return None
    if image.shape != (IMAGE_SIZE, IMAGE_SIZE):
        image = cv2.resize(image, (IMAGE_SIZE, IMAGE_SIZE), interpolation=cv2.INTER_AREA)
    return image


def decode_all(paths: list[Path], desc: str) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Decode files in parallel (OpenCV releases the GIL); returns images, kept mask, skipped."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        decoded = list(progress(pool.map(decode, paths, chunksize=256), total=len(paths), desc=desc))
    kept = np.array([d is not None for d in decoded], bool)
    images = np.stack([d for d in decoded if d is not None]) if kept.any() else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    skipped = [(str(p), "could not be decoded as an image") for p, ok in zip(paths, kept) if not ok]
    return images, kept, skipped


def _entries(folder: Path) -> list[Path]:
    """The entries of a data folder, in the order `sorted(folder.iterdir())` gives. A link that leads nowhere or
    back to itself is an error naming it: the files it stood for would otherwise be silently missing from the dataset.

    One `scandir` (its entries know whether they are links without a system call each) sorted by name (what
    sorting paths of one folder compares, `normcase` where the system folds case) lists FER2013's 36k files in a
    fraction of the time that sorting `Path` objects and asking each whether it is a link took."""
    try:
        with os.scandir(folder) as listing:
            found = sorted(listing, key=lambda entry: os.path.normcase(entry.name))
    except OSError as exc:  # no permission, or the folder itself is a broken link
        raise FerError(f"cannot list {folder} ({exc.strerror or exc}); fix or remove that link or folder") from None
    # exists() is False for loops too
    broken = [entry.name for entry in found if entry.is_symlink() and not os.path.exists(entry.path)]
    if broken:
        raise FerError(f"{len(broken)} link(s) in {folder} lead nowhere or back to themselves, e.g. {broken[0]}; "
                       "restore what they point to or remove the links")
    return [folder / entry.name for entry in found]


def class_folders(root: Path, names: dict[str, str], what: str) -> list[tuple[str, Path]]:
    """The class folders under `root` as (canonical name, folder); unexpected names are an error."""
    folders = [p for p in _entries(root) if p.is_dir() and not p.name.startswith(".")]
    unexpected = [p.name for p in folders if p.name not in names]
    if unexpected:
        raise FerError(
            f"{root} has class folders {unexpected} that {what} does not have; "
            f"expected class folders: {', '.join(names)}"
        )
    if not folders:
        raise FerError(f"{root} holds no class folders; expected: {', '.join(names)}.\n{LAYOUT_HELP}")
    return [(names[p.name], p) for p in folders]


def image_files(folder: Path) -> list[Path]:
    """The image files of a class folder (see `_entries` for broken links)."""
    return [p for p in _entries(folder) if p.suffix.lower() in IMAGE_SUFFIXES]

