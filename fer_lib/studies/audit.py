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

import json
from dataclasses import dataclass, field
from pathlib import Path

import imagehash
import numpy as np
import pandas as pd
from PIL import Image

from ..config import portable_path
from ..data import FER2013_SPLITS, FaceDataset, sequence_ids
from ..data.preprocessing import preprocess_images
from ..files import atomic_folder, write_json, write_text
from ..progress import progress
from ..reporting.figures import save_figure, show_face

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


def duplicate_groups(images: np.ndarray, near_threshold: int = NEAR_THRESHOLD,
                     hashes: np.ndarray | None = None) -> np.ndarray:
    """A group id per image: images linked by exact or near duplication, directly or through others,
    share one (connected components of the duplicate graph); an image with no duplicate has its own."""
    from scipy.sparse import coo_matrix
    from scipy.sparse.csgraph import connected_components

    n = len(images)
    exact = exact_duplicate_groups(images)
    members = np.flatnonzero(exact >= 0)
    order = members[np.argsort(exact[members], kind="stable")]
    same = exact[order[1:]] == exact[order[:-1]]  # link each member of an exact group to the next one
    pairs = near_duplicate_pairs(perceptual_hashes(images) if hashes is None else hashes, near_threshold)
    i = np.concatenate([order[:-1][same], pairs.i.to_numpy()]).astype(np.int64)
    j = np.concatenate([order[1:][same], pairs.j.to_numpy()]).astype(np.int64)
    graph = coo_matrix((np.ones(len(i), np.int8), (i, j)), shape=(n, n))
    return connected_components(graph, directed=False)[1]



def fer2013_duplicate_groups(prepared) -> np.ndarray | None:
    """`duplicate_groups` of a prepared FER2013, with its own or FER+'s labels (on the pixels before
    preprocessing, as the audit); None for other datasets, whose duplicates the audit does not document."""
    return duplicate_groups(prepared.raw_images) if prepared.dataset.name in ("fer2013", "ferplus") else None

@dataclass
class Audit:
    """The audit of one dataset: summary tables, flagged images, and what could not be checked."""

    dataset: str
    summary: dict
    flags: pd.DataFrame
    near_pairs: pd.DataFrame
    class_balance: pd.DataFrame
    hashes: np.ndarray
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
                     pd.DataFrame(), np.zeros(0, np.uint64), not_checked + ["the dataset is empty: nothing was checked"])

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
    return Audit(dataset.name, summary, flags, pairs, balance, hashes, not_checked)


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


# ---------------------------------------------------------------------------------------------
# Threshold evidence, cleaned accuracy, figures and the report folder


def label_agreement_by_distance(dataset: FaceDataset, hashes: np.ndarray, max_distance: int = 12) -> pd.DataFrame:
    """For each Hamming distance up to `max_distance`: how many pairs, and how often they share a label.

    True duplicates share their label (unless mislabelled); unrelated pairs share it at the chance
    rate, the sum of squared class shares. Where the rate falls to chance, the hash stops finding copies.
    """
    pairs = near_duplicate_pairs(hashes, max_distance)
    group = exact_duplicate_groups(dataset.images)
    pairs = pairs[~((group[pairs.i] >= 0) & (group[pairs.i] == group[pairs.j]))]
    agree = dataset.labels[pairs.i.to_numpy()] == dataset.labels[pairs.j.to_numpy()]
    shares = np.bincount(dataset.labels) / len(dataset)
    table = (pd.DataFrame({"distance": pairs.distance.to_numpy(), "agree": agree})
             .groupby("distance").agg(pairs=("agree", "size"), label_agreement=("agree", "mean")).reset_index())
    table["chance_agreement"] = float(np.sum(shares ** 2))
    return table


def cleaned_accuracy(predictions: "str | Path", drop_ids: set[str]) -> dict:
    """Accuracy (with CI) of saved test predictions, on all test images and without `drop_ids`."""
    from ..evaluate.metrics import proportion_ci

    with np.load(predictions) as z:
        correct = z["proba"].argmax(axis=1) == z["y_true"]
        ids = z["ids"].astype(str)
    keep = ~np.isin(ids, list(drop_ids))
    out = {}
    for name, mask in (("all", np.ones_like(keep)), ("cleaned", keep), ("dropped", ~keep)):
        k, n = int(correct[mask].sum()), int(mask.sum())
        out[name] = {"n": n, "accuracy": k / n if n else float("nan"), "accuracy_ci": proportion_ci(k, n)}
    return out


def plot_pairs(dataset: FaceDataset, pairs: pd.DataFrame, path, title: str = "", n: int = 8) -> None:
    """Side-by-side image pairs with their distance, splits and labels."""
    import matplotlib.pyplot as plt


    pairs = pairs.head(n)
    fig, axes = plt.subplots(2, max(len(pairs), 1), figsize=(1.7 * max(len(pairs), 1), 4.2), squeeze=False)
    for col, (i, j, d) in enumerate(zip(pairs.i, pairs.j, pairs.distance)):
        for row, k in enumerate((i, j)):
            split = dataset.split[k] if dataset.split is not None else dataset.ids[k]
            show_face(axes[row, col], dataset.images[k],
                      f"{dataset.class_names[dataset.labels[k]]}\n{str(split)[:11]}" + (f"\nd={d}" if row == 0 else ""),
                      fontsize=7)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
    save_figure(fig, path, title, title_size=9)


def plot_images(dataset: FaceDataset, index: np.ndarray, path, title: str = "", n: int = 12) -> None:
    """A row of images (e.g. blank ones, or ones with no face found) with their labels."""
    import matplotlib.pyplot as plt


    index = np.asarray(index)[:n]
    fig, axes = plt.subplots(1, max(len(index), 1), figsize=(1.5 * max(len(index), 1), 2.2), squeeze=False)
    for ax in axes[0]:
        ax.set_xticks([])
        ax.set_yticks([])
    for ax, k in zip(axes[0], index):
        show_face(ax, dataset.images[k], dataset.class_names[dataset.labels[k]], fontsize=7)
    save_figure(fig, path, title, title_size=9)


def write_audit_report(dataset: FaceDataset, result: Audit, folder, profile: str, replace: bool = False) -> None:
    """The audit's folder, written atomically: summary.json, flags.csv (every flagged image id),
    near_pairs.csv, class_balance.csv, threshold evidence and sample figures. An audit of more images
    already there is not replaced unless `replace`."""
    from ..evaluate.record import RunStrength, refuse_weaker

    summary_path = Path(folder) / "summary.json"
    if summary_path.exists():
        existing = json.loads(summary_path.read_text()).get("images", 0)
        refuse_weaker(Path(folder), RunStrength(len(dataset), (), None, 0), RunStrength(existing, (), None, 0), replace)

    with atomic_folder(folder) as tmp:
        result.flags.to_csv(tmp / "flags.csv", index=False)
        result.near_pairs.to_csv(tmp / "near_pairs.csv", index=False)
        result.class_balance.to_csv(tmp / "class_balance.csv")
        evidence = label_agreement_by_distance(dataset, result.hashes) if len(dataset) else pd.DataFrame()
        evidence.to_csv(tmp / "threshold_evidence.csv", index=False)
        extra = {"sequences": sequence_stats(dataset)} if dataset.subjects is not None else {}
        write_json(tmp / "summary.json", {"dataset": dataset.name, "profile": profile, **result.summary,
                                                  **extra, "not_checked": result.not_checked,
                                                  "source": portable_path(dataset.source), "layout": dataset.layout})
        if len(dataset):
            flags = result.flags
            exact = flags[flags.flag == "exact_duplicate"]
            id_index = {k: v for v, k in enumerate(dataset.ids.astype(str))}
            exact_pairs = pd.DataFrame({"i": [id_index[o] for o in exact.other_id], "j": [id_index[i] for i in exact.id],
                                        "distance": 0})
            cross = exact_pairs[dataset.split[exact_pairs.i] != dataset.split[exact_pairs.j]] if dataset.split is not None else exact_pairs
            plot_pairs(dataset, cross, tmp / "exact_pairs.png", "exact duplicates (across splits where there are any)")
            near = result.near_pairs.sort_values("distance", ascending=False)
            plot_pairs(dataset, near, tmp / "near_pairs_at_threshold.png",
                       f"near duplicates at the threshold ({result.summary['near_threshold_bits']} bits)")
            conflicting = flags[flags.flag.str.endswith("conflicting_label")]
            conflict_pairs = pd.DataFrame({"i": [id_index[o] for o in conflicting.other_id],
                                           "j": [id_index[i] for i in conflicting.id], "distance": -1})
            plot_pairs(dataset, conflict_pairs, tmp / "conflicting_label_pairs.png", "duplicates with conflicting labels")
            std = dataset.images.reshape(len(dataset), -1).std(axis=1)
            plot_images(dataset, np.flatnonzero(std < result.summary["blank_std"]), tmp / "blank_images.png",
                        "blank or near-constant images")
            plot_images(dataset, [id_index[i] for i in flags[flags.flag == "no_face"].id[:12]], tmp / "no_face_images.png",
                        "images in which the Haar cascade found no face")
        figures = "".join(f'<h3>{name[:-4].replace("_", " ")}</h3><img src="{name}">' for name in
                          ("exact_pairs.png", "near_pairs_at_threshold.png", "conflicting_label_pairs.png",
                           "blank_images.png", "no_face_images.png") if (tmp / name).exists())
        write_text(tmp / "report.html", f"""<!doctype html><html><head><meta charset="utf-8">
<title>Data audit: {dataset.name}</title><style>body{{font-family:sans-serif;margin:2em}}</style></head><body>
<h1>Data audit: {dataset.name} ({profile} profile)</h1>
<p>Executed notebook: <a href="../notebook.html">notebook.html</a>. Every flagged image: <a href="flags.csv">flags.csv</a>.</p>
<pre>{json.dumps(result.summary, indent=2)}</pre><p>Not checked: {"; ".join(result.not_checked) or "nothing"}</p>
<h2>Near-duplicate threshold evidence</h2>{evidence.to_html(index=False)}
<h2>Class balance</h2>{result.class_balance.to_html()}<h2>Samples</h2>{figures}</body></html>
""")
