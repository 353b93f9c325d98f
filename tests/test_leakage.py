"""Each leakage protocol leaks exactly as named, and the clean one does not."""
from __future__ import annotations

import numpy as np

from fer_lib.data import splits
from fer_lib.studies import leakage
from fer_lib.data import stratified_subset


def test_select_on_test_selects_on_the_test_split(fer2013):
    leaky = leakage.select_on_test(fer2013)
    clean = splits.official(fer2013)
    np.testing.assert_array_equal(leaky.val, leaky.test)
    np.testing.assert_array_equal(leaky.test, clean.test)
    assert not set(clean.val) & set(clean.test)


def test_augmenting_before_the_split_puts_copies_of_test_images_in_train(ckplus):
    pool, split, source = leakage.augment_before_split(ckplus, seed=0)
    assert len(pool) == 7 * np.bincount(ckplus.labels).max()  # balanced pool
    assert np.bincount(pool.labels).tolist() == [np.bincount(ckplus.labels).max()] * 7
    split.check_disjoint()
    assert leakage.shared_sources(split, source) > 0  # some test image's original (or twin) is trained on
    copies = np.flatnonzero(np.char.find(pool.ids.astype(str), "#aug") >= 0)
    assert len(copies) and not np.array_equal(pool.images[copies[0]], ckplus.images[source[copies[0]]])


def test_splitting_first_and_balancing_after_shares_no_source(ckplus):
    clean = splits.random_stratified(ckplus, seed=0, test_fraction=0.2)
    assert leakage.shared_sources(clean, np.arange(len(ckplus))) == 0


def test_frame_split_of_ckplus_shares_sequences_and_subject_split_does_not(ckplus):
    from fer_lib.data import sequence_ids
    seq = sequence_ids(ckplus)
    by_frame = splits.random_stratified(ckplus, seed=0, test_fraction=0.2)
    by_subject = splits.subject_independent(ckplus, seed=0, test_fraction=0.2)
    assert set(seq[by_frame.test]) & set(seq[by_frame.train])
    assert not set(seq[by_subject.test]) & set(seq[by_subject.train])


def test_reported_accuracy_variants_and_eq3_recall():
    import pandas as pd
    history = pd.DataFrame({"accuracy": [0.5, 0.9, 0.8], "val_accuracy": [0.4, 0.6, 0.55]})
    assert leakage.reported_as_accuracy(history) == {
        "training accuracy, last epoch": 0.8, "training accuracy, best epoch": 0.9, "validation accuracy, best epoch": 0.6}
    # specificity rewards predicting nothing: a classifier that always says "a" on a 3-class balanced set
    y = np.array([0, 0, 1, 1, 2, 2])
    assert leakage.eq3_recall(y, np.zeros(6, int), ("a", "b", "c")) == (0 + 1 + 1) / 3


def test_balanced_input_needs_no_copies_and_unbalanced_input_leaks(fer2013):
    balanced = stratified_subset(fer2013, 10)  # 10 per class and split: nothing to top up
    pool, split, source = leakage.augment_before_split(balanced, seed=1)
    assert len(pool) == len(balanced) and leakage.shared_sources(split, source) == 0
    unbalanced = fer2013.subset(np.arange(0, len(fer2013), 60))  # FER2013's own imbalance
    pool, split, source = leakage.augment_before_split(unbalanced, seed=1)
    assert leakage.shared_sources(split, source) > 0
