"""Metrics, computed with scikit-learn from saved predictions so any number can be recomputed.

Accuracy carries a 95% Wilson confidence interval (scipy's binomial test); so do per-class
precision and recall, which are proportions too (of a predicted class, of a true class).
Specificity, TN / (TN + FP), is reported per class because abdulkadir2025's Eq. (3) calls it
recall.

Over several seeds, `pooled_metrics` is the rule every verdict follows (`SEED_RULE`): the metrics of
all seeds' test predictions together, with 95% intervals from a two-level bootstrap (resample the
seeds, then each drawn seed's test images), so an interval holds the spread between seeds as well as
the test sample's. With one seed it is the ordinary bootstrap over test images.
`accuracy_difference` is the bootstrap of a difference between two arms, paired where both arms
were scored on the same images.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
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
                     class_names: tuple[str, ...] | list[str], **masks: np.ndarray) -> None:
    """Save true labels, class probabilities and image ids, from which every metric is recomputed;
    `masks` are per-image booleans saved beside them (e.g. `duplicate_free`)."""
    np.savez_compressed(path, y_true=np.asarray(y_true), proba=np.asarray(proba, np.float32),
                        ids=np.asarray(ids).astype(str), class_names=np.asarray(class_names),
                        **{name: np.asarray(mask, bool) for name, mask in masks.items()})


def save_labels(path: Path | str, y_true: np.ndarray, y_pred: np.ndarray, ids: np.ndarray,
                class_names: tuple[str, ...] | list[str]) -> None:
    """Save true and predicted classes only (for large splits, e.g. a training split), with image ids."""
    np.savez_compressed(path, y_true=np.asarray(y_true, np.int8), y_pred=np.asarray(y_pred, np.int8),
                        ids=np.asarray(ids).astype(str), class_names=np.asarray(class_names))


def metrics_from_predictions(path: Path | str) -> dict:
    """Recompute `classification_metrics` from a file of `save_predictions` or `save_labels`."""
    with np.load(path) as z:
        y_pred = z["y_pred"] if "y_pred" in z.files else z["proba"].argmax(axis=1)
        return classification_metrics(z["y_true"], y_pred, [str(c) for c in z["class_names"]])


SEED_RULE = ("all seeds' test predictions pooled; 95% CI from a two-level bootstrap (seeds resampled, then each "
             "seed's test images), so it holds seed-to-seed spread as well as test-sample noise")
N_BOOTSTRAP = 4000


def _rates(cm: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy and per-class rates from confusion matrices of shape (..., k, k); nan where undefined."""
    cm = cm.astype(float)
    tp = np.diagonal(cm, axis1=-2, axis2=-1)
    true_n, pred_n, n = cm.sum(axis=-1), cm.sum(axis=-2), cm.sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        precision, recall = tp / pred_n, tp / true_n
        # a class never predicted has no precision but recall 0, so F1 0 (sklearn's zero_division=0):
        # leaving it undefined would drop a collapsed model's missed classes from its macro F1
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        f1 = np.where(np.isnan(recall), np.nan, f1)
        fp = pred_n - tp
        tn = n[..., None] - true_n - fp
        specificity = tn / (tn + fp)
        accuracy = tp.sum(axis=-1) / n
    return {"accuracy": accuracy, "precision": precision, "recall": recall, "f1": f1, "specificity": specificity}


def _interval(values: np.ndarray) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of bootstrap `values` (first axis), ignoring nan draws."""
    with np.errstate(invalid="ignore"):
        lo, hi = np.nanpercentile(values, [2.5, 97.5], axis=0) if np.isfinite(values).any() else (np.nan, np.nan)
    return float(lo), float(hi)


def pooled_metrics(confusions: list[np.ndarray], class_names: tuple[str, ...] | list[str],
                   n_boot: int = N_BOOTSTRAP, seed: int = 0) -> dict:
    """Accuracy and per-class precision, recall, F1 and specificity of several seeds' predictions pooled,
    each with a two-level bootstrap 95% CI (see `SEED_RULE`). `confusions`: one k x k matrix per seed.

    Each seed's test resample is a multinomial draw over its confusion matrix's cells, which is the
    same as resampling its (true, predicted) pairs with replacement."""
    cms = np.asarray(confusions, dtype=np.int64)
    if cms.ndim != 3 or cms.shape[1:] != (len(class_names), len(class_names)) or not len(cms):
        raise FerError(f"confusions must be one {len(class_names)}x{len(class_names)} matrix per seed, got shape {cms.shape}")
    rng = np.random.default_rng(seed)
    n_seeds = len(cms)
    draws = np.stack([rng.multinomial(cm.sum(), cm.ravel() / cm.sum(), size=n_boot) for cm in cms])  # seeds, boot, k*k
    picked = rng.integers(0, n_seeds, size=(n_boot, n_seeds))
    boot = draws[picked, np.arange(n_boot)[:, None]].sum(axis=1).reshape(n_boot, *cms.shape[1:])
    point, spread = _rates(cms.sum(axis=0)), _rates(boot)
    per_class = {}
    for i, name in enumerate(class_names):
        per_class[name] = {"support": int(cms.sum(axis=0)[i].sum())}
        for metric in ("precision", "recall", "f1", "specificity"):
            per_class[name][metric] = float(point[metric][i])
            per_class[name][f"{metric}_ci"] = _interval(spread[metric][:, i])
    return {"rule": SEED_RULE, "n_seeds": n_seeds, "n": int(cms.sum()), "n_bootstrap": n_boot,
            "accuracy": float(point["accuracy"]), "accuracy_ci": _interval(spread["accuracy"]),
            "class_names": list(class_names), "per_class": per_class}


def accuracy_difference(correct_a, correct_b, *, paired: bool = True, extra_a=None,
                        n_boot: int = N_BOOTSTRAP, seed: int = 0) -> dict:
    """Accuracy of arm A minus arm B, with a bootstrap 95% CI over seeds and test images.

    `correct_a` and `correct_b` are boolean arrays (one per seed, or a list of them, one pair per seed).
    `paired`: element i of both is the same test image, and each draw resamples the same images for
    both arms; otherwise (arms tested on different images) each arm's images are resampled on their
    own. With several seeds, seeds are resampled first (as in `pooled_metrics`). `extra_a`: images
    only arm A's test set holds (per seed), e.g. augmented copies in a flawed arm's test set, resampled
    on their own and counted in A's accuracy."""
    def as_list(x):
        return [np.asarray(v, bool) for v in (x if isinstance(x, (list, tuple)) else [x])]
    a, b = as_list(correct_a), as_list(correct_b)
    extra = as_list(extra_a) if extra_a is not None else [np.zeros(0, bool)] * len(a)
    if not len(a) or len(a) != len(b) or len(extra) != len(a) or any(not len(x) or not len(y) for x, y in zip(a, b)) \
            or (paired and any(len(x) != len(y) for x, y in zip(a, b))):
        raise FerError("accuracy_difference needs, seed by seed, test images for both arms "
                       "(paired: the same test images)")
    rng = np.random.default_rng(seed)
    stats = []  # per seed, per draw: (A's hits, A's images, B's hits, B's images)
    for x, y, e in zip(a, b, extra):
        idx_a = rng.integers(0, len(x), size=(n_boot, len(x)))
        idx_b = idx_a if paired else rng.integers(0, len(y), size=(n_boot, len(y)))
        extra_hits = rng.binomial(len(e), e.mean(), size=n_boot) if len(e) else np.zeros(n_boot)
        stats.append((x[idx_a].sum(axis=1) + extra_hits, len(x) + len(e), y[idx_b].sum(axis=1), len(y)))
    picked, rows = rng.integers(0, len(a), size=(n_boot, len(a))), np.arange(n_boot)[:, None]
    hits_a = np.stack([s[0] for s in stats])[picked, rows].sum(axis=1)
    hits_b = np.stack([s[2] for s in stats])[picked, rows].sum(axis=1)
    n_a, n_b = np.array([s[1] for s in stats])[picked].sum(axis=1), np.array([s[3] for s in stats])[picked].sum(axis=1)
    acc_a = sum(x.sum() + e.sum() for x, e in zip(a, extra)) / sum(len(x) + len(e) for x, e in zip(a, extra))
    acc_b = sum(y.sum() for y in b) / sum(len(y) for y in b)
    return {"accuracy_a": float(acc_a), "accuracy_b": float(acc_b), "difference": float(acc_a - acc_b),
            "ci": _interval(hits_a / n_a - hits_b / n_b), "paired": paired, "n_seeds": len(a), "n_bootstrap": n_boot}


def recall_beside_specificity(metrics: dict) -> pd.DataFrame:
    """Per class (and macro-averaged): recall TP/(TP+FN) beside specificity TN/(TN+FP), which is what
    abdulkadir2025's Eq. (3) calls recall, with precision, F1 and support; from `classification_metrics`
    or `pooled_metrics` output (CIs where it has them)."""
    rows = []
    for name, pc in metrics["per_class"].items():
        row = {"class": name, "support": pc["support"]}
        for key, label in (("recall", "recall TP/(TP+FN)"), ("specificity", "Eq. (3) \"recall\" TN/(TN+FP) = specificity"),
                           ("precision", "precision"), ("f1", "F1")):
            row[label] = round(pc[key], 4)
            if f"{key}_ci" in pc and key in ("recall", "specificity"):
                row[f"{label} 95% CI"] = f"[{pc[f'{key}_ci'][0]:.3f}, {pc[f'{key}_ci'][1]:.3f}]"
        rows.append(row)
    table = pd.DataFrame(rows)
    means = {c: round(float(table[c].mean()), 4) for c in table.columns if c not in ("class", "support") and "CI" not in c}
    return pd.concat([table, pd.DataFrame([{"class": "macro average", "support": int(table.support.sum()), **means}])],
                     ignore_index=True)


def seed_summary(accuracies: list[float]) -> dict:
    """Mean and sample standard deviation of per-seed accuracies."""
    a = np.asarray(accuracies, float)
    return {"n_seeds": len(a), "mean": float(a.mean()) if len(a) else float("nan"),
            "std": float(a.std(ddof=1)) if len(a) > 1 else float("nan")}


def late_epochs(epochs: int) -> int:
    """How many of a run's last epochs stand for where its training ended: the last fifth, at least 3
    (all of them where fewer), at most 10."""
    return min(epochs, max(3, min(10, epochs // 5)))


def late_validation(histories: list[pd.DataFrame]) -> dict | None:
    """Validation accuracy over each run's last `late_epochs` epochs: the mean of the runs' means, and the
    lowest and highest epoch among them; None where a history is empty or lacks validation accuracy. Where the
    last epoch is what is scored, its score is one draw from this swing."""
    values = []
    for history in histories:
        if history.empty or "val_accuracy" not in history:
            return None
        column = history["val_accuracy"].to_numpy(float)
        values.append(column[-late_epochs(len(column)):])
    return {"epochs": min(len(v) for v in values), "mean": float(np.mean([v.mean() for v in values])),
            "min": float(min(v.min() for v in values)), "max": float(max(v.max() for v in values))}


NO_PREDICTION = -1  # a face the recognizer did not find: counted as wrong, in no class's column


def _grouped_confusions(y_true: np.ndarray, y_pred: np.ndarray, k: int, group_index: np.ndarray,
                        n_groups: int) -> np.ndarray:
    """Per group, the k x (k + 1) confusion counts (the last column: no prediction), flattened."""
    column = np.where(y_pred == NO_PREDICTION, k, y_pred)
    cells = np.zeros((n_groups, k * (k + 1)))
    np.add.at(cells, (group_index, y_true * (k + 1) + column), 1)
    return cells


def _macro_scores(cm: np.ndarray, classes: np.ndarray) -> dict[str, np.ndarray]:
    """Accuracy, macro F1 over `classes` and each class's recall, from confusions (..., k, k + 1)."""
    k = cm.shape[-2]
    tp = np.diagonal(cm[..., :k], axis1=-2, axis2=-1)
    true_n, pred_n = cm.sum(axis=-1), cm[..., :k].sum(axis=-2)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = tp / true_n
        precision = np.where(pred_n > 0, tp / pred_n, 0.0)
        f1 = np.where(precision + recall > 0, 2 * precision * recall / (precision + recall), 0.0)
        accuracy = tp.sum(axis=-1) / cm.sum(axis=(-2, -1))
    return {"accuracy": accuracy, "macro_f1": f1[..., classes].mean(axis=-1), "recall": recall}


def grouped_bootstrap(y_true: np.ndarray, predictions: dict[str, np.ndarray], class_names: tuple[str, ...] | list[str],
                      groups: np.ndarray | None = None, baseline: str | None = None, n_boot: int = N_BOOTSTRAP,
                      seed: int = 0) -> dict[str, dict]:
    """Accuracy, macro F1 and per-class recall of each model's predictions of the same images, with bootstrap
    95% CIs; and, where `baseline` names one of them, each other model minus it, paired (the same draws).

    `predictions`: model name -> predicted class per image (`NO_PREDICTION` where no face was found: wrong,
    and in no class's precision). Macro F1 averages the classes `y_true` holds (a class no image has, such as
    neutral on CK+, is predicted wrongly but has no F1 of its own). `groups`: images drawn together (one
    subject's frames); each draw resamples groups with replacement, so frames of one person do not count as
    independent evidence. None: every image its own group."""
    y_true = np.asarray(y_true, np.int64)
    k = len(class_names)
    if y_true.ndim != 1 or not len(y_true) or ((y_true < 0) | (y_true >= k)).any():
        raise FerError(f"y_true must be a non-empty 1-D array of class indices 0-{k - 1}")
    for name, pred in predictions.items():
        pred = np.asarray(pred)
        if pred.shape != y_true.shape or ((pred < NO_PREDICTION) | (pred >= k)).any():
            raise FerError(f"the predictions of {name} must be one class index 0-{k - 1} (or {NO_PREDICTION}: no face) "
                           f"per image, {len(y_true)} of them")
    if baseline is not None and baseline not in predictions:
        raise FerError(f"baseline {baseline!r} is not one of the models: {', '.join(predictions)}")
    group_names = np.arange(len(y_true)) if groups is None else np.asarray(groups)
    if len(group_names) != len(y_true):
        raise FerError(f"groups must name one group per image ({len(y_true)}), got {len(group_names)}")
    _, group_index = np.unique(group_names, return_inverse=True)
    n_groups = int(group_index.max()) + 1
    classes = np.flatnonzero(np.bincount(y_true, minlength=k) > 0)
    rng = np.random.default_rng(seed)
    draws = rng.multinomial(n_groups, np.full(n_groups, 1 / n_groups), size=n_boot)  # how often each group is drawn
    point, boot = {}, {}
    for name, pred in predictions.items():
        cells = _grouped_confusions(y_true, np.asarray(pred, np.int64), k, group_index, n_groups)
        point[name] = _macro_scores(cells.sum(axis=0).reshape(k, k + 1), classes)
        boot[name] = _macro_scores((draws @ cells).reshape(n_boot, k, k + 1), classes)
    results = {}
    for name in predictions:
        row = {"n": len(y_true), "groups": n_groups, "classes_scored": [class_names[c] for c in classes],
               "n_bootstrap": n_boot}
        for metric in ("accuracy", "macro_f1"):
            row[metric], row[f"{metric}_ci"] = float(point[name][metric]), _interval(boot[name][metric])
        row["recall"] = {class_names[c]: float(point[name]["recall"][c]) for c in classes}
        row["recall_ci"] = {class_names[c]: _interval(boot[name]["recall"][:, c]) for c in classes}
        if baseline is not None and name != baseline:
            for metric in ("accuracy", "macro_f1"):
                row[f"{metric}_minus_{baseline}"] = float(point[name][metric] - point[baseline][metric])
                row[f"{metric}_minus_{baseline}_ci"] = _interval(boot[name][metric] - boot[baseline][metric])
        results[name] = row
    return results
