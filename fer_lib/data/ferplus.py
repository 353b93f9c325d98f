"""FER+ crowd labels (Barsoum et al., ICMI 2016) joined to the FER2013 images the loaders read.

FER+ gives every row of the challenge CSV the votes of 10 annotators over eight emotions, `unknown`
and `NF` (not a face), in `fer2013new.csv`, whose rows are the challenge CSV's rows in order. Two
layouts, two joins:

- The challenge CSV: the row is known directly (`row{n}` ids count data rows from 2).
- The Kaggle folder layout: a file name does not say which CSV row it is, so the mapping file
  `fer2013_folders_to_ferplus.csv` (one line per image: `file` under `fer2013/`, `usage`, `fer_row`)
  names it. The join is on the whole path (split folder, class folder, file name): two Training file
  names occur in two class folders each. An image whose `fer_row` is empty has no FER+ row.

Nothing is joined on trust: every image must be in the mapping and every mapping line in the data
(other names or other counts mean another copy of the data), the usage must match each image's
split, and the FER+ image name the mapping gives must be the one in `fer2013new.csv` at that row.

Labels follow the FER+ reference code (Microsoft/FERPlus `src/ferplus.py`, `_process_data`):
a single vote for an emotion is treated as an outlier and dropped; then

- `majority`: the emotion with more than half of the remaining votes, else no label ("no majority");
- `probability`: the votes of the top emotions (at most three, until 75% of the votes are covered)
  normalised to a distribution, the target of FER+'s probability and cross-entropy modes; no label
  when those cover half of the votes or less.

In either mode an image whose winner is `unknown` or `NF`, or that has no FER+ row, is excluded and
counted, as FER+'s training and test code excludes it. FER+'s eight emotions are mapped by name to
the suite's canonical order (`FERPLUS_CLASSES`, FER2013's seven with contempt).
"""
from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import data_dir
from ..errors import FerError, unknown_name_error
from .faces import CANONICAL_CLASSES, FER2013_SPLITS, FaceDataset

VOTES_FILE = "fer2013new.csv"
MAPPING_FILE = "fer2013_folders_to_ferplus.csv"
VOTE_COLUMNS = ("neutral", "happiness", "surprise", "sadness", "anger", "disgust", "fear", "contempt", "unknown", "NF")
EMOTION_COLUMNS = VOTE_COLUMNS[:8]
# FER+'s emotion names -> the suite's canonical names, explicitly (its order is not FER2013's)
FERPLUS_TO_CANONICAL = {"neutral": "neutral", "happiness": "happy", "surprise": "surprise", "sadness": "sad",
                        "anger": "angry", "disgust": "disgust", "fear": "fear", "contempt": "contempt"}
FERPLUS_CLASSES = CANONICAL_CLASSES  # the eight emotions in canonical order
LABEL_MODES = ("majority", "probability")

# Why an image has no FER+ label, as counted in `FerPlusLabels.status`
KEPT, NO_ROW, NO_MAJORITY, UNKNOWN, NOT_A_FACE = "kept", "no FER+ row", "no majority", "unknown", "not a face"
STATUSES = (KEPT, NO_ROW, NO_MAJORITY, UNKNOWN, NOT_A_FACE)

FERPLUS_HELP = (f"FER+ labels are read from {VOTES_FILE} (Microsoft/FERPlus) and, for the Kaggle folder layout, "
                f"{MAPPING_FILE}, in a ferplus/ folder beside fer2013/ under the data folder ($FER_DATA_DIR)")

_SPLIT_FOLDER = {"Training": "train", "PublicTest": "test", "PrivateTest": "test"}
# Column order of the votes in `votes_to_targets`' output: the canonical order, by name
_CANONICAL_FROM_VOTES = [EMOTION_COLUMNS.index(next(k for k, v in FERPLUS_TO_CANONICAL.items() if v == c))
                         for c in FERPLUS_CLASSES]


def find_ferplus(root: Path | str | None = None) -> Path:
    """The folder holding `fer2013new.csv`: `root/ferplus`, `root` itself, or a `ferplus/` beside `root`
    (so a FER2013 folder or CSV may be given as `root`); `root` defaults to the data folder."""
    root = Path(root) if root is not None else data_dir()
    base = root.parent if root.is_file() else root
    for candidate in (base / "ferplus", base, base.parent / "ferplus"):
        if (candidate / VOTES_FILE).is_file():
            return candidate
    raise FerError(f"no FER+ labels found: {VOTES_FILE} is not in {base / 'ferplus'} or {base}. {FERPLUS_HELP}")


def votes_to_targets(votes: np.ndarray, mode: str) -> tuple[np.ndarray, np.ndarray]:
    """FER+ targets from raw votes (n, 10) in `VOTE_COLUMNS` order, by the FER+ reference code's rules.

    Returns the targets (n, 8), a distribution over `FERPLUS_CLASSES` (one-hot in `majority` mode;
    zeros where excluded), and per image its status (`KEPT`, `NO_MAJORITY`, `UNKNOWN`, `NOT_A_FACE`)."""
    if mode not in LABEL_MODES:
        raise unknown_name_error("FER+ label mode", mode, LABEL_MODES)
    votes = np.asarray(votes, float)
    if votes.ndim != 2 or votes.shape[1] != len(VOTE_COLUMNS):
        raise FerError(f"FER+ votes must be an (images, {len(VOTE_COLUMNS)}) array over {VOTE_COLUMNS}, "
                       f"got shape {votes.shape}")
    check_votes(votes, "FER+ votes")
    targets = np.zeros((len(votes), len(FERPLUS_CLASSES)))
    status = np.empty(len(votes), object)
    for i, row in enumerate(votes):
        kept = _majority(row) if mode == "majority" else _top_emotions(row)
        if kept is None:
            status[i] = NO_MAJORITY
            continue
        winner = int(np.argmax(kept))
        if winner >= len(EMOTION_COLUMNS):
            status[i] = UNKNOWN if VOTE_COLUMNS[winner] == "unknown" else NOT_A_FACE
            continue
        emotions = kept[:len(EMOTION_COLUMNS)]
        targets[i] = emotions[_CANONICAL_FROM_VOTES] / emotions.sum()
        status[i] = KEPT
    return targets, status.astype(str)


def _without_outliers(row: np.ndarray) -> np.ndarray:
    """A category with a single vote is treated as an annotator's slip (FER+'s outlier removal)."""
    return np.where(row <= 1.0, 0.0, row)


def _majority(row: np.ndarray) -> np.ndarray | None:
    """The votes of the one category with more than half of the votes, or None when none has."""
    row = _without_outliers(row)
    peak = int(np.argmax(row))  # the first of tied maxima, as FER+'s np.argmax; a tie is never above half
    if row[peak] <= 0.5 * row.sum():
        return None
    kept = np.zeros_like(row)
    kept[peak] = row[peak]
    return kept


def _top_emotions(row: np.ndarray) -> np.ndarray | None:
    """FER+'s probability/cross-entropy target: the votes of the top categories (ties taken together,
    at most three) until 75% of the votes are covered; None when they cover half or less. When
    `unknown` or `NF` ties with the maximum, collection stops there (and drops it if an emotion came first)."""
    remaining = _without_outliers(row)
    total = remaining.sum()
    kept = np.zeros_like(remaining)
    count, covered, valid = 0, 0.0, True
    while covered < 0.75 * total and count < 3 and valid:
        peak = remaining.max()
        for i in range(len(remaining)):
            if remaining[i] == peak:
                kept[i], remaining[i] = peak, 0.0
                covered += peak
                count += 1
                if i >= len(EMOTION_COLUMNS):
                    valid = False
                    if kept.sum() > peak:
                        kept[i] = 0.0
                        count -= 1
                    break
    if kept.sum() <= 0.5 * total or count > 3:
        return None
    return kept


@dataclass(frozen=True)
class FerPlusLabels:
    """FER+ labels for every image of one FER2013 dataset, in its order.

    `fer_row` is the challenge-CSV row (-1: no FER+ row); `votes` the raw votes (NaN without a row);
    `targets` the mode's distribution over `FERPLUS_CLASSES` (zeros where excluded); `status` why
    an image is kept or excluded; `majority` the target's top class (-1 where excluded)."""

    mode: str
    ids: np.ndarray
    split: np.ndarray
    fer_row: np.ndarray
    votes: np.ndarray
    targets: np.ndarray
    status: np.ndarray

    @property
    def kept(self) -> np.ndarray:
        return self.status == KEPT

    @property
    def majority(self) -> np.ndarray:
        return np.where(self.kept, self.targets.argmax(axis=1), -1)

    def check_made_for(self, dataset: FaceDataset) -> None:
        """Raise unless these labels were made for `dataset`'s images, in its order."""
        if not np.array_equal(self.ids, dataset.ids):
            raise FerError("the FER+ labels were made for other images (ids differ); call ferplus_labels on this dataset")

    def subset(self, index: np.ndarray) -> "FerPlusLabels":
        """The labels of the images at `index` (as `FaceDataset.subset` of the dataset they were made for)."""
        return replace(self, ids=self.ids[index], split=self.split[index], fer_row=self.fer_row[index],
                       votes=self.votes[index], targets=self.targets[index], status=self.status[index])

    def counts(self) -> pd.DataFrame:
        """Images per split (official parts first) and status, with a total column."""
        table = pd.crosstab(pd.Series(self.split, name="split"), pd.Series(self.status, name="status"))
        table = table.reindex(index=[s for s in FER2013_SPLITS if s in table.index], columns=list(STATUSES),
                              fill_value=0)
        table["images"] = table.sum(axis=1)
        return table


# No image has more votes in a category than it had annotators (FER+: 10; a few re-labelled rows have 12)
MAX_VOTES = 100


def _read_table(path: Path, **kwargs) -> pd.DataFrame:
    """A CSV as a table, or a FerError naming the file (empty, or not a CSV)."""
    try:
        table = pd.read_csv(path, **kwargs)
    except pd.errors.EmptyDataError:
        raise FerError(f"{path} is empty; {FERPLUS_HELP}") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as exc:
        raise FerError(f"{path} cannot be read as a CSV ({str(exc).splitlines()[0]}); {FERPLUS_HELP}") from None
    if not len(table):
        raise FerError(f"{path} has a header and no rows; {FERPLUS_HELP}")
    return table


def check_votes(votes: np.ndarray, where: str) -> None:
    """Every vote a whole number from 0 to `MAX_VOTES`; a FerError naming the first row that is not."""
    votes = np.asarray(votes, float)
    bad = ~np.isfinite(votes) | (votes < 0) | (votes > MAX_VOTES) | (votes != np.round(votes))
    if bad.any():
        row, col = map(int, np.argwhere(bad)[0])
        value = votes[row, col]
        raise FerError(f"{where}: row {row} has {'a blank' if np.isnan(value) else repr(float(value))} vote for "
                       f"{VOTE_COLUMNS[col]}; every vote must be a whole number from 0 to {MAX_VOTES} (the count of "
                       f"annotators who chose it): use FER+'s own {VOTES_FILE}")


def _read_votes(folder: Path) -> pd.DataFrame:
    path = folder / VOTES_FILE
    table = _read_table(path)
    missing = [c for c in ("Usage", "Image name", *VOTE_COLUMNS) if c not in table.columns]
    if missing:
        raise FerError(f"{path} lacks columns {missing}; it must be FER+'s {VOTES_FILE} with columns Usage, "
                       f"Image name, {', '.join(VOTE_COLUMNS)}")
    named = table["Image name"].notna().to_numpy()
    values = table.loc[named, list(VOTE_COLUMNS)].apply(pd.to_numeric, errors="coerce").to_numpy(float)
    check_votes(values, str(path))
    return table


def _check_usage(where: str, expected: np.ndarray, found: np.ndarray) -> None:
    wrong = np.flatnonzero(expected != found)
    if wrong.size:
        i = wrong[0]
        raise FerError(f"{where}: {wrong.size} images are in another split than the FER+ row says (first: "
                       f"{expected[i]} in the data, {found[i]} in FER+); the labels belong to another copy of the data")


def _rows_for_csv(dataset: FaceDataset, votes: pd.DataFrame, folder: Path) -> np.ndarray:
    """The challenge CSV: its n-th data row is FER+'s n-th row."""
    rows = np.array([int(i[3:]) - 2 for i in dataset.ids])
    if len(votes) != len(dataset) + len(dataset.skipped) or rows.max(initial=-1) >= len(votes):
        raise FerError(f"{dataset.source} has {len(dataset)} rows and {folder / VOTES_FILE} {len(votes)}: FER+ labels "
                       "rows of the full challenge CSV (35,887) in order, so both must be complete and unfiltered")
    _check_usage(f"{dataset.source} against {folder / VOTES_FILE}", dataset.split,
                 votes["Usage"].to_numpy(str)[rows])
    return np.where(votes["Image name"].isna().to_numpy()[rows], -1, rows)


def _rows_for_folders(dataset: FaceDataset, votes: pd.DataFrame, folder: Path) -> np.ndarray:
    """The Kaggle folder layout: each image's row from the mapping file, joined on its whole path."""
    path = folder / MAPPING_FILE
    if not path.is_file():
        raise FerError(f"{path} does not exist: the Kaggle folder layout needs it to know which FER+ row each "
                       f"image is. {FERPLUS_HELP}")
    mapping = _read_table(path, dtype={"file": str, "usage": str, "ferplus_image": str})
    missing = [c for c in ("file", "usage", "fer_row", "ferplus_image") if c not in mapping.columns]
    if missing:
        raise FerError(f"{path} lacks columns {missing}; expected file, usage, fer_row, ferplus_image, ...")
    fer_row = pd.to_numeric(mapping["fer_row"], errors="coerce").to_numpy(float)
    bad = (mapping["fer_row"].notna().to_numpy() & np.isnan(fer_row)) | (fer_row < 0) | (fer_row != np.round(fer_row)) & ~np.isnan(fer_row)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise FerError(f"{path}: line {i + 2} has fer_row {str(mapping['fer_row'].iloc[i])!r}; a row of {VOTES_FILE} is a "
                       "whole number from 0 (or empty: no FER+ row); use the mapping file of this release")
    for column, what in (("file", "image"), ("fer_row", "FER+ row")):
        named = mapping[column].dropna()
        twice = named[named.duplicated()]
        if len(twice):
            shown = f"{twice.iloc[0]:g}" if column == "fer_row" else repr(twice.iloc[0])
            raise FerError(f"{path} names the {what} {shown} on two lines; every image has one line and one "
                           "FER+ row, so one of them would take the other's labels: use the mapping file of this release")
    key_of = {Path(f).with_suffix("").as_posix(): i for i, f in enumerate(mapping["file"])}
    keys = [f"{_SPLIT_FOLDER.get(s, s)}/{dataset.class_names[label]}/{i}"
            for s, label, i in zip(dataset.split, dataset.labels, dataset.ids)]
    line = np.array([key_of.get(k, -1) for k in keys])
    absent = np.flatnonzero(line < 0)
    if absent.size:
        raise FerError(f"{absent.size} of {len(dataset)} images of {dataset.source} are not in {path} (first: "
                       f"{keys[absent[0]]}); the mapping was made for the Kaggle msambare/fer2013 release, "
                       "so these labels cannot be joined to this copy")
    unreadable = {Path(s).relative_to(dataset.source).with_suffix("").as_posix() for s, _ in dataset.skipped
                  if Path(s).is_relative_to(dataset.source)}
    extra = sorted(set(key_of) - set(keys) - unreadable)
    if extra:
        raise FerError(f"{path} lists {len(extra)} images that {dataset.source} does not have (first: {extra[0]}); "
                       f"the data has {len(dataset)} images and the mapping {len(mapping)}: point the loader at "
                       "the complete release the mapping was made for")
    mapped = mapping.iloc[line]
    _check_usage(str(path), dataset.split, mapped["usage"].to_numpy(str))
    rows = mapped["fer_row"].to_numpy(float)
    has_row = ~np.isnan(rows)
    rows = np.where(has_row, rows, -1).astype(np.int64)
    if rows.max(initial=-1) >= len(votes):
        raise FerError(f"{path} names row {rows.max()}, but {folder / VOTES_FILE} has {len(votes)} rows")
    names = votes["Image name"].to_numpy(object)[rows[has_row]]
    wrong = np.flatnonzero(names != mapped["ferplus_image"].to_numpy(object)[has_row])
    if wrong.size:
        i = wrong[0]
        raise FerError(f"{path} and {folder / VOTES_FILE} disagree on {wrong.size} rows (first: row "
                       f"{rows[has_row][i]} is {names[i]} there, {mapped['ferplus_image'].iloc[np.flatnonzero(has_row)[i]]} "
                       "in the mapping); use the two files from the same release")
    return rows


def ferplus_labels(dataset: FaceDataset, mode: str = "majority", root: Path | str | None = None) -> FerPlusLabels:
    """FER+ labels for every image of a FER2013 `dataset` (challenge CSV or Kaggle folder layout), read
    from the FER+ folder under `root` (default: beside the dataset's source, else the data folder)."""
    if mode not in LABEL_MODES:
        raise unknown_name_error("FER+ label mode", mode, LABEL_MODES)
    if dataset.name != "fer2013" or dataset.split is None or not np.isin(dataset.split, FER2013_SPLITS).all():
        raise FerError(f"FER+ labels join FER2013 in its official layouts (the Kaggle msambare folders or the "
                       f"challenge CSV); {dataset.name} in the {dataset.layout} layout has no FER+ rows")
    folder = find_ferplus(root if root is not None else dataset.source)
    votes = _read_votes(folder)
    rows = (_rows_for_csv if dataset.layout == "challenge-csv" else _rows_for_folders)(dataset, votes, folder)
    has_row = rows >= 0
    raw = np.full((len(dataset), len(VOTE_COLUMNS)), np.nan)
    raw[has_row] = votes.loc[rows[has_row], list(VOTE_COLUMNS)].to_numpy(float)
    targets = np.zeros((len(dataset), len(FERPLUS_CLASSES)))
    status = np.full(len(dataset), NO_ROW, dtype=object)
    targets[has_row], status[has_row] = votes_to_targets(raw[has_row], mode)
    return FerPlusLabels(mode=mode, ids=dataset.ids, split=dataset.split, fer_row=rows, votes=raw, targets=targets,
                         status=status.astype(str))


def with_ferplus_labels(dataset: FaceDataset, labels: FerPlusLabels) -> FaceDataset:
    """The images `labels` keeps, labelled with FER+: eight classes (`FERPLUS_CLASSES`), the label the
    targets' top class and `label_distribution` the targets; excluded images are listed in `excluded`."""
    labels.check_made_for(dataset)
    keep = np.flatnonzero(labels.kept)
    if not keep.size:
        counts = pd.Series(labels.status).value_counts().to_dict()
        raise FerError(f"no image of {dataset.source} has a FER+ {labels.mode} label ({counts}); the votes file holds "
                       "no usable votes for these images: use FER+'s own files")
    excluded = [(str(i), str(s)) for i, s in zip(dataset.ids, labels.status) if s != KEPT]
    return replace(dataset.subset(keep), name="ferplus", class_names=FERPLUS_CLASSES,
                   labels=labels.majority[keep].astype(np.int64), label_distribution=labels.targets[keep],
                   layout=f"{dataset.layout}+ferplus-{labels.mode}", excluded=excluded)


def load_ferplus(source: Path | str | None = None, use_cache: bool = True, mode: str = "majority") -> FaceDataset:
    """FER2013's images with FER+ labels (`mode`: majority or probability) from the data folder `source`."""
    from .fer2013 import load_fer2013

    fer2013 = load_fer2013(source, use_cache=use_cache)
    return with_ferplus_labels(fer2013, ferplus_labels(fer2013, mode, source))
