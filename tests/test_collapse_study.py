"""The khalid2025 collapse study: outcomes, the finding sentence, and one real arm on the smoke subset."""
from __future__ import annotations

import pytest

from fer_lib.errors import FerError
from fer_lib.studies import collapse_study as study


def test_an_arm_is_collapsed_trained_or_at_chance_by_its_last_epoch():
    assert study.outcome(0.25, 1.0, 0.25) == "collapsed"
    assert study.outcome(0.40, 0.5, 0.25) == "trained"
    assert study.outcome(0.27, 0.6, 0.25) == "at chance"


def _row(backend, precision, seed, outcome):
    return {"backend": backend, "precision": precision, "seed": seed, "outcome": outcome}


def test_the_finding_names_the_arms_that_failed_at_every_seed():
    rows = [_row("tensorflow", "mixed_bfloat16", s, "collapsed") for s in (0, 1)] + \
           [_row(b, p, s, "trained") for b, p in (("tensorflow", "float32"), ("jax", "float32"), ("jax", "mixed_bfloat16"))
            for s in (0, 1)]
    finding = study.finding(rows)
    assert finding.startswith("only tensorflow in mixed_bfloat16 failed to train at every seed, while")
    one_seed = study.finding([r for r in rows if r["seed"] == 0])
    assert "failed to train at seed 0 (one seed so far), while" in one_seed
    assert "tensorflow mixed_bfloat16: collapsed 2/2" in finding
    mixed = [_row("tensorflow", "float32", 0, "trained"), _row("tensorflow", "float32", 1, "collapsed"),
             _row("jax", "float32", 0, "trained"), _row("jax", "float32", 1, "trained")]
    assert "failure does not follow" not in study.finding(mixed)  # jax trained at every seed, tensorflow not failing at all
    assert study.finding([_row("jax", "float32", 0, "collapsed")]).startswith("no arm trained at every seed")
    # an arm that failed at one seed and trained at another is named as such, not called reproduced-nowhere
    some = study.finding([_row("tensorflow", "float32", s, "trained") for s in (0, 1)]
                         + [_row("tensorflow", "mixed_bfloat16", 0, "trained"),
                            _row("tensorflow", "mixed_bfloat16", 1, "at chance")])
    assert some.startswith("tensorflow in mixed_bfloat16 failed to train at some seeds, not others, while tensorflow "
                           "in float32 trained at every seed")


def test_every_arm_varies_backend_precision_and_seed_only():
    arms = study.arms()
    assert len(arms) == 8 and len({a.name for a in arms}) == 8
    assert {(a.backend, a.precision) for a in arms} == {(b, p) for b in study.BACKENDS for p in study.PRECISIONS}


def test_one_arm_trains_in_this_process_and_records_what_it_ran_under(data_root, run_cache,
                                                                      small_khalid2025_backbone):
    # the record is tested, not the network: khalid2025's model on a small backbone
    row = study.run_arm(study.Arm("tensorflow", "float32", 0), "smoke", data_root)
    assert row["fast_paths"]["precision"] == "float32" and row["epochs"] == study.SIZES["smoke"].epochs
    assert len(row["val_accuracy_per_epoch"]) == row["epochs"] and row["outcome"] in ("collapsed", "trained", "at chance")
    assert row["settings"]["learning_rate"] == 1e-3 and row["settings"]["model_options"] == {"bn_momentum": 0.9}
    assert row["provenance"][0]["backend"] == "tensorflow"
    with pytest.raises(FerError, match="needs KERAS_BACKEND=jax"):
        study.run_arm(study.Arm("jax", "float32", 0), "smoke", data_root)


def test_a_collapse_verdict_cites_the_saved_study_and_says_when_it_is_part_way(tmp_path):
    import json
    from fer_lib.evaluate import claims
    from fer_lib.reporting.experiment_report import collapse_study_note

    path = tmp_path / "collapse_study" / "results.json"
    assert collapse_study_note(path) == ""
    path.parent.mkdir()
    path.write_text(json.dumps({"rows": [{}, {}], "arms_planned": 8, "finding": "only tensorflow in mixed_bfloat16 failed"}))
    note = collapse_study_note(path)
    assert note == "the collapse study (collapse_study/results.md) (part-way: 2 of 8 arms on one machine) finds: only " \
                   "tensorflow in mixed_bfloat16 failed"
    facts = claims.RunFacts("official", {}, "official", (7,), 50, collapsed=True, optimizer="adam", learning_rate=1e-3,
                            collapse_note=note)
    verdict = claims.verdict_collapsed(claims.load_settings("khalid2025"), facts)
    assert verdict.startswith("collapsed at our reading") and verdict.endswith("only tensorflow in mixed_bfloat16 failed")


def _machine_row(device, backend, precision, seed, outcome):
    return {**_row(backend, precision, seed, outcome), "provenance": [{"device": device, "git_commit": "abc1234"}],
            "fast_paths": {"jit_compile": False}, "train_accuracy_per_epoch": [0.2], "val_accuracy_per_epoch": [0.25],
            "classes_predicted": 1, "top_class_share": 1.0, "train_seconds": 1.0}


def test_arms_are_compared_within_a_machine_and_another_machines_rows_stay_apart(tmp_path):
    emulated, native = "CPU: AMD EPYC, AVX2, no native bfloat16 (2 cores)", "CPU: AMD EPYC, AVX512-BF16 (2 cores)"
    rows = [_machine_row(emulated, "tensorflow", "mixed_bfloat16", 0, "collapsed"),
            _machine_row(native, "tensorflow", "mixed_bfloat16", 0, "trained"),
            _machine_row(native, "tensorflow", "float32", 0, "trained")]
    record = study.study_record("cpu", rows, 8, "abc1234")
    by = {m["device"]: m for m in record["by_machine"]}
    assert by[native]["arms_run"] == 2 and by[emulated]["arms_run"] == 1
    assert "collapsed" not in by[native]["finding"] and "collapsed 1/1" in by[emulated]["finding"]
    assert record["finding"].startswith(f"On {native}:")  # the machine with the most arms first
    study._write(tmp_path, record)
    text = (tmp_path / "results.md").read_text()
    assert f"## {native}" in text and f"## {emulated}" in text and "Part-way: 1 of 8 arms run on this machine" in text


def test_the_finding_says_which_trained_arms_ran_one_seed_so_far_and_lists_arms_in_words():
    rows = [_row("tensorflow", "float32", s, "trained") for s in (0, 1)] + [
        _row("tensorflow", "mixed_bfloat16", 0, "trained"), _row("tensorflow", "mixed_bfloat16", 1, "at chance"),
        _row("jax", "float32", 0, "trained"), _row("jax", "mixed_bfloat16", 0, "trained")]
    assert study.finding(rows).startswith(
        "tensorflow in mixed_bfloat16 failed to train at some seeds, not others, while tensorflow in float32 trained at "
        "every seed; jax in float32 and jax in mixed_bfloat16 trained at seed 0 (one seed so far) (")
