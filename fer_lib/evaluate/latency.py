"""Inference latency: how long a trained model takes to classify one face, as a real-time user runs it.

`single_face_latency` runs the model's compiled prediction step (`predict_on_batch`: a traced
graph under TensorFlow, an XLA-compiled function under JAX; calling the model eagerly would time
Python's layer-by-layer dispatch instead) on one image at a time (batch 1), after warm-up calls, and
reports the median and 90th-percentile milliseconds with the device and backend they were measured
on. Timings depend on the machine and on what else runs on it: the record says which CPU, and its
load average (processes waiting to run) when measured.
"""
from __future__ import annotations

import os
import time

import keras
import numpy as np

from ..train import backend


def faces_per_second(classify, faces: np.ndarray, batch: int = 64, seconds: float = 3.0) -> float:
    """Classification-only throughput: `classify` (uint8 faces (N, H, W) -> probabilities) called on
    `batch` faces at a time, cycling through `faces`, for about `seconds` after one warm-up call."""
    classify(faces[:batch])
    done, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        start = done % max(1, len(faces) - batch)
        classify(faces[start:start + batch])
        done += batch
    return done / (time.perf_counter() - started)


def single_face_latency(model: keras.Model, images: np.ndarray, warmup: int = 10, repeats: int = 100) -> dict:
    """Milliseconds per call of `model` on one uint8 face at a time (`images`: (N, H, W), cycled)."""
    x = np.asarray(images, np.float32)[..., None]
    if not len(x):
        raise ValueError("single_face_latency needs at least one image")
    for i in range(warmup):
        model.predict_on_batch(x[i % len(x)][None])
    times = []
    for i in range(repeats):
        face = x[i % len(x)][None]
        start = time.perf_counter()
        np.asarray(model.predict_on_batch(face))
        times.append(time.perf_counter() - start)
    ms = 1000 * np.array(times)
    versions = backend.versions()
    return {"batch_size": 1, "calls": repeats, "median_ms": round(float(np.median(ms)), 2),
            "p90_ms": round(float(np.percentile(ms, 90)), 2),
            "faces_per_second": round(float(1000 / np.median(ms)), 1), "device": versions["device"],
            "backend": versions["backend"], "cpu": backend.cpu_model(), "cpu_count": os.cpu_count(),
            "load_average_1min": round(os.getloadavg()[0], 2),
            "how": f"predict_on_batch on one face per call, after {warmup} warm-up calls"}
