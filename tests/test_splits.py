"""Split protocols: sizes, no overlap, no subject on two sides, determinism, bad names."""
from __future__ import annotations

import numpy as np
import pytest

from fer_lib.data import splits
from fer_lib.errors import FerError


def test_official_split_is_training_publictest_privatetest(fer2013):
    s = splits.make_split("official", fer2013)
    assert s.sizes() == {"train": 28709, "val": 3589, "test": 3589}
    assert set(fer2013.split[s.test]) == {"PrivateTest"} and set(fer2013.split[s.val]) == {"PublicTest"}


def test_random_stratified_75_25_is_disjoint_stratified_and_seeded(fer2013):
    s = splits.make_split("random_stratified", fer2013, seed=0, test_fraction=0.25, val_fraction=0.2)
    s.check_disjoint()
    assert sum(s.sizes().values()) == len(fer2013)
    assert abs(len(s.test) / len(fer2013) - 0.25) < 0.001
    assert abs(len(s.val) / (len(s.train) + len(s.val)) - 0.2) < 0.001
    overall = np.bincount(fer2013.labels) / len(fer2013)
    assert np.allclose(np.bincount(fer2013.labels[s.test]) / len(s.test), overall, atol=0.002)
    again = splits.make_split("random_stratified", fer2013, seed=0, test_fraction=0.25, val_fraction=0.2)
    other = splits.make_split("random_stratified", fer2013, seed=1, test_fraction=0.25, val_fraction=0.2)
    np.testing.assert_array_equal(s.test, again.test)
    assert not np.array_equal(s.test, other.test)


def test_subject_independent_keeps_every_subject_on_one_side(ckplus):
    s = splits.make_split("subject_independent", ckplus, seed=3, test_fraction=0.2, val_fraction=0.2)
    s.check_disjoint()
    parts = [set(ckplus.subjects[p]) for p in (s.train, s.val, s.test)]
    assert not (parts[0] & parts[1]) and not (parts[0] & parts[2]) and not (parts[1] & parts[2])
    assert 0.1 < len(s.test) / len(ckplus) < 0.3


def test_random_split_of_ckplus_puts_subjects_on_both_sides(ckplus):
    # The paper's 80:20 random split does leak subjects; the protocol's name says so.
    s = splits.make_split("random_stratified", ckplus, seed=0, test_fraction=0.2, val_fraction=0.2)
    assert set(ckplus.subjects[s.train]) & set(ckplus.subjects[s.test])


def test_subject_kfold_covers_everything_once_without_shared_subjects(ckplus):
    folds = splits.subject_kfold(ckplus, k=5, seed=0)
    tests = np.concatenate([f.test for f in folds])
    assert sorted(tests) == list(range(len(ckplus)))
    for f in folds:
        f.check_disjoint()
        assert not set(ckplus.subjects[f.test]) & set(ckplus.subjects[np.concatenate([f.train, f.val])])


def test_stratified_kfold_covers_everything_once(ckplus):
    folds = splits.stratified_kfold(ckplus, k=5, seed=0)
    assert sorted(np.concatenate([f.test for f in folds])) == list(range(len(ckplus)))
    for f in folds:
        f.check_disjoint()


def test_bad_protocol_inputs_are_clear(fer2013, ckplus):
    with pytest.raises(FerError, match="valid protocols are: kaggle_resplit, official, random_stratified, stratified_kfold"):
        splits.make_split("random", fer2013)
    with pytest.raises(FerError, match="no subject ids"):
        splits.make_split("subject_independent", fer2013)
    with pytest.raises(FerError, match="Usage split"):
        splits.make_split("official", ckplus)
    with pytest.raises(FerError, match="test_fraction must be a fraction"):
        splits.make_split("random_stratified", fer2013, test_fraction=25)
