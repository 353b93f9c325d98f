"""Every registry model under every installed Keras backend, on the same machine, images and work.

Part of `make bench` (`--part backends`). For each backend found installed (TensorFlow, JAX,
PyTorch), a fresh process with `KERAS_BACKEND` set trains every registry model through the
suite's own pipeline (`tf.data` under TensorFlow, `ArrayBatches` elsewhere) with the suite's
default fast paths for that backend and device, on the same real FER2013 images without
augmentation, and times prediction at batch 256 (`training_benchmark`'s suite-path timers). Training images/s is the median over timed
epochs after one warm-up epoch (tracing, compilation).

Results are kept per device: a run on a GPU machine adds its rows beside the CPU's instead of
replacing them, so the table shows each device's measured rate for every model and backend.
"""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import time

import numpy as np

from ..config import REPO_ROOT

TIMED_EPOCHS = 2

_CHILD = """
import json, sys
from fer_lib.studies.backends_benchmark import measure
print("RESULT " + json.dumps(measure(sys.argv[1].split(",") if sys.argv[1] else None)))
"""


def installed_backends() -> list[str]:
    """The Keras backends whose library is importable here."""
    return [b for b in ("tensorflow", "jax", "torch") if importlib.util.find_spec(b) is not None]


def measure(names: list[str] | None = None) -> dict:
    """In this process's backend: each model's training and inference images/s at the suite defaults."""
    import keras

    from ..data import load_fer2013
    from ..models import build_model, model_names, paper_batch_size
    from ..models.complexity import forward_flops
    from ..provenance import environment
    from ..train.fast_paths import FastPaths
    from . import training_benchmark as tb

    ds = load_fer2013()
    order = np.random.default_rng(0).permutation(len(ds))
    images, labels = ds.images[order], ds.labels[order]
    settings = FastPaths().resolved()
    rows = []
    for name in names or model_names():
        batch = paper_batch_size(name)
        n = tb.timed_image_count(forward_flops(build_model(name, (48, 48, 1), 7)), batch * settings["steps_per_execution"])
        train_rate = tb.suite_training_rate(name, images[:n], labels[:n], batch, settings, timed_epochs=TIMED_EPOCHS)
        infer_rate = tb.suite_inference_rate(tb._compiled(name, settings), images[:max(n, 1024)])
        rows.append({"model": name, "batch": batch, "timed_images": n, "train_images_per_s": round(train_rate, 1),
                     "infer_images_per_s": round(infer_rate, 1)})
        keras.backend.clear_session()
    env = environment()
    return {"backend": env["backend"], "backend_version": env["backend_version"], "device": env["device"],
            "fast_paths": settings, "rows": rows, "environment": env}


def run(log=print, names: list[str] | None = None, backends: list[str] | None = None,
        previous: dict | None = None) -> dict:
    """Each backend in a fresh process; returns {"runs": [...]} with earlier runs on other devices kept."""
    runs = []
    for backend in backends or installed_backends():
        log(f"[bench] backends: {backend} ...")
        started = time.monotonic()
        out = subprocess.run([sys.executable, "-c", _CHILD, ",".join(names or [])], cwd=REPO_ROOT, capture_output=True,
                             text=True, timeout=3600,
                             env={**os.environ, "KERAS_BACKEND": backend, "PYTHONPATH": str(REPO_ROOT)})
        if out.returncode != 0:
            runs.append({"backend": backend, "error": out.stderr.strip().splitlines()[-1][:300] if out.stderr.strip() else "failed"})
            log(f"[bench] backends: {backend} failed: {runs[-1]['error']}")
            continue
        result = json.loads(next(line for line in out.stdout.splitlines() if line.startswith("RESULT "))[7:])
        result["when"] = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())
        result["wall_seconds"] = round(time.monotonic() - started, 1)
        runs.append(result)
        log(f"[bench] backends: {backend}: {result['rows']}")
    devices = {r.get("device") for r in runs}
    kept = [r for r in (previous or {}).get("runs", []) if r.get("device") not in devices]
    return {"runs": kept + runs}


def markdown(result: dict) -> str:
    """One table: each model's training and inference images/s per device and backend."""
    import pandas as pd

    from ..reporting.tables import markdown_table

    rows, notes = [], []
    for r in result["runs"]:
        if "error" in r:
            notes.append(f"- {r['backend']}: failed ({r['error']})")
            continue
        fp = r["fast_paths"]
        for row in r["rows"]:
            rows.append({"device": r["device"], "backend": f"{r['backend']} {r['backend_version']}", "model": row["model"],
                         "batch": row["batch"], "precision": fp["precision"], "XLA": fp["jit_compile"],
                         "steps/execution": fp["steps_per_execution"], "train images/s": row["train_images_per_s"],
                         "inference images/s (batch 256)": row["infer_images_per_s"]})
        env = r["environment"]
        notes.append(f"- {r['device']}, {r['backend']} {r['backend_version']}: Keras {env['packages'].get('keras')}, "
                     f"commit {env['git_commit']}, {r['when']}, {r['wall_seconds']} s for this backend's part.")
    if not rows:
        return "No backend measured yet: run `make bench`.\n"
    table = pd.DataFrame(rows).sort_values(["device", "model", "backend"], kind="stable")
    text = ["Training through the suite's pipeline at each backend's default fast paths, no augmentation, the same "
            f"FER2013 images for every backend (median of {TIMED_EPOCHS} timed epochs after a warm-up epoch):", "",
            markdown_table(table), "", *notes]
    fastest = {}
    for row in rows:
        best = fastest.setdefault((row["device"], row["model"]), row)
        if row["train images/s"] > best["train images/s"]:
            fastest[(row["device"], row["model"])] = row
    text += ["", "Fastest backend per device and model (generated): " + "; ".join(
        f"{model} on {device}: {row['backend'].split()[0]}" for (device, model), row in sorted(fastest.items())) + "."]
    return "\n".join(text) + "\n"
