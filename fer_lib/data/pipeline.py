"""Class balancing, augmentation, and the input pipeline that feeds Keras on any backend.

yousaf2024 balances classes "using horizontal/vertical flipping and image rotation with a random
angle from -45 to 45 degrees". Here that is: every class of the *training split* is topped up to
the size of its largest class with copies of its own images drawn at random, and each copy is
flipped and rotated afresh every epoch; original images pass unchanged. Balancing runs after the
split, so no augmented copy of a test or validation image is ever trained on.

Images stay uint8 in memory and reach the model as float32 pixels in 0-255 with a channel axis:
scaling is the model's first layer (`keras.layers.Rescaling`), so a saved model carries it.

Two pipelines with the same semantics, chosen by the Keras backend:
- TensorFlow: a `tf.data` pipeline that shuffles every epoch, gathers a batch, augments it with the
  Keras layers mapped in parallel, and prefetches.
- JAX and PyTorch (no TensorFlow needed): `ArrayBatches`, a `keras.utils.PyDataset` that
  reshuffles every epoch and augments that epoch's copies with the same Keras layers, in large
  chunks at the start of the epoch (one call per 1,024 images instead of one per batch).
Both draw the balancing copies with `training_plan`, so they train on the same images.
"""
from __future__ import annotations

import math

import keras
import numpy as np

from ..errors import FerError

AUGMENT_MODES = ("copies", "all", "none")
AUGMENT_CHUNK = 1024


def build_augmenter(flip: str = "horizontal_and_vertical", rotation_degrees: float = 45.0,
                    seed: int | None = None, *, zoom: float = 0.0, translate: float = 0.0,
                    erasing: float = 0.0, shear: float = 0.0, brightness: float = 0.0, contrast: float = 0.0,
                    blur: float = 0.0) -> keras.Sequential:
    """Random flips and a rotation in [-rotation_degrees, rotation_degrees], as Keras layers; where
    non-zero, a zoom and a shift of up to `zoom` and `translate` of the image, a shear of up to `shear`,
    brightness and contrast changed by up to `brightness` (of the 0-255 range) and `contrast`, a 3x3 Gaussian blur
    of strength up to `blur`, and with probability `erasing` one random rectangle (2-33% of the image) filled with
    noise (last, so the noise is not blurred or shifted)."""
    steps = [keras.layers.RandomFlip(flip, seed=seed, name="random_flip"),
             keras.layers.RandomRotation(rotation_degrees / 360.0, fill_mode="reflect", seed=seed,
                                         name="random_rotation")]
    if zoom:
        steps.append(keras.layers.RandomZoom(zoom, fill_mode="reflect", seed=seed, name="random_zoom"))
    if translate:
        steps.append(keras.layers.RandomTranslation(translate, translate, fill_mode="reflect", seed=seed,
                                                    name="random_translation"))
    if shear:
        steps.append(keras.layers.RandomShear(shear, shear, fill_mode="reflect", seed=seed, name="random_shear"))
    if brightness:
        steps.append(keras.layers.RandomBrightness(brightness, value_range=(0, 255), seed=seed, name="random_brightness"))
    if contrast:
        steps.append(keras.layers.RandomContrast(contrast, value_range=(0, 255), seed=seed, name="random_contrast"))
    if blur:
        steps.append(keras.layers.RandomGaussianBlur(blur, kernel_size=3, value_range=(0, 255), seed=seed,
                                                     name="random_gaussian_blur"))
    if erasing:
        steps.append(keras.layers.RandomErasing(erasing, value_range=(0, 255), seed=seed, name="random_erasing"))
    return keras.Sequential(steps, name="augmenter")


def balanced_indices(labels: np.ndarray, seed: int = 0,
                     copy_only: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices that top every class up to the largest class's count, and which are added copies.

    Returns (indices, is_copy): every original index once, then per minority class
    `max_count - count` indices of that class drawn with replacement. `copy_only` marks rows that
    are never trained on as themselves but may be drawn as a copy's source (the leakage study's
    flaw 1: balancing copies drawn from the pool before the split, test images included); the counts
    are the other rows', so the copies per class are as many as without them.
    """
    labels = np.asarray(labels)
    copy_only = np.zeros(len(labels), bool) if copy_only is None else np.asarray(copy_only, bool)
    rng = np.random.default_rng(seed)
    originals = np.flatnonzero(~copy_only)
    classes, counts = np.unique(labels[originals], return_counts=True)
    extra = [rng.choice(np.flatnonzero(labels == c), size=counts.max() - n, replace=True)
             for c, n in zip(classes, counts)]
    copies = np.concatenate(extra).astype(np.int64) if extra else np.zeros(0, np.int64)
    indices = np.concatenate([originals, copies])
    is_copy = np.concatenate([np.zeros(len(originals), bool), np.ones(len(copies), bool)])
    return indices, is_copy


def training_plan(labels: np.ndarray, *, training: bool, balance: bool, augment: str,
                  seed: int, copy_only: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Which images an epoch holds (indices into `labels`, copies included) and which are augmented.

    `augment` is "copies" (only the balancing copies, as the paper), "all" or "none". Evaluation
    (training=False) is never balanced or augmented. `copy_only`: see `balanced_indices`.
    """
    if augment not in AUGMENT_MODES:
        raise ValueError(f"augment must be one of {', '.join(AUGMENT_MODES)}, got {augment!r}")
    labels = top_class(labels)
    n = len(labels)
    if training and balance:
        index, is_copy = balanced_indices(labels, seed, copy_only)
    else:
        if copy_only is not None and np.any(copy_only):
            raise ValueError("copy-only rows need balance=True: they enter an epoch only as balancing copies")
        index, is_copy = np.arange(n), np.zeros(n, bool)
    if not training or augment == "none":
        mask = np.zeros(len(index), bool)
    else:
        mask = is_copy if augment == "copies" else np.ones(len(index), bool)
    return index, mask


def top_class(labels: np.ndarray) -> np.ndarray:
    """Integer classes: `labels` themselves, or each row's most likely class where they are distributions (n, classes),
    which is what class balancing counts."""
    labels = np.asarray(labels)
    return labels.argmax(axis=1) if labels.ndim == 2 else labels


def make_dataset(images: np.ndarray, labels: np.ndarray, batch_size: int, *, training: bool,
                 seed: int = 0, balance: bool = False, augment: str = "copies",
                 augmenter: keras.Sequential | None = None, copy_only: np.ndarray | None = None,
                 fixed_shapes: bool = False):
    """Batches of (float32 pixels in 0-255 with a channel axis, labels) for `fit` and `predict`: int classes, or
    float32 distributions over the classes where `labels` is (n, classes) (a run fitted to FER+'s votes).

    `training=True` shuffles every epoch; `balance` adds augmented minority copies. Returns a
    `tf.data.Dataset` under the TensorFlow backend and an `ArrayBatches` under the others.
    `fixed_shapes` (JAX, which compiles a step for every batch shape it meets): every batch holds
    `batch_size` images. Training drops each epoch's last partial batch (a fresh order every epoch, so no
    image is always the one left out; `dropped_per_epoch` says how many); otherwise the last batch is padded
    with copies of its last image, and the caller keeps the first `len(images)` outputs.
    """
    images = np.asarray(images, np.uint8)
    labels = np.asarray(labels, np.float32 if np.ndim(labels) == 2 else np.int64)
    index, mask = training_plan(labels, training=training, balance=balance, augment=augment, seed=seed,
                                copy_only=copy_only)
    if mask.any():
        augmenter = augmenter or build_augmenter(seed=seed)
    if keras.backend.backend() == "tensorflow":
        if fixed_shapes:
            raise FerError("fixed_shapes is for the JAX backend's compiled steps; TensorFlow batches need none")
        return _tf_dataset(images[index], labels[index], mask, batch_size, training, seed, augmenter)
    return ArrayBatches(images, labels, index, mask, batch_size, shuffle=training, seed=seed, augmenter=augmenter,
                        drop_remainder=fixed_shapes and training and len(index) >= batch_size,
                        pad_remainder=fixed_shapes and not training)


def dropped_per_epoch(n_images: int, batch_size: int, fixed_shapes: bool) -> int:
    """The images of an epoch of `n_images` (copies included) left out by dropping its last partial batch."""
    return n_images % batch_size if fixed_shapes and n_images >= batch_size else 0


def _tf_dataset(images: np.ndarray, labels: np.ndarray, mask: np.ndarray, batch_size: int, training: bool,
                seed: int, augmenter: keras.Sequential | None):
    import tensorflow as tf

    ds = tf.data.Dataset.from_tensor_slices((images[..., None], labels, mask))
    if training:
        ds = ds.shuffle(len(labels), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    if mask.any():
        def augment_batch(x, y, m):
            x = tf.cast(x, tf.float32)
            return tf.where(m[:, None, None, None], augmenter(x, training=True), x), y
        ds = ds.map(augment_batch, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        ds = ds.map(lambda x, y, m: (tf.cast(x, tf.float32), y), num_parallel_calls=tf.data.AUTOTUNE)
    return ds.prefetch(tf.data.AUTOTUNE)


class ArrayBatches(keras.utils.PyDataset):
    """Batches from in-memory uint8 images for the JAX and PyTorch backends (no TensorFlow).

    An epoch is `index` (original images and balancing copies) in a fresh random order when
    `shuffle`; the images flagged in `mask` are augmented afresh every epoch by `augmenter`.
    """

    def __init__(self, images: np.ndarray, labels: np.ndarray, index: np.ndarray, mask: np.ndarray,
                 batch_size: int, *, shuffle: bool, seed: int = 0, augmenter: keras.Sequential | None = None,
                 drop_remainder: bool = False, pad_remainder: bool = False, **kwargs):
        super().__init__(**kwargs)
        self.drop_remainder, self.pad_remainder = drop_remainder, pad_remainder
        self.images, self.labels = images, labels
        self.index, self.mask = np.asarray(index), np.asarray(mask, bool)
        self.batch_size, self.shuffle, self.augmenter = batch_size, shuffle, augmenter
        self.rng = np.random.default_rng(seed)
        # Entry i of `index` -> its row among each epoch's augmented images, or -1 for an unchanged image.
        self.flagged = np.flatnonzero(self.mask)
        self.augmented_row = np.full(len(self.index), -1, np.int64)
        self.augmented_row[self.flagged] = np.arange(len(self.flagged))
        self._start_epoch()

    def __len__(self) -> int:
        return (len(self.index) // self.batch_size if self.drop_remainder
                else math.ceil(len(self.index) / self.batch_size))

    def _start_epoch(self) -> None:
        """A fresh order, and fresh augmentation of the flagged images."""
        self.order = self.rng.permutation(len(self.index)) if self.shuffle else np.arange(len(self.index))
        if len(self.flagged):
            chunks = []
            for start in range(0, len(self.flagged), AUGMENT_CHUNK):
                x = self.images[self.index[self.flagged[start:start + AUGMENT_CHUNK]]][..., None].astype(np.float32)
                chunks.append(keras.ops.convert_to_numpy(self.augmenter(x, training=True)).astype(np.float32))
            self.augmented = np.concatenate(chunks)

    def on_epoch_end(self) -> None:
        self._start_epoch()

    def __iter__(self):
        """One pass over this epoch's batches (Keras itself indexes; this is for readers and tests)."""
        return (self[i] for i in range(len(self)))

    def __getitem__(self, batch: int) -> tuple[np.ndarray, np.ndarray]:
        positions = self.order[batch * self.batch_size:(batch + 1) * self.batch_size]
        if self.pad_remainder and len(positions) < self.batch_size:  # one batch shape: one compiled step
            positions = np.concatenate([positions, np.repeat(positions[-1:], self.batch_size - len(positions))])
        x = self.images[self.index[positions]][..., None].astype(np.float32)
        rows = self.augmented_row[positions]
        if (rows >= 0).any():
            x[rows >= 0] = self.augmented[rows[rows >= 0]]
        return x, self.labels[self.index[positions]]
