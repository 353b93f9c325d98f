"""Training on any Keras backend: fer_lib trains and evaluates without TensorFlow, a short real
training under JAX (and PyTorch, where installed) learns, and its checkpoint predicts the same
under TensorFlow. Each backend runs in its own process, since Keras fixes its backend on import."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent

# Predictions of the same float32 weights under two backends differ only by the order of floating
# point sums in their convolution kernels (oneDNN against XLA or ATen): far below this.
CROSS_BACKEND_ATOL = 1e-4


def _python(code: str, backend: str, *args: str, env: dict | None = None) -> str:
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"the {backend} backend is not installed here (optional: pip install {backend})")
    out = subprocess.run([sys.executable, "-c", code, *args], cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": backend, **(env or {})})
    assert out.returncode == 0, out.stderr[-4000:]
    return out.stdout


WITHOUT_TENSORFLOW = """
import importlib.machinery, json, sys

class PathFinderWithout(importlib.machinery.PathFinder):
    # as on a machine without these packages: `import` fails and find_spec finds nothing
    @classmethod
    def find_spec(cls, name, path=None, target=None):
        if name.split(".")[0] in ("tensorflow", "papermill", "imagehash"):
            return None
        return super().find_spec(name, path, target)

sys.meta_path = [PathFinderWithout if f is importlib.machinery.PathFinder else f for f in sys.meta_path]
sys.path.insert(0, "tests")
import keras
from conftest import small_model, tiny_images
from fer_lib.evaluate.metrics import classification_metrics
from fer_lib.evaluate.runner import train_and_evaluate
from fer_lib.train import TrainConfig, fit, predict_proba
from fer_lib.provenance import environment
train, val = tiny_images(96, seed=0), tiny_images(48, seed=1)
r = fit(small_model, train, val, TrainConfig(learning_rate=3e-3, epochs=4, collapse_patience=None, budget_seconds=600),
        sys.argv[1])
m = classification_metrics(val[1], predict_proba(r.model, val[0]).argmax(1), ["a", "b", "c"])
print(json.dumps({"backend": keras.backend.backend(), "accuracy": m["accuracy"], "epochs": r.epochs_run,
                  "loaded": sorted(k for k in sys.modules if k.split(".")[0] in ("tensorflow", "papermill", "imagehash")),
                  "environment_backend": environment()["backend"]}))
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_training_and_evaluation_need_no_tensorflow(tmp_path, backend):
    result = json.loads(_python(WITHOUT_TENSORFLOW, backend, str(tmp_path / "run")).strip().splitlines()[-1])
    assert result["backend"] == result["environment_backend"] == backend
    assert result["loaded"] == [] and result["epochs"] == 4
    assert result["accuracy"] > 0.6  # brightness classes: chance is 1/3


REAL_TRAINING = """
import json, sys
import numpy as np
from fer_lib.data import prepare
from fer_lib.data.splits import official
from fer_lib.evaluate.runner import train_and_evaluate
from fer_lib.train import TrainConfig
prepared = prepare("fer2013", sys.argv[2], per_class=24)
ds = prepared.dataset
split = official(ds)
config = TrainConfig(learning_rate=1e-3, batch_size=16, epochs=int(sys.argv[3]), collapse_patience=None)
# without dropout, so that a few epochs fit 168 images: this tests the backend, not the paper's regularisation
seed_run = train_and_evaluate("yousaf2024", {"conv_dropout": 0.0, "dense_dropout": 0.0}, ds, split, config, sys.argv[1])
majority = np.bincount(ds.labels[split.train]).max() / len(split.train)
np.save(sys.argv[1] + "/test_proba.npy", seed_run.test_proba)
np.save(sys.argv[1] + "/test_images.npy", ds.images[split.test])
print(json.dumps({"train_accuracy": seed_run.train_metrics["accuracy"], "majority": majority,
                  "test_accuracy": seed_run.test_metrics["accuracy"], "backends": seed_run.run.backends,
                  "best_epoch": seed_run.run.best_epoch}))
"""

PREDICT_FROM_CHECKPOINT = """
import sys
import keras
import numpy as np
from fer_lib.train import predict_proba
model = keras.models.load_model(sys.argv[1] + "/last.keras")
model.load_weights(sys.argv[1] + "/best.weights.h5")  # what the run evaluated
np.save(sys.argv[1] + "/reloaded_proba.npy", predict_proba(model, np.load(sys.argv[1] + "/test_images.npy")))
"""


@pytest.mark.parametrize("backend", ["jax", "torch"])
def test_a_real_smoke_training_learns_and_its_checkpoint_predicts_the_same_under_tensorflow(tmp_path, data_root, backend):
    run_dir = tmp_path / "run"
    float32 = {"FER_PRECISION": "float32"}  # so that the two backends compute the same arithmetic
    result = json.loads(_python(REAL_TRAINING, backend, str(run_dir), str(data_root), "8", env=float32).strip().splitlines()[-1])
    # 168 real FER2013 Training images, 24 per class: it fits them beyond the majority class's share
    assert result["train_accuracy"] > result["majority"] + 0.05
    assert [b["backend"] for b in result["backends"]] == [backend]
    _python(PREDICT_FROM_CHECKPOINT, "tensorflow", str(run_dir), env=float32)
    original, reloaded = np.load(run_dir / "test_proba.npy"), np.load(run_dir / "reloaded_proba.npy")
    assert original.shape == reloaded.shape == (168, 7)
    np.testing.assert_allclose(reloaded, original, atol=CROSS_BACKEND_ATOL)
    assert (reloaded.argmax(1) == original.argmax(1)).all()


COMPILE_ONCE = """
import json, sys
sys.path.insert(0, "tests")
from conftest import small_model, tiny_images
from fer_lib.train import TrainConfig, fit, predict_proba
from fer_lib.train.compilation import compile_log
# 300 images in batches of 32 and 300 held out in batches of 256: both end in a partial batch
train, val = tiny_images(300, seed=0), tiny_images(300, seed=1)
config = TrainConfig(epochs=2, batch_size=32, learning_rate=3e-3, augment="all", balance=False, flip="horizontal",
                     rotation_degrees=10.0, seed=0, collapse_patience=None)
r = fit(lambda: small_model(3), train, val, config, sys.argv[1])
before = len(compile_log().events)
proba = predict_proba(r.model, val[0])
print(json.dumps({"history": r.history.to_dict("records"), "dropped": r.images_dropped_per_epoch,
                  "compiles_after": len(compile_log().events) - before,
                  "accuracy": float((proba.argmax(1) == val[1]).mean()), "best_epoch": r.best_epoch}))
"""


def test_a_jax_run_compiles_its_train_and_prediction_steps_once_each(tmp_path):
    result = json.loads(_python(COMPILE_ONCE, "jax", str(tmp_path / "run"),
                                env={"FER_CACHE_DIR": str(tmp_path / "cache")}).strip().splitlines()[-1])
    first, second = result["history"]
    compiled = first["compiled"].split(", ")
    assert compiled.count("jit(train_step)") == 1 and compiled.count("jit(predict_step)") == 1, compiled
    assert second["compilations"] == 0 and result["compiles_after"] == 0  # nothing compiles again
    assert first["compile_seconds"] > 0
    assert result["dropped"] == 300 % 32  # the last partial batch of each epoch, said in the result
    # the validation scored in padded batches is the set's own accuracy (the padding's outputs are dropped)
    epoch = result["best_epoch"]
    assert result["history"][epoch - 1]["val_accuracy"] == pytest.approx(result["accuracy"])
    assert (tmp_path / "cache" / "jax_compilation_cache").is_dir()  # kept for the next process


def test_test_workers_each_get_their_share_of_the_cores_and_keep_what_the_caller_set():
    from conftest import worker_thread_settings

    assert worker_thread_settings({}, 2) == {}  # not under xdist
    assert worker_thread_settings({"PYTEST_XDIST_WORKER_COUNT": "1"}, 2) == {}
    two_on_two = worker_thread_settings({"PYTEST_XDIST_WORKER_COUNT": "2"}, 2)
    assert two_on_two == {"TF_NUM_INTRAOP_THREADS": "1", "TF_NUM_INTEROP_THREADS": "1",
                          "XLA_FLAGS": "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"}
    kept = worker_thread_settings({"PYTEST_XDIST_WORKER_COUNT": "2", "TF_NUM_INTRAOP_THREADS": "3",
                                   "XLA_FLAGS": "--xla_force_host_platform_device_count=2"}, 8)
    assert "TF_NUM_INTRAOP_THREADS" not in kept and kept["TF_NUM_INTEROP_THREADS"] == "4"
    assert kept["XLA_FLAGS"].startswith("--xla_force_host_platform_device_count=2 ")
    assert kept["XLA_FLAGS"].endswith("intra_op_parallelism_threads=4")


def test_this_worker_runs_with_its_share_when_the_suite_runs_on_several():
    if int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")) < 2:
        pytest.skip("the suite runs in one process here (make test runs it on two)")
    assert os.environ["TF_NUM_INTRAOP_THREADS"] and "intra_op_parallelism_threads=" in os.environ["XLA_FLAGS"]
