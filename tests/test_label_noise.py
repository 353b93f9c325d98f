"""The label-noise study on a small dataset with hand-made FER+ votes, where every number is known."""
from __future__ import annotations

import numpy as np
import pytest

from conftest import ferplus_votes as votes
from fer_lib.data import FER2013_CLASSES, FaceDataset
from fer_lib.data import ferplus as fp
from fer_lib.errors import FerError
from fer_lib.evaluate.metrics import save_predictions
from fer_lib.studies import label_noise as ln


# (FER2013 label, split, votes): four PrivateTest images with a majority (two agree), one where the
# annotators split, one with a contempt majority, and a Training image
ROWS = [
    ("happy", "PrivateTest", votes(happiness=9, neutral=1)),
    ("sad", "PrivateTest", votes(sadness=8, neutral=2)),
    ("fear", "PrivateTest", votes(neutral=6, fear=4)),  # the annotators say neutral
    ("angry", "PrivateTest", votes(sadness=7, anger=3)),  # the annotators say sad
    ("neutral", "PrivateTest", votes(neutral=4, sadness=4, anger=2)),  # split
    ("angry", "PrivateTest", votes(contempt=7, anger=3)),  # contempt: a seven-class model cannot say it
    ("happy", "Training", votes(happiness=10)),
]


@pytest.fixture
def small():
    labels = np.array([FER2013_CLASSES.index(c) for c, _, _ in ROWS])
    split = np.array([s for _, s, _ in ROWS])
    ids = np.array([f"{s}_{i}" for i, s in enumerate(split)])
    dataset = FaceDataset(name="fer2013", images=np.zeros((len(ROWS), 48, 48), np.uint8), labels=labels,
                          class_names=FER2013_CLASSES, ids=ids, source="test", layout="kaggle-folders", split=split)
    raw = np.array([v for _, _, v in ROWS])
    targets, status = fp.votes_to_targets(raw, "majority")
    ferplus = fp.FerPlusLabels(mode="majority", ids=ids, split=split, fer_row=np.arange(len(ROWS)), votes=raw,
                               targets=targets, status=status)
    return dataset, ferplus


def test_agreement_and_the_consensus_as_a_classifier(small):
    dataset, ferplus = small
    by_split = ln.agreement_by_split(dataset, ferplus).set_index("split")
    private = by_split.loc["PrivateTest"]
    assert private["majority emotion"] == 5 and private["annotators split"] == 1
    assert private["label = majority"] == 2 and private.agreement == pytest.approx(0.4)
    assert by_split.loc["all", "label = majority"] == 3
    consensus = ln.consensus_as_prediction(dataset, ferplus)
    assert (consensus["scored"], consensus["correct"]) == (5, 2)
    assert consensus["ci_low"] < 0.4 < consensus["ci_high"]
    confusion = ln.label_confusion(dataset, ferplus, "PrivateTest")
    assert confusion.loc["fear", "neutral"] == 1 and confusion.loc["neutral", "annotators split"] == 1
    assert confusion.loc["angry", "contempt"] == 1 and confusion.to_numpy().sum() == 6


def test_a_claim_implies_siding_with_the_single_label():
    table = ln.claim_implications({"accuracy": 0.6, "split": "PrivateTest", "scored": 100},
                                  [{"paper": "p", "where": "w", "claimed": 0.96, "protocol": "x"}])
    column = "must side with the FER2013 label where the majority disagrees"
    assert table[column].iloc[-1] == pytest.approx(0.9)  # (0.96 - 0.6) / (1 - 0.6)
    assert table[column].iloc[0] == pytest.approx(0.125)  # humans' 65%
    assert table[column].iloc[1] == 0  # the majority itself


def test_where_a_models_predictions_fall(small, tmp_path):
    dataset, ferplus = small
    private = dataset.split == "PrivateTest"
    # predicts happy, sad (both agreeing images right), neutral (the FER+ majority), fear (neither: sad or angry),
    # anything for the split image, and angry for the contempt image (the FER2013 label)
    predicted = ["happy", "sad", "neutral", "fear", "happy", "angry"]
    proba = np.eye(7)[[FER2013_CLASSES.index(c) for c in predicted]]
    path = tmp_path / "predictions_seed0.npz"
    save_predictions(path, dataset.labels[private], proba, dataset.ids[private], FER2013_CLASSES)
    alignment = ln.prediction_alignment(path, dataset, ferplus)
    assert alignment["agreeing images"] == 2 and alignment["accuracy where they agree"] == 1.0
    assert alignment["disagreeing images"] == 3
    assert alignment["predicts FER2013 label"] == pytest.approx(1 / 3)  # the contempt image
    assert alignment["predicts FER+ majority"] == pytest.approx(1 / 3)
    scores = ln.ferplus_test_scores(path, dataset, ferplus)
    assert scores["contempt images"] == 1 and not scores["model has contempt"]
    assert scores["FER+"]["accuracy"] == pytest.approx(3 / 5)
    assert scores["FER+ without contempt"]["accuracy"] == pytest.approx(3 / 4)
    assert scores["FER2013 labels"]["accuracy"] == pytest.approx(3 / 5)


def test_predictions_of_other_images_or_labels_of_another_dataset_are_refused(small, tmp_path):
    dataset, ferplus = small
    path = tmp_path / "p.npz"
    save_predictions(path, [0], np.eye(7)[[0]], ["Training_6"], FER2013_CLASSES)
    with pytest.raises(FerError, match="1 predicted images are not PrivateTest images"):
        ln.prediction_alignment(path, dataset, ferplus)
    with pytest.raises(FerError, match="made for other images"):
        ln.agreement_by_split(dataset.subset(np.arange(3)), ferplus)


def test_the_report_folder(small, tmp_path):
    dataset, ferplus = small
    summary = ln.write_label_noise_report(tmp_path / "ferplus", dataset, ferplus, "smoke")
    assert summary["consensus_as_prediction"]["correct"] == 2
    assert "40.0%" in summary["summary"]
    written = {p.name for p in (tmp_path / "ferplus").iterdir()}
    assert {"agreement_by_split.csv", "fer2013_vs_ferplus.png", "claims_beside_consensus.csv", "report.html"} <= written
    claims = (tmp_path / "ferplus" / "claims_beside_consensus.csv").read_text()
    assert "mahdi2025" in claims  # each paper's headline claim, read from its claims file
