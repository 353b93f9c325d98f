"""Loading FER2013 and CK+48 from the layouts users download.

Every loader returns a `FaceDataset`: uint8 48x48 grayscale images, integer labels in the
project's canonical class order, the class names, and per image its official split (FER2013),
subject (CK+48) and an id that names the source file or CSV row.

Canonical class order: the alphabetical order of the canonical names below. Each dataset uses the
classes it has, in that order, so FER2013 is `angry disgust fear happy neutral sad surprise` (which
is also the Kaggle folder order and yousaf2024's table order) and CK+48 is
`angry contempt disgust fear happy sad surprise`. Each source's own labels are mapped explicitly:
the challenge CSV's `0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, 5 Surprise, 6 Neutral` is not
alphabetical, and CK+48 says `anger` and `sadness`.

Decoded arrays are cached (`FER_CACHE_DIR`), keyed by a fingerprint of every source file's path,
size and modification time, so the second load is near instant and a changed source is re-read.
"""
from __future__ import annotations

import csv
import hashlib
import json
import os
import re
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from .config import cache_dir, data_dir
from .errors import FerError, unknown_name_error
from .progress import progress

IMAGE_SIZE = 48
CACHE_VERSION = 1

CANONICAL_CLASSES = ("angry", "contempt", "disgust", "fear", "happy", "neutral", "sad", "surprise")
FER2013_CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
CKPLUS_CLASSES = ("angry", "contempt", "disgust", "fear", "happy", "sad", "surprise")

# Each source's label -> canonical name.
FER2013_CSV_LABELS = {0: "angry", 1: "disgust", 2: "fear", 3: "happy", 4: "sad", 5: "surprise", 6: "neutral"}
FER2013_FOLDER_NAMES = {name: name for name in FER2013_CLASSES}
CKPLUS_FOLDER_NAMES = {
    "anger": "angry", "contempt": "contempt", "disgust": "disgust", "fear": "fear",
    "happy": "happy", "sadness": "sad", "surprise": "surprise",
}

FER2013_SPLITS = ("Training", "PublicTest", "PrivateTest")

# Known class counts of the public releases, used to say clearly when a copy differs.
FER2013_KNOWN_COUNTS = {
    "Training": {"angry": 3995, "disgust": 436, "fear": 4097, "happy": 7215, "neutral": 4965, "sad": 4830, "surprise": 3171},
    "PublicTest": {"angry": 467, "disgust": 56, "fear": 496, "happy": 895, "neutral": 607, "sad": 653, "surprise": 415},
    "PrivateTest": {"angry": 491, "disgust": 55, "fear": 528, "happy": 879, "neutral": 626, "sad": 594, "surprise": 416},
}
CKPLUS_KNOWN_COUNTS = {
    "all": {"angry": 135, "contempt": 54, "disgust": 177, "fear": 75, "happy": 207, "sad": 84, "surprise": 249},
}

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".bmp"}
CKPLUS_NAME = re.compile(r"^S(?P<subject>\d+)_(?P<sequence>\d+)_(?P<frame>\d+)$")

LAYOUT_HELP = (
    "Expected, under the data folder ($FER_DATA_DIR, default data/):\n"
    "  fer2013/train/<class>/Training_*.jpg and fer2013/test/<class>/{PublicTest,PrivateTest}_*.jpg"
    "  (Kaggle msambare/fer2013)\n"
    "  or fer2013/fer2013.csv with columns emotion,pixels,Usage (the ICML 2013 challenge CSV)\n"
    "  ckplus/CK+48/<class>/S<subject>_<sequence>_<frame>.png  (Kaggle CK+48)\n"
    "Provide it one of three ways: `make data` (downloads with your Kaggle credentials), unpack your "
    "own download into data/, or set FER_DATA_DIR to the folder that holds it."
)


@dataclass
class FaceDataset:
    """Images and labels of one dataset, in the canonical class order.

    `split` holds the official split name of each image (FER2013) or None; `subjects` the subject
    id of each image (CK+48) or None. `skipped` lists (source, reason) for every unreadable image.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    class_names: tuple[str, ...]
    ids: np.ndarray
    source: str
    layout: str
    split: np.ndarray | None = None
    subjects: np.ndarray | None = None
    skipped: list[tuple[str, str]] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def num_classes(self) -> int:
        return len(self.class_names)

    def subset(self, index: np.ndarray) -> "FaceDataset":
        """The images at `index` (same classes, source and skip list)."""
        index = np.asarray(index)
        return replace(
            self,
            images=self.images[index],
            labels=self.labels[index],
            ids=self.ids[index],
            split=None if self.split is None else self.split[index],
            subjects=None if self.subjects is None else self.subjects[index],
        )

    def class_counts(self) -> dict[str, dict[str, int]]:
        """Images per class, per official split when there is one (else under 'all')."""
        groups = {"all": np.ones(len(self), bool)} if self.split is None else {
            s: self.split == s for s in FER2013_SPLITS if np.any(self.split == s)
        }
        return {
            group: {c: int(np.sum(self.labels[mask] == i)) for i, c in enumerate(self.class_names)}
            for group, mask in groups.items()
        }


# ---------------------------------------------------------------------------------------------
# Count checks


def count_differences(dataset: FaceDataset) -> list[str]:
    """Where the dataset's class counts differ from the known public release, one line each."""
    known = {"fer2013": FER2013_KNOWN_COUNTS, "ckplus48": CKPLUS_KNOWN_COUNTS}.get(dataset.name)
    if known is None:
        return []
    found = dataset.class_counts()
    lines = []
    for group, expected in known.items():
        if group not in found:
            lines.append(f"{group}: missing entirely (expected {sum(expected.values())} images)")
            continue
        for cls, n in expected.items():
            got = found[group].get(cls, 0)
            if got != n:
                lines.append(f"{group}/{cls}: {got} images, the public release has {n} ({got - n:+d})")
    return lines


# ---------------------------------------------------------------------------------------------
# Caching


def _fingerprint(paths: list[Path], root: Path) -> str:
    digest = hashlib.sha1(f"v{CACHE_VERSION}".encode())
    for path in paths:
        stat = path.stat()
        digest.update(f"{path.relative_to(root)}|{stat.st_size}|{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:20]


def _cached(key: str, build: Callable[[], FaceDataset]) -> FaceDataset:
    """Load the dataset cached under `key`, or build and cache it (written atomically)."""
    path = cache_dir() / "datasets" / f"{key}.npz"
    if path.exists():
        with np.load(path, allow_pickle=False) as z:
            meta = json.loads(str(z["meta"]))
            return FaceDataset(
                name=meta["name"], images=z["images"], labels=z["labels"],
                class_names=tuple(meta["class_names"]), ids=z["ids"], source=meta["source"],
                layout=meta["layout"], split=z["split"] if "split" in z else None,
                subjects=z["subjects"] if "subjects" in z else None,
                skipped=[tuple(s) for s in meta["skipped"]],
            )
    dataset = build()
    meta = {k: getattr(dataset, k) for k in ("name", "class_names", "source", "layout", "skipped")}
    arrays = {"images": dataset.images, "labels": dataset.labels, "ids": dataset.ids}
    if dataset.split is not None:
        arrays["split"] = dataset.split
    if dataset.subjects is not None:
        arrays["subjects"] = dataset.subjects
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez(tmp, meta=json.dumps(meta), **arrays)
    os.replace(tmp, path)
    return dataset


# ---------------------------------------------------------------------------------------------
# Decoding image files


def _decode(path: Path) -> np.ndarray | None:
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


def _decode_all(paths: list[Path], desc: str) -> tuple[np.ndarray, np.ndarray, list[tuple[str, str]]]:
    """Decode files in parallel (OpenCV releases the GIL); returns images, kept mask, skipped."""
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        decoded = list(progress(pool.map(_decode, paths, chunksize=256), total=len(paths), desc=desc))
    kept = np.array([d is not None for d in decoded], bool)
    images = np.stack([d for d in decoded if d is not None]) if kept.any() else np.zeros((0, IMAGE_SIZE, IMAGE_SIZE), np.uint8)
    skipped = [(str(p), "could not be decoded as an image") for p, ok in zip(paths, kept) if not ok]
    return images, kept, skipped


def _class_folders(root: Path, names: dict[str, str], what: str) -> list[tuple[str, Path]]:
    """The class folders under `root` as (canonical name, folder); unexpected names are an error."""
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    unexpected = [p.name for p in folders if p.name not in names]
    if unexpected:
        raise FerError(
            f"{root} has class folders {unexpected} that {what} does not have; "
            f"expected class folders: {', '.join(names)}"
        )
    if not folders:
        raise FerError(f"{root} holds no class folders; expected: {', '.join(names)}.\n{LAYOUT_HELP}")
    return [(names[p.name], p) for p in folders]


def _image_files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES)


# ---------------------------------------------------------------------------------------------
# FER2013


def find_fer2013(root: Path | None = None) -> Path:
    """The FER2013 source under `root`: a folder holding train/ and test/, or a challenge CSV."""
    root = Path(root) if root is not None else data_dir()
    if root.is_file() and root.suffix == ".csv":
        return root
    for candidate in (root / "fer2013", root):
        if (candidate / "train").is_dir() or (candidate / "test").is_dir():
            return candidate
        for csv_name in ("fer2013.csv", "icml_face_data.csv"):
            if (candidate / csv_name).is_file():
                return candidate / csv_name
    raise FerError(f"No FER2013 data found under {root.resolve()}.\n{LAYOUT_HELP}")


def load_fer2013(source: Path | str | None = None, use_cache: bool = True) -> FaceDataset:
    """FER2013 from the Kaggle folder layout or the challenge CSV, whichever `source` holds."""
    path = find_fer2013(None if source is None else Path(source))
    if path.suffix == ".csv":
        return load_fer2013_csv(path, use_cache=use_cache)
    return load_fer2013_folders(path, use_cache=use_cache)


def load_fer2013_folders(root: Path | str, use_cache: bool = True) -> FaceDataset:
    """The Kaggle layout: `train/<class>/Training_*.jpg`, `test/<class>/{PublicTest,PrivateTest}_*.jpg`.

    The official split of each image is recovered from its file-name prefix.
    """
    root = Path(root)
    entries: list[tuple[Path, str]] = []
    for part in ("train", "test"):
        if not (root / part).is_dir():
            continue
        for cls, folder in _class_folders(root / part, FER2013_FOLDER_NAMES, "FER2013"):
            entries += [(p, cls) for p in _image_files(folder)]
    if not entries:
        raise FerError(f"{root.resolve()} holds no FER2013 images.\n{LAYOUT_HELP}")
    paths = [p for p, _ in entries]
    key = f"fer2013-folders-{_fingerprint(paths, root)}"

    def build() -> FaceDataset:
        images, kept, skipped = _decode_all(paths, "decoding FER2013")
        names = np.array([p.stem for p in paths])
        split = np.array([n.split("_", 1)[0] for n in names])
        unknown = sorted(set(split) - set(FER2013_SPLITS))
        if unknown:
            raise FerError(
                f"FER2013 file names must start with one of {FER2013_SPLITS} followed by '_'; "
                f"found prefixes {unknown[:5]} under {root}"
            )
        labels = np.array([FER2013_CLASSES.index(c) for _, c in entries], np.int64)
        return FaceDataset(
            name="fer2013", images=images, labels=labels[kept], class_names=FER2013_CLASSES,
            ids=names[kept], source=str(root.resolve()), layout="kaggle-folders",
            split=split[kept], skipped=skipped,
        )

    return _cached(key, build) if use_cache else build()


def load_fer2013_csv(path: Path | str, use_cache: bool = True) -> FaceDataset:
    """The ICML 2013 challenge CSV: columns `emotion,pixels,Usage` (Usage optional).

    A wrong header or a malformed pixel string is an error that names the row.
    """
    path = Path(path)
    if not path.is_file():
        raise FerError(f"FER2013 CSV {path} does not exist.\n{LAYOUT_HELP}")
    key = f"fer2013-csv-{_fingerprint([path], path.parent)}"

    def build() -> FaceDataset:
        with path.open(newline="") as f:
            reader = csv.reader(f)
            header = [h.strip() for h in next(reader, [])]
            if "emotion" not in header or "pixels" not in header:
                raise FerError(
                    f"{path}: columns are {header}; the FER2013 CSV needs 'emotion' and 'pixels' "
                    "(and usually 'Usage'), as in the challenge's fer2013.csv"
                )
            col = {h: i for i, h in enumerate(header)}
            images, labels, split = [], [], []
            for row_number, row in enumerate(progress(reader, desc="reading FER2013 CSV"), start=2):
                try:
                    emotion = int(row[col["emotion"]])
                    values = np.array(row[col["pixels"]].split(), dtype=np.int64)
                except (ValueError, IndexError) as exc:
                    raise FerError(f"{path}, row {row_number}: cannot parse emotion/pixels ({exc})") from None
                if emotion not in FER2013_CSV_LABELS:
                    raise FerError(f"{path}, row {row_number}: emotion {emotion} is not one of 0-6")
                if values.size != IMAGE_SIZE * IMAGE_SIZE or values.min() < 0 or values.max() > 255:
                    raise FerError(
                        f"{path}, row {row_number}: pixels must be {IMAGE_SIZE * IMAGE_SIZE} integers "
                        f"in 0-255, found {values.size} values"
                    )
                images.append(values.astype(np.uint8).reshape(IMAGE_SIZE, IMAGE_SIZE))
                labels.append(FER2013_CLASSES.index(FER2013_CSV_LABELS[emotion]))
                split.append(row[col["Usage"]].strip() if "Usage" in col else "Training")
        if not images:
            raise FerError(f"{path} has a header but no rows")
        unknown = sorted(set(split) - set(FER2013_SPLITS))
        if unknown:
            raise FerError(f"{path}: Usage values {unknown} are not among {FER2013_SPLITS}")
        return FaceDataset(
            name="fer2013", images=np.stack(images), labels=np.array(labels, np.int64),
            class_names=FER2013_CLASSES, ids=np.array([f"row{i}" for i in range(2, len(images) + 2)]),
            source=str(path.resolve()), layout="challenge-csv", split=np.array(split),
        )

    return _cached(key, build) if use_cache else build()


# ---------------------------------------------------------------------------------------------
# CK+48


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
    entries = [(p, cls) for cls, folder in _class_folders(root, CKPLUS_FOLDER_NAMES, "CK+48")
               for p in _image_files(folder)]
    if not entries:
        raise FerError(f"{root.resolve()} holds no CK+48 images.\n{LAYOUT_HELP}")
    bad = [p.name for p, _ in entries if not CKPLUS_NAME.match(p.stem)]
    if bad:
        raise FerError(
            f"CK+48 file names must look like S010_004_00000017.png (subject, sequence, frame); "
            f"found {bad[:3]} under {root}"
        )
    paths = [p for p, _ in entries]
    key = f"ckplus48-{_fingerprint(paths, root)}"

    def build() -> FaceDataset:
        images, kept, skipped = _decode_all(paths, "decoding CK+48")
        labels = np.array([CKPLUS_CLASSES.index(c) for _, c in entries], np.int64)
        subjects = np.array([CKPLUS_NAME.match(p.stem)["subject"] for p in paths])
        ids = np.array([p.stem for p in paths])
        return FaceDataset(
            name="ckplus48", images=images, labels=labels[kept], class_names=CKPLUS_CLASSES,
            ids=ids[kept], source=str(root.resolve()), layout="kaggle-ck+48",
            subjects=subjects[kept], skipped=skipped,
        )

    return _cached(key, build) if use_cache else build()


def sequence_ids(dataset: FaceDataset) -> np.ndarray:
    """CK+48's sequence of each image (`S010_004`): its three frames share one."""
    return np.array(["_".join(i.split("_")[:2]) for i in dataset.ids])


# ---------------------------------------------------------------------------------------------
# Registry and subsets

DATASETS: dict[str, Callable[..., FaceDataset]] = {"fer2013": load_fer2013, "ckplus48": load_ckplus48}


def load_dataset(name: str, source: Path | str | None = None, use_cache: bool = True) -> FaceDataset:
    """Load a dataset by name (`fer2013` or `ckplus48`) from `source` or the data folder."""
    if name not in DATASETS:
        raise unknown_name_error("dataset", name, list(DATASETS))
    return DATASETS[name](source, use_cache=use_cache)


def stratified_subset(dataset: FaceDataset, per_class: int, seed: int = 0) -> FaceDataset:
    """At most `per_class` images of every class in every official split, chosen with `seed`.

    Subjects stay annotated, so subject-independent protocols still apply to the subset."""
    rng = np.random.default_rng(seed)
    groups = dataset.split if dataset.split is not None else np.full(len(dataset), "all")
    chosen = []
    for group in np.unique(groups):
        for label in range(dataset.num_classes):
            index = np.flatnonzero((groups == group) & (dataset.labels == label))
            chosen.append(rng.permutation(index)[:per_class])
    return dataset.subset(np.sort(np.concatenate(chosen)))
