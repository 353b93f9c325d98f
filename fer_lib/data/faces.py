"""The dataset type every loader returns, the canonical class order, and the public releases' counts.

A `FaceDataset` holds uint8 48x48 grayscale images, integer labels in the project's canonical class
order, the class names, and per image its official split (FER2013), subject (CK+48) and an id that
names the source file or CSV row.

Canonical class order: the alphabetical order of the canonical names below. Each dataset uses the
classes it has, in that order, so FER2013 is `angry disgust fear happy neutral sad surprise` (which
is also the Kaggle folder order and yousaf2024's table order) and CK+48 is
`angry contempt disgust fear happy sad surprise`. Each source's own labels are mapped explicitly
in its loader (`fer2013.py`, `ckplus.py`).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..errors import FerError

IMAGE_SIZE = 48

CANONICAL_CLASSES = ("angry", "contempt", "disgust", "fear", "happy", "neutral", "sad", "surprise")
FER2013_CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
CKPLUS_CLASSES = ("angry", "contempt", "disgust", "fear", "happy", "sad", "surprise")

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

LAYOUT_HELP = (
    "Expected, under the data folder ($FER_DATA_DIR, default data/):\n"
    "  fer2013/train/<class>/Training_*.jpg and fer2013/test/<class>/{PublicTest,PrivateTest}_*.jpg"
    "  (Kaggle msambare/fer2013)\n"
    "  or fer2013/fer2013.csv with columns emotion,pixels,Usage (the ICML 2013 challenge CSV)\n"
    "  or face-expression-recognition-dataset/images/{train,validation}/<class>/<n>.jpg"
    "  (Kaggle jonathanoheix; its own train/validation split, not the official one)\n"
    "  ckplus/CK+48/<class>/S<subject>_<sequence>_<frame>.png  (Kaggle CK+48)\n"
    "Provide it one of three ways: `make data` (downloads with your Kaggle credentials), unpack your "
    "own download into data/, or set FER_DATA_DIR to the folder that holds it."
)


@dataclass
class FaceDataset:
    """Images and labels of one dataset, in the canonical class order.

    `split` holds the official split name of each image (FER2013) or None; `subjects` the subject
    id of each image (CK+48) or None. `skipped` lists (source, reason) for every unreadable image.
    Labels from a vote (FER+) also carry `label_distribution`, one row over `class_names` per image,
    and `excluded` lists (id, reason) for each image the labels leave out.
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
    label_distribution: np.ndarray | None = None
    excluded: list[tuple[str, str]] = field(default_factory=list)

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
            label_distribution=None if self.label_distribution is None else self.label_distribution[index],
        )

    def class_counts(self) -> dict[str, dict[str, int]]:
        """Images per class, per split when there is one (official parts first), else under 'all'."""
        parts = [] if self.split is None else [s for s in FER2013_SPLITS if np.any(self.split == s)] + sorted(
            set(self.split.tolist()) - set(FER2013_SPLITS))
        groups = {s: self.split == s for s in parts} if parts else {"all": np.ones(len(self), bool)}
        return {
            group: {c: int(np.sum(self.labels[mask] == i)) for i, c in enumerate(self.class_names)}
            for group, mask in groups.items()
        }


def count_differences(dataset: FaceDataset) -> list[str]:
    """Where the dataset's class counts differ from the known public release, one line each."""
    known = {"fer2013": FER2013_KNOWN_COUNTS, "ckplus48": CKPLUS_KNOWN_COUNTS}.get(dataset.name)
    if known is None:
        return []
    found = dataset.class_counts()
    if dataset.name == "fer2013" and not set(found) & set(known):
        # a layout of its own parts (train/validation folders): only the totals per class can be compared
        found = {"all": {c: sum(part.get(c, 0) for part in found.values()) for c in dataset.class_names}}
        known = {"all": {c: sum(part[c] for part in known.values()) for c in dataset.class_names}}
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



def sequence_ids(dataset: FaceDataset) -> np.ndarray:
    """CK+48's sequence of each image (`S010_004`): its three frames share one."""
    return np.array(["_".join(i.split("_")[:2]) for i in dataset.ids])


def stratified_index(dataset: FaceDataset, per_class: int, seed: int = 0) -> np.ndarray:
    """The sorted positions of at most `per_class` images of every class in every official split,
    chosen with `seed` (what `stratified_subset` keeps)."""
    if isinstance(per_class, bool) or not isinstance(per_class, (int, np.integer)) or per_class < 1:
        raise FerError(f"per_class must be a positive whole number of images, got {per_class!r}")
    rng = np.random.default_rng(seed)
    groups = dataset.split if dataset.split is not None else np.full(len(dataset), "all")
    chosen = []
    for group in np.unique(groups):
        for label in range(dataset.num_classes):
            index = np.flatnonzero((groups == group) & (dataset.labels == label))
            chosen.append(rng.permutation(index)[:per_class])
    return np.sort(np.concatenate(chosen))


def stratified_subset(dataset: FaceDataset, per_class: int, seed: int = 0) -> FaceDataset:
    """At most `per_class` images of every class in every official split, chosen with `seed`.

    Subjects stay annotated, so subject-independent protocols still apply to the subset."""
    return dataset.subset(stratified_index(dataset, per_class, seed))
