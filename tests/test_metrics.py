"""Metrics against small hand-checked cases."""
from __future__ import annotations

import math

import numpy as np
import pytest

from fer_lib.errors import FerError

from fer_lib.evaluate.metrics import classification_metrics, metrics_from_predictions, proportion_ci, save_predictions, seed_summary

Y_TRUE = np.array([0, 0, 1, 1, 2, 2])
Y_PRED = np.array([0, 1, 1, 1, 2, 0])


def wilson(k, n, z=1.959963984540054):
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return centre - half, centre + half


def test_hand_checked_small_case():
    m = classification_metrics(Y_TRUE, Y_PRED, ["a", "b", "c"])
    assert m["n"] == 6 and m["accuracy"] == pytest.approx(4 / 6)
    assert m["accuracy_ci"] == pytest.approx(wilson(4, 6))
    a, b, c = (m["per_class"][k] for k in "abc")
    assert (a["precision"], a["recall"], a["support"]) == (0.5, 0.5, 2)
    assert b["precision"] == pytest.approx(2 / 3) and b["recall"] == 1.0
    assert (c["precision"], c["recall"]) == (1.0, 0.5)
    assert a["f1"] == 0.5 and b["f1"] == pytest.approx(0.8)
    # specificity = TN / (TN + FP): class a has FP 1 (the c predicted as a), TN 3
    assert a["specificity"] == pytest.approx(3 / 4) and c["specificity"] == 1.0
    assert b["recall_ci"] == pytest.approx(wilson(2, 2))
    assert m["confusion_matrix"] == [[1, 1, 0], [0, 2, 0], [1, 0, 1]]
    assert m["confusion_matrix_normalized"][0] == [0.5, 0.5, 0.0]
    assert m["macro_avg"]["recall"] == pytest.approx((0.5 + 1 + 0.5) / 3)
    assert m["weighted_avg"]["precision"] == pytest.approx((0.5 + 2 / 3 + 1) / 3)


def test_a_class_never_predicted_has_zero_precision_and_no_interval():
    m = classification_metrics(np.array([0, 1]), np.array([0, 0]), ["a", "b"])
    assert m["per_class"]["b"]["precision"] == 0.0
    assert all(math.isnan(v) for v in m["per_class"]["b"]["precision_ci"])


def test_predictions_round_trip(tmp_path):
    proba = np.eye(3)[Y_PRED] * 0.9 + 0.03
    save_predictions(tmp_path / "p.npz", Y_TRUE, proba, np.array(list("uvwxyz")), ["a", "b", "c"])
    assert metrics_from_predictions(tmp_path / "p.npz") == classification_metrics(Y_TRUE, Y_PRED, ["a", "b", "c"])


def test_interval_near_70_percent_on_3589_images_is_about_1_5_points():
    lo, hi = proportion_ci(round(0.7 * 3589), 3589)
    assert 0.014 < (hi - lo) / 2 < 0.016


def test_seed_summary_and_bad_shapes():
    s = seed_summary([0.6, 0.62, 0.64])
    assert s["n_seeds"] == 3 and s["mean"] == pytest.approx(0.62) and s["std"] == pytest.approx(0.02)
    with pytest.raises(FerError, match="same length"):
        classification_metrics(np.array([0, 1]), np.array([0]), ["a", "b"])
