"""FER2013 in the three layouts users download: the Kaggle class folders, the ICML 2013 challenge CSV,
and the Kaggle "face-expression-recognition-dataset" (jonathanoheix) train/validation folders.

Each gives the same `FaceDataset`: labels in the canonical order, and per image its split. The first
two carry the official split (Training, PublicTest, PrivateTest), from the file-name prefix or the
CSV's Usage column. The third holds FER2013's images under `images/train/<class>/<n>.jpg` and
`images/validation/<class>/<n>.jpg` with numbered file names that do not say which official part an
image came from: its split is its own folders (`FOLDER_SPLITS`), for the protocol
`train_validation_folders`; `match_official_split` recovers the official part of each image by its
pixels, given the official release too. The CSV's
labels `0 Angry, 1 Disgust, 2 Fear, 3 Happy, 4 Sad, 5 Surprise, 6 Neutral` are not alphabetical and
are mapped explicitly.
"""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import data_dir
from ..errors import FerError
from ..progress import progress
from .cache import cached, fingerprint
from .faces import FER2013_CLASSES, FER2013_SPLITS, IMAGE_SIZE, LAYOUT_HELP, FaceDataset
from .images import class_folders, decode_all, image_files

# Each source's label -> canonical name.
FER2013_CSV_LABELS = {0: "angry", 1: "disgust", 2: "fear", 3: "happy", 4: "sad", 5: "surprise", 6: "neutral"}
FER2013_FOLDER_NAMES = {name: name for name in FER2013_CLASSES}


FOLDER_SPLITS = ("train", "validation")  # the face-expression-recognition-dataset's own parts
FOLDER_LAYOUT = "kaggle-train-validation"


def find_fer2013(root: Path | None = None) -> Path:
    """The FER2013 source under `root`: a folder holding train/ and test/, one holding
    images/train/ and images/validation/, or a challenge CSV."""
    root = Path(root) if root is not None else data_dir()
    if root.is_file() and root.suffix == ".csv":
        return root
    for candidate in (root / "fer2013", root, root / "face-expression-recognition-dataset"):
        if (candidate / "train").is_dir() or (candidate / "test").is_dir():
            return candidate
        if any((candidate / "images" / part).is_dir() for part in FOLDER_SPLITS):
            return candidate / "images"
        for csv_name in ("fer2013.csv", "icml_face_data.csv"):
            if (candidate / csv_name).is_file():
                return candidate / csv_name
    raise FerError(f"No FER2013 data found under {root.resolve()}.\n{LAYOUT_HELP}")


def load_fer2013(source: Path | str | None = None, use_cache: bool = True) -> FaceDataset:
    """FER2013 from the Kaggle folder layout or the challenge CSV, whichever `source` holds."""
    path = find_fer2013(None if source is None else Path(source))
    if path.suffix == ".csv":
        return load_fer2013_csv(path, use_cache=use_cache)
    if any((path / part).is_dir() for part in FOLDER_SPLITS) and not (path / "test").is_dir():
        return load_fer2013_train_validation(path, use_cache=use_cache)
    return load_fer2013_folders(path, use_cache=use_cache)


def _class_folder_images(root: Path, parts: tuple[str, ...]) -> list[tuple[Path, str, str]]:
    """(image file, class, part) for every image under `root/<part>/<class>/`, for the parts that exist."""
    entries = []
    for part in parts:
        if (root / part).is_dir():
            for cls, folder in class_folders(root / part, FER2013_FOLDER_NAMES, "FER2013"):
                entries += [(p, cls, part) for p in image_files(folder)]
    return entries


def load_fer2013_folders(root: Path | str, use_cache: bool = True) -> FaceDataset:
    """The Kaggle layout: `train/<class>/Training_*.jpg`, `test/<class>/{PublicTest,PrivateTest}_*.jpg`.

    The official split of each image is recovered from its file-name prefix.
    """
    root = Path(root)
    entries = _class_folder_images(root, ("train", "test"))
    if not entries:
        raise FerError(f"{root.resolve()} holds no FER2013 images.\n{LAYOUT_HELP}")
    paths = [p for p, _, _ in entries]
    key = f"fer2013-folders-{fingerprint(paths, root)}"

    def build() -> FaceDataset:
        images, kept, skipped = decode_all(paths, "decoding FER2013")
        names = np.array([p.stem for p in paths])
        split = np.array([n.split("_", 1)[0] for n in names])
        unknown = sorted(set(split) - set(FER2013_SPLITS))
        if unknown:
            raise FerError(
                f"FER2013 file names must start with one of {FER2013_SPLITS} followed by '_'; "
                f"found prefixes {[str(u) for u in unknown[:5]]} under {root}"
            )
        labels = np.array([FER2013_CLASSES.index(c) for _, c, _ in entries], np.int64)
        return FaceDataset(
            name="fer2013", images=images, labels=labels[kept], class_names=FER2013_CLASSES,
            ids=names[kept], source=str(root.resolve()), layout="kaggle-folders",
            split=split[kept], skipped=skipped,
        )

    return cached(key, build) if use_cache else build()


def load_fer2013_train_validation(root: Path | str, use_cache: bool = True) -> FaceDataset:
    """The Kaggle face-expression-recognition-dataset layout: `train/<class>/<n>.jpg` and
    `validation/<class>/<n>.jpg` (the folder called `images` in the download).

    Each image's split is the folder it is in ("train" or "validation"), not an official part."""
    root = Path(root)
    entries = _class_folder_images(root, FOLDER_SPLITS)
    if not entries:
        raise FerError(f"{root.resolve()} holds no images in train/<class>/ or validation/<class>/.\n{LAYOUT_HELP}")
    paths = [p for p, _, _ in entries]
    key = f"fer2013-train-validation-{fingerprint(paths, root)}"

    def build() -> FaceDataset:
        images, kept, skipped = decode_all(paths, "decoding FER2013 (train/validation folders)")
        ids = np.array([f"{part}/{p.parent.name}/{p.stem}" for p, _, part in entries])
        labels = np.array([FER2013_CLASSES.index(c) for _, c, _ in entries], np.int64)
        split = np.array([part for _, _, part in entries])
        return FaceDataset(name="fer2013", images=images, labels=labels[kept], class_names=FER2013_CLASSES,
                           ids=ids[kept], source=str(root.resolve()), layout=FOLDER_LAYOUT, split=split[kept],
                           skipped=skipped)

    return cached(key, build) if use_cache else build()


def match_official_split(folders: FaceDataset, official: FaceDataset) -> pd.DataFrame:
    """Which official part (Training, PublicTest, PrivateTest) each image of the train/validation layout
    came from, matched by pixels (an exact or near duplicate, `audit.duplicate_groups`): one row per
    folder part with its image count per official part, "unmatched", and "ambiguous" (its pixels
    match images of more than one official part, as FER2013's own duplicates do)."""
    from ..studies.audit import duplicate_groups

    if folders.layout != FOLDER_LAYOUT or official.split is None or not np.isin(official.split, FER2013_SPLITS).all():
        raise FerError("match_official_split takes the train/validation layout first and an official release "
                       "(Kaggle msambare folders or the challenge CSV) second")
    groups = duplicate_groups(np.concatenate([folders.images, official.images]))
    mine, theirs = groups[:len(folders)], groups[len(folders):]
    parts_of_group: dict[int, set[str]] = {}
    for group, part in zip(theirs, official.split):
        parts_of_group.setdefault(int(group), set()).add(str(part))
    rows = []
    for part in FOLDER_SPLITS:
        counts = dict.fromkeys((*FER2013_SPLITS, "ambiguous", "unmatched"), 0)
        for group in mine[folders.split == part]:
            found = parts_of_group.get(int(group), set())
            counts[next(iter(found)) if len(found) == 1 else "ambiguous" if found else "unmatched"] += 1
        rows.append({"folder": part, "images": int((folders.split == part).sum()), **counts})
    return pd.DataFrame(rows)


def load_fer2013_csv(path: Path | str, use_cache: bool = True) -> FaceDataset:
    """The ICML 2013 challenge CSV: columns `emotion,pixels,Usage` (Usage optional).

    A wrong header or a malformed pixel string is an error that names the row.
    """
    path = Path(path)
    if not path.is_file():
        raise FerError(f"FER2013 CSV {path} does not exist.\n{LAYOUT_HELP}")
    key = f"fer2013-csv-{fingerprint([path], path.parent)}"

    def build() -> FaceDataset:
        # utf-8-sig: a CSV saved by Excel starts with a byte-order mark, which is not part of 'emotion'
        with path.open(newline="", encoding="utf-8-sig") as f:
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
                if not any(cell.strip() for cell in row):
                    continue  # a blank line (often the last one)
                if len(row) < len(header):
                    raise FerError(f"{path}, row {row_number}: {len(row)} fields where the header has {len(header)} "
                                   f"({', '.join(header)}); fix or remove the row")
                try:
                    emotion = int(row[col["emotion"]])
                    values = np.array(row[col["pixels"]].split(), dtype=np.int64)
                except ValueError as exc:
                    raise FerError(f"{path}, row {row_number}: cannot parse emotion/pixels ({exc})") from None
                if emotion not in FER2013_CSV_LABELS:
                    raise FerError(f"{path}, row {row_number}: emotion {emotion} is not one of 0-6")
                if values.size != IMAGE_SIZE * IMAGE_SIZE:
                    raise FerError(f"{path}, row {row_number}: pixels must be {IMAGE_SIZE * IMAGE_SIZE} integers "
                                   f"(a {IMAGE_SIZE}x{IMAGE_SIZE} image), found {values.size} values")
                if values.min() < 0 or values.max() > 255:
                    bad = values[(values < 0) | (values > 255)]
                    raise FerError(f"{path}, row {row_number}: pixel values must be in 0-255, found {bad[0]}"
                                   f"{f' and {bad.size - 1} more' if bad.size > 1 else ''}")
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

    return cached(key, build) if use_cache else build()

