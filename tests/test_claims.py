"""Claims as data, and the verdicts beside measured numbers."""
from __future__ import annotations

import pytest

from fer_lib.evaluate import claims
from fer_lib.errors import FerError


CK_CLASSES = ("angry", "contempt", "disgust", "fear", "happy", "sad", "surprise")
FER_CLASSES = ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise")
PAPER_SPLIT = claims.RunFacts("random_stratified", {"test_fraction": 0.25, "val_fraction": 0.2}, "random 75:25",
                              epochs_run=(100,), epochs_planned=100)
CK_PAPER_SPLIT = claims.RunFacts("random_stratified", {"test_fraction": 0.2, "val_fraction": 0.2}, "random 80:20",
                                 epochs_run=(100,), epochs_planned=100)


def _metrics(accuracy, ci, recall=0.5, recall_ci=(0.4, 0.6), classes=FER_CLASSES, f1_ci=(0.4, 0.6)):
    per = {c: {"precision": 0.5, "precision_ci": (0.4, 0.6), "recall": recall, "recall_ci": recall_ci, "f1": 0.5,
               **({"f1_ci": f1_ci} if f1_ci else {})} for c in classes}
    return {"accuracy": accuracy, "accuracy_ci": ci, "per_class": per, "class_names": list(classes)}


def _rows(metrics, dataset="fer2013", facts=PAPER_SPLIT, **kwargs):
    return {r["claim_id"]: r for r in claims.compare(claims.load_claims("yousaf2024"), metrics, dataset, facts, **kwargs)}


def test_yousaf2024_claims_are_transcribed_in_full():
    all_claims = claims.load_claims("yousaf2024")
    head = {c.id: c for c in all_claims}
    assert head["table6_fer2013"].value == 0.854 and head["table6_ckplus48"].value == 0.894
    assert head["text_fer2013_two_attempts"].range == (0.68, 0.72)
    # 2 datasets x (precision, recall, F1, confusion diagonal) x 7 classes, plus 5 accuracy claims
    assert len(all_claims) == 2 * 4 * 7 + 5
    assert head["fer2013_precision_sad"].value == 0.76 and head["ckplus48_confusion_diagonal_surprise"].value == 0.94
    # Tables 3-4 are captioned training results; every FER2013 claim was made under the 75:25 split
    assert head["fer2013_confusion_diagonal_angry"].split == "train" and head["fer2013_recall_angry"].split == "test"
    assert head["table6_fer2013"].protocol_spec == {"protocol": "random_stratified", "test_fraction": 0.25,
                                                    "text": "random 75:25 train:test"}


def test_verdicts_under_the_papers_protocol():
    rows = _rows(_metrics(0.70, (0.685, 0.715)))
    assert rows["table6_fer2013"]["verdict"] == claims.VERDICT_BELOW
    assert rows["table6_fer2013"]["difference_points"] == pytest.approx(-15.4)
    assert rows["text_fer2013_two_attempts"]["verdict"] == claims.VERDICT_CONSISTENT  # 68-72% overlaps
    assert rows["fer2013_f1_angry"]["verdict"] == claims.VERDICT_BELOW  # F1 has a bootstrap CI now
    assert rows["fer2013_confusion_diagonal_angry"]["measured"] == 0.5  # the diagonal is recall
    assert _rows(_metrics(0.95, (0.94, 0.96)))["table6_fer2013"]["verdict"] == claims.VERDICT_ABOVE
    no_ci = _rows(_metrics(0.7, (0.68, 0.72), f1_ci=None))
    assert no_ci["fer2013_f1_angry"]["verdict"] == claims.VERDICT_NO_CI


def test_a_budget_stopped_run_is_a_lower_bound_not_a_refutation():
    stopped = claims.RunFacts("random_stratified", {"test_fraction": 0.25}, epochs_run=(6,), epochs_planned=100,
                              stopped_by_budget=True)
    rows = _rows(_metrics(0.54, (0.53, 0.55)), facts=stopped)
    assert rows["table6_fer2013"]["verdict"] == claims.verdict_lower_bound(6, 100) \
        == "not reached within the budget (lower bound, 6 of 100 epochs)"
    # above the claim is still "exceeded", and inside it still "consistent", budget or not
    assert _rows(_metrics(0.95, (0.94, 0.96)), facts=stopped)["table6_fer2013"]["verdict"] == claims.VERDICT_ABOVE
    assert _rows(_metrics(0.85, (0.84, 0.86)), facts=stopped)["table6_fer2013"]["verdict"] == claims.VERDICT_CONSISTENT


def test_another_protocol_is_not_a_verdict_on_the_claim():
    official = claims.RunFacts("official", {}, "FER2013 Training / PublicTest / PrivateTest", (100,), 100)
    rows = _rows(_metrics(0.60, (0.58, 0.62)), facts=official)
    assert rows["table6_fer2013"]["verdict"].startswith("different protocol: claimed under random 75:25 train:test")
    # another test fraction is another protocol too
    other = claims.RunFacts("random_stratified", {"test_fraction": 0.1}, "random 90:10", (100,), 100)
    assert _rows(_metrics(0.6, (0.58, 0.62)), facts=other)["table6_fer2013"]["verdict"].startswith("different protocol")


def test_a_collapsed_run_at_the_papers_settings():
    collapsed = claims.RunFacts("random_stratified", {"test_fraction": 0.25}, epochs_run=(5,), epochs_planned=100,
                                collapsed=True)
    assert _rows(_metrics(0.17, (0.16, 0.18)), facts=collapsed)["table6_fer2013"]["verdict"] == claims.VERDICT_COLLAPSED


def test_ckplus_label_set_makes_the_headline_not_comparable_as_a_whole():
    rows = _rows(_metrics(0.9, (0.85, 0.95), classes=CK_CLASSES), "ckplus48", CK_PAPER_SPLIT)
    assert rows["table6_ckplus48"]["verdict"] == \
        "not comparable: the paper's label set has neutral where the dataset has contempt"
    neutral = [r for r in rows.values() if r["class"] == "neutral"]
    assert len(neutral) == 4 and all(r["verdict"] == claims.VERDICT_NO_CLASS for r in neutral)
    # classes both sets have are still compared one by one
    assert rows["ckplus48_recall_happy"]["verdict"] == claims.VERDICT_BELOW


def test_training_results_are_compared_on_the_training_split():
    rows = _rows(_metrics(0.6, (0.58, 0.62)), train_metrics=_metrics(0.9, (0.89, 0.91), recall=0.85,
                                                                        recall_ci=(0.8, 0.9)))
    diag = rows["fer2013_confusion_diagonal_angry"]
    assert diag["measured_on"] == "training split" and diag["measured"] == 0.85
    assert diag["verdict"] == claims.TRAIN_SPLIT_PREFIX + claims.VERDICT_CONSISTENT
    assert rows["fer2013_recall_angry"]["measured_on"] == "test split" and rows["fer2013_recall_angry"]["measured"] == 0.5
    # without training-split numbers the row says what it was compared with instead
    alone = _rows(_metrics(0.6, (0.58, 0.62)))["fer2013_confusion_diagonal_angry"]
    assert alone["measured_on"] == "test split" and "no training-split predictions" in alone["verdict"]


def test_seed_spread_is_reported_with_the_accuracy_claim():
    rows = claims.compare(claims.load_claims("yousaf2024"), _metrics(0.7, (0.68, 0.72)), "fer2013", PAPER_SPLIT,
                          {"n_seeds": 3, "mean": 0.69, "std": 0.01})
    assert rows[0]["seeds_mean"] == 0.69 and rows[0]["n_seeds"] == 3


def test_unknown_paper():
    with pytest.raises(FerError, match="papers with claims: abdulkadir2025, khalid2025, mahdi2025, reference, yousaf2024"):
        claims.load_claims("nobody2099")


@pytest.mark.parametrize("paper, flaws", [("yousaf2024", {1, 2, 3, 4, 5}), ("abdulkadir2025", {2, 4, 6}),
                                          ("mahdi2025", {4})])
def test_flaw_quotes_are_verbatim_in_the_paper(paper, flaws):
    import re
    from pathlib import Path
    raw = claims.load_paper(paper)
    text_path = Path(__file__).resolve().parents[2] / "shared" / "papers" / raw["paper_file"]
    if not text_path.exists():
        pytest.skip(f"the paper's text is not at {text_path} (it lives in the project's shared folder)")
    text = re.sub(r"\s+", " ", text_path.read_text())
    assert {s["flaw"] for s in raw["flaw_signs"]} == flaws
    for sign in raw["flaw_signs"]:
        assert sign["quote"] in text, sign["quote"]


def test_flaw_signs_list_every_paper_with_a_claims_file():
    signs = claims.flaw_signs()
    assert {s["paper"] for s in signs} == {"abdulkadir2025", "mahdi2025", "yousaf2024"}  # khalid2025's abstract shows none
    assert {s["flaw"] for s in signs if s["paper"] == "abdulkadir2025"} == {2, 4, 6}
