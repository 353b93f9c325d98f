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


def _rows(metrics, dataset="fer2013", facts=PAPER_SPLIT, paper="yousaf2024", **kwargs):
    kwargs = {"settings": claims.load_settings(paper), "setups": claims.load_setups(paper),
              "mislabel": claims.mislabels(paper, dataset), **kwargs}
    return {r["claim_id"]: r for r in claims.compare(claims.load_claims(paper), metrics, dataset, facts, **kwargs)}


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


def test_a_like_for_like_verdict_at_our_reading_of_an_unstated_protocol_says_so():
    """mahdi2025 states no split; its references name a Kaggle copy of FER2013 that we re-create (kaggle_resplit)."""
    (claim,) = [c for c in claims.load_claims("mahdi2025") if c.id == "abstract_accuracy"]
    resplit = claims.RunFacts("kaggle_resplit", {}, "a re-split of FER2013", (50,), 50)
    text = claims.verdict(claim, 0.61, (0.60, 0.62), resplit, FER_CLASSES)
    assert text.startswith(claims.VERDICT_BELOW) and claims.verdict_category(text) == "not reproduced"
    assert "at our reading of a protocol the paper does not state: the Kaggle face-expression-recognition-dataset" in text
    # the official split is another protocol: no verdict on the claim, and no reading to cite
    official = claims.RunFacts("official", {}, "FER2013 Training / PublicTest / PrivateTest", (50,), 50)
    assert claims.verdict(claim, 0.61, (0.60, 0.62), official, FER_CLASSES).startswith("different protocol")
    assert "reading of a protocol" not in claims.verdict(claim, 0.61, (0.60, 0.62), official, FER_CLASSES)


def test_a_collapsed_run_says_whose_setting_failed():
    collapsed = claims.RunFacts("random_stratified", {"test_fraction": 0.25}, epochs_run=(5,), epochs_planned=100,
                                collapsed=True, optimizer="adam", learning_rate=0.01)
    # yousaf2024 states Adam at 0.01: a collapse there is a finding about the paper's settings, quoted
    stated = _rows(_metrics(0.17, (0.16, 0.18)), facts=collapsed)["table6_fer2013"]["verdict"]
    assert stated.startswith("not reproduced at the paper's stated settings (Adam 0.01: \"The Adam optimizer was employed")
    assert claims.verdict_category(stated) == "not reproduced"
    # khalid2025 states no rate: the same collapse is about our reading, never "the paper's settings"
    official = claims.RunFacts("official", {}, "official", (7,), 50, collapsed=True, optimizer="adam",
                               learning_rate=0.001, weights="imagenet")
    read = _rows(_metrics(0.29, (0.28, 0.30)), facts=official, paper="khalid2025")["abstract_fer2013"]["verdict"]
    assert read.startswith("collapsed at our reading (Adam 0.001, not stated by the paper)")
    assert "paper's settings" not in read and claims.verdict_category(read) == "collapsed at our reading"


def test_a_run_without_the_papers_imagenet_weights_is_a_different_setup_never_a_refutation():
    scratch = claims.RunFacts("official", {}, "official", (6,), 50, optimizer="adam", learning_rate=0.0001)
    verdict = _rows(_metrics(0.36, (0.34, 0.37)), facts=scratch, paper="khalid2025")["abstract_fer2013"]["verdict"]
    assert verdict.startswith("different setup: no ImageNet weights (the paper fine-tunes a pretrained network: "
                              "\"The proposed model is fine-tuned")
    assert "(the numbers alone: not reproduced" in verdict and claims.verdict_category(verdict) == "different setup"
    # with the paper's weights (the `paper` profile, online) the numbers decide
    pretrained = claims.RunFacts("official", {}, "official", (50,), 50, optimizer="adam", learning_rate=0.001,
                                 weights="imagenet")
    assert _rows(_metrics(0.6, (0.58, 0.62)), facts=pretrained, paper="khalid2025")["abstract_fer2013"]["verdict"] \
        == claims.VERDICT_BELOW
    # abdulkadir2025 only hints at transfer learning: its VGG19 is read as pretrained, and the verdict says it is a reading
    setups = claims.load_setups("abdulkadir2025", "abdulkadir2025_vgg19")
    assert len(setups) == 1 and "we read the paper as fine-tuning" in setups[0].text
    assert claims.load_setups("abdulkadir2025", "abdulkadir2025_sequential") == []


def test_the_reference_figure_is_a_different_setup_on_fer2013_only():
    official = claims.RunFacts("official", {}, "official", (100,), 100, optimizer="sgd", learning_rate=0.01)
    fer = _rows(_metrics(0.671, (0.656, 0.686)), facts=official, paper="reference")["khaireddin2021_vggnet"]["verdict"]
    assert fer.startswith("different setup: their figure is a wider VGGNet") and "ten crops" in fer
    plus = _rows(_metrics(0.839, (0.826, 0.852), classes=FER_CLASSES + ("contempt",)), "ferplus", official,
                 paper="reference")
    assert plus["ferplus_vgg13_baseline"]["verdict"] == claims.VERDICT_CONSISTENT
    # the field's best FER+ models are context, not a claim the suite reproduces
    assert "ferplus_best_models" not in plus
    assert [c["id"] for c in claims.load_paper("reference")["context"]] == ["ferplus_best_models"]


def test_every_setting_is_stated_with_a_quote_or_read_with_a_reason():
    for paper in ("abdulkadir2025", "khalid2025", "mahdi2025", "yousaf2024"):
        settings = claims.load_settings(paper)
        assert {"optimizer", "learning_rate"} <= set(settings), paper
        assert all(bool(s.stated) != bool(s.read) for s in settings.values())
    with pytest.raises(FerError, match="either stated .* or read"):
        claims.Setting("learning_rate")


def test_ckplus_label_set_is_compared_as_the_mislabel_the_paper_contradicts():
    rows = _rows(_metrics(0.959, (0.934, 0.981), classes=CK_CLASSES), "ckplus48", CK_PAPER_SPLIT)
    head = rows["table6_ckplus48"]["verdict"]
    assert head.startswith(claims.VERDICT_ABOVE)
    assert "read as a mislabel, neutral for contempt" in head and "Happiness, Sadness, Surprise, Contempt" in head
    neutral = [r for r in rows.values() if r["class"] == "neutral"]
    assert len(neutral) == 4 and all(r["verdict"] == claims.VERDICT_NO_CLASS for r in neutral)
    # the six classes both sets have are compared one by one
    assert rows["ckplus48_recall_happy"]["verdict"] == claims.VERDICT_BELOW
    # a paper without such a contradiction on record keeps the label-set verdict
    plain = _rows(_metrics(0.9, (0.85, 0.95), classes=CK_CLASSES), "ckplus48", CK_PAPER_SPLIT, mislabel={})
    assert plain["table6_ckplus48"]["verdict"] == \
        "not comparable: the paper's label set has neutral where the dataset has contempt"


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


@pytest.mark.parametrize("paper", ["abdulkadir2025", "khalid2025", "yousaf2024"])
def test_setting_and_mislabel_quotes_are_verbatim_in_the_paper(paper):
    import re
    from pathlib import Path
    raw = claims.load_paper(paper)
    text_path = Path(__file__).resolve().parents[2] / "shared" / "papers" / raw["paper_file"]
    if not text_path.exists():
        pytest.skip(f"the paper's text is not at {text_path} (it lives in the project's shared folder)")
    text = re.sub(r"\s+", " ", text_path.read_text())
    entries = [*raw.get("settings", {}).values(), *(v for m in raw.get("settings_by_model", {}).values() for v in m.values())]
    quoted = [q for e in entries for q in re.findall(r'"([^"]+)"', e.get("stated") or e.get("read"))]
    quoted += [q for m in raw.get("mislabels", {}).values() for line in m["quotes"] if "dataset section" in line
               for q in re.findall(r'"([^"]+)"', line)]
    assert quoted
    for quote in quoted:
        for piece in quote.split(" ... "):
            assert piece in text, piece


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
