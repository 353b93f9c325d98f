"""Split protocols: every way the suite divides a dataset, each a named, seeded function.

A protocol returns a `Split` of index arrays: `train` (fitted on), `val` (used to select the epoch)
and `test` (evaluated once). Class balancing and augmentation happen later, on `train` only.

- `official`: FER2013's Training / PublicTest / PrivateTest (train / select / test).
- `train_validation_folders`: the face-expression-recognition-dataset layout's own train folder and
  validation folder, the latter monitoring and reported (mahdi2025's reading; `val_is_test`).
- `random_stratified`: a random stratified split by ratio, e.g. yousaf2024's 75:25 on FER2013
  and 80:20 on CK+; `val_fraction` of the training part is held out for selection.
  Both take `validation_is_test=True` for a paper that reports the set that monitored its training
  (abdulkadir2025): validation and test are then one set (`Split.val_is_test`), and the runner
  evaluates the last epoch's weights, since choosing an epoch on that set would choose on the test.
- `subject_independent`: CK+ split so that no subject is on both sides (also for validation).
- `subject_kfold`, `stratified_kfold`: k folds, subject-disjoint or stratified by class.
"""
from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import Callable

import numpy as np
from sklearn.model_selection import StratifiedGroupKFold, StratifiedKFold, train_test_split

from ..errors import FerError, unknown_name_error
from .faces import FaceDataset


@dataclass(frozen=True)
class Split:
    """Index arrays into a dataset, and how they were made."""

    protocol: str
    description: str
    seed: int
    train: np.ndarray
    val: np.ndarray
    test: np.ndarray
    val_is_test: bool = False  # the paper's protocol reports the set that monitored training
    # the whole protocol in words where a split is one of k folds (a report names the protocol, not fold 1)
    folds_description: str | None = None

    @property
    def protocol_description(self) -> str:
        return self.folds_description or self.description

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def check_disjoint(self) -> None:
        """Raise if any image index is in two parts (validation and test may be one set, when declared)."""
        if self.val_is_test and not np.array_equal(self.val, self.test):
            raise AssertionError(f"split {self.protocol} declares validation and test one set, but they differ")
        parts = (self.train, self.test) if self.val_is_test else (self.train, self.val, self.test)
        if sum(map(len, parts)) != len(np.unique(np.concatenate(parts))):
            raise AssertionError(f"split {self.protocol} reuses an image across train/val/test")


def shares_group(index: np.ndarray, others: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """Per image of `index`, whether an image of `others` is in its group (e.g. its duplicate group,
    `studies.audit.duplicate_groups`)."""
    return np.isin(groups[index], groups[others])


def _flag(name: str, value: object) -> bool:
    if not isinstance(value, bool):
        raise FerError(f"{name} must be true or false, got {value!r}")
    return value


def _fraction(name: str, value: float, allow_zero: bool = False) -> float:
    if not ((0 <= value < 1) if allow_zero else (0 < value < 1)):
        raise FerError(f"{name} must be a fraction {'in [0, 1)' if allow_zero else 'in (0, 1)'}, got {value}")
    return value


def stratified_holdout(index: np.ndarray, labels: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split `index` into (kept, held out) with `fraction` held out, stratified by label."""
    if fraction == 0:
        return index, index[:0]
    kept, held = train_test_split(index, test_size=fraction, stratify=labels[index], random_state=seed)
    return np.sort(kept), np.sort(held)


def _group_holdout(index: np.ndarray, labels: np.ndarray, groups: np.ndarray, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Split `index` into (kept, held out) by whole groups, about `fraction` held out, class-stratified.

    Groups are held out as one fold of round(1 / fraction), so `fraction` is at most 0.5."""
    if fraction == 0:
        return index, index[:0]
    n_splits = round(1 / fraction)
    if len(np.unique(groups[index])) < n_splits:
        raise FerError(f"only {len(np.unique(groups[index]))} subjects; cannot hold out 1/{n_splits} of them")
    folds = StratifiedGroupKFold(n_splits=n_splits, shuffle=True, random_state=seed)
    kept, held = next(folds.split(index, labels[index], groups[index]))
    return np.sort(index[kept]), np.sort(index[held])


def official(dataset: FaceDataset, seed: int = 0, validation_is_test: bool = False) -> Split:
    """FER2013's official protocol: fit on Training, select on PublicTest, test on PrivateTest.

    `validation_is_test`: PublicTest both monitors training and is reported (abdulkadir2025's
    Table IV); PrivateTest is unused."""
    if dataset.split is None:
        raise FerError(f"the official protocol needs FER2013's Usage split; {dataset.name} has none")
    part = {name: np.flatnonzero(dataset.split == name) for name in ("Training", "PublicTest", "PrivateTest")}
    empty = [name for name, index in part.items() if not len(index)]
    if empty:
        raise FerError(f"the official protocol needs FER2013's Training, PublicTest and PrivateTest images; "
                       f"{dataset.name} ({dataset.source}) has none in {', '.join(empty)} (a CSV without its "
                       "Usage column reads as all Training): use the full release, or protocol random_stratified")
    if _flag("validation_is_test", validation_is_test):
        return Split("official", "FER2013 Training / PublicTest, which both monitors training and is reported "
                     "(no untouched test set; last epoch evaluated)", seed, part["Training"], part["PublicTest"],
                     part["PublicTest"], val_is_test=True)
    return Split("official", "FER2013 Training / PublicTest (selection) / PrivateTest (test)",
                 seed, part["Training"], part["PublicTest"], part["PrivateTest"])


def train_validation_folders(dataset: FaceDataset, seed: int = 0) -> Split:
    """The Kaggle face-expression-recognition-dataset's own parts, as mahdi2025 is read: fit on its
    train folder; its validation folder both monitors training and is reported (no untouched test
    set; last epoch evaluated)."""
    from .fer2013 import FOLDER_LAYOUT, FOLDER_SPLITS

    if dataset.layout != FOLDER_LAYOUT:
        raise FerError(f"protocol train_validation_folders needs the face-expression-recognition-dataset layout "
                       f"(images/train and images/validation); {dataset.name} from {dataset.source} is "
                       f"{dataset.layout!r}: use protocol official")
    train, val = (np.flatnonzero(dataset.split == part) for part in FOLDER_SPLITS)
    if not len(train) or not len(val):
        raise FerError(f"protocol train_validation_folders needs images in both train/ and validation/ of {dataset.source}")
    return Split("train_validation_folders", "the download's train folder / its validation folder, which both "
                 "monitors training and is reported (no untouched test set; last epoch evaluated)",
                 seed, train, val, val, val_is_test=True)


# The Kaggle face-expression-recognition-dataset (jonathanoheix), which mahdi2025's references name: FER2013's
# images re-split into train/ and validation/ folders. Its validation folder's per-class counts (its train folder
# holds the rest: train + validation add up to FER2013's class totals exactly, 28,821 + 7,066 = 35,887).
KAGGLE_VALIDATION_COUNTS = {"angry": 960, "disgust": 111, "fear": 1018, "happy": 1825, "neutral": 1216, "sad": 1139,
                            "surprise": 797}
KAGGLE_TRAIN_COUNTS = {"angry": 3993, "disgust": 436, "fear": 4103, "happy": 7164, "neutral": 4982, "sad": 4938,
                       "surprise": 3205}


def kaggle_resplit(dataset: FaceDataset, seed: int = 0, validation_is_test: bool = True) -> Split:
    """Our reading of mahdi2025's data where the Kaggle download itself is not at hand: a seeded random re-split
    of all FER2013 images into a train part and a validation part with that download's per-class counts
    (`KAGGLE_VALIDATION_COUNTS`; on a subset, the same share of each class). As `train_validation_folders`, the
    validation part both monitors training and is reported (last epoch evaluated); `validation_is_test=False`
    instead holds a stratified 10% of the train part out for selection and scores the validation part once."""
    if dataset.name != "fer2013":
        raise FerError(f"protocol kaggle_resplit re-splits FER2013 to the Kaggle download's counts; {dataset.name} is not FER2013")
    rng = np.random.default_rng(seed)
    test = []
    for c, name in enumerate(dataset.class_names):
        members = np.flatnonzero(dataset.labels == c)
        share = KAGGLE_VALIDATION_COUNTS[name] / (KAGGLE_VALIDATION_COUNTS[name] + KAGGLE_TRAIN_COUNTS[name])
        test.append(rng.permutation(members)[:round(share * len(members))])
    test = np.sort(np.concatenate(test))
    rest = np.setdiff1d(np.arange(len(dataset)), test)
    if _flag("validation_is_test", validation_is_test):
        return Split("kaggle_resplit", "a seeded random re-split of all FER2013 images to the Kaggle "
                     "face-expression-recognition-dataset's per-class counts (our reading of mahdi2025's data): its "
                     "validation part both monitors training and is reported (no untouched test set; last epoch "
                     "evaluated)", seed, rest, test, test, val_is_test=True)
    train, val = stratified_holdout(rest, dataset.labels, 0.1, seed + 1)
    return Split("kaggle_resplit", "a seeded random re-split of all FER2013 images to the Kaggle "
                 "face-expression-recognition-dataset's per-class counts (our reading of mahdi2025's data), 10% of "
                 "its train part held out for selection, its validation part tested once", seed, train, val, test)


def random_stratified(dataset: FaceDataset, seed: int = 0, test_fraction: float = 0.25,
                      val_fraction: float = 0.2, validation_is_test: bool = False) -> Split:
    """A random split of all images, stratified by class, ignoring any official split or subject.

    `validation_is_test`: the held-out `test_fraction` both monitors training and is reported
    (abdulkadir2025's "10% of the overall training dataset"); `val_fraction` is then unused."""
    _fraction("test_fraction", test_fraction)
    _fraction("val_fraction", val_fraction, allow_zero=True)
    everything = np.arange(len(dataset))
    rest, test = stratified_holdout(everything, dataset.labels, test_fraction, seed)
    pct = round(100 * (1 - test_fraction))
    if _flag("validation_is_test", validation_is_test):
        return Split("random_stratified", f"random stratified {pct}:{100 - pct} train:held-out of all images; the "
                     "held-out part both monitors training and is reported (no untouched test set; last epoch "
                     "evaluated)", seed, rest, test, test, val_is_test=True)
    train, val = stratified_holdout(rest, dataset.labels, val_fraction, seed + 1)
    return Split("random_stratified",
                 f"random stratified {pct}:{100 - pct} train:test of all images, "
                 f"{val_fraction:.0%} of train held out for selection", seed, train, val, test)


def _subjects(dataset: FaceDataset) -> np.ndarray:
    if dataset.subjects is None:
        raise FerError(f"{dataset.name} has no subject ids; subject-independent protocols need CK+48")
    return dataset.subjects


def subject_independent(dataset: FaceDataset, seed: int = 0, test_fraction: float = 0.2,
                        val_fraction: float = 0.2) -> Split:
    """A split in which every subject is on one side only (test, validation and train)."""
    for name, value in (("test_fraction", test_fraction), ("val_fraction", val_fraction)):
        if not 0 <= value <= 0.5 or (name == "test_fraction" and value == 0):
            raise FerError(f"{name} of a subject-independent split must be in {'(0' if name == 'test_fraction' else '[0'}, 0.5] "
                           f"(subjects are held out as one fold of round(1/{name})), got {value}")
    groups = _subjects(dataset)
    rest, test = _group_holdout(np.arange(len(dataset)), dataset.labels, groups, test_fraction, seed)
    train, val = _group_holdout(rest, dataset.labels, groups, val_fraction, seed + 1)
    test_share, val_share = len(test) / len(dataset), len(val) / max(len(rest), 1)
    return Split("subject_independent",
                 f"subject-independent {1 - test_share:.0%}:{test_share:.0%} train:test "
                 f"(no subject on two sides), {val_share:.0%} of train held out by subject for selection",
                 seed, train, val, test)


def subject_kfold(dataset: FaceDataset, k: int = 10, seed: int = 0, val_fraction: float = 0.1) -> list[Split]:
    """k subject-disjoint folds, class-stratified as far as subjects allow."""
    groups = _subjects(dataset)
    folds = StratifiedGroupKFold(n_splits=k, shuffle=True, random_state=seed)
    splits = []
    for i, (rest, test) in enumerate(folds.split(dataset.images, dataset.labels, groups)):
        train, val = _group_holdout(rest, dataset.labels, groups, val_fraction, seed + 1 + i)
        splits.append(Split("subject_kfold", f"subject-independent fold {i + 1}/{k}", seed, train, val, np.sort(test),
                            folds_description=folds_description("subject_kfold", k=k, val_fraction=val_fraction)))
    return splits


def stratified_kfold(dataset: FaceDataset, k: int = 5, seed: int = 0, val_fraction: float = 0.1,
                     within: str | None = None) -> list[Split]:
    """k class-stratified folds of all images, or only of FER2013's `within` part (e.g. "Training",
    leaving PublicTest and PrivateTest out of every fold)."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 2:
        raise FerError(f"k must be an integer of at least 2 folds, got {k!r}")
    pool = np.arange(len(dataset))
    if within is not None:
        if dataset.split is None or within not in set(dataset.split.tolist()):
            present = sorted(set(dataset.split.tolist())) if dataset.split is not None else []
            raise FerError(f"within={within!r} names no part of {dataset.name}; its parts are: "
                           f"{', '.join(present) or 'none (no Usage split)'}")
        pool = np.flatnonzero(dataset.split == within)
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    where = f" of {within}" if within else " of all images"
    splits = []
    for i, (rest, test) in enumerate(folds.split(pool, dataset.labels[pool])):
        train, val = stratified_holdout(pool[rest], dataset.labels, val_fraction, seed + 1 + i)
        splits.append(Split("stratified_kfold", f"stratified fold {i + 1}/{k}{where}, {val_fraction:.0%} of the "
                            "other folds held out for selection", seed, train, val, np.sort(pool[test]),
                            folds_description=folds_description("stratified_kfold", k=k, val_fraction=val_fraction,
                                                                within=within)))
    return splits


PROTOCOLS: dict[str, Callable[..., Split]] = {
    "official": official,
    "train_validation_folders": train_validation_folders,
    "kaggle_resplit": kaggle_resplit,
    "random_stratified": random_stratified,
    "subject_independent": subject_independent,
}
KFOLD_PROTOCOLS: dict[str, Callable[..., list[Split]]] = {
    "subject_kfold": subject_kfold,
    "stratified_kfold": stratified_kfold,
}


def folds_description(protocol: str, **options) -> str:
    """A k-fold protocol in words, as a report names it (each fold's split names its own number);
    options left out take the fold function's defaults."""
    if protocol not in KFOLD_PROTOCOLS:
        raise unknown_name_error("k-fold protocol", protocol, list(KFOLD_PROTOCOLS))
    bound = {name: p.default for name, p in inspect.signature(KFOLD_PROTOCOLS[protocol]).parameters.items()
             if p.default is not inspect.Parameter.empty}
    bound.update(options)
    k, val_fraction = bound["k"], bound["val_fraction"]
    tested = "(each image tested once, by the fold that holds it out)"
    if protocol == "subject_kfold":
        return f"subject-independent {k}-fold cross-validation {tested}, {val_fraction:.0%} of the other folds " \
               "held out by subject for selection"
    where = f" of {bound['within']}" if bound.get("within") else " of all images"
    return f"stratified {k}-fold cross-validation{where} {tested}, {val_fraction:.0%} of the other folds held out for selection"


def _check_options(protocol: str, function: Callable, options: dict) -> None:
    valid = [p for p in inspect.signature(function).parameters if p not in ("dataset", "seed")]
    unknown = sorted(set(options) - set(valid))
    if unknown:
        raise FerError(f"protocol {protocol} has no option {', '.join(map(repr, unknown))}; its options are: {', '.join(valid)}")


def make_split(protocol: str, dataset: FaceDataset, seed: int = 0, **options: object) -> Split:
    """The split made by the protocol called `protocol` (a FerError lists the valid names and options)."""
    if protocol not in PROTOCOLS:
        raise unknown_name_error("protocol", protocol, list(PROTOCOLS) + list(KFOLD_PROTOCOLS))
    _check_options(protocol, PROTOCOLS[protocol], options)
    split = PROTOCOLS[protocol](dataset, seed=seed, **options)
    split.check_disjoint()
    return split


def make_folds(protocol: str, dataset: FaceDataset, seed: int = 0, **options: object) -> list[Split]:
    """The folds made by the k-fold protocol called `protocol` (a FerError lists the valid names and options)."""
    if protocol not in KFOLD_PROTOCOLS:
        raise unknown_name_error("k-fold protocol", protocol, list(KFOLD_PROTOCOLS))
    _check_options(protocol, KFOLD_PROTOCOLS[protocol], options)
    folds = KFOLD_PROTOCOLS[protocol](dataset, seed=seed, **options)
    for split in folds:
        split.check_disjoint()
    return folds
