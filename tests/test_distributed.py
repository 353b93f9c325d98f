"""Multi-device training: MirroredStrategy over two logical CPU devices learns, and its checkpoint
resumes on one device. Each step runs in its own process, because logical devices must be set up
before TensorFlow first touches the CPU."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

SCRIPT = """
import json, sys
import tensorflow as tf
devices = int(sys.argv[2])
if devices > 1:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * devices)
sys.path.insert(0, "tests")
from conftest import tiny_images
from fer_lib.models import build_model
from fer_lib.training import TrainConfig, fit, predict_proba
strategy = (tf.distribute.MirroredStrategy([d.name for d in tf.config.list_logical_devices("CPU")])
            if devices > 1 else tf.distribute.get_strategy())
train, val = tiny_images(128, seed=0), tiny_images(48, seed=1)
r = fit(lambda: build_model("yousaf2024", (48, 48, 1), 3, filters=(4, 4, 8, 8), dense_units=16), train, val,
        TrainConfig(learning_rate=3e-3, batch_size=16, epochs=4, collapse_patience=None,
                    budget_seconds=float(sys.argv[3])),
        sys.argv[1], strategy=strategy)
acc = float((predict_proba(r.model, val[0]).argmax(1) == val[1]).mean())
print(json.dumps({"replicas": strategy.num_replicas_in_sync, "epochs_run": r.epochs_run, "fast_paths": r.fast_paths,
                  "resumed_from": r.resumed_from_epoch, "accuracy": acc}))
"""


def _run(run_dir, devices, budget_seconds):
    out = subprocess.run([sys.executable, "-c", SCRIPT, str(run_dir), str(devices), str(budget_seconds)], cwd=ROOT,
                         capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_mirrored_training_learns(tmp_path):
    mirrored = _run(tmp_path / "run", devices=2, budget_seconds=600)
    assert mirrored["replicas"] == 2 and mirrored["epochs_run"] == 4
    assert mirrored["fast_paths"]["steps_per_execution"] == 1  # multi-step execution fails under Mirrored
    assert mirrored["accuracy"] > 0.6  # brightness classes: chance is 1/3


def test_a_mirrored_checkpoint_resumes_training_on_one_device(tmp_path):
    started = _run(tmp_path / "run", devices=2, budget_seconds=0.01)  # the budget stops it after one epoch
    assert started["replicas"] == 2 and started["epochs_run"] == 1
    resumed = _run(tmp_path / "run", devices=1, budget_seconds=600)
    assert resumed["replicas"] == 1 and resumed["resumed_from"] == 1 and resumed["epochs_run"] == 4
    assert resumed["accuracy"] > 0.6
