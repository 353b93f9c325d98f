"""Augmentation and class balancing, and the `tf.data` input pipeline.

yousaf2024 balances classes "using horizontal/vertical flipping and image rotation with a random
angle from -45 to 45 degrees". Here that is: every class of the *training split* is topped up to
the size of its largest class with copies of its own images drawn at random, and each copy is
flipped and rotated afresh every epoch; original images pass unchanged. Balancing runs after the
split, so no augmented copy of a test or validation image is ever trained on.

The pipeline keeps images as uint8 in memory, gathers a shuffled batch, augments it as a batch
with Keras layers, scales to [0, 1] and prefetches, so training never waits on decoding.
"""
from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf


def build_augmenter(flip: str = "horizontal_and_vertical", rotation_degrees: float = 45.0,
                    seed: int | None = None) -> keras.Sequential:
    """Random flips and a rotation in [-rotation_degrees, rotation_degrees], as Keras layers."""
    return keras.Sequential(
        [
            keras.layers.RandomFlip(flip, seed=seed, name="random_flip"),
            keras.layers.RandomRotation(rotation_degrees / 360.0, fill_mode="reflect", seed=seed,
                                        name="random_rotation"),
        ],
        name="augmenter",
    )


def balanced_indices(labels: np.ndarray, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Indices that top every class up to the largest class's count, and which are added copies.

    Returns (indices, is_copy): every original index once, then per minority class
    `max_count - count` indices of that class drawn with replacement.
    """
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    classes, counts = np.unique(labels, return_counts=True)
    extra = [rng.choice(np.flatnonzero(labels == c), size=counts.max() - n, replace=True)
             for c, n in zip(classes, counts)]
    copies = np.concatenate(extra).astype(np.int64) if extra else np.zeros(0, np.int64)
    indices = np.concatenate([np.arange(len(labels)), copies])
    is_copy = np.concatenate([np.zeros(len(labels), bool), np.ones(len(copies), bool)])
    return indices, is_copy


def make_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int, *, training: bool,
                 seed: int = 0, balance: bool = False, augment: str = "copies",
                 augmenter: keras.Sequential | None = None) -> tf.data.Dataset:
    """A batched dataset of (float32 images in [0, 1] with a channel axis, int labels).

    `training=True` shuffles every epoch; `balance` adds augmented minority copies; `augment`
    is "copies" (augment only the balancing copies, as the paper), "all" or "none".
    Evaluation datasets (training=False) are never balanced, shuffled or augmented.
    """
    if augment not in ("copies", "all", "none"):
        raise ValueError(f"augment must be 'copies', 'all' or 'none', got {augment!r}")
    images = np.asarray(images, np.uint8)
    labels = np.asarray(labels, np.int64)
    if training and balance:
        index, is_copy = balanced_indices(labels, seed)
        images, labels = images[index], labels[index]
    else:
        is_copy = np.zeros(len(labels), bool)
    if not training or augment == "none":
        mask = np.zeros(len(labels), bool)
    else:
        mask = is_copy if augment == "copies" else np.ones(len(labels), bool)

    ds = tf.data.Dataset.from_tensor_slices((images[..., None], labels, mask))
    if training:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if training and mask.any():
        augmenter = augmenter or build_augmenter(seed=seed)

        def augment_batch(x, y, m):
            x = tf.cast(x, tf.float32) / 255.0
            x = tf.where(m[:, None, None, None], augmenter(x, training=True), x)
            return x, y
        ds = ds.map(augment_batch, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda x, y, m: (tf.cast(x, tf.float32) / 255.0, y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)
