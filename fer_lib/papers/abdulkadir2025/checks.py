"""Checks of abdulkadir2025's tables against each other and against FER2013, from its claims file.

- `support_check`: each table's supports beside 10% of each class over all images (a stratified
  hold-out of the pooled data, `random_stratified` at `test_fraction=0.1`) and beside PublicTest's
  class counts, on the dataset as loaded: which split did each table score?
- `weighted_recall`: a table's support-weighted recall, which a classification report's accuracy
  must equal, beside the accuracy the table states.
- `figure7_against_table4`: the correct counts Fig. 7's description gives beside those Table IV's
  recall and support imply.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ...data import FaceDataset
from ...data.splits import make_split
from ...evaluate.claims import load_paper
from . import PAPER


def _supports() -> tuple[list[str], dict[str, list[int]]]:
    raw = load_paper(PAPER)["supports"]
    return raw["class_order"], {k: v for k, v in raw.items() if k != "class_order"}


def support_check(dataset: FaceDataset) -> pd.DataFrame:
    """Per class: each table's supports, 10% of the pooled images (our stratified hold-out's counts)
    and PublicTest's counts, with a last row saying which columns match a table exactly."""
    order, tables = _supports()
    holdout = make_split("random_stratified", dataset, seed=0, test_fraction=0.1, validation_is_test=True)
    counts = {
        "10% hold-out of all images": np.bincount(dataset.labels[holdout.test], minlength=dataset.num_classes),
        "PublicTest": np.bincount(dataset.labels[dataset.split == "PublicTest"], minlength=dataset.num_classes)
        if dataset.split is not None else np.zeros(dataset.num_classes, int),
    }
    index = [dataset.class_names.index(c) for c in order]
    table = pd.DataFrame({"class": order, **{name: values for name, values in tables.items()},
                          **{name: values[index] for name, values in counts.items()}})
    matches = {name: ", ".join(ours for ours in counts if (table[name] == table[ours]).all()) or "neither"
               for name in tables}
    return pd.concat([table, pd.DataFrame([{"class": "matches exactly", **matches}])], ignore_index=True)


def weighted_recall(table_id: str) -> dict:
    """Table `table_id`'s support-weighted recall (what its accuracy must be) beside its stated accuracy."""
    raw = load_paper(PAPER)
    order, supports = _supports()
    recall = next(t["values"] for t in raw["per_class"]["tables"] if t.get("id") == table_id and t["metric"] == "recall")
    stated = next(c["value"] for c in raw["accuracy"] if c["id"] == f"{table_id}_accuracy")
    support = np.array(supports[table_id])
    return {"table": table_id, "weighted_recall": float(np.dot(recall, support) / support.sum()),
            "stated_accuracy": stated, "images": int(support.sum())}


def figure7_against_table4() -> pd.DataFrame:
    """Fig. 7's described correct counts beside Table IV's recall x support, per class it names."""
    raw = load_paper(PAPER)
    order, supports = _supports()
    recall = next(t["values"] for t in raw["per_class"]["tables"]
                  if t.get("id") == "table4_sequential" and t["metric"] == "recall")
    rows = []
    for cls, count in raw["figure7_correct"]["counts"].items():
        i = order.index(cls)
        rows.append({"class": cls, "Fig. 7 correct": count, "Table IV recall x support": round(recall[i] * supports["table4_sequential"][i]),
                     "recall x support (exact)": recall[i] * supports["table4_sequential"][i]})
    return pd.DataFrame(rows)
