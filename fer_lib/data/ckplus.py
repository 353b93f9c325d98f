"""CK+48 in the Kaggle layout: `CK+48/<class>/S<subject>_<sequence>_<frame>.png`, keeping each image's subject.

CK+48's folders say `anger` and `sadness`; they are mapped to the canonical `angry` and `sad`.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..config import data_dir
from ..errors import FerError
from .cache import cached, fingerprint
from .faces import CKPLUS_CLASSES, LAYOUT_HELP, FaceDataset
from .images import class_folders, decode_all, image_files

CKPLUS_FOLDER_NAMES = {
    "anger": "angry", "contempt": "contempt", "disgust": "disgust", "fear": "fear",
    "happy": "happy", "sadness": "sad", "surprise": "surprise",
}
CKPLUS_NAME = re.compile(r"^S(?P<subject>\d+)_(?P<sequence>\d+)_(?P<frame>\d+)$")


def find_ckplus48(root: Path | None = None) -> Path:
    """The CK+48 folder (the one holding the class folders) under `root`."""
    root = Path(root) if root is not None else data_dir()
    for candidate in (root / "ckplus" / "CK+48", root / "CK+48", root / "ckplus", root):
        if candidate.is_dir() and any((candidate / c).is_dir() for c in CKPLUS_FOLDER_NAMES):
            return candidate
    raise FerError(f"No CK+48 data found under {root.resolve()}.\n{LAYOUT_HELP}")


def load_ckplus48(source: Path | str | None = None, use_cache: bool = True) -> FaceDataset:
    """CK+48: `CK+48/<class>/S<subject>_<sequence>_<frame>.png`, keeping each image's subject."""
    root = find_ckplus48(None if source is None else Path(source))
    entries = [(p, cls) for cls, folder in class_folders(root, CKPLUS_FOLDER_NAMES, "CK+48")
               for p in image_files(folder)]
    if not entries:
        raise FerError(f"{root.resolve()} holds no CK+48 images.\n{LAYOUT_HELP}")
    bad = [p.name for p, _ in entries if not CKPLUS_NAME.match(p.stem)]
    if bad:
        raise FerError(
            f"CK+48 file names must look like S010_004_00000017.png (subject, sequence, frame); "
            f"found {bad[:3]} under {root}"
        )
    paths = [p for p, _ in entries]
    key = f"ckplus48-{fingerprint(paths, root)}"

    def build() -> FaceDataset:
        images, kept, skipped = decode_all(paths, "decoding CK+48")
        labels = np.array([CKPLUS_CLASSES.index(c) for _, c in entries], np.int64)
        subjects = np.array([CKPLUS_NAME.match(p.stem)["subject"] for p in paths])
        ids = np.array([p.stem for p in paths])
        return FaceDataset(
            name="ckplus48", images=images, labels=labels[kept], class_names=CKPLUS_CLASSES,
            ids=ids[kept], source=str(root.resolve()), layout="kaggle-ck+48",
            subjects=subjects[kept], skipped=skipped,
        )

    return cached(key, build) if use_cache else build()
