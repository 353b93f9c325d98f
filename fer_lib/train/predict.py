"""Class probabilities from a trained model, in batches of one shape where the backend compiles per shape."""
from __future__ import annotations

import keras
import numpy as np

from ..data.pipeline import make_dataset


def fixed_shapes() -> bool:
    """Whether batches must keep one shape: under JAX every new batch shape compiles its step anew."""
    return keras.backend.backend() == "jax"


def predict_proba(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities for uint8 images (N, H, W). Under JAX the last batch is padded to `batch_size`
    (its copies' outputs dropped), so one compiled step serves every call of that batch size."""
    if not len(images):
        return np.zeros((0, model.output_shape[-1]), np.float32)
    batches = make_dataset(images, np.zeros(len(images), np.int64), batch_size, training=False,
                           fixed_shapes=fixed_shapes())
    return np.asarray(model.predict(batches, verbose=0), np.float32)[:len(images)]


def held_out_scores(model: keras.Model, images: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """Accuracy and mean cross-entropy (Keras's, probabilities clipped at 1e-7) of `model` on a labelled set."""
    proba = predict_proba(model, images)
    picked = np.clip(proba[np.arange(len(labels)), labels], 1e-7, 1.0)
    return {"accuracy": float(np.mean(proba.argmax(axis=1) == labels)), "loss": float(-np.mean(np.log(picked)))}
