"""Each arm of the leakage study differs from its reference in exactly the one thing it is named for."""
from __future__ import annotations

import numpy as np
import pytest

from fer_lib.data import splits, stratified_subset
from fer_lib.studies import leakage
from fer_lib.studies.audit import duplicate_groups


@pytest.fixture(scope="module")
def fer_small(fer2013):
    """Every 8th FER2013 image (FER2013's own class imbalance), with a few planted duplicates across splits."""
    small = fer2013.subset(np.arange(0, len(fer2013), 8))
    small.images = small.images.copy()
    train = np.flatnonzero(small.split == "Training")
    test = np.flatnonzero(small.split == "PrivateTest")
    small.images[test[:5]] = small.images[train[:5]]  # exact copies of training images in PrivateTest
    return small


@pytest.fixture(scope="module")
def groups(fer_small):
    return duplicate_groups(fer_small.images)


def test_duplicate_groups_join_exact_and_near_copies():
    rng = np.random.default_rng(0)
    images = rng.integers(0, 255, (6, 48, 48), dtype=np.uint8)
    images[1] = images[0]  # exact
    images[3] = np.clip(images[2].astype(int) + 3, 0, 255)  # near: a little brighter
    g = duplicate_groups(images)
    assert g[0] == g[1] and g[2] == g[3] and len({g[0], g[2], g[4], g[5]}) == 4


def test_the_deduplicated_test_set_drops_exactly_the_planted_copies(fer_small, groups):
    clean = splits.official(fer_small)
    kept = leakage.deduplicated(clean.test, clean.train, groups)
    planted = np.flatnonzero(fer_small.split == "PrivateTest")[:5]
    assert not set(planted) & set(kept) and len(clean.test) - len(kept) >= 5
    assert leakage.leaked(kept, clean.train, groups) == 0


def test_grouped_and_random_splits_differ_only_in_duplicates(fer_small, groups):
    grouped = leakage.grouped_random_split(fer_small, groups, seed=0)
    rand = leakage.random_split_like(fer_small, grouped, seed=0)
    grouped.check_disjoint(), rand.check_disjoint()
    # every duplicate group on one side in `grouped`; the same test and validation images in `random`
    assert leakage.leaked(grouped.test, grouped.train, groups) == 0
    np.testing.assert_array_equal(rand.test, grouped.test)
    np.testing.assert_array_equal(rand.val, grouped.val)
    # the same size and class counts of training images, but duplicates of test images among them
    np.testing.assert_array_equal(np.bincount(fer_small.labels[rand.train]), np.bincount(fer_small.labels[grouped.train]))
    assert leakage.leaked(rand.test, rand.train, groups) > 0


def test_augment_first_swaps_only_the_order_of_balancing_and_splitting(fer_small, groups):
    grouped = leakage.grouped_random_split(fer_small, groups, seed=0)
    first = leakage.augment_first(fer_small, grouped, seed=0)
    first.split.check_disjoint()
    # the pool is balanced; the original images stay where `grouped` put them
    assert len(set(np.bincount(first.pool.labels).tolist())) == 1
    np.testing.assert_array_equal(first.test_originals, grouped.test)
    np.testing.assert_array_equal(first.split.train[~first.is_copy[first.split.train]], grouped.train)
    # about a quarter of the copies are tested, the rest trained on: copies of test images among them
    assert 0.2 < len(first.test_copies) / first.is_copy.sum() < 0.3
    assert leakage.leaked(first.test_originals, first.split.train, groups[first.source]) > 0
    copy = first.test_copies[0]
    assert not np.array_equal(first.pool.images[copy], fer_small.images[first.source[copy]])  # augmented


def test_a_balanced_pool_gets_no_copies(fer2013):
    balanced = stratified_subset(fer2013, 10)  # 10 per class and split: nothing to top up
    g = np.arange(len(balanced))
    first = leakage.augment_first(balanced, leakage.grouped_random_split(balanced, g, seed=1), seed=1)
    assert len(first.pool) == len(balanced) and not first.is_copy.any()


def test_frame_split_of_ckplus_shares_sequences_and_subject_split_does_not(ckplus):
    from fer_lib.data import sequence_ids
    seq = sequence_ids(ckplus)
    by_frame = splits.random_stratified(ckplus, seed=0, test_fraction=0.2)
    by_subject = splits.subject_independent(ckplus, seed=0, test_fraction=0.2)
    assert set(seq[by_frame.test]) & set(seq[by_frame.train])
    assert not set(seq[by_subject.test]) & set(seq[by_subject.train])


def test_eq3_recall_is_specificity():
    # specificity rewards predicting nothing: a classifier that always says "a" on a 3-class balanced set
    y = np.array([0, 0, 1, 1, 2, 2])
    assert leakage.eq3_recall(y, np.zeros(6, int), ("a", "b", "c")) == (0 + 1 + 1) / 3


def _arm(arm, y_true, pred_selected, pred_by_epoch, train_correct, seed=0):
    return leakage.ArmRun(arm, seed, np.arange(len(y_true)).astype(str), y_true, pred_selected, pred_by_epoch,
                          train_correct, float(train_correct.mean()), 3, 3, 3, "completed all planned epochs", 1.0, [])


def test_the_table_reads_each_flaw_from_the_right_arms():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 7, 400)
    right, wrong = y.copy(), (y + 1) % 7
    half = np.where(np.arange(400) < 200, right, wrong)  # 50% right
    most = np.where(np.arange(400) < 300, right, wrong)  # 75% right
    copies_y = rng.integers(0, 7, 100)
    runs = {
        "clean": [_arm("clean", y, half, np.stack([wrong, most, half]), np.ones(900, bool))],
        "grouped": [_arm("grouped", y, half, np.stack([half, half, half]), np.ones(900, bool))],
        "random": [_arm("random", y, most, np.stack([most, most, most]), np.ones(900, bool))],
        # augment_first's test set: the same 400 originals (all right) then 100 copies (all right)
        "augment_first": [_arm("augment_first", np.concatenate([y, copies_y]), np.concatenate([right, copies_y]),
                               np.stack([np.concatenate([right, copies_y])] * 3), np.ones(900, bool))],
        "ckplus_subject": [], "ckplus_frame": [],
    }
    table, baseline, metric = leakage.study_table(
        runs, [np.arange(100)], [np.arange(400, 500)], {"random": [7], "grouped": [0]}, tuple("abcdefg"))
    row = {r.flaw: r for r in table.itertuples()}
    assert row["2. random re-split (duplicates straddle train and test)"].difference_points == 25.0
    assert row["1. balancing copies made before the split, original test images only"].difference_points == 50.0
    assert row["1. balancing copies made before the split"].flawed_accuracy == 100.0
    assert "20% of the flawed test set are augmented copies" in row["1. balancing copies made before the split"].note
    assert row["3. epoch chosen on the test split"].difference_points == 25.0  # epoch 2 (75%) over the selected 50%
    assert row["4. training-split accuracy reported as accuracy"].difference_points == 50.0
    assert not row["4. training-split accuracy reported as accuracy"].paired
    assert baseline["accuracy"].tolist() == [50.0, 100.0]  # all PrivateTest; its first 100 rows (all right)
    assert metric["macro specificity (Eq. 3's \"recall\")"].iloc[0] > metric["macro recall"].iloc[0]
