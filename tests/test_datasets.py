"""Loaders on the real files, on small CSVs the tests write, and on bad input."""
from __future__ import annotations

import csv
import shutil
import time

import numpy as np
import pytest

from fer_lib import data as d
from fer_lib.data.fer2013 import FER2013_CSV_LABELS
from fer_lib.errors import FerError


def test_fer2013_folders_match_the_public_release(fer2013):
    assert fer2013.images.shape == (35887, 48, 48) and fer2013.images.dtype == np.uint8
    assert fer2013.class_names == d.FER2013_CLASSES
    assert d.count_differences(fer2013) == []
    counts = fer2013.class_counts()
    assert sum(counts["Training"].values()) == 28709
    assert sum(counts["PublicTest"].values()) == sum(counts["PrivateTest"].values()) == 3589
    # The split comes from the file name, and the file name is kept as the id.
    assert all(i.startswith(s) for i, s in zip(fer2013.ids[::997], fer2013.split[::997]))


def test_ckplus48_keeps_subjects_and_maps_class_names(ckplus):
    assert len(ckplus) == 981 and ckplus.class_names == d.CKPLUS_CLASSES
    assert d.count_differences(ckplus) == []
    assert ckplus.class_counts()["all"]["angry"] == 135  # the folder says "anger"
    assert ckplus.class_counts()["all"]["sad"] == 84  # the folder says "sadness"
    assert len(np.unique(ckplus.subjects)) > 100
    first = list(ckplus.ids).index("S010_004_00000017")
    assert ckplus.subjects[first] == "010"
    # three frames per sequence
    _, per_sequence = np.unique(d.sequence_ids(ckplus), return_counts=True)
    assert set(per_sequence) == {3}


def _write_csv(path, rows, header=("emotion", "pixels", "Usage")):
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(header)
        w.writerows(rows)


def test_csv_layout_gives_the_same_images_and_canonical_labels(tmp_path, fer2013, isolated_cache):
    # Take real images of each class and write them with the challenge's own label numbers.
    csv_label = {name: number for number, name in FER2013_CSV_LABELS.items()}
    picks = [np.flatnonzero((fer2013.labels == c) & (fer2013.split == s))[0]
             for c in range(7) for s in ("Training", "PublicTest", "PrivateTest")]
    rows = [(csv_label[fer2013.class_names[fer2013.labels[i]]], " ".join(map(str, fer2013.images[i].ravel())),
             fer2013.split[i]) for i in picks]
    _write_csv(tmp_path / "fer2013.csv", rows)
    from_csv = d.load_fer2013(tmp_path)
    assert from_csv.layout == "challenge-csv"
    np.testing.assert_array_equal(from_csv.images, fer2013.images[picks])
    np.testing.assert_array_equal(from_csv.labels, fer2013.labels[picks])
    np.testing.assert_array_equal(from_csv.split, fer2013.split[picks])
    # CSV label 4 is Sad and 6 is Neutral: canonical order puts neutral before sad.
    assert d.FER2013_CLASSES[from_csv.labels[rows.index(next(r for r in rows if r[0] == 4))]] == "sad"
    assert d.FER2013_CLASSES[from_csv.labels[rows.index(next(r for r in rows if r[0] == 6))]] == "neutral"


def test_csv_with_wrong_columns_names_them(tmp_path):
    _write_csv(tmp_path / "fer2013.csv", [(0, "1 2 3")], header=("label", "image"))
    with pytest.raises(FerError, match=r"columns are \['label', 'image'\].*'emotion' and 'pixels'"):
        d.load_fer2013_csv(tmp_path / "fer2013.csv", use_cache=False)


def test_csv_with_malformed_pixels_names_the_row(tmp_path):
    good = " ".join(["7"] * 2304)
    _write_csv(tmp_path / "fer2013.csv", [(0, good, "Training"), (3, "1 2 oops", "Training")])
    with pytest.raises(FerError, match="row 3"):
        d.load_fer2013_csv(tmp_path / "fer2013.csv", use_cache=False)
    _write_csv(tmp_path / "fer2013.csv", [(0, good, "Training"), (9, good, "Training")])
    with pytest.raises(FerError, match="row 3: emotion 9"):
        d.load_fer2013_csv(tmp_path / "fer2013.csv", use_cache=False)


def test_missing_or_empty_data_folder_explains_the_layouts(tmp_path):
    with pytest.raises(FerError, match="make data") as info:
        d.load_fer2013(tmp_path / "nowhere")
    assert "fer2013/train/<class>" in str(info.value) and "fer2013.csv" in str(info.value)
    (tmp_path / "fer2013" / "train").mkdir(parents=True)
    with pytest.raises(FerError, match="expected: angry, disgust"):
        d.load_fer2013(tmp_path)
    with pytest.raises(FerError, match="No CK\\+48 data"):
        d.load_ckplus48(tmp_path)


def test_unexpected_class_folder_lists_the_expected_ones(small_fer_folder, isolated_cache):
    (small_fer_folder / "train" / "contempt").mkdir()
    with pytest.raises(FerError, match=r"\['contempt'\].*expected class folders: angry, disgust, fear, happy, neutral, sad, surprise"):
        d.load_fer2013_folders(small_fer_folder)


def test_unreadable_image_is_skipped_counted_and_reported(small_fer_folder, isolated_cache):
    bad = small_fer_folder / "train" / "happy" / "Training_99999999.jpg"
    bad.write_bytes(b"not a jpeg")
    ds = d.load_fer2013_folders(small_fer_folder)
    assert len(ds.skipped) == 1 and ds.skipped[0][0].endswith("Training_99999999.jpg")
    assert len(ds) == 7 * 3 + 7 * 4  # every readable image, and nothing else
    assert "Training_99999999" not in set(ds.ids)


def test_cache_is_fast_and_invalidated_when_the_source_changes(small_fer_folder, isolated_cache):
    first = d.load_fer2013_folders(small_fer_folder)
    assert list((isolated_cache / "datasets").glob("*.npz"))
    started = time.perf_counter()
    again = d.load_fer2013_folders(small_fer_folder)
    assert time.perf_counter() - started < 1.0
    np.testing.assert_array_equal(first.images, again.images)
    # A new file changes the fingerprint: the next load sees it.
    src = next((small_fer_folder / "train" / "angry").iterdir())
    shutil.copy(src, src.with_name("Training_00000001.jpg"))
    assert len(d.load_fer2013_folders(small_fer_folder)) == len(first) + 1


def test_one_folder_named_two_ways_keeps_one_cache_entry(small_fer_folder, isolated_cache, monkeypatch):
    # the fingerprint reads each file's path under the folder as text; a folder named relatively (".") has no such
    # text prefix and is read through relative_to: both ways must give one key, and the images and ids of one load
    first = d.load_fer2013_folders(small_fer_folder)
    monkeypatch.chdir(small_fer_folder)
    second = d.load_fer2013_folders(".")
    assert len(list((isolated_cache / "datasets").glob("*.npz"))) == 1
    np.testing.assert_array_equal(first.images, second.images)
    np.testing.assert_array_equal(first.ids, second.ids)


def test_two_copies_of_one_tree_never_share_a_cache_entry(small_fer_folder, tmp_path, isolated_cache):
    import subprocess
    copy = tmp_path / "copy" / "fer2013"
    copy.parent.mkdir()
    subprocess.run(["cp", "-a", str(small_fer_folder), str(copy)], check=True)  # same names, sizes and times
    first, second = d.load_fer2013_folders(small_fer_folder), d.load_fer2013_folders(copy)
    assert first.source != second.source  # each names its own folder (before: the second reported the first's)
    assert len(list((isolated_cache / "datasets").glob("*.npz"))) == 2


def test_stratified_subset_takes_per_class_per_split(fer2013):
    sub = d.stratified_subset(fer2013, 5, seed=1)
    assert len(sub) == 3 * 7 * 5
    assert all(n == 5 for split in sub.class_counts().values() for n in split.values())


def test_unknown_dataset_name_lists_valid_ones():
    with pytest.raises(FerError, match="valid datasets are: ckplus48, fer2013"):
        d.load_dataset("affectnet")


def test_processes_started_together_decode_a_dataset_once(isolated_cache):
    """Test workers and a campaign's runs start at once and all need FER2013: one builds, the others wait for the
    lock and load what it wrote (threads hold separate locks here just as processes do)."""
    import threading

    import numpy as np

    from fer_lib.data.cache import cached
    from fer_lib.data.faces import FaceDataset

    builds = []

    def build():
        builds.append(1)
        time.sleep(0.5)  # decoding takes a while: the others arrive meanwhile
        return FaceDataset("tiny", np.zeros((3, 48, 48), np.uint8), np.array([0, 1, 2]), ("a", "b", "c"),
                           np.array(["x", "y", "z"]), "here", "folders")

    results = []
    threads = [threading.Thread(target=lambda: results.append(cached("together", build))) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(builds) == 1 and len(results) == 3
    assert all(list(r.ids) == ["x", "y", "z"] and r.images.shape == (3, 48, 48) for r in results)
