"""The training benchmark's parts on small inputs: peak, naive and suite paths, and its report."""
from __future__ import annotations

import numpy as np

from fer_lib import training_benchmark as tb
from fer_lib.fast_paths import cpu_supports_bfloat16, gpus_present


def test_peak_is_measured_in_float32_and_in_bfloat16_only_where_native():
    peaks = tb.measure_peak(n=512, repeats=2)
    assert peaks["float32"] > 1  # GFLOP/s
    assert (peaks["bfloat16"] is not None) == (cpu_supports_bfloat16() or gpus_present())


def test_every_path_trains_and_the_ratio_is_suite_over_naive(monkeypatch):
    monkeypatch.setattr(tb, "TIMED_IMAGES", (256, 256))
    monkeypatch.setattr(tb, "TIMED_EPOCHS", 1)
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (1024, 48, 48)).astype(np.uint8), rng.integers(0, 7, 1024)
    peaks = {"float32": 50.0, "bfloat16": 100.0}
    summary, paths = tb.bench_models(images, labels, peaks, names=["yousaf2024"], log=lambda line: None)
    assert [p["path"].split(":")[0].split(" (")[0] for p in paths] == [
        "naive", "suite pipeline", "pipeline, float32, 16 steps per execution", "pipeline, bfloat16",
        "pipeline, bfloat16, 16 steps per execution", "pipeline, bfloat16, 16 steps per execution, XLA",
        "suite default, every image augmented"]
    assert all(p["train_images_per_s"] > 0 and not p["error"] for p in paths)
    row = summary[0]
    assert row["batch"] == 16 and row["timed_images"] == 256 and row["forward_MFLOPs_per_image"] == 66.2
    assert row["suite_over_naive"] == round(row["suite_train_images_per_s"] / row["naive_train_images_per_s"], 2)
    # % of peak: three forward passes per trained image against the peak of the precision used
    naive = paths[0]
    assert abs(naive["percent_of_peak"] - 100 * 3 * 66_211_328 * naive["train_images_per_s"] / 50e9) < 0.11

    text = tb.markdown({"peak_gflops": peaks, "models": summary, "paths": paths, "threads": [],
                        "precision_parity": {"skipped": "test"}})
    assert "| yousaf2024 |" in text and "Precision parity: skipped (test)" in text
