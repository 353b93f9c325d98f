"""Protocol flaws that inflate FER accuracies, each built so that it leaks exactly as named.

The clean protocol is `splits.official`: split first, balance and augment the training split only,
select on PublicTest, test once on PrivateTest. Each flaw below changes one thing:

1. `augment_before_split`: class balancing by augmentation applied to the whole pool *before* a
   random train/test split, so augmented copies of test images are trained on.
2. `splits.random_stratified` on all 35,887 images: duplicates now straddle train and test.
3. `select_on_test`: the official split, but the epoch is selected on the test split itself.
4. Reporting training accuracy, or the best epoch's validation accuracy, as "accuracy": read from
   the clean run's history (`reported_as_accuracy`).
5. CK+48 split by frame (`splits.random_stratified`) instead of by subject (`splits.subject_independent`).
6. abdulkadir2025's Eq. (3) "recall", TN / (TN + FP), which is specificity: `eq3_recall`.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from .augmentation import balanced_indices, build_augmenter
from .datasets import FaceDataset
from .metrics import classification_metrics
from .splits import Split, official, random_stratified


def select_on_test(dataset: FaceDataset, seed: int = 0) -> Split:
    """Flaw 3: the official split with PrivateTest as the selection set as well as the test set."""
    clean = official(dataset, seed)
    return Split("select_on_test", "FER2013 Training / PrivateTest used for epoch selection AND as the test set",
                 seed, clean.train, clean.test, clean.test)


def augment_before_split(dataset: FaceDataset, seed: int = 0, test_fraction: float = 0.25,
                         val_fraction: float = 0.2) -> tuple[FaceDataset, Split, np.ndarray]:
    """Flaw 1: balance the whole pool with flipped and rotated copies, then split at random.

    Returns the enlarged dataset (copies have ids `<id>#aug<k>`), the random split of it, and for
    every image of the enlarged dataset the index of the original image it came from.
    """
    index, is_copy = balanced_indices(dataset.labels, seed)
    augmenter = build_augmenter(seed=seed)
    copies = dataset.images[index[is_copy]]
    augmented = np.concatenate([
        np.asarray(augmenter(copies[i:i + 1024, ..., None].astype("float32"), training=True))[..., 0]
        for i in range(0, len(copies), 1024)]) if len(copies) else copies
    pool = dataset.subset(index)
    pool.images = np.concatenate([dataset.images, np.clip(np.rint(augmented), 0, 255).astype(np.uint8)])
    pool.ids = np.concatenate([dataset.ids.astype(str),
                               [f"{dataset.ids[j]}#aug{k}" for k, j in enumerate(index[is_copy])]])
    pool.split = None  # the official split no longer means anything
    split = random_stratified(pool, seed=seed, test_fraction=test_fraction, val_fraction=val_fraction)
    split = Split("augment_before_split", "balanced by augmentation before a random "
                  f"{round(100 * (1 - test_fraction))}:{round(100 * test_fraction)} split: "
                  "augmented copies of test images are in train", seed, split.train, split.val, split.test)
    return pool, split, index


def shared_sources(split: Split, source: np.ndarray) -> int:
    """How many test images come from an original that also has an image in train (0 = no leak)."""
    return int(np.isin(source[split.test], source[split.train]).sum())


def reported_as_accuracy(history: pd.DataFrame) -> dict[str, float]:
    """Flaw 4: the numbers a paper can call "accuracy" from one training history."""
    return {"training accuracy, last epoch": float(history["accuracy"].iloc[-1]),
            "training accuracy, best epoch": float(history["accuracy"].max()),
            "validation accuracy, best epoch": float(history["val_accuracy"].max())}


def eq3_recall(y_true: np.ndarray, y_pred: np.ndarray, class_names: tuple[str, ...]) -> float:
    """Flaw 6: abdulkadir2025's Eq. (3) "recall", TN / (TN + FP) (specificity), averaged over classes."""
    return classification_metrics(y_true, y_pred, class_names)["macro_avg"]["specificity"]
