"""Fast paths: each switch is validated, resolves as documented, and training under it still learns."""
from __future__ import annotations

import json

import keras
import numpy as np
import pytest

from conftest import small_model, tiny_images
from fer_lib.train import backend
from fer_lib.errors import FerError
from fer_lib.train.fast_paths import FastPaths, dtype_policy
from fer_lib.models import build_model, model_names
from fer_lib.train import TrainConfig, fit, predict_proba

TRAIN, VAL = tiny_images(96, seed=0), tiny_images(48, seed=1)


def test_bad_settings_name_the_valid_ones(monkeypatch):
    with pytest.raises(FerError, match="valid precisions are: auto, float32, mixed_bfloat16, mixed_float16"):
        FastPaths(precision="fp8")
    with pytest.raises(FerError, match="use one of: auto, on, off"):
        FastPaths(xla="yes")
    with pytest.raises(FerError, match="steps_per_execution must be a positive integer"):
        FastPaths(steps_per_execution=0)
    monkeypatch.setenv("FER_STEPS_PER_EXECUTION", "many")
    with pytest.raises(FerError, match="FER_STEPS_PER_EXECUTION must be a positive integer, got 'many'"):
        FastPaths.from_env()


def test_environment_variables_switch_each_path(monkeypatch):
    monkeypatch.setenv("FER_PRECISION", "float32")
    monkeypatch.setenv("FER_XLA", "on")
    monkeypatch.setenv("FER_STEPS_PER_EXECUTION", "4")
    assert FastPaths.from_env().resolved() == {"precision": "float32", "jit_compile": True, "steps_per_execution": 4}


def test_auto_follows_the_hardware_and_the_backend(monkeypatch):
    monkeypatch.setattr(backend, "name", lambda: "tensorflow")
    monkeypatch.setattr(backend, "gpus_present", lambda: False)
    monkeypatch.setattr(backend, "cpu_supports_bfloat16", lambda: True)
    assert FastPaths().resolved() == {"precision": "mixed_bfloat16", "jit_compile": False, "steps_per_execution": 16}
    monkeypatch.setattr(backend, "cpu_supports_bfloat16", lambda: False)
    assert FastPaths().resolved()["precision"] == "float32"
    assert FastPaths.naive().resolved() == {"precision": "float32", "jit_compile": False, "steps_per_execution": 1}
    monkeypatch.setattr(backend, "gpus_present", lambda: True)
    monkeypatch.setattr(backend, "gpu_compute_capability", lambda: 9.0)  # H100: native bfloat16
    assert FastPaths().resolved() == {"precision": "mixed_bfloat16", "jit_compile": True, "steps_per_execution": 16}
    monkeypatch.setattr(backend, "gpu_compute_capability", lambda: 7.0)  # V100: float16 with loss scaling
    assert FastPaths().resolved()["precision"] == "mixed_float16"
    # JAX compiles every step with XLA, on any device; PyTorch never here
    monkeypatch.setattr(backend, "gpus_present", lambda: False)
    monkeypatch.setattr(backend, "name", lambda: "jax")
    assert FastPaths().resolved()["jit_compile"] is True and FastPaths.naive().resolved()["jit_compile"] is True
    monkeypatch.setattr(backend, "name", lambda: "torch")
    assert FastPaths().resolved()["jit_compile"] is False


def test_the_cpu_model_names_its_matrix_arithmetic_so_timings_on_same_named_cpus_differ():
    # the same "Intel(R) Xeon(R) Processor" has come with and without AMX (about four times the bf16 speed)
    def info(flags):
        return f"processor\t: 0\nmodel name\t: Intel(R) Xeon(R) Processor\nflags\t\t: fpu sse2 {flags}\n"
    assert backend.cpu_model_from(info("avx2 avx512f avx512_bf16 amx_tile amx_bf16")) == \
        "Intel(R) Xeon(R) Processor, AMX-BF16"
    assert backend.cpu_model_from(info("avx2 avx512f avx512_bf16")) == "Intel(R) Xeon(R) Processor, AVX512-BF16"
    assert backend.cpu_model_from(info("avx2 avx512f avx512_vnni")) == \
        "Intel(R) Xeon(R) Processor, AVX-512, no native bfloat16"
    assert backend.cpu_model_from("model name\t: Some CPU\n") == "Some CPU"


def test_policy_scope_restores_the_previous_policy_even_on_error():
    before = keras.config.dtype_policy().name
    with pytest.raises(RuntimeError):
        with dtype_policy("mixed_bfloat16"):
            assert keras.config.dtype_policy().name == "mixed_bfloat16"
            raise RuntimeError("builder failed")
    assert keras.config.dtype_policy().name == before


@pytest.mark.parametrize("name", sorted(set(model_names()) - {"abdulkadir2025_hybrid", "abdulkadir2025_vgg19"}) + ["abdulkadir2025_vgg19"])
def test_every_model_keeps_its_output_in_float32_under_mixed_precision(name):
    with dtype_policy("mixed_bfloat16"):
        model = build_model(name, (48, 48, 1), 7)
    convs = [layer for layer in model._flatten_layers() if isinstance(layer, keras.layers.Conv2D)]
    assert convs and all(layer.compute_dtype == "bfloat16" for layer in convs)
    assert all(w.dtype == "float32" for w in model.trainable_weights)  # master weights stay float32
    out = model(np.random.default_rng(0).random((2, 48, 48, 1), np.float32))
    assert model.get_layer("predictions").compute_dtype == "float32" and keras.backend.standardize_dtype(out.dtype) == "float32"
    np.testing.assert_allclose(np.asarray(out).sum(axis=1), 1.0, atol=1e-5)


def test_bfloat16_training_learns_and_a_resumed_run_keeps_its_precision(tmp_path):
    run_dir = tmp_path / "run"
    config = TrainConfig(learning_rate=3e-3, batch_size=16, epochs=4, collapse_patience=None, budget_seconds=0.01)
    first = fit(small_model, TRAIN, VAL, config, run_dir, fast=FastPaths(precision="mixed_bfloat16", steps_per_execution=2))
    assert first.epochs_run == 1 and first.fast_paths["precision"] == "mixed_bfloat16"
    # resumed with other fast paths asked for: the checkpoint's precision wins, and the state says so
    resumed = fit(small_model, TRAIN, VAL, TrainConfig(**{**config.__dict__, "budget_seconds": 600}), run_dir,
                  fast=FastPaths(precision="float32"))
    assert resumed.resumed_from_epoch == 1 and resumed.epochs_run == 4
    assert resumed.fast_paths["precision"] == "mixed_bfloat16"
    assert json.loads((run_dir / "state.json").read_text())["fast_paths"]["steps_per_execution"] == 2
    assert resumed.model.get_layer("block1_conv").compute_dtype == "bfloat16"
    acc = (predict_proba(resumed.model, VAL[0]).argmax(1) == VAL[1]).mean()
    assert acc > 0.6  # brightness classes: chance is 1/3


def test_bfloat16_predictions_match_float32_with_the_same_weights():
    keras.utils.set_random_seed(3)
    reference = small_model()
    with dtype_policy("mixed_bfloat16"):
        fast = small_model()
    fast.set_weights(reference.get_weights())
    x = VAL[0][..., None].astype("float32")
    np.testing.assert_allclose(np.asarray(fast(x)), np.asarray(reference(x)), atol=0.03)
