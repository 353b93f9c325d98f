"""Claims as data, and the verdicts beside measured numbers."""
from __future__ import annotations

import pytest

from fer_lib.evaluate import claims
from fer_lib.errors import FerError


def _metrics(accuracy, ci, recall=0.5, recall_ci=(0.4, 0.6)):
    per = {c: {"precision": 0.5, "precision_ci": (0.4, 0.6), "recall": recall, "recall_ci": recall_ci, "f1": 0.5}
           for c in ("angry", "contempt", "disgust", "fear", "happy", "sad", "surprise")}
    return {"accuracy": accuracy, "accuracy_ci": ci, "per_class": per}


def test_yousaf2024_claims_are_transcribed_in_full():
    all_claims = claims.load_claims("yousaf2024")
    head = {c.id: c for c in all_claims}
    assert head["table6_fer2013"].value == 0.854 and head["table6_ckplus48"].value == 0.894
    assert head["text_fer2013_two_attempts"].range == (0.68, 0.72)
    # 2 datasets x (precision, recall, F1, confusion diagonal) x 7 classes, plus 5 accuracy claims
    assert len(all_claims) == 2 * 4 * 7 + 5
    assert head["fer2013_precision_sad"].value == 0.76 and head["ckplus48_confusion_diagonal_surprise"].value == 0.94


def test_verdicts():
    rows = {r["claim_id"]: r for r in claims.compare(claims.load_claims("yousaf2024"),
                                                     _metrics(0.70, (0.685, 0.715)), "fer2013")}
    assert rows["table6_fer2013"]["verdict"] == claims.VERDICT_BELOW
    assert rows["table6_fer2013"]["difference_points"] == pytest.approx(-15.4)
    assert rows["text_fer2013_two_attempts"]["verdict"] == claims.VERDICT_CONSISTENT  # 68-72% overlaps
    assert rows["fer2013_f1_angry"]["verdict"] == claims.VERDICT_NO_CI
    assert rows["fer2013_confusion_diagonal_angry"]["measured"] == 0.5  # the diagonal is recall
    high = claims.compare(claims.load_claims("yousaf2024"), _metrics(0.95, (0.94, 0.96)), "fer2013")
    assert high[0]["verdict"] == claims.VERDICT_ABOVE


def test_ckplus_neutral_claims_are_marked_not_comparable():
    rows = claims.compare(claims.load_claims("yousaf2024"), _metrics(0.9, (0.85, 0.95)), "ckplus48")
    neutral = [r for r in rows if r["class"] == "neutral"]
    assert len(neutral) == 4 and all(r["verdict"] == claims.VERDICT_NO_CLASS for r in neutral)


def test_seed_spread_is_reported_with_the_accuracy_claim():
    rows = claims.compare(claims.load_claims("yousaf2024"), _metrics(0.7, (0.68, 0.72)), "fer2013",
                          {"n_seeds": 3, "mean": 0.69, "std": 0.01})
    assert rows[0]["seeds_mean"] == 0.69 and rows[0]["n_seeds"] == 3


def test_unknown_paper():
    with pytest.raises(FerError, match="papers with claims: abdulkadir2025, yousaf2024"):
        claims.load_claims("nobody2099")


@pytest.mark.parametrize("paper, flaws", [("yousaf2024", {1, 2, 3, 4, 5}), ("abdulkadir2025", {2, 4, 6})])
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
    assert {s["paper"] for s in signs} == {"abdulkadir2025", "yousaf2024"}
    assert {s["flaw"] for s in signs if s["paper"] == "abdulkadir2025"} == {2, 4, 6}
