"""Split protocols: every way the suite divides a dataset, each a named, seeded function.

A protocol returns a `Split` of index arrays: `train` (fitted on), `val` (used to select the epoch)
and `test` (evaluated once). Class balancing and augmentation happen later, on `train` only.

- `official`: FER2013's Training / PublicTest / PrivateTest (train / select / test).
- `random_stratified`: a random stratified split by ratio, e.g. yousaf2024's 75:25 on FER2013
  and 80:20 on CK+; `val_fraction` of the training part is held out for selection.
- `subject_independent`: CK+ split so that no subject is on both sides (also for validation).
- `subject_kfold`, `stratified_kfold`: k folds, subject-disjoint or stratified by class.
"""
from __future__ import annotations

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

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.train), "val": len(self.val), "test": len(self.test)}

    def check_disjoint(self) -> None:
        """Raise if any image index is in two parts."""
        parts = (self.train, self.val, self.test)
        if sum(map(len, parts)) != len(np.unique(np.concatenate(parts))):
            raise AssertionError(f"split {self.protocol} reuses an image across train/val/test")


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


def official(dataset: FaceDataset, seed: int = 0) -> Split:
    """FER2013's official protocol: fit on Training, select on PublicTest, test on PrivateTest."""
    if dataset.split is None:
        raise FerError(f"the official protocol needs FER2013's Usage split; {dataset.name} has none")
    part = {name: np.flatnonzero(dataset.split == name) for name in ("Training", "PublicTest", "PrivateTest")}
    empty = [name for name, index in part.items() if not len(index)]
    if empty:
        raise FerError(f"the official protocol needs FER2013's Training, PublicTest and PrivateTest images; "
                       f"{dataset.name} ({dataset.source}) has none in {', '.join(empty)} (a CSV without its "
                       "Usage column reads as all Training): use the full release, or protocol random_stratified")
    return Split("official", "FER2013 Training / PublicTest (selection) / PrivateTest (test)",
                 seed, part["Training"], part["PublicTest"], part["PrivateTest"])


def random_stratified(dataset: FaceDataset, seed: int = 0, test_fraction: float = 0.25,
                      val_fraction: float = 0.2) -> Split:
    """A random split of all images, stratified by class, ignoring any official split or subject."""
    _fraction("test_fraction", test_fraction)
    _fraction("val_fraction", val_fraction, allow_zero=True)
    everything = np.arange(len(dataset))
    rest, test = stratified_holdout(everything, dataset.labels, test_fraction, seed)
    train, val = stratified_holdout(rest, dataset.labels, val_fraction, seed + 1)
    pct = round(100 * (1 - test_fraction))
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
        splits.append(Split("subject_kfold", f"subject-independent fold {i + 1}/{k}", seed, train, val, np.sort(test)))
    return splits


def stratified_kfold(dataset: FaceDataset, k: int = 5, seed: int = 0, val_fraction: float = 0.1) -> list[Split]:
    """k class-stratified folds of all images."""
    folds = StratifiedKFold(n_splits=k, shuffle=True, random_state=seed)
    splits = []
    for i, (rest, test) in enumerate(folds.split(dataset.images, dataset.labels)):
        train, val = stratified_holdout(rest, dataset.labels, val_fraction, seed + 1 + i)
        splits.append(Split("stratified_kfold", f"stratified fold {i + 1}/{k}", seed, train, val, np.sort(test)))
    return splits


PROTOCOLS: dict[str, Callable[..., Split]] = {
    "official": official,
    "random_stratified": random_stratified,
    "subject_independent": subject_independent,
}
KFOLD_PROTOCOLS: dict[str, Callable[..., list[Split]]] = {
    "subject_kfold": subject_kfold,
    "stratified_kfold": stratified_kfold,
}


def make_split(protocol: str, dataset: FaceDataset, seed: int = 0, **options: float) -> Split:
    """The split made by the protocol called `protocol` (a FerError lists the valid names)."""
    if protocol not in PROTOCOLS:
        raise unknown_name_error("protocol", protocol, list(PROTOCOLS) + list(KFOLD_PROTOCOLS))
    split = PROTOCOLS[protocol](dataset, seed=seed, **options)
    split.check_disjoint()
    return split
