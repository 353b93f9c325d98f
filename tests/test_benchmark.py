"""The training benchmark's parts on small inputs: peak, naive and suite paths, and its report."""
from __future__ import annotations

import numpy as np

from fer_lib.studies import training_benchmark as tb
from fer_lib.train.backend import cpu_supports_bfloat16, gpus_present


def test_peak_is_measured_in_float32_and_in_bfloat16_only_where_native():
    peaks = tb.measure_peak(n=512, repeats=2)
    assert peaks["float32"] > 1  # GFLOP/s
    assert (peaks["bfloat16"] is not None) == (cpu_supports_bfloat16() or gpus_present())


def test_every_path_trains_and_the_ratio_is_suite_over_naive(monkeypatch):
    monkeypatch.setattr(tb, "TIMED_IMAGES", (256, 256))
    monkeypatch.setattr(tb, "TIMED_EPOCHS", 1)
    rng = np.random.default_rng(0)
    images, labels = rng.integers(0, 256, (1024, 48, 48)).astype(np.uint8), rng.integers(0, 7, 1024)
    # the peaks as `measure_peak` reports them on this machine: a bfloat16 peak only where bfloat16 is native (on
    # an AVX2 CPU the emulated bfloat16 paths took 124 of this test's 200 s, and the benchmark never runs them there)
    native = cpu_supports_bfloat16() or gpus_present()
    peaks = {"float32": 50.0, "bfloat16": 100.0 if native else None}
    summary, paths = tb.bench_models(images, labels, peaks, names=["yousaf2024"], log=lambda line: None)
    fast = (["pipeline, bfloat16", "pipeline, bfloat16, 16 steps per execution",
             "pipeline, bfloat16, 16 steps per execution, XLA"] if native
            else ["pipeline, float32, 16 steps per execution, XLA"])
    assert [p["path"].split(":")[0].split(" (")[0] for p in paths] == [
        "naive", "suite pipeline", "pipeline, float32, 16 steps per execution", *fast,
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


def test_findings_judge_the_targets_from_the_numbers():
    result = {"models": [{"model": "a", "suite_over_naive": 1.6, "suite_percent_of_peak": 55.0},
                         {"model": "b", "suite_over_naive": 1.2, "suite_percent_of_peak": 20.0}],
              "paths": [{"model": "a", "path": "naive: model.fit on float32 arrays", "train_images_per_s": 100, "percent_of_peak": 120.0},
                        {"model": "a", "path": "suite pipeline (uint8 tf.data, prefetch), float32", "train_images_per_s": 90, "percent_of_peak": 50.0},
                        {"model": "a", "path": "pipeline, bfloat16, 16 steps per execution", "train_images_per_s": 160, "percent_of_peak": 55.0},
                        {"model": "a", "path": "pipeline, bfloat16, 16 steps per execution, XLA", "train_images_per_s": 40, "percent_of_peak": 14.0}]}
    lines = tb.findings(result)
    assert lines[0].startswith("a: suite 1.6x the naive path (meets the 1.5x target); 55.0% of the peak of its precision (at least half)")
    assert "b: suite 1.2x the naive path (below the 1.5x target)" in lines[1] and "(below half)" in lines[1]
    assert any(line.startswith("XLA was slower than the fastest path without it for a") for line in lines)
    assert any(line.startswith("Above 100% of peak (a, naive)") for line in lines)
    assert any("float32 pipeline alone was not faster than Keras's own array path for a " in line for line in lines)
