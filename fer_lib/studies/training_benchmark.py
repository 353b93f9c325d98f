"""Training speed of every registry model: the naive path beside the suite's, against the machine's peak.

Part of `make bench` (a script, not a timed test). In one process, on real FER2013 images:

1. The machine's peak: a large float32 matmul, and a bfloat16 one (native on CPUs with
   AVX512-BF16 or AMX, emulated and slow elsewhere, and then not used by "auto").
2. For every model in the registry at its paper input size (48x48 grey): parameters, forward FLOPs
   per image (`models.complexity`), and training images/s along
   - the naive path: `model.fit` on float32 NumPy arrays with Keras's defaults;
   - the suite's path switch by switch: the uint8 `tf.data` pipeline (decoded arrays, cast
     mapped in parallel, prefetch), then steps per execution, bfloat16 and XLA alone and together;
   - the suite's default ("auto", what `training.fit` uses), and its ratio to the naive path. Both
     train on the same images without augmentation, so the ratio compares equal work;
   - the default with every image augmented (flip, rotation) in the pipeline: what augmentation
     costs on the same cores that train.
   Both paths use the same batch size (the paper's; 32, Keras's default, where it is unstated), the
   same images and the same Adam step. Each path trains 1 + `TIMED_EPOCHS` epochs; the first
   (tracing, compilation) is left out and the rate is the median of the others, so one slow epoch
   on a shared machine does not decide a comparison. The fraction of peak counts a training step as three
   forward passes (forward, and backward for activations and for weights) against the peak of
   the precision the path computes in.
3. Inference images/s, naive (`model.predict` on float32, batch 32) and suite (batch 256, auto).
4. Precision parity: yousaf2024 trained for a fixed few epochs on a FER2013 subset in float32 and
   in bfloat16, two seeds each, tested on PrivateTest: the accuracy difference against the noise
   of a 3,589-image test set.
5. Thread pools: the suite path in a fresh process under TensorFlow's own defaults and under
   `train.backend.configure_threads()`.
This part measures TensorFlow's paths (its peak matmul and thread pools are TensorFlow's); the
backends part (`backends_benchmark`) compares TensorFlow, JAX and PyTorch on equal work.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time

import numpy as np

from ..config import REPO_ROOT
# FLOPs of training per timed epoch, so that every model's epoch takes seconds, not minutes.
FLOPS_PER_TIMED_EPOCH = 6e11
TIMED_IMAGES = (256, 8192)
TIMED_EPOCHS = 3


def measure_peak(n: int = 4096, repeats: int = 8) -> dict[str, float | None]:
    """GFLOP/s of an n x n matmul in float32 and bfloat16 (None where bfloat16 is not native)."""
    import tensorflow as tf

    from ..train.backend import cpu_supports_bfloat16, gpus_present

    peaks: dict[str, float | None] = {}
    for dtype in ("float32", "bfloat16"):
        if dtype == "bfloat16" and not (gpus_present() or cpu_supports_bfloat16()):
            peaks[dtype] = None
            continue
        a = tf.random.normal((n, n), dtype=tf.float32)
        a = tf.cast(a, dtype)
        matmul = tf.function(lambda x: tf.linalg.matmul(x, x))
        matmul(a).numpy()
        start = time.perf_counter()
        for _ in range(repeats):
            result = matmul(a)
        result.numpy()
        peaks[dtype] = round(2 * n ** 3 * repeats / (time.perf_counter() - start) / 1e9, 1)
    return peaks


class _EpochTimer:
    """Wall time of each epoch, from a Keras callback."""

    def __init__(self):
        import keras

        timer = self

        class Callback(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                timer.started = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                timer.seconds.append(time.perf_counter() - timer.started)

        self.seconds: list[float] = []
        self.callback = Callback()


def _percent_of_peak(flops: float, rate: float, precision: str, peaks: dict) -> float | None:
    """A training rate as % of the peak of the precision it computes in (3 forward passes per image)."""
    if rate != rate:  # nan: the path failed
        return None
    peak = peaks["float32"] if precision == "float32" else peaks["bfloat16"]
    return round(100 * 3 * flops * rate / (peak * 1e9), 1)


def _compiled(name: str, settings: dict):
    import keras

    from ..models import build_model
    from ..train.fast_paths import dtype_policy

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    with dtype_policy(settings["precision"]):
        model = build_model(name, (48, 48, 1), 7)
    model.compile(optimizer=keras.optimizers.Adam(3e-4), loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  jit_compile=settings["jit_compile"], steps_per_execution=settings["steps_per_execution"])
    return model


def naive_training_rate(name: str, images: np.ndarray, labels: np.ndarray, batch: int) -> float:
    """Images/s (median over the timed epochs) of `model.fit` on float32 arrays, Keras defaults otherwise."""
    import keras

    keras.backend.clear_session()
    keras.utils.set_random_seed(0)
    from ..models import build_model

    model = build_model(name, (48, 48, 1), 7)
    model.compile(optimizer=keras.optimizers.Adam(3e-4), loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    x = images[..., None].astype("float32")
    timer = _EpochTimer()
    model.fit(x, labels, batch_size=batch, epochs=1 + TIMED_EPOCHS, verbose=0, callbacks=[timer.callback])
    return len(images) / float(np.median(timer.seconds[1:]))


def timed_image_count(flops: float, step: int) -> int:
    """How many images a timed epoch trains on: about `FLOPS_PER_TIMED_EPOCH` of work, within
    `TIMED_IMAGES`, a whole number of `step` (batch x steps per execution) so no batch is partial."""
    return int(np.clip(FLOPS_PER_TIMED_EPOCH / (3 * flops), *TIMED_IMAGES)) // step * step or step


def suite_training_rate(name: str, images: np.ndarray, labels: np.ndarray, batch: int, settings: dict,
                        augment: str = "none", timed_epochs: int = TIMED_EPOCHS) -> float:
    """Images/s (median over the timed epochs) through the suite's pipeline under `settings`."""
    from ..data.pipeline import make_dataset

    model = _compiled(name, settings)
    ds = make_dataset(images, labels, batch, training=True, augment=augment)
    timer = _EpochTimer()
    model.fit(ds, epochs=1 + timed_epochs, verbose=0, callbacks=[timer.callback])
    return len(images) / float(np.median(timer.seconds[1:]))


def suite_inference_rate(model, images: np.ndarray) -> float:
    """Images/s of `model.predict` through the suite's evaluation pipeline (batch 256), after a warm-up pass."""
    from ..data.pipeline import make_dataset

    batches = make_dataset(images, np.zeros(len(images), np.int64), 256, training=False)
    model.predict(batches, verbose=0)
    start = time.perf_counter()
    model.predict(batches, verbose=0)
    return len(images) / (time.perf_counter() - start)


def inference_rates(name: str, images: np.ndarray, settings: dict) -> tuple[float, float]:
    """Images/s of prediction: naive (float32 arrays, batch 32) and the suite's (pipeline, batch 256)."""
    from ..train.fast_paths import FastPaths

    model = _compiled(name, FastPaths.naive().resolved())
    x = images[..., None].astype("float32")
    model.predict(x[:256], verbose=0)
    start = time.perf_counter()
    model.predict(x, verbose=0)
    naive = len(images) / (time.perf_counter() - start)
    return naive, suite_inference_rate(_compiled(name, settings), images)


def bench_models(images: np.ndarray, labels: np.ndarray, peaks: dict, names: list[str] | None = None,
                 log=print) -> tuple[list[dict], list[dict]]:
    """One summary row per model and one row per (model, path)."""
    from ..models import build_model, model_names, paper_batch_size
    from ..models.complexity import forward_flops
    from ..train.fast_paths import FastPaths

    summary, paths = [], []
    auto = FastPaths().resolved()
    for name in names or model_names():
        model = build_model(name, (48, 48, 1), 7)
        params, flops = model.count_params(), forward_flops(model)
        batch = paper_batch_size(name)
        n = timed_image_count(flops, batch * 16)  # whole 16-step executions, no partial batch
        x, y = images[:n], labels[:n]

        def path(precision: str, spe: int, xla: bool = False) -> dict:
            return {"precision": precision, "jit_compile": xla, "steps_per_execution": spe}

        half = "mixed_bfloat16" if peaks.get("bfloat16") is not None else None  # None: bfloat16 only emulated
        variants = {
            "naive: model.fit on float32 arrays": None,
            "suite pipeline (uint8 tf.data, prefetch), float32": path("float32", 1),
            "pipeline, float32, 16 steps per execution": path("float32", 16),
            **({"pipeline, bfloat16": path(half, 1),
                "pipeline, bfloat16, 16 steps per execution": path(half, 16),
                "pipeline, bfloat16, 16 steps per execution, XLA": path(half, 16, True)} if half else
               {"pipeline, float32, 16 steps per execution, XLA": path("float32", 16, True)}),
        }
        rates = {}
        for label, settings in variants.items():
            try:
                rate = (naive_training_rate(name, x, y, batch) if settings is None
                        else suite_training_rate(name, x, y, batch, settings))
                error = ""
            except Exception as exc:  # a path a model does not support (XLA) is reported, not fatal
                rate, error = float("nan"), f"{type(exc).__name__}: {str(exc).splitlines()[0][:120]}"
            rates[label] = rate
            paths.append({"model": name, "path": label, "train_images_per_s": round(rate, 1),
                          "percent_of_peak": _percent_of_peak(flops, rate, settings["precision"] if settings else "float32", peaks),
                          "error": error})
            log(f"[bench] {name:28s} {label:58s} {rate:8.1f} images/s {error}")
        auto_label = next((k for k, v in variants.items() if v == auto), None)
        auto_rate = rates[auto_label] if auto_label else suite_training_rate(name, x, y, batch, auto)
        augmented = suite_training_rate(name, x, y, batch, auto, augment="all")
        paths.append({"model": name, "path": "suite default, every image augmented (flip, rotation)",
                      "train_images_per_s": round(augmented, 1),
                      "percent_of_peak": _percent_of_peak(flops, augmented, auto["precision"], peaks), "error": ""})
        log(f"[bench] {name:28s} {'suite default, every image augmented':58s} {augmented:8.1f} images/s")
        naive_rate = rates["naive: model.fit on float32 arrays"]
        infer_naive, infer_suite = inference_rates(name, images[:max(n, 1024)], auto)
        summary.append({
            "model": name, "parameters": params, "forward_MFLOPs_per_image": round(flops / 1e6, 1), "batch": batch,
            "timed_images": n, "naive_train_images_per_s": round(naive_rate, 1),
            # the ratio of the rates as saved (rounded first), so a reader dividing the two columns gets it exactly
            "suite_train_images_per_s": round(auto_rate, 1),
            "suite_over_naive": round(round(auto_rate, 1) / max(round(naive_rate, 1), 0.1), 2),
            "suite_percent_of_peak": _percent_of_peak(flops, auto_rate, auto["precision"], peaks),
            "naive_infer_images_per_s": round(infer_naive), "suite_infer_images_per_s": round(infer_suite)})
        log(f"[bench] {summary[-1]}")
    return summary, paths


def precision_parity(epochs: int = 3, per_class: int = 1200, seeds: tuple[int, ...] = (0, 1)) -> dict:
    """yousaf2024 on a FER2013 subset: PrivateTest accuracy after `epochs` epochs, float32 vs bfloat16."""
    from dataclasses import replace

    from ..data import load_fer2013, preprocess_images
    from ..data.splits import official
    from ..models import build_model
    from ..train import FastPaths, TrainConfig, fit, predict_proba
    from ..train.backend import cpu_supports_bfloat16, gpus_present

    precision = "mixed_float16" if gpus_present() else "mixed_bfloat16"
    if not (gpus_present() or cpu_supports_bfloat16()):
        return {"skipped": "no native 16-bit arithmetic on this machine"}
    ds = load_fer2013()
    ds = replace(ds, images=preprocess_images(ds.images).images)
    split = official(ds)
    rng = np.random.default_rng(0)
    train = np.concatenate([rng.permutation(np.flatnonzero(ds.labels[split.train] == c))[:per_class]
                            for c in range(len(ds.class_names))])
    train = split.train[train]
    results: dict[str, list[float]] = {"float32": [], precision: []}
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:
            for p in results:
                config = TrainConfig(learning_rate=3e-4, batch_size=16, epochs=epochs, seed=seed, balance=False,
                                     augment="none", collapse_patience=None)
                run = fit(lambda: build_model("yousaf2024", (48, 48, 1), 7), (ds.images[train], ds.labels[train]),
                          None, config, f"{tmp}/{p}-{seed}", fast=FastPaths(precision=p))
                acc = float((predict_proba(run.model, ds.images[split.test]).argmax(1) == ds.labels[split.test]).mean())
                results[p].append(acc)
    n = len(split.test)
    mean32, mean16 = float(np.mean(results["float32"])), float(np.mean(results[precision]))
    # 95% half-width of the difference of two accuracies on independent n-image tests
    noise = 1.96 * np.sqrt(2 * mean32 * (1 - mean32) / n)
    return {"model": "yousaf2024", "precision": precision, "epochs": epochs, "train_images": int(len(train)),
            "test_images": n, "seeds": list(seeds), "accuracy": results,
            "mean_difference_points": round(100 * (mean16 - mean32), 2), "noise_points": round(100 * noise, 2),
            "within_noise": bool(abs(mean16 - mean32) <= noise)}


_THREADS_CHILD = """
import json, sys
import numpy as np
from fer_lib.train.fast_paths import FastPaths
from fer_lib.train.backend import configure_threads
configured = configure_threads() if sys.argv[1] == "configured" else False
from fer_lib.studies.training_benchmark import suite_training_rate
rng = np.random.default_rng(0)
x, y = rng.integers(0, 256, (4096, 48, 48)).astype(np.uint8), rng.integers(0, 7, 4096)
print(json.dumps({"configured": configured, "rate": suite_training_rate("yousaf2024", x, y, 16, FastPaths().resolved())}))
"""


def thread_settings() -> list[dict]:
    """yousaf2024's suite-path training rate in fresh processes: TensorFlow's pools vs configure_threads()."""
    rows = []
    for how in ("tensorflow defaults", "configured"):
        out = subprocess.run([sys.executable, "-c", _THREADS_CHILD, how], cwd=REPO_ROOT, capture_output=True, text=True,
                             env={**os.environ, "PYTHONPATH": str(REPO_ROOT)}, timeout=900)
        if out.returncode != 0:
            raise RuntimeError(f"thread benchmark child failed:\n{out.stderr[-2000:]}")
        result = json.loads(out.stdout.strip().splitlines()[-1])
        rows.append({"threads": how if how != "configured" else f"intra-op {os.cpu_count()}, inter-op 2",
                     "train_images_per_s": round(result["rate"], 1)})
    return rows


def run(log=print) -> dict:
    """Everything above, as one JSON-ready dict."""
    from ..data import load_fer2013

    ds = load_fer2013()
    order = np.random.default_rng(0).permutation(len(ds))
    images, labels = ds.images[order], ds.labels[order]
    peaks = measure_peak()
    log(f"[bench] peak GFLOP/s: {peaks}")
    summary, paths = bench_models(images, labels, peaks, log=log)
    parity = precision_parity()
    log(f"[bench] precision parity: {parity}")
    threads = thread_settings()
    log(f"[bench] threads: {threads}")
    return {"peak_gflops": peaks, "models": summary, "paths": paths, "precision_parity": parity, "threads": threads}


def markdown(result: dict) -> str:
    """The README's view of `run()`'s result."""
    import pandas as pd

    from ..reporting.tables import markdown_table
    from ..train.fast_paths import FastPaths

    peaks = result["peak_gflops"]
    parity = result["precision_parity"]
    lines = [f"Peak of this machine, measured in the same run: {peaks['float32']} GFLOP/s float32, "
             + (f"{peaks['bfloat16']} GFLOP/s bfloat16" if peaks.get("bfloat16") else "no native bfloat16")
             + f" (matmul 4096). Suite default here: {FastPaths().resolved()}.", "",
             markdown_table(pd.DataFrame(result["models"])), "",
             "Each path, switch by switch (training images/s, median of the timed epochs; % of the peak of the precision computed in):", "",
             markdown_table(pd.DataFrame(result["paths"]).drop(columns=["error"] if not any(r["error"] for r in result["paths"]) else [])),
             ""]
    if "skipped" in parity:
        lines.append(f"Precision parity: skipped ({parity['skipped']}).")
    else:
        lines.append(
            f"Precision parity (yousaf2024, {parity['epochs']} epochs on {parity['train_images']} FER2013 training images, "
            f"seeds {parity['seeds']}, PrivateTest): float32 {', '.join(f'{a:.3f}' for a in parity['accuracy']['float32'])}; "
            f"{parity['precision']} {', '.join(f'{a:.3f}' for a in parity['accuracy'][parity['precision']])}. "
            f"Mean difference {parity['mean_difference_points']:+.2f} points against a noise of ±{parity['noise_points']} "
            f"points: {'within' if parity['within_noise'] else 'OUTSIDE'} noise.")
    lines += ["", "Thread pools (yousaf2024, suite path, fresh process each): "
              + "; ".join(f"{r['threads']}: {r['train_images_per_s']} images/s" for r in result["threads"]) + "."]
    lines += ["", "What this run shows (generated from the numbers above):", ""] + [f"- {line}" for line in findings(result)]
    return "\n".join(lines) + "\n"


TARGET_RATIO, TARGET_PEAK_PERCENT = 1.5, 50.0


def findings(result: dict) -> list[str]:
    """The benchmark's verdicts on the issue's targets, computed from a `run()` result."""
    out = []
    for row in result["models"]:
        met = row["suite_over_naive"] >= TARGET_RATIO
        out.append(f"{row['model']}: suite {row['suite_over_naive']}x the naive path "
                   f"({'meets' if met else 'below'} the {TARGET_RATIO}x target); "
                   f"{row['suite_percent_of_peak']}% of the peak of its precision "
                   f"({'at least' if row['suite_percent_of_peak'] >= TARGET_PEAK_PERCENT else 'below'} half).")
    by_model: dict[str, dict[str, float]] = {}
    for p in result["paths"]:
        by_model.setdefault(p["model"], {})[p["path"]] = p["train_images_per_s"]
    xla_slower = [m for m, paths in by_model.items()
                  if any("XLA" in k for k in paths)
                  and min(v for k, v in paths.items() if "XLA" in k) < max(v for k, v in paths.items() if "XLA" not in k and "naive" not in k)]
    if xla_slower:
        out.append("XLA was slower than the fastest path without it for " + ", ".join(xla_slower)
                   + ": it stays off on CPUs (its CPU convolutions do not use oneDNN).")
    over = [p for p in result["paths"] if (p["percent_of_peak"] or 0) > 100]
    if over:
        out.append("Above 100% of peak (" + ", ".join(f"{p['model']}, {p['path'].split(':')[0]}" for p in over)
                   + "): the peak is a matmul, and oneDNN's 3x3 convolutions can use Winograd's algorithm, "
                   "which does fewer multiplications than the direct count used here.")
    naive_f32 = [(m, paths.get("naive: model.fit on float32 arrays"), paths.get("suite pipeline (uint8 tf.data, prefetch), float32"))
                 for m, paths in by_model.items()]
    slower = [m for m, naive, pipe in naive_f32 if naive and pipe and pipe < naive]
    if slower:
        out.append("The suite's float32 pipeline alone was not faster than Keras's own array path for " + ", ".join(slower)
                   + " (in Keras 3 `model.fit` on arrays is itself a prefetched tf.data pipeline); the gain comes "
                   "from bfloat16 and steps per execution.")
    return out
