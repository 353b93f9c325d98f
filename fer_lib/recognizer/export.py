"""Exporting a trained model for deployment: ONNX (run with onnxruntime) and TensorFlow Lite (LiteRT).

Both go through Keras's own `Model.export` (ONNX through tf2onnx, TFLite through TensorFlow's
converter), from a float32 copy of the model: a model trained under mixed precision keeps float32
variables, and the exported graph then computes in float32 on any runtime. Each export gets the
model's sidecar (`ModelInfo`: class names, face size, preprocessing) beside it, and
`compare_outputs` checks an export against the Keras model on real faces.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..errors import FerError
from ..files import atomic_path
from .classifiers import Classifier, ModelInfo

EXPORT_FORMATS = {"onnx": ".onnx", "tflite": ".tflite"}


def float32_copy(model):
    """`model` rebuilt with every layer in float32, with its weights (no optimizer)."""
    import keras

    config = json.loads(json.dumps(model.get_config()).replace('"mixed_bfloat16"', '"float32"')
                        .replace('"mixed_float16"', '"float32"'))
    copy = model.__class__.from_config(config)
    copy.set_weights(model.get_weights())
    return copy if isinstance(copy, keras.Model) else model


def export_model(model, fmt: str, path: Path | str, info: ModelInfo) -> Path:
    """Write `model` (a `keras.Model`) as `fmt` ("onnx" or "tflite") to `path`, with its sidecar."""
    if fmt not in EXPORT_FORMATS:
        raise FerError(f"unknown export format {fmt!r}; valid formats are: {', '.join(EXPORT_FORMATS)}")
    import keras

    if keras.backend.backend() != "tensorflow":
        raise FerError(f"exporting to {fmt} needs the TensorFlow backend (KERAS_BACKEND=tensorflow); this process "
                       f"runs {keras.backend.backend()}")
    path = Path(path)
    if path.suffix.lower() != EXPORT_FORMATS[fmt]:
        raise FerError(f"a {fmt} export's file name ends in {EXPORT_FORMATS[fmt]}, got {path.name}")
    copy = float32_copy(model)
    copy(np.zeros((1, *copy.input_shape[1:]), np.float32))  # Keras exports only a model that has been called
    with atomic_path(path) as tmp:  # a failed export leaves no half-written file
        copy.export(str(tmp), format="onnx" if fmt == "onnx" else "litert", verbose=False)
    info.write(path)
    return path


def compare_outputs(reference: Classifier, other: Classifier, faces: np.ndarray, batch: int = 64) -> dict:
    """How `other` (an export) agrees with `reference` (the Keras model) on the same faces: the share
    with the same top class, and the largest difference of any class probability."""
    a = np.concatenate([reference.predict(faces[i:i + batch]) for i in range(0, len(faces), batch)])
    b = np.concatenate([other.predict(faces[i:i + batch]) for i in range(0, len(faces), batch)])
    return {"n": int(len(faces)), "same_top_class": float(np.mean(a.argmax(1) == b.argmax(1))),
            "max_abs_difference": float(np.abs(a - b).max())}
