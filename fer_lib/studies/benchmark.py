"""Speed and memory of the foundation: `make bench` (a script, not a timed test).

Measures, on the data in FER_DATA_DIR:
- loading all FER2013 images cold (empty cache) and from the cache;
- the Haar preprocessing rate on all cores;
- training and inference images/s of the yousaf2024 model through the suite's tf.data pipeline
  (batch 16 as the paper, and 64);
- the peak memory (max RSS) of a training run on the full FER2013 Training split, measured in a
  child process over one full epoch (memory is steady after the first epoch, so a 100-epoch run
  peaks at the same level);
- the data audit's perceptual hashing of all FER2013 images.
Writes `reports/benchmarks/foundation.json` and `.md`. Then `training_benchmark` measures every
registry model's training paths into `reports/benchmarks/training.json` and `.md`, and every
registry model under every installed Keras backend into `backends.json` and `.md`. The README
shows them. `python -m fer_lib.studies.benchmark --part foundation|training|backends` runs one part.
"""
from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

import numpy as np

from ..config import REPO_ROOT
from ..files import write_json, write_text

OUT = REPO_ROOT / "reports" / "benchmarks"

_CHILD = """
import os, sys, time
os.environ["FER_PROGRESS"] = "0"
from fer_lib.data import load_fer2013, preprocess_images
from fer_lib.data.splits import make_split
from fer_lib.train import TrainConfig, fit
from fer_lib.models import build_model
ds = load_fer2013()
images = preprocess_images(ds.images).images
s = make_split("official", ds)
t = time.monotonic()
r = fit(lambda: build_model("yousaf2024", (48, 48, 1), 7), (images[s.train], ds.labels[s.train]),
        (images[s.val], ds.labels[s.val]), TrainConfig(learning_rate=3e-4, epochs=1, collapse_patience=None),
        sys.argv[1])
print(time.monotonic() - t)
"""


def _timed(fn, *args, **kwargs):
    start = time.perf_counter()
    value = fn(*args, **kwargs)
    return value, time.perf_counter() - start


def bench_loading(rows: list[dict]) -> None:
    from ..data import load_fer2013

    with tempfile.TemporaryDirectory() as cache:
        os.environ["FER_CACHE_DIR"] = cache
        ds, cold = _timed(load_fer2013)
        _, warm = _timed(load_fer2013)
        del os.environ["FER_CACHE_DIR"]
    rows.append({"what": f"load all {len(ds)} FER2013 images, cold (decode)", "value": round(cold, 2), "unit": "s"})
    rows.append({"what": "load all FER2013 images from the cache", "value": round(warm, 2), "unit": "s"})


def bench_haar(rows: list[dict], n: int = 6000) -> None:
    from ..data import load_fer2013, preprocess_images

    images = load_fer2013().images[:n]
    _, seconds = _timed(preprocess_images, images, use_cache=False)
    rows.append({"what": f"Haar crop + equalize + resize, {os.cpu_count()} threads ({n} FER2013 images)",
                 "value": round(n / seconds), "unit": "images/s"})


def bench_training(rows: list[dict]) -> None:
    import keras

    from ..data.pipeline import make_dataset, training_plan
    from ..models import build_model

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (8192, 48, 48)).astype(np.uint8)
    labels = rng.integers(0, 7, 8192)
    for batch in (16, 64):
        model = build_model("yousaf2024", (48, 48, 1), 7)
        model.compile(optimizer=keras.optimizers.Adam(3e-4), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        ds = make_dataset(images, labels, batch, training=True, balance=True, augment="copies")
        model.fit(ds, epochs=1, verbose=0)  # warm-up: tracing and graph building
        _, seconds = _timed(model.fit, ds, epochs=1, verbose=0)
        n = len(training_plan(labels, training=True, balance=True, augment="copies", seed=0)[0])
        rows.append({"what": f"yousaf2024 training, batch {batch}, balanced + augmented pipeline",
                     "value": round(n / seconds), "unit": "images/s"})
        eval_ds = make_dataset(images, labels, 256, training=False)
        model.predict(eval_ds, verbose=0)
        _, seconds = _timed(model.predict, eval_ds, verbose=0)
        if batch == 64:
            rows.append({"what": "yousaf2024 inference, batch 256", "value": round(len(images) / seconds), "unit": "images/s"})


def bench_memory(rows: list[dict]) -> None:
    with tempfile.TemporaryDirectory() as run_dir:
        before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        out = subprocess.run([sys.executable, "-c", _CHILD, run_dir], cwd=REPO_ROOT, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO_ROOT)})
        if out.returncode != 0:
            raise RuntimeError(f"memory benchmark child failed:\n{out.stderr[-2000:]}")
        peak_mb = max(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, before) / 1024
    rows.append({"what": "peak memory (max RSS) of a full FER2013 training run (one epoch of 28,709 images, balanced to 50,505)",
                 "value": round(peak_mb), "unit": "MB"})
    rows.append({"what": "wall time of that epoch, with validation on 3,589 images",
                 "value": round(float(out.stdout.strip().splitlines()[-1]), 1), "unit": "s"})


def bench_hashing(rows: list[dict]) -> None:
    from .audit import perceptual_hashes
    from ..data import load_fer2013

    images = load_fer2013().images
    _, seconds = _timed(perceptual_hashes, images)
    rows.append({"what": f"perceptual hash (pHash) of all {len(images)} FER2013 images, for the data audit",
                 "value": round(seconds, 1), "unit": "s"})


def footer(env: dict) -> str:
    """Where and with what a benchmark was measured (records from before the backend layer ran TensorFlow)."""
    backend = env.get("backend", "tensorflow")
    version = env.get("backend_version", env["packages"].get("tensorflow"))
    name = {"tensorflow": "TensorFlow", "jax": "JAX", "torch": "PyTorch"}.get(backend, backend)
    return (f"\nMeasured by `make bench` on {env['cpu']} ({env['cpu_count']} cores), "
            f"{name} {version}, commit {env['git_commit']}.\n")


def foundation() -> None:
    import pandas as pd

    from ..provenance import environment
    from ..reporting.tables import markdown_table

    rows: list[dict] = []
    for step in (bench_loading, bench_haar, bench_hashing, bench_training, bench_memory):
        print(f"[bench] {step.__name__} ...", flush=True)
        step(rows)
        print(f"[bench] {rows[-1]}", flush=True)
    env = environment()
    write_json(OUT / "foundation.json", {"rows": rows, "environment": env, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    write_text(OUT / "foundation.md", markdown_table(pd.DataFrame(rows)) + footer(env))
    print((OUT / "foundation.md").read_text())


def training() -> None:
    from ..provenance import environment
    from . import training_benchmark

    result = training_benchmark.run(log=lambda line: print(line, flush=True))
    env = environment()
    write_json(OUT / "training.json", {**result, "environment": env, "when": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())})
    write_text(OUT / "training.md", training_benchmark.markdown(result) + footer(env))
    print((OUT / "training.md").read_text())


def backends() -> None:
    """Every registry model under every installed backend, each in a fresh process (backends_benchmark)."""
    from . import backends_benchmark

    previous = json.loads((OUT / "backends.json").read_text()) if (OUT / "backends.json").exists() else None
    result = backends_benchmark.run(log=lambda line: print(line, flush=True), previous=previous)
    write_json(OUT / "backends.json", result)
    write_text(OUT / "backends.md", backends_benchmark.markdown(result))
    print((OUT / "backends.md").read_text())


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(prog="python -m fer_lib.studies.benchmark", description="make bench")
    parser.add_argument("--part", choices=("all", "foundation", "training", "backends", "render"), default="all",
                        help="render: rewrite training.md and backends.md from their saved JSON, measuring nothing")
    part = parser.parse_args(argv).part
    if part == "render":
        from . import backends_benchmark, training_benchmark

        saved = json.loads((OUT / "training.json").read_text())
        write_text(OUT / "training.md", training_benchmark.markdown(saved) + footer(saved["environment"]))
        if (OUT / "backends.json").exists():
            write_text(OUT / "backends.md", backends_benchmark.markdown(json.loads((OUT / "backends.json").read_text())))
        return 0
    if part in ("all", "foundation"):
        foundation()
    if part in ("all", "training"):
        training()
    if part in ("all", "backends"):
        backends()
    return 0


if __name__ == "__main__":
    sys.exit(main())
