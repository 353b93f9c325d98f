"""Data: one loader per source layout, the cache, splits, preprocessing and the training pipeline.

- `faces.py`: the `FaceDataset` every loader returns, the class order, the public releases' counts.
- `fer2013.py`, `ckplus.py`: the layouts users download (Kaggle folders, the challenge CSV, CK+48).
- `ferplus.py`: FER+'s crowd labels joined to FER2013's images (dataset `ferplus`: eight classes).
- `cache.py`, `images.py`: the decoded-array cache and image decoding.
- `splits.py`: every split protocol, named and seeded.
- `preprocessing.py`: the Haar crop, equalization and resize, cached.
- `pipeline.py`: class balancing and augmentation on the training split, as batches for Keras.

`load_dataset(name)` loads by name; `prepare(name, per_class=...)` is what every experiment and
study trains on: the dataset, subset for the profile and preprocessed, with a summary of what
happened to it on the way.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path
from typing import Callable

import numpy as np

from ..config import portable_path
from ..errors import unknown_name_error
from .ckplus import find_ckplus48, load_ckplus48
from .faces import (CKPLUS_CLASSES, FER2013_CLASSES, FER2013_SPLITS, LAYOUT_HELP, FaceDataset, count_differences,
                    sequence_ids, stratified_index, stratified_subset)
from .fer2013 import find_fer2013, load_fer2013, load_fer2013_csv, load_fer2013_folders
from .ferplus import FERPLUS_CLASSES, ferplus_labels, load_ferplus, with_ferplus_labels
from .preprocessing import PreprocessConfig, preprocess_images

DATASETS: dict[str, Callable[..., FaceDataset]] = {"fer2013": load_fer2013, "ckplus48": load_ckplus48,
                                                   "ferplus": load_ferplus,
                                                   "ferplus_votes": partial(load_ferplus, mode="probability")}
# the datasets whose files a user downloads: `ferplus_votes` reads the same files as `ferplus` another way
DATA_SOURCES = ("fer2013", "ckplus48", "ferplus")

NO_FACE_POLICY = "full frame kept (the images are already face crops)"


def load_dataset(name: str, source: Path | str | None = None, use_cache: bool = True) -> FaceDataset:
    """Load a dataset by name (`fer2013`, `ckplus48`, `ferplus`: FER2013's images with FER+ majority labels, or
    `ferplus_votes`: with FER+'s vote distributions, its paper's probability mode) from `source` or the data folder."""
    if name not in DATASETS:
        raise unknown_name_error("dataset", name, list(DATASETS))
    return DATASETS[name](source, use_cache=use_cache)


@dataclass
class Prepared:
    """A dataset as the models see it (`dataset.images` preprocessed), the same images before
    preprocessing, and a summary for reports of what happened on the way."""

    dataset: FaceDataset
    raw_images: np.ndarray
    summary: dict


def prepare(name: str, data_root: Path | str | None = None, per_class: int | None = None,
            preprocess: PreprocessConfig = PreprocessConfig()) -> Prepared:
    """Load the dataset `name`, subset it to `per_class` images per class and split (None: all), and
    preprocess it. The summary counts images, faces not found, unreadable files skipped, and the
    differences from the public release."""
    dataset = load_dataset(name, data_root)
    differences = count_differences(dataset)
    if per_class is not None:
        dataset = stratified_subset(dataset, per_class, seed=0)
    pre = preprocess_images(dataset.images, preprocess)
    summary = {
        "config": preprocess.identity(),
        "images": len(dataset),
        "no_face_found": pre.no_face_count,
        **({"eyes_not_aligned": pre.not_aligned_count} if preprocess.align_eyes else {}),
        "no_face_policy": NO_FACE_POLICY,
        "unreadable_skipped": len(dataset.skipped),
        "unreadable_files": [portable_path(path) for path, _ in dataset.skipped[:20]],
        "excluded_by_labels": dict(Counter(reason for _, reason in dataset.excluded)),
        "count_differences_from_public_release": differences,
        "source": portable_path(dataset.source),
        "layout": dataset.layout,
    }
    return Prepared(replace(dataset, images=pre.images), dataset.images, summary)


__all__ = [
    "CKPLUS_CLASSES", "DATASETS", "DATA_SOURCES", "FER2013_CLASSES", "FERPLUS_CLASSES", "ferplus_labels", "load_ferplus",
    "with_ferplus_labels", "FER2013_SPLITS", "LAYOUT_HELP", "FaceDataset",
    "PreprocessConfig", "Prepared", "count_differences", "find_ckplus48", "find_fer2013", "load_ckplus48", "load_dataset",
    "load_fer2013", "load_fer2013_csv", "load_fer2013_folders", "prepare", "preprocess_images", "sequence_ids",
    "stratified_index", "stratified_subset",
]
