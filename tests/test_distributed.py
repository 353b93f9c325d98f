"""Multi-device training: TensorFlow's MirroredStrategy over two logical CPU devices and JAX's
DataParallel over two host devices learn, and their checkpoints resume on one device (under the
other backend too). Each step runs in its own process, because devices must be set up before the
backend first touches the CPU."""
from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, os, sys
backend_name, devices = sys.argv[4], int(sys.argv[2])
if backend_name == "jax":
    os.environ["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={max(devices, 1)}"
if backend_name == "tensorflow" and devices > 1:
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
sys.path.insert(0, "tests")
import keras
from conftest import small_model, tiny_images
from fer_lib.train import TrainConfig, backend, fit, predict_proba
if devices == 1:
    placement = backend.single_device()
elif backend_name == "tensorflow":
    placement = backend.mirrored([d.name for d in tf.config.list_logical_devices("CPU")])
else:
    placement = backend.data_parallel(keras.distribution.list_devices("cpu"))
train, val = tiny_images(128, seed=0), tiny_images(48, seed=1)
r = fit(small_model, train, val,
        TrainConfig(learning_rate=3e-3, batch_size=16, epochs=4, collapse_patience=None,
                    budget_seconds=float(sys.argv[3])),
        sys.argv[1], placement=placement)
acc = float((predict_proba(r.model, val[0]).argmax(1) == val[1]).mean())
print(json.dumps({"replicas": placement.replicas, "epochs_run": r.epochs_run, "fast_paths": r.fast_paths,
                  "resumed_from": r.resumed_from_epoch, "accuracy": acc, "backends": r.backends}))
"""


def _run(run_dir, devices, budget_seconds, backend="tensorflow"):
    if importlib.util.find_spec(backend) is None:
        pytest.skip(f"{backend} is not installed here")
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(run_dir), str(devices), str(budget_seconds), backend],
                         cwd=ROOT, capture_output=True, text=True, timeout=300,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": backend})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("backend", ["tensorflow", "jax"])
def test_data_parallel_training_learns(tmp_path, backend):
    parallel = _run(tmp_path / "run", devices=2, budget_seconds=600, backend=backend)
    assert parallel["replicas"] == 2 and parallel["epochs_run"] == 4
    assert parallel["fast_paths"]["steps_per_execution"] == 1  # multi-step execution fails under Mirrored
    assert parallel["accuracy"] > 0.6  # brightness classes: chance is 1/3


@pytest.mark.parametrize("started, resumed", [("tensorflow", "tensorflow"), ("jax", "tensorflow")])
def test_a_data_parallel_checkpoint_resumes_training_on_one_device(tmp_path, started, resumed):
    first = _run(tmp_path / "run", devices=2, budget_seconds=0.01, backend=started)  # the budget stops it after one epoch
    assert first["replicas"] == 2 and first["epochs_run"] == 1
    then = _run(tmp_path / "run", devices=1, budget_seconds=600, backend=resumed)
    assert then["replicas"] == 1 and then["resumed_from"] == 1 and then["epochs_run"] == 4
    assert then["accuracy"] > 0.6
    assert [(b["from_epoch"], b["backend"]) for b in then["backends"]] == (
        [(1, started)] if started == resumed else [(1, started), (2, resumed)])
