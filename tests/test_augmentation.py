"""Class balancing on the training split, and the input pipeline of whichever backend runs the tests."""
from __future__ import annotations

import keras
import numpy as np

from fer_lib.data.pipeline import balanced_indices, build_augmenter, make_dataset


def batches(ds):
    """(x, y) NumPy pairs of one pass over a tf.data dataset or an ArrayBatches."""
    return [(keras.ops.convert_to_numpy(x), keras.ops.convert_to_numpy(y)) for x, y in ds]


def test_balanced_indices_top_up_every_class_to_the_largest():
    labels = np.array([0] * 10 + [1] * 3 + [2] * 6)
    index, is_copy = balanced_indices(labels, seed=0)
    assert np.bincount(labels[index]).tolist() == [10, 10, 10]
    assert sorted(index[~is_copy]) == list(range(len(labels)))  # every original exactly once
    assert set(labels[index[is_copy]]) == {1, 2}  # copies only of minority classes


def test_evaluation_pipeline_is_unchanged_and_unbalanced():
    images = np.random.default_rng(0).integers(0, 256, (10, 48, 48)).astype(np.uint8)
    labels = np.array([0] * 8 + [1] * 2)
    out = batches(make_dataset(images, labels, 4, training=False, balance=True))
    x = np.concatenate([b[0] for b in out])
    assert x.shape == (10, 48, 48, 1) and x.dtype == np.float32
    np.testing.assert_array_equal(x[..., 0], images)  # 0-255 pixels: the models scale them
    assert np.concatenate([b[1] for b in out]).tolist() == labels.tolist()


def test_training_pipeline_balances_and_augments_only_the_copies():
    rng = np.random.default_rng(1)
    images = rng.integers(0, 256, (12, 48, 48)).astype(np.uint8)
    labels = np.array([0] * 9 + [1] * 3)
    xs, ys = zip(*batches(make_dataset(images, labels, 6, training=True, balance=True)))
    x, y = np.concatenate(xs)[..., 0], np.concatenate(ys)
    assert np.bincount(y).tolist() == [9, 9]
    originals = {img.tobytes() for img in images.astype(np.float32)}
    unchanged = sum(img.astype(np.float32).tobytes() in originals for img in x)
    assert unchanged >= 12 - 1  # the 12 originals pass unchanged...
    assert unchanged <= 12 + 1  # ...and the 6 copies are flipped or rotated (a no-op draw is rare)


def test_augmenter_flips_and_rotates_within_bounds():
    image = np.zeros((1, 48, 48, 1), np.float32)
    image[0, 10:20, 5:15] = 1.0
    out = keras.ops.convert_to_numpy(build_augmenter(seed=3)(image, training=True))
    assert out.shape == image.shape and 0.0 <= out.min() and out.max() <= 1.0 + 1e-6
    # rotation factor 45/360 of a full turn, i.e. [-45, 45] degrees
    assert build_augmenter().get_layer("random_rotation").factor == (-0.125, 0.125)


def test_every_epoch_draws_fresh_augmentation_and_a_fresh_order():
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (12, 48, 48)).astype(np.uint8)
    labels = np.array([0] * 9 + [1] * 3)
    ds = make_dataset(images, labels, 6, training=True, balance=True, seed=0)
    first, second = (np.concatenate([x for x, _ in batches(ds)]) for _ in range(2))
    if hasattr(ds, "on_epoch_end"):  # ArrayBatches: Keras calls this between epochs
        ds.on_epoch_end()
        second = np.concatenate([x for x, _ in batches(ds)])
    assert first.shape == second.shape == (18, 48, 48, 1)
    assert not np.array_equal(first, second)
    # the originals are the same images in both epochs, only the copies change
    as_set = lambda x: {img.tobytes() for img in x[..., 0]}  # noqa: E731
    originals = as_set(images.astype(np.float32)[..., None])
    assert originals <= as_set(first) and originals <= as_set(second)


def test_the_strong_augment_candidate_shears_and_changes_light_and_sharpness_within_range(fer2013):
    """Issue 50's `strong_augment` recipe: its augmenter holds every layer its settings name, keeps 0-255 pixels
    and changes real faces; a setting out of range is one clear error."""
    import pytest

    from fer_lib.errors import FerError
    from fer_lib.papers.reference.experiments import LIGHT_REG_TRAINING, STRONG_AUGMENT_TRAINING
    from fer_lib.train import TrainConfig
    from fer_lib.train.loop import augmenter_for

    names = [layer.name for layer in augmenter_for(STRONG_AUGMENT_TRAINING).layers]
    assert names == ["random_flip", "random_rotation", "random_zoom", "random_translation", "random_shear",
                     "random_brightness", "random_contrast", "random_gaussian_blur", "random_erasing"]
    assert "random_shear" not in [layer.name for layer in augmenter_for(LIGHT_REG_TRAINING).layers]
    faces = fer2013.images[:64][..., None].astype(np.float32)
    out = keras.ops.convert_to_numpy(augmenter_for(STRONG_AUGMENT_TRAINING)(faces, training=True))
    assert out.shape == faces.shape and out.min() >= 0 and out.max() <= 255.001
    assert np.abs(out - faces).mean(axis=(1, 2, 3)).min() > 0  # every face changed
    assert STRONG_AUGMENT_TRAINING.identity() != LIGHT_REG_TRAINING.identity()
    with pytest.raises(FerError, match="shear must be a number in \\[0, 1\\), got 1.5"):
        TrainConfig(shear=1.5)
