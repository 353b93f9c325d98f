"""Metrics, computed with scikit-learn from saved predictions so any number can be recomputed.

Accuracy carries a 95% Wilson confidence interval (scipy's binomial test); so do per-class
precision and recall, which are proportions too (of a predicted class, of a true class).
Specificity, TN / (TN + FP), is reported per class because abdulkadir2025's Eq. (3) calls it
recall.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
from scipy.stats import binomtest
from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

from ..errors import FerError


def proportion_ci(successes: int, trials: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion; (nan, nan) when there are no trials."""
    if trials == 0:
        return float("nan"), float("nan")
    ci = binomtest(int(successes), int(trials)).proportion_ci(confidence_level=confidence, method="wilson")
    return float(ci.low), float(ci.high)


def classification_metrics(y_true: np.ndarray, y_pred: np.ndarray, class_names: tuple[str, ...] | list[str]) -> dict:
    """Accuracy with CI, per-class precision/recall/F1/specificity/support, averages, confusion matrices."""
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise FerError(f"y_true and y_pred must be 1-D and the same length, got {y_true.shape} and {y_pred.shape}")
    labels = list(range(len(class_names)))
    for name, values in (("y_true", y_true), ("y_pred", y_pred)):
        outside = values[(values < 0) | (values >= len(labels))] if values.size else values
        if outside.size:
            raise FerError(f"{name} holds labels {sorted(set(outside.tolist()))[:5]} outside the {len(labels)} classes "
                           f"(valid labels are 0-{len(labels) - 1}: {', '.join(class_names)})")
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    precision, recall, f1, support = precision_recall_fscore_support(
        y_true, y_pred, labels=labels, zero_division=0)
    n = int(cm.sum())
    correct = int(np.trace(cm))
    tp = np.diag(cm)
    fp = cm.sum(axis=0) - tp
    tn = n - cm.sum(axis=1) - fp
    specificity = np.divide(tn, tn + fp, out=np.zeros(len(labels)), where=(tn + fp) > 0)

    per_class = {}
    for i, name in enumerate(class_names):
        per_class[name] = {
            "precision": float(precision[i]), "precision_ci": proportion_ci(tp[i], cm[:, i].sum()),
            "recall": float(recall[i]), "recall_ci": proportion_ci(tp[i], cm[i].sum()),
            "f1": float(f1[i]), "specificity": float(specificity[i]), "support": int(support[i]),
        }
    weights = support / max(support.sum(), 1)
    averages = {}
    for avg, w in (("macro", np.full(len(labels), 1 / len(labels))), ("weighted", weights)):
        averages[avg] = {m: float(np.sum(w * v)) for m, v in
                         (("precision", precision), ("recall", recall), ("f1", f1), ("specificity", specificity))}
    row_sums = cm.sum(axis=1, keepdims=True)
    return {
        "n": n,
        "accuracy": correct / n if n else float("nan"),
        "accuracy_ci": proportion_ci(correct, n),
        "class_names": list(class_names),
        "per_class": per_class,
        "macro_avg": averages["macro"],
        "weighted_avg": averages["weighted"],
        "confusion_matrix": cm.tolist(),
        "confusion_matrix_normalized": np.divide(cm, row_sums, out=np.zeros(cm.shape), where=row_sums > 0).tolist(),
    }


def save_predictions(path: Path | str, y_true: np.ndarray, proba: np.ndarray, ids: np.ndarray,
                     class_names: tuple[str, ...] | list[str]) -> None:
    """Save true labels, class probabilities and image ids, from which every metric is recomputed."""
    np.savez_compressed(path, y_true=np.asarray(y_true), proba=np.asarray(proba, np.float32),
                        ids=np.asarray(ids).astype(str), class_names=np.asarray(class_names))


def metrics_from_predictions(path: Path | str) -> dict:
    """Recompute `classification_metrics` from a saved predictions file."""
    with np.load(path) as z:
        return classification_metrics(z["y_true"], z["proba"].argmax(axis=1), [str(c) for c in z["class_names"]])


def seed_summary(accuracies: list[float]) -> dict:
    """Mean and sample standard deviation of per-seed accuracies."""
    a = np.asarray(accuracies, float)
    return {"n_seeds": len(a), "mean": float(a.mean()) if len(a) else float("nan"),
            "std": float(a.std(ddof=1)) if len(a) > 1 else float("nan")}
