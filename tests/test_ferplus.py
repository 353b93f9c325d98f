"""FER+ labels: the FER+ reference code's rules, the join to the folder layout and to the challenge CSV
(on the real data and on small files the tests write), and clear errors instead of a wrong join."""
from __future__ import annotations

import csv
import shutil

import numpy as np
import pandas as pd
import pytest

from conftest import ferplus_votes as votes
from fer_lib import data as d
from fer_lib.data import ferplus as fp
from fer_lib.data.fer2013 import FER2013_CSV_LABELS
from fer_lib.errors import FerError

# bad FER+ files are rows of the bad-input table: nothing committed may change
pytestmark = pytest.mark.usefixtures("committed_reports_unchanged")

COLUMNS = fp.VOTE_COLUMNS  # neutral happiness surprise sadness anger disgust fear contempt unknown NF


def test_majority_follows_the_ferplus_rules():
    rows = np.array([
        votes(anger=7, neutral=2, sadness=1),  # 7 of 9 after the single vote is dropped
        votes(neutral=4, sadness=4, anger=2),  # a tie: no category above half
        votes(unknown=6, neutral=4),  # unknown wins
        votes(NF=10),  # not a face
        votes(happiness=5, surprise=1, fear=1, anger=1, sadness=1, neutral=1),  # 5 of 5 once singles go
        votes(contempt=6, neutral=4),
    ])
    targets, status = fp.votes_to_targets(rows, "majority")
    assert list(status) == [fp.KEPT, fp.NO_MAJORITY, fp.UNKNOWN, fp.NOT_A_FACE, fp.KEPT, fp.KEPT]
    names = [d.FERPLUS_CLASSES[i] for i in targets[[0, 4, 5]].argmax(axis=1)]
    assert names == ["angry", "happy", "contempt"]  # FER+'s names mapped by name, not position
    np.testing.assert_array_equal(targets[[0, 4, 5]].max(axis=1), 1.0)
    assert not targets[[1, 2, 3]].any()


def test_probability_mode_keeps_the_top_emotions_as_a_distribution():
    rows = np.array([
        votes(neutral=4, sadness=3, anger=3),  # neutral, then the tied two: all the votes
        votes(neutral=4, sadness=4, anger=2),  # the top two cover 75%: anger is left out
        votes(happiness=6, surprise=3, fear=1),  # the single fear vote is an outlier
        votes(neutral=3, unknown=3, sadness=2, anger=2),  # neutral first, then unknown ties it: stop, drop unknown
        votes(unknown=6, neutral=4),
    ])
    targets, status = fp.votes_to_targets(rows, "probability")
    index = {c: d.FERPLUS_CLASSES.index(c) for c in ("neutral", "sad", "angry", "happy", "surprise")}
    np.testing.assert_allclose(targets[0][[index["neutral"], index["sad"], index["angry"]]], [0.4, 0.3, 0.3])
    np.testing.assert_allclose(targets[1][[index["neutral"], index["sad"], index["angry"]]], [0.5, 0.5, 0.0])
    np.testing.assert_allclose(targets[2][[index["happy"], index["surprise"]]], [2 / 3, 1 / 3])
    # neutral's 3 of 10 votes are not more than half: FER+ discards the image
    assert list(status) == [fp.KEPT, fp.KEPT, fp.KEPT, fp.NO_MAJORITY, fp.UNKNOWN]
    np.testing.assert_allclose(targets[:3].sum(axis=1), 1.0)


def test_an_unknown_mode_or_a_wrong_shape_is_an_error():
    with pytest.raises(FerError, match="unknown FER\\+ label mode 'plurality'.*majority, probability"):
        fp.votes_to_targets(np.zeros((1, 10)), "plurality")
    with pytest.raises(FerError, match="must be an \\(images, 10\\) array"):
        fp.votes_to_targets(np.zeros((2, 8)), "majority")


@pytest.fixture(scope="module")
def real_labels(fer2013):
    return fp.ferplus_labels(fer2013, "majority")


def test_the_real_join_counts_per_split(real_labels, data_root):
    counts = real_labels.counts()
    with_row = counts["images"] - counts[fp.NO_ROW]
    # the data README: 35,710 images matched (Training 28,558, PublicTest 3,579, PrivateTest 3,573)
    assert with_row.to_dict() == {"Training": 28558, "PublicTest": 3579, "PrivateTest": 3573}
    assert counts[fp.KEPT].sum() == real_labels.kept.sum() > 30000
    assert (counts[fp.NO_MAJORITY] > 0).all()


def test_a_sample_of_real_rows_carries_the_votes_of_its_own_image(real_labels, fer2013, data_root):
    mapping = pd.read_csv(data_root / "ferplus" / fp.MAPPING_FILE)
    sample = mapping.dropna(subset=["fer_row"]).sample(200, random_state=0)
    where = {(s, fer2013.class_names[c], i): n for n, (s, c, i) in
             enumerate(zip(fer2013.split, fer2013.labels, fer2013.ids))}
    for line in sample.itertuples():
        folder, cls, name = line.file.split("/")
        n = where[(line.usage, cls, name.removesuffix(".jpg"))]
        assert real_labels.fer_row[n] == int(line.fer_row)
        np.testing.assert_array_equal(real_labels.votes[n], [getattr(line, c) for c in COLUMNS])
    # the two Training file names found in two class folders each get their own rows
    twins = [n for n, i in enumerate(fer2013.ids) if i == "Training_52789098"]
    assert len(twins) == 2 and len({real_labels.fer_row[n] for n in twins}) == 2


def test_the_ferplus_dataset_has_eight_classes_and_distributions(data_root):
    dataset = d.load_dataset("ferplus", data_root)
    assert dataset.class_names == d.FERPLUS_CLASSES and len(d.FERPLUS_CLASSES) == 8
    assert dataset.class_counts()["PrivateTest"]["contempt"] > 0
    np.testing.assert_allclose(dataset.label_distribution.sum(axis=1), 1.0)
    np.testing.assert_array_equal(dataset.label_distribution.argmax(axis=1), dataset.labels)
    assert len(dataset) + len(dataset.excluded) == 35887
    part = dataset.subset(np.arange(5))
    assert part.label_distribution.shape == (5, 8)


# -- the join on small files written here ------------------------------------------------------

def _copy_votes(data_root, folder):
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copy(data_root / "ferplus" / fp.VOTES_FILE, folder / fp.VOTES_FILE)


def _small_mapping(small_fer_folder, data_root) -> pd.DataFrame:
    mapping = pd.read_csv(data_root / "ferplus" / fp.MAPPING_FILE)
    files = {p.relative_to(small_fer_folder).as_posix() for p in small_fer_folder.rglob("*.jpg")}
    return mapping[mapping.file.isin(files)]


def test_a_small_folder_tree_joins_like_the_full_release(small_fer_folder, data_root, real_labels, fer2013,
                                                         isolated_cache):
    root = small_fer_folder.parent
    _copy_votes(data_root, root / "ferplus")
    _small_mapping(small_fer_folder, data_root).to_csv(root / "ferplus" / fp.MAPPING_FILE, index=False)
    small = d.load_fer2013(root)
    labels = fp.ferplus_labels(small)
    full_index = {(s, c, i): n for n, (s, c, i) in enumerate(zip(fer2013.split, fer2013.labels, fer2013.ids))}
    index = [full_index[key] for key in zip(small.split, small.labels, small.ids)]
    np.testing.assert_array_equal(labels.fer_row, real_labels.fer_row[index])
    np.testing.assert_array_equal(labels.status, real_labels.status[index])


def test_a_mapping_that_does_not_match_the_data_is_refused(small_fer_folder, data_root, isolated_cache):
    root = small_fer_folder.parent
    small = d.load_fer2013(root)
    with pytest.raises(FerError, match="no FER\\+ labels found"):
        fp.ferplus_labels(small)
    _copy_votes(data_root, root / "ferplus")
    with pytest.raises(FerError, match=f"{fp.MAPPING_FILE} does not exist"):
        fp.ferplus_labels(small)
    mapping = _small_mapping(small_fer_folder, data_root)
    target = root / "ferplus" / fp.MAPPING_FILE
    mapping.iloc[1:].to_csv(target, index=False)  # one image missing from the mapping
    with pytest.raises(FerError, match="1 of .* images .* are not in .*msambare"):
        fp.ferplus_labels(small)
    full = pd.read_csv(data_root / "ferplus" / fp.MAPPING_FILE)
    pd.concat([mapping, full.iloc[[5000]]]).to_csv(target, index=False)  # one image the data lacks
    with pytest.raises(FerError, match="lists 1 images that .* does not have"):
        fp.ferplus_labels(small)
    shifted = mapping.copy()
    shifted["ferplus_image"] = np.roll(shifted["ferplus_image"].to_numpy(), 1)  # rows of other images
    shifted.to_csv(target, index=False)
    with pytest.raises(FerError, match="disagree on"):
        fp.ferplus_labels(small)


def _write_challenge_csv(path, images, labels, usage):
    csv_label = {name: number for number, name in FER2013_CSV_LABELS.items()}
    with path.open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("emotion", "pixels", "Usage"))
        for image, label, part in zip(images, labels, usage):
            writer.writerow((csv_label[d.FER2013_CLASSES[label]], " ".join(map(str, image.ravel())), part))


def test_the_challenge_csv_joins_by_row(tmp_path, isolated_cache):
    rng = np.random.default_rng(0)
    usage = ["Training", "Training", "PublicTest", "PrivateTest"]
    _write_challenge_csv(tmp_path / "fer2013.csv", rng.integers(0, 255, (4, 48, 48)), [0, 3, 4, 6], usage)
    (tmp_path / "ferplus").mkdir()
    new = pd.DataFrame([votes(anger=8, neutral=2), votes(happiness=10), votes(NF=10), votes(surprise=9, fear=1)],
                       columns=COLUMNS)
    new.insert(0, "Image name", ["fer0000000.png", "fer0000001.png", None, "fer0000003.png"])
    new.insert(0, "Usage", usage)
    new.to_csv(tmp_path / "ferplus" / fp.VOTES_FILE, index=False)
    labels = fp.ferplus_labels(d.load_fer2013(tmp_path))
    assert list(labels.fer_row) == [0, 1, -1, 3]
    assert list(labels.status) == [fp.KEPT, fp.KEPT, fp.NO_ROW, fp.KEPT]
    assert [d.FERPLUS_CLASSES[i] for i in labels.majority[labels.kept]] == ["angry", "happy", "surprise"]

    new.iloc[:3].to_csv(tmp_path / "ferplus" / fp.VOTES_FILE, index=False)  # other counts
    with pytest.raises(FerError, match="has 4 rows and .* 3"):
        fp.ferplus_labels(d.load_fer2013(tmp_path))
    new.assign(Usage=["Training", "PublicTest", "PublicTest", "PrivateTest"]).to_csv(
        tmp_path / "ferplus" / fp.VOTES_FILE, index=False)
    with pytest.raises(FerError, match="1 images are in another split"):
        fp.ferplus_labels(d.load_fer2013(tmp_path))


def test_other_datasets_have_no_ferplus_rows(ckplus):
    with pytest.raises(FerError, match="FER\\+ labels join FER2013 in its official layouts"):
        fp.ferplus_labels(ckplus)


# ---------------------------------------------------------------------------------------------
# Bad FER+ files: each one a clear error naming the file and the fix, never NaN labels, a silent
# empty dataset, or one image taking another's labels


def _votes_table(rows=None, names=("fer0000000.png", "fer0000001.png", "fer0000002.png", "fer0000003.png")):
    usage = ["Training", "Training", "PublicTest", "PrivateTest"]
    rows = rows or [votes(anger=8, neutral=2), votes(happiness=10), votes(NF=10), votes(surprise=9, fear=1)]
    table = pd.DataFrame(rows, columns=COLUMNS, dtype=object)
    table.insert(0, "Image name", list(names))
    table.insert(0, "Usage", usage)
    return table


def _with_cell(row, column, value):
    table = _votes_table()
    table.loc[row, column] = value
    return table


BAD_VOTES = {
    "an empty file": ("", "is empty"),
    "a header and no rows": (",".join(("Usage", "Image name", *COLUMNS)) + "\n", "a header and no rows"),
    "a blank vote": (_with_cell(0, "anger", None), "row 0 has a blank vote for anger"),
    "a negative vote": (_with_cell(1, "happiness", -3), "-3.0 vote for happiness"),
    "a fractional vote": (_with_cell(3, "surprise", 8.5), "8.5 vote for surprise"),
    "a huge vote": (_with_cell(0, "neutral", 1e308), "vote for neutral; every vote must be a whole number"),
    "a word for a vote": (_with_cell(1, "fear", "many"), "blank vote for fear"),
}


@pytest.mark.parametrize("case", list(BAD_VOTES))
def test_a_bad_votes_file_is_one_clear_error(case, tmp_path, isolated_cache):
    rng = np.random.default_rng(0)
    _write_challenge_csv(tmp_path / "fer2013.csv", rng.integers(0, 255, (4, 48, 48)), [0, 3, 4, 6],
                         ["Training", "Training", "PublicTest", "PrivateTest"])
    (tmp_path / "ferplus").mkdir()
    content, needle = BAD_VOTES[case]
    path = tmp_path / "ferplus" / fp.VOTES_FILE
    path.write_text(content) if isinstance(content, str) else content.to_csv(path, index=False)
    with pytest.raises(FerError) as info:
        fp.ferplus_labels(d.load_fer2013(tmp_path))
    assert needle in str(info.value) and fp.VOTES_FILE in str(info.value)


@pytest.mark.parametrize("bad", [-1.0, float("nan"), 2.5, float("inf")], ids=["negative", "nan", "fractional", "infinite"])
def test_votes_given_directly_are_checked_too(bad):
    with pytest.raises(FerError, match="every vote must be a whole number"):
        fp.votes_to_targets(np.array([votes(anger=8, neutral=bad)]), "majority")


def test_votes_that_label_no_image_are_an_error_not_an_empty_dataset(tmp_path, isolated_cache):
    rng = np.random.default_rng(0)
    _write_challenge_csv(tmp_path / "fer2013.csv", rng.integers(0, 255, (4, 48, 48)), [0, 3, 4, 6],
                         ["Training", "Training", "PublicTest", "PrivateTest"])
    (tmp_path / "ferplus").mkdir()
    _votes_table([votes()] * 4).to_csv(tmp_path / "ferplus" / fp.VOTES_FILE, index=False)
    with pytest.raises(FerError, match="no image of .* has a FER\\+ majority label"):
        d.load_ferplus(tmp_path)


@pytest.mark.parametrize("change, needle", [
    (lambda m: m.assign(fer_row=m.fer_row.astype(object).where(m.index != m.index[0], 2.5)), "fer_row '2.5'"),
    (lambda m: m.assign(fer_row=m.fer_row.astype(object).where(m.index != m.index[0], -4)), "fer_row '-4"),
    (lambda m: pd.concat([m, m.iloc[[0]]]), "on two lines"),
    (lambda m: m.assign(fer_row=[m.fer_row.iloc[0]] * 2 + list(m.fer_row.iloc[2:])), "names the FER\\+ row .* on two lines"),
    (lambda m: m.iloc[:0], "a header and no rows"),
])
def test_a_bad_mapping_line_is_one_clear_error(change, needle, small_fer_folder, data_root, isolated_cache):
    root = small_fer_folder.parent
    _copy_votes(data_root, root / "ferplus")
    mapping = _small_mapping(small_fer_folder, data_root).dropna(subset=["fer_row"]).reset_index(drop=True)
    change(mapping).to_csv(root / "ferplus" / fp.MAPPING_FILE, index=False)
    with pytest.raises(FerError, match=needle):
        fp.ferplus_labels(d.load_fer2013(root))


# ---------------------------------------------------------------------------------------------
# Training on the votes (FER+'s probability mode): issue 50's `ferplus_votes` candidate


def test_a_run_fits_the_vote_distributions_and_is_scored_on_their_top_class(data_root, tmp_path, run_cache):
    """targets='distribution': cross-entropy against each image's FER+ distribution (a different run from the same
    images' top classes), selection and scores on the top class; labels of the wrong kind are one clear error."""
    from dataclasses import replace

    from fer_lib.data.splits import make_split
    from fer_lib.evaluate.runner import train_and_evaluate
    from fer_lib.train import TrainConfig, fit

    dataset = d.prepare("ferplus_votes", data_root, per_class=12).dataset
    assert dataset.label_distribution.shape == (len(dataset), 8) and dataset.layout.endswith("ferplus-probability")
    soft = dataset.label_distribution.max(axis=1) < 1
    assert soft.any()  # split votes: a distribution, not a one-hot label
    np.testing.assert_array_equal(dataset.labels, dataset.label_distribution.argmax(axis=1))
    split = make_split("official", dataset, seed=0)
    config = TrainConfig(learning_rate=1e-3, batch_size=16, epochs=1, collapse_patience=None, targets="distribution",
                         balance=True, augment="copies")
    votes_run = train_and_evaluate("yousaf2024", {}, dataset, split, config, tmp_path / "votes")
    assert votes_run.run.model.loss == "categorical_crossentropy"
    assert votes_run.test_proba.shape == (len(split.test), 8) and 0 <= votes_run.test_metrics["accuracy"] <= 1
    labels_run = train_and_evaluate("yousaf2024", {}, dataset, split, replace(config, targets="label"), tmp_path / "labels")
    assert labels_run.run.model.loss == "sparse_categorical_crossentropy"
    assert config.identity() != replace(config, targets="label").identity()  # two runs, never resumed as each other
    assert "targets" not in replace(config, targets="label").identity()  # older checkpoints still resume

    images = dataset.images[split.train]
    with pytest.raises(FerError, match="targets='distribution' fits one distribution"):
        fit(lambda: None, (images, dataset.labels[split.train]), None, config, tmp_path / "bad")
    with pytest.raises(FerError, match="targets='label' fits one integer class"):
        fit(lambda: None, (images, dataset.label_distribution[split.train]), None, replace(config, targets="label"),
            tmp_path / "bad")
    halved = dataset.label_distribution[split.train] / 2
    with pytest.raises(FerError, match="training target 0 is not a distribution \\(sums to 0.5000"):
        fit(lambda: None, (images, halved), None, config, tmp_path / "bad")
    with pytest.raises(FerError, match="has no label distributions"):
        fer = d.prepare("fer2013", data_root, per_class=4).dataset
        train_and_evaluate("yousaf2024", {}, fer, make_split("official", fer, seed=0), config, tmp_path / "fer")
    with pytest.raises(FerError, match="targets must be one of label, distribution, got 'votes'"):
        TrainConfig(targets="votes")
