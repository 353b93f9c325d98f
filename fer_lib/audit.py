"""Data audit: duplicates, near duplicates, blank images, images with no face, class balance.

- Exact duplicates: identical pixels (grouped with `np.unique` over whole images).
- Near duplicates: a 64-bit perceptual hash (ImageHash's pHash: the top-left 8x8 of the image's
  DCT, thresholded at its median) and a Hamming-distance threshold of `NEAR_THRESHOLD` = 6 bits;
  exact duplicates are reported as exact only. Why 6: on FER2013, pairs at distance <= 6 share
  their label far more often than chance (a duplicate keeps its label unless mislabelled), pairs
  at 8 only about half as often and pairs at 10 or more about as often as chance; on CK+48, pairs
  at <= 4 bits are mostly frames of one sequence. At 48x48, pHash is robust to brightness, contrast
  and noise, but a copy shifted by one pixel moves it by about 6-8 bits, so only about half of
  shifted copies fall under the threshold (they always rank closer than unrelated images).
  The audit notebook shows the distance curve and sample pairs.
- Blank or near-constant images: pixel standard deviation below `BLANK_STD`.
- No face: the Haar cascade of `preprocessing` finds none.

Every flagged image goes into one table (`flags`: id, split, label, flag, other id) that loaders
can use to build a cleaned split (`leaked_test_ids`: test images that duplicate a training image).
An audit over a partial dataset (a split or a class missing) still runs and lists what it could not check.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import imagehash
import numpy as np
import pandas as pd
from PIL import Image

from .datasets import FaceDataset, FER2013_SPLITS, sequence_ids
from .preprocessing import preprocess_images
from .progress import progress

NEAR_THRESHOLD = 6  # bits of 64 that may differ between near duplicates (see above)
BLANK_STD = 5.0  # grey levels


def exact_duplicate_groups(images: np.ndarray) -> np.ndarray:
    """A group id per image, shared by images with identical pixels; -1 for images with no twin."""
    flat = np.ascontiguousarray(images.reshape(len(images), -1))
    rows = flat.view(np.dtype((np.void, flat.shape[1]))).ravel()
    _, inverse, counts = np.unique(rows, return_inverse=True, return_counts=True)
    return np.where(counts[inverse] > 1, inverse, -1)


def perceptual_hashes(images: np.ndarray) -> np.ndarray:
    """The 64-bit pHash of every image, as uint64."""
    hashes = np.empty(len(images), np.uint64)
    for i, image in enumerate(progress(images, total=len(images), desc="perceptual hashes")):
        bits = imagehash.phash(Image.fromarray(image)).hash.ravel()
        hashes[i] = np.packbits(bits).view(">u8")[0]
    return hashes


def near_duplicate_pairs(hashes: np.ndarray, threshold: int = NEAR_THRESHOLD, chunk: int = 2048) -> pd.DataFrame:
    """Every pair (i < j) whose hashes differ in at most `threshold` bits, with the distance."""
    hashes = np.asarray(hashes, np.uint64)
    found = []
    for start in range(0, len(hashes), chunk):
        block = hashes[start:start + chunk]
        distance = np.bitwise_count(block[:, None] ^ hashes[None, :])
        i, j = np.nonzero(distance <= threshold)
        i = i + start
        keep = i < j
        found.append(np.stack([i[keep], j[keep], distance[i[keep] - start, j[keep]]], axis=1))
    pairs = np.concatenate(found) if found else np.zeros((0, 3), np.int64)
    return pd.DataFrame(pairs.astype(np.int64), columns=["i", "j", "distance"])


@dataclass
class Audit:
    """The audit of one dataset: summary tables, flagged images, and what could not be checked."""

    dataset: str
    summary: dict
    flags: pd.DataFrame
    near_pairs: pd.DataFrame
    class_balance: pd.DataFrame
    not_checked: list[str] = field(default_factory=list)


def _split_names(dataset: FaceDataset) -> np.ndarray:
    return dataset.split if dataset.split is not None else np.full(len(dataset), "all")


def audit(dataset: FaceDataset, near_threshold: int = NEAR_THRESHOLD, blank_std: float = BLANK_STD,
          check_faces: bool = True) -> Audit:
    """Audit `dataset`: duplicates within and across splits, conflicting labels, blank images, no face."""
    split = _split_names(dataset)
    ids, labels = dataset.ids.astype(str), dataset.labels
    not_checked = []
    if dataset.name == "fer2013":
        missing = [s for s in FER2013_SPLITS if s not in set(split)]
        not_checked += [f"split {s} is absent: duplicates across it were not checked" for s in missing]
    present = set(labels.tolist())
    not_checked += [f"class {c} has no images" for i, c in enumerate(dataset.class_names) if i not in present]
    if len(dataset) == 0:
        empty = pd.DataFrame(columns=["id", "split", "label", "flag", "other_id"])
        return Audit(dataset.name, {"images": 0}, empty, pd.DataFrame(columns=["i", "j", "distance"]),
                     pd.DataFrame(), not_checked + ["the dataset is empty: nothing was checked"])

    rows = []
    group = exact_duplicate_groups(dataset.images)
    first_of_group: dict[int, int] = {}
    for index in np.flatnonzero(group >= 0):
        first = first_of_group.setdefault(int(group[index]), int(index))
        if first != index:
            rows.append((index, "exact_duplicate", first))
            if labels[index] != labels[first]:
                rows.append((index, "exact_duplicate_conflicting_label", first))

    hashes = perceptual_hashes(dataset.images)
    pairs = near_duplicate_pairs(hashes, near_threshold)
    twins = (group[pairs.i] >= 0) & (group[pairs.i] == group[pairs.j])
    pairs = pairs[~twins].reset_index(drop=True)  # exact twins are reported as exact only
    for i, j in zip(pairs.i, pairs.j):
        rows.append((j, "near_duplicate", i))
        if labels[i] != labels[j]:
            rows.append((j, "near_duplicate_conflicting_label", i))

    std = dataset.images.reshape(len(dataset), -1).std(axis=1)
    rows += [(i, "blank", -1) for i in np.flatnonzero(std < blank_std)]
    no_face = np.zeros(len(dataset), bool)
    if check_faces:
        no_face = ~preprocess_images(dataset.images).face_found
        rows += [(i, "no_face", -1) for i in np.flatnonzero(no_face)]
    else:
        not_checked.append("face detection was skipped")

    flags = pd.DataFrame(
        [{"id": ids[i], "split": split[i], "label": dataset.class_names[labels[i]], "flag": flag,
          "other_id": ids[o] if o >= 0 else "", "other_split": split[o] if o >= 0 else "",
          "other_label": dataset.class_names[labels[o]] if o >= 0 else ""} for i, flag, o in rows],
        columns=["id", "split", "label", "flag", "other_id", "other_split", "other_label"])
    pairs = pairs.assign(id_i=ids[pairs.i], id_j=ids[pairs.j], split_i=split[pairs.i], split_j=split[pairs.j])

    summary = {"images": len(dataset), "near_threshold_bits": near_threshold, "blank_std": blank_std,
               "exact_duplicate_groups": int(len(set(group[group >= 0]))),
               "images_in_exact_groups": int(np.sum(group >= 0)),
               "near_duplicate_pairs": int(len(pairs)),
               "blank": int(np.sum(std < blank_std)), "no_face": int(no_face.sum()) if check_faces else None}
    for flag in ("exact_duplicate", "exact_duplicate_conflicting_label", "near_duplicate", "near_duplicate_conflicting_label"):
        summary[flag] = int(np.sum(flags.flag == flag))
    summary["across_splits"] = cross_split_counts(flags)
    balance = pd.DataFrame(dataset.class_counts()).T
    return Audit(dataset.name, summary, flags, pairs, balance, not_checked)


def cross_split_counts(flags: pd.DataFrame) -> dict[str, int]:
    """Exact and near duplicates counted per pair of splits ("Training/PrivateTest": n)."""
    dup = flags[flags.flag.isin(["exact_duplicate", "near_duplicate"])]
    keys = ["/".join(sorted((a, b), key=lambda s: FER2013_SPLITS.index(s) if s in FER2013_SPLITS else 9))
            for a, b in zip(dup.split, dup.other_split)]
    return {k: int(v) for k, v in pd.Series(keys, dtype=str).value_counts().sort_index().items()}


def leaked_test_ids(audit_result: Audit, test_split: str = "PrivateTest",
                             train_splits: tuple[str, ...] = ("Training",)) -> set[str]:
    """Ids of `test_split` images that are exact or near duplicates of an image in `train_splits`."""
    f = audit_result.flags
    dup = f[f.flag.isin(["exact_duplicate", "near_duplicate"])]
    a = dup[(dup.split == test_split) & dup.other_split.isin(train_splits)].id
    b = dup[(dup.other_split == test_split) & dup.split.isin(train_splits)].other_id
    return set(a) | set(b)


def sequence_stats(dataset: FaceDataset) -> dict:
    """CK+48: frames per sequence and per subject, sequences per subject."""
    if dataset.subjects is None:
        return {}
    seq = sequence_ids(dataset)
    frames_per_sequence = pd.Series(seq).value_counts()
    per_subject = pd.Series(dataset.subjects).value_counts()
    seq_per_subject = pd.Series(dict(zip(seq, dataset.subjects))).value_counts()
    return {"subjects": int(per_subject.size), "sequences": int(frames_per_sequence.size),
            "frames_per_sequence": {int(k): int(v) for k, v in frames_per_sequence.value_counts().sort_index().items()},
            "frames_per_subject_min_median_max": [int(per_subject.min()), float(per_subject.median()), int(per_subject.max())],
            "sequences_per_subject_min_median_max": [int(seq_per_subject.min()), float(seq_per_subject.median()), int(seq_per_subject.max())]}
