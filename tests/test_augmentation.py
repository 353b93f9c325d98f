"""Class balancing on the training split and the tf.data pipeline."""
from __future__ import annotations

import numpy as np

from fer_lib.augmentation import balanced_indices, build_augmenter, make_dataset


def test_balanced_indices_top_up_every_class_to_the_largest():
    labels = np.array([0] * 10 + [1] * 3 + [2] * 6)
    index, is_copy = balanced_indices(labels, seed=0)
    assert np.bincount(labels[index]).tolist() == [10, 10, 10]
    assert sorted(index[~is_copy]) == list(range(len(labels)))  # every original exactly once
    assert set(labels[index[is_copy]]) == {1, 2}  # copies only of minority classes


def test_evaluation_pipeline_is_unchanged_and_unbalanced():
    images = np.random.default_rng(0).integers(0, 256, (10, 48, 48)).astype(np.uint8)
    labels = np.array([0] * 8 + [1] * 2)
    batches = list(make_dataset(images, labels, 4, training=False, balance=True))
    x = np.concatenate([b[0].numpy() for b in batches])
    assert x.shape == (10, 48, 48, 1)
    np.testing.assert_allclose(x[..., 0], images / 255.0, atol=1e-6)
    assert np.concatenate([b[1].numpy() for b in batches]).tolist() == labels.tolist()


def test_training_pipeline_balances_and_augments_only_the_copies():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (12, 48, 48)).astype(np.uint8)
    labels = np.array([0] * 9 + [1] * 3)
    xs, ys = zip(*[(x.numpy(), y.numpy()) for x, y in make_dataset(images, labels, 6, training=True, balance=True)])
    x, y = np.concatenate(xs)[..., 0], np.concatenate(ys)
    assert np.bincount(y).tolist() == [9, 9]
    originals = {img.tobytes() for img in (images / 255.0).astype(np.float32)}
    unchanged = sum(img.astype(np.float32).tobytes() in originals for img in x)
    assert unchanged >= 12 - 1  # the 12 originals pass unchanged...
    assert unchanged <= 12 + 1  # ...and the 6 copies are flipped or rotated (a no-op draw is rare)


def test_augmenter_flips_and_rotates_within_bounds():
    image = np.zeros((1, 48, 48, 1), np.float32)
    image[0, 10:20, 5:15] = 1.0
    out = build_augmenter(seed=3)(image, training=True).numpy()
    assert out.shape == image.shape and 0.0 <= out.min() and out.max() <= 1.0 + 1e-6
    # rotation factor 45/360 of a full turn, i.e. [-45, 45] degrees
    assert build_augmenter().get_layer("random_rotation").factor == (-0.125, 0.125)
