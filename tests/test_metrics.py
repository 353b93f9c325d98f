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


def test_pooled_metrics_over_one_seed_match_the_wilson_interval():
    from fer_lib.evaluate.metrics import classification_metrics, pooled_metrics
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 4000)
    pred = np.where(rng.random(4000) < 0.6, y, rng.integers(0, 3, 4000))
    single = classification_metrics(y, pred, ["a", "b", "c"])
    pooled = pooled_metrics([np.array(single["confusion_matrix"])], ["a", "b", "c"])
    assert pooled["accuracy"] == pytest.approx(single["accuracy"])
    assert pooled["accuracy_ci"] == pytest.approx(single["accuracy_ci"], abs=0.004)
    assert pooled["per_class"]["a"]["recall"] == pytest.approx(single["per_class"]["a"]["recall"])
    assert pooled["per_class"]["a"]["f1_ci"][0] < pooled["per_class"]["a"]["f1"] < pooled["per_class"]["a"]["f1_ci"][1]


def test_pooled_metrics_widen_with_the_spread_between_seeds():
    from fer_lib.evaluate.metrics import pooled_metrics

    def cm(correct, n=3000):  # two classes, `correct` of n right, errors split evenly
        wrong = n - correct
        return np.array([[correct // 2, wrong // 2], [wrong - wrong // 2, correct - correct // 2]])
    same = pooled_metrics([cm(1800)] * 3, ["a", "b"])
    spread = pooled_metrics([cm(1500), cm(1800), cm(2100)], ["a", "b"])
    assert same["accuracy"] == pytest.approx(0.6) == spread["accuracy"]
    width = lambda m: m["accuracy_ci"][1] - m["accuracy_ci"][0]  # noqa: E731
    assert width(spread) > 3 * width(same)
    with pytest.raises(FerError, match="one 2x2 matrix per seed"):
        pooled_metrics([np.eye(3)], ["a", "b"])


def test_accuracy_difference():
    from fer_lib.evaluate.metrics import accuracy_difference as paired_difference
    rng = np.random.default_rng(1)
    a = rng.random(2000) < 0.6
    same = paired_difference(a, a)
    assert same["difference"] == 0 and same["ci"] == (0.0, 0.0)  # paired: identical arms do not vary
    b = a & (rng.random(2000) < 0.9)  # B loses ~6 points on the same images
    d = paired_difference(a, b)
    assert d["ci"][0] < d["difference"] < d["ci"][1] and d["ci"][0] > 0.04
    # A's test set also holds 500 extra images it gets all right: they raise A's accuracy
    extra = paired_difference(a, b, extra_a=np.ones(500, bool))
    assert extra["accuracy_a"] == pytest.approx((a.sum() + 500) / 2500) and extra["difference"] > d["difference"]
    with pytest.raises(FerError, match="same test images"):
        paired_difference(a, b[:10])
    # unpaired: different images, so even identical accuracies vary, and the CI is wider than paired
    unpaired = paired_difference(a, b, paired=False)
    assert unpaired["ci"][1] - unpaired["ci"][0] > 1.5 * (d["ci"][1] - d["ci"][0])
    assert paired_difference(a, b[:10], paired=False)["n_seeds"] == 1


def test_a_class_never_predicted_has_f1_zero_so_macro_f1_counts_it():
    """A collapsed model (every image called 'a') has F1 0 on the classes it never predicts, as sklearn
    scores them; leaving them undefined would report the one predicted class's F1 as the macro F1."""
    from sklearn.metrics import f1_score

    from fer_lib.evaluate.metrics import pooled_metrics

    y_true = np.array([0] * 5 + [1] * 3 + [2] * 2)
    y_pred = np.zeros_like(y_true)
    cm = np.bincount(y_true * 3 + y_pred, minlength=9).reshape(3, 3)
    pooled = pooled_metrics([cm], ["a", "b", "c"])
    f1 = [pooled["per_class"][c]["f1"] for c in "abc"]
    assert f1[1] == 0.0 and f1[2] == 0.0
    assert np.mean(f1) == pytest.approx(f1_score(y_true, y_pred, average="macro", zero_division=0))


def test_an_ablation_tables_minutes_come_from_the_seconds_it_saves_so_a_rerender_matches():
    import pandas as pd

    from fer_lib.studies.ablation import ArmSeed, ablation_table, run_rows

    y_true = np.arange(14) % 7
    # 2.96 s: 0.049 min from the raw seconds rounds to 0.0, from the saved 3.0 s to 0.1
    run = ArmSeed("full", 0, np.arange(14), y_true, np.eye(7)[y_true], None, pd.DataFrame(), 1, 1, "done", 2.96, None, [])
    saved = run_rows({"full": [run]})[0]["train_seconds"]
    assert saved == 3.0
    table = ablation_table({"full": {}}, {"full": [run]}, [str(c) for c in range(7)], {"full": 1})
    assert table.loc[0, "train_minutes"] == round(saved / 60, 1) == 0.1


def test_an_ablation_row_says_how_many_classes_each_arm_predicts_so_a_collapse_shows():
    import pandas as pd

    from fer_lib.studies.ablation import ArmSeed, ablation_table

    y_true = np.arange(70) % 7
    spread = np.eye(7)[y_true]  # predicts the true class: all seven classes
    collapsed = np.tile(np.eye(7)[3], (70, 1))  # one class for every image

    def arm(name, proba):
        return ArmSeed(name, 0, np.arange(70), y_true, proba, None, pd.DataFrame(), 1, 5, "budget", 60.0, None, [])
    table = ablation_table({"full": {}, "without": {"x": 1}},
                           {"full": [arm("full", spread)], "without": [arm("without", collapsed)]},
                           [str(c) for c in range(7)], {"full": 10, "without": 10}).set_index("arm")
    assert table.loc["full", "classes_predicted"] == "7/7"
    assert table.loc["without", "classes_predicted"] == "1/7"
    assert table.loc["without", "macro_f1"] == pytest.approx(np.mean([0] * 6 + [2 * (1 / 7) / (1 + 1 / 7)]), abs=1e-4)
