"""The data audit: duplicate finder on images the test makes, real-data counts, partial data."""
from __future__ import annotations

import numpy as np

from fer_lib.studies import audit as A
from fer_lib.data import FER2013_CLASSES, FaceDataset


def _dataset(images, labels, split):
    return FaceDataset(name="fer2013", images=np.asarray(images, np.uint8), labels=np.asarray(labels),
                       class_names=FER2013_CLASSES, ids=np.array([f"{s}_{i}" for i, s in enumerate(split)]),
                       source="test", layout="test", split=np.asarray(split))


def test_finder_tells_exact_shifted_and_unrelated_apart(ckplus):
    face = ckplus.images[0]
    brighter = np.clip(face.astype(int) + 12, 0, 255).astype(np.uint8)
    shifted = np.pad(face, ((0, 0), (1, 0)), mode="edge")[:, :48]  # one pixel to the right
    others = ckplus.images[ckplus.subjects != ckplus.subjects[0]][:50]  # other people
    images = np.concatenate([np.stack([face, face.copy(), brighter, shifted]), others])
    groups = A.exact_duplicate_groups(images)
    assert groups[0] == groups[1] >= 0 and (groups[2:] == -1).all()
    hashes = A.perceptual_hashes(images)
    distance = np.bitwise_count(hashes[0] ^ hashes)
    pairs = set(map(tuple, A.near_duplicate_pairs(hashes)[["i", "j"]].to_numpy().tolist()))
    assert distance[1] == 0 and (0, 1) in pairs  # the exact copy
    assert (0, 2) in pairs  # the brighter copy
    assert distance[3] < distance[4:].min()  # the shifted copy ranks closer than every other person
    assert not any((0, j) in pairs for j in range(4, len(images)))  # no other person is flagged


def test_audit_flags_duplicates_conflicts_blanks_across_splits(ckplus):
    a, b, c = ckplus.images[0], ckplus.images[400], ckplus.images[800]
    blank = np.full((48, 48), 7, np.uint8)
    ds = _dataset([a, b, a, b, c, blank], [0, 1, 0, 2, 3, 4],
                  ["Training", "Training", "PrivateTest", "PublicTest", "PrivateTest", "Training"])
    result = A.audit(ds, check_faces=False)
    s = result.summary
    assert s["exact_duplicate_groups"] == 2 and s["exact_duplicate"] == 2
    assert s["exact_duplicate_conflicting_label"] == 1  # b is labelled 1 in Training and 2 in PublicTest
    assert s["blank"] == 1
    assert s["across_splits"] == {"Training/PrivateTest": 1, "Training/PublicTest": 1}
    assert A.leaked_test_ids(result) == {"PrivateTest_2"}
    assert "face detection was skipped" in result.not_checked


def test_partial_and_empty_datasets_say_what_was_not_checked(ckplus):
    only_train = _dataset(ckplus.images[:10], [0] * 10, ["Training"] * 10)
    result = A.audit(only_train, check_faces=False)
    assert "split PublicTest is absent: duplicates across it were not checked" in result.not_checked
    assert "class surprise has no images" in result.not_checked
    empty = A.audit(only_train.subset(np.array([], int)), check_faces=False)
    assert empty.summary == {"images": 0} and "the dataset is empty: nothing was checked" in empty.not_checked


def test_real_fer2013_has_cross_split_duplicates(fer2013):
    groups = A.exact_duplicate_groups(fer2013.images)
    assert len(set(groups[groups >= 0])) > 1000  # FER2013 is known to hold many exact duplicates
    train = set(groups[(groups >= 0) & (fer2013.split == "Training")])
    private = set(groups[(groups >= 0) & (fer2013.split == "PrivateTest")])
    assert len(train & private) > 100


def test_ckplus_sequences_have_three_frames(ckplus):
    stats = A.sequence_stats(ckplus)
    assert stats["frames_per_sequence"] == {3: stats["sequences"]} and stats["subjects"] > 100
