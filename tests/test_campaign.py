"""The campaign: pending runs listed with their estimates, two run at once under smoke, their reports packed into
at most 8 files of 16 MiB and restored."""
from __future__ import annotations

import json

import pytest

from fer_lib.errors import FerError
from fer_lib.evaluate import test_looks
from fer_lib.studies import campaign

CKPLUS = ["ckplus48_random80", "ckplus48_subject"]


def test_two_smoke_runs_at_once_then_packed_and_restored(data_root, tmp_path):
    root = tmp_path / "reports"
    pending = campaign.pending_jobs("smoke", root, ["yousaf2024"], CKPLUS)
    assert sorted(j.experiment for j in pending) == CKPLUS and all(j.estimated_seconds is None for j in pending)
    results = campaign.run_campaign("smoke", 10, 2, reports_root=root, papers=["yousaf2024"], experiments=CKPLUS,
                                    data_dir=data_root)
    assert [r["status"] for r in results] == ["ran", "ran"], results
    assert campaign.pending_jobs("smoke", root, ["yousaf2024"], CKPLUS) == []  # finished: nothing left to run
    folders = [root / "smoke" / "yousaf2024" / name for name in CKPLUS]
    parts = campaign.pack(folders + [root / test_looks.LOG_FILE], tmp_path / "out", root)
    assert 1 <= len(parts) <= campaign.MAX_FILES and all(p.stat().st_size <= campaign.MAX_FILE_BYTES for p in parts)
    back = tmp_path / "back"
    earlier = {**test_looks.read_log(root)[0], "scored_at": "2026-01-01T00:00:00Z", "experiment": "an earlier run"}
    test_looks.write_log(back, [earlier])  # the CPU machine's own log
    names = campaign.unpack(parts, back)
    record = "smoke/yousaf2024/ckplus48_subject/experiment.json"
    assert record in names
    assert json.loads((back / record).read_text()) == json.loads((root / record).read_text())
    # the device's looks join the local log, marked as such; the local rows stay; unpacking again adds nothing
    merged = test_looks.read_log(back)
    assert merged[0] == earlier and len(merged) == 3
    assert {r["source"] for r in merged[1:]} == {test_looks.SOURCE_DEVICE}
    assert sorted(r["experiment"] for r in merged[1:]) == sorted(r["experiment"] for r in test_looks.read_log(root))
    campaign.unpack(parts, back)
    assert len(test_looks.read_log(back)) == 3


def test_a_pack_too_large_for_the_trip_back_is_refused_before_writing(tmp_path):
    folder = tmp_path / "r" / "run"
    folder.mkdir(parents=True)
    (folder / "noise.bin").write_bytes(__import__("os").urandom(300_000))  # does not compress
    with pytest.raises(FerError, match="more than 2 files"):
        campaign.pack([folder], tmp_path / "out", tmp_path / "r", max_files=2, max_bytes=100_000)
    assert not (tmp_path / "out").exists()


def test_a_job_started_after_the_deadline_is_not_run(tmp_path):
    job = campaign.Job("yousaf2024", "ckplus48_subject", str(tmp_path), 1, None, None)
    result = campaign._run_job(job, "smoke", deadline=0.0, jobs=1, reports_root=str(tmp_path), data_dir=None)
    assert result["status"].startswith("not started")


@pytest.mark.parametrize("kwargs, needle", [({"minutes": 0}, "--minutes"), ({"minutes": 1, "jobs": 0}, "--jobs")])
def test_bad_campaign_settings_are_named(kwargs, needle, tmp_path):
    with pytest.raises(FerError, match=needle):
        campaign.run_campaign("smoke", reports_root=tmp_path, **kwargs)


def test_an_ablation_is_listed_once_its_reference_completed_and_again_while_an_arm_is_short(tmp_path):
    """mahdi2025's re-split run completed its 50 epochs (committed, from a lent GPU): its ablation at equal epochs is
    pending, at the reference's measured seconds per epoch; the standard-protocol ablation waits for its reference
    while that run is short of its 50 epochs (the epochs left read from its committed record; it completed on the CPU
    on 2026-12-05, so its ablation is pending now; a copy of its record cut back to 42 epochs shows the wait).
    A study whose arm a deadline stopped stays pending for the epochs it fell short; a finished one is not listed."""
    import shutil

    from fer_lib.config import REPO_ROOT
    from fer_lib.train import STOP_BUDGET, STOP_COMPLETED

    root = tmp_path / "reports"
    shutil.copytree(REPO_ROOT / "reports" / "paper" / "mahdi2025", root / "paper" / "mahdi2025")
    shutil.rmtree(root / "paper" / "mahdi2025" / "attention_ablation_kaggle_resplit", ignore_errors=True)
    standard_path = root / "paper" / "mahdi2025" / "fer2013_standard" / "experiment.json"
    standard = json.loads(standard_path.read_text())
    if standard["epochs"]["run_per_seed"][0] == standard["epochs"]["planned"]:
        jobs = campaign.pending_jobs("paper", root, ["mahdi2025"])
        assert {(j.kind, j.experiment) for j in jobs} == {("study", "attention_ablation"),
                                                           ("study", "attention_ablation_kaggle_resplit")}
        epochs = standard["epochs"]
        epochs.update(run_per_seed=[42], stop_reasons=[STOP_BUDGET])
        standard_path.write_text(json.dumps(standard))  # as it stood before its last eight epochs
    jobs = campaign.pending_jobs("paper", root, ["mahdi2025"])
    assert {(j.kind, j.experiment) for j in jobs} == {("experiment", "fer2013_standard"),
                                                       ("study", "attention_ablation_kaggle_resplit")}
    (study,) = [j for j in jobs if j.kind == "study"]
    record = json.loads((root / "paper" / "mahdi2025" / "fer2013_kaggle_resplit" / "experiment.json").read_text())
    per_epoch = record["epochs"]["train_seconds_per_seed"][0] / 50
    assert study.epochs_left == 50 and study.estimated_seconds == pytest.approx(50 * per_epoch, abs=0.1)
    (experiment,) = [j for j in jobs if j.kind == "experiment"]
    assert campaign.pending_jobs("paper", root, ["mahdi2025"], ["attention_ablation_kaggle_resplit"]) == [study]
    assert 0 < experiment.epochs_left == standard["epochs"]["planned"] - standard["epochs"]["run_per_seed"][0]
    folder = root / "paper" / "mahdi2025" / "attention_ablation_kaggle_resplit"
    folder.mkdir()
    rows = [{"arm": "with dynamic attention", "seed": 0, "epochs_run": 50, "epochs_planned": 50,
             "stop_reason": STOP_COMPLETED},
            {"arm": "without dynamic attention", "seed": 0, "epochs_run": 12, "epochs_planned": 50,
             "stop_reason": STOP_BUDGET}]
    (folder / "results.json").write_text(json.dumps({"runs": rows}))
    (short,) = campaign.pending_jobs("paper", root, ["mahdi2025"], ["attention_ablation_kaggle_resplit"])
    assert short.epochs_left == 38 and short.estimated_seconds == pytest.approx(38 * per_epoch, abs=0.1)
    rows[1].update(epochs_run=50, stop_reason=STOP_COMPLETED)
    (folder / "results.json").write_text(json.dumps({"runs": rows}))
    assert campaign.pending_jobs("paper", root, ["mahdi2025"], ["attention_ablation_kaggle_resplit"]) == []


def test_each_process_gets_the_deadline_and_no_budget_of_its_own(tmp_path, monkeypatch):
    """A study runs like an experiment: `fer-lib train` with the campaign's deadline in its environment (not a
    budget counted across restarts, which would stop a run continued from a CPU's long epochs at once)."""
    from fer_lib.train import DEADLINE_ENV
    from fer_lib.train.config import deadline_from_env

    for kind, head in (("study", ["train", "mahdi2025"]), ("experiment", ["train", "mahdi2025"]),
                       ("candidate", ["candidates", "train"])):
        job = campaign.Job("mahdi2025", "x", str(tmp_path), 5, 100.0, None, kind)
        cmd = campaign.job_command(job, "paper", str(tmp_path), "/data")
        assert cmd[3:5] == head and "--budget-minutes" not in cmd and cmd[-2:] == ["--data-dir", "/data"]
        # a lease never has a candidate's checkpoint: its saved run is set aside, not refused (or trained over)
        assert ("--restart" in cmd) == (kind == "candidate")
    env = campaign.job_environment(1234567890.4, 4)
    assert env[DEADLINE_ENV] == "1234567890" and env["XLA_PYTHON_CLIENT_MEM_FRACTION"] == "0.23"
    monkeypatch.setenv(DEADLINE_ENV, env[DEADLINE_ENV])
    assert deadline_from_env() == 1234567890.0  # what the process reads back


def test_a_candidate_trains_in_the_campaign_and_its_model_travels_back_with_its_record(run_cache, data_root, tmp_path,
                                                                                        monkeypatch):
    """eye_aligned under smoke, alone (`--candidates` with no paper): `fer-lib candidates train` in its own process,
    no test split scored, its model file beside its record (git-ignored there), packed and restored with it."""
    import subprocess

    from fer_lib.config import REPO_ROOT
    from fer_lib.recognizer import EmotionRecognizer
    from fer_lib.studies.candidates import candidate_model_file

    root = tmp_path / "reports"
    (job,) = campaign.pending_jobs("smoke", root, [], None, ["eye_aligned"])
    assert (job.kind, job.paper, job.epochs_left) == ("candidate", "reference", 1)
    assert [j.experiment for j in campaign.pending_jobs("smoke", root, [], None, ["all"])] == [
        "ferplus_majority", "ferplus_votes", "strong_augment", "eye_aligned"]  # none measured: in the listed order
    (result,) = campaign.run_campaign("smoke", 10, 1, reports_root=root, papers=[], candidates=["eye_aligned"],
                                      data_dir=data_root)
    assert result["status"] == "ran", result
    assert campaign.pending_jobs("smoke", root, [], None, ["eye_aligned"]) == []  # trained: nothing left
    folder = root / "smoke" / "out_of_domain_candidates" / "eye_aligned"
    record = json.loads((folder / "record.json").read_text())
    assert record["test_split_scored"] is False and record["preprocess"]["align_eyes"] is True
    assert 0 < record["preprocessing"]["eyes_not_aligned"] < record["n_images"]
    assert not (root / test_looks.LOG_FILE).exists()
    model = candidate_model_file("eye_aligned", "smoke", root)
    assert model.parent == folder and EmotionRecognizer(model).classifier.info.preprocess.align_eyes
    # An ignore rule keeps a freshly trained model out of git; a finished one is committed deliberately (`git add -f`),
    # so the rule is checked with --no-index, which holds whether or not the file is already tracked.
    for name in (model.name, model.with_suffix(".json").name):
        assert subprocess.run(["git", "check-ignore", "--no-index", "-q",
                               f"reports/cpu/out_of_domain_candidates/eye_aligned/{name}"],
                              cwd=REPO_ROOT).returncode == 0
    back = tmp_path / "back"
    names = campaign.unpack(campaign.pack([folder], tmp_path / "out", root), back)
    assert "smoke/out_of_domain_candidates/eye_aligned/model.keras" in names
    assert EmotionRecognizer(candidate_model_file("eye_aligned", "smoke", back)).class_names == \
        tuple(record["class_names"])


def test_a_run_that_moved_between_devices_is_estimated_at_this_devices_speed(tmp_path, monkeypatch):
    """mahdi2025's standard-protocol run (committed) trained epochs 1-34 on an H200 and 35-50 on a CPU, about a
    hundredfold apart: its ablation is estimated from the epochs trained on the device the campaign runs on, and
    from all of them, each device named, where this device trained none."""
    import csv
    import shutil

    from fer_lib.config import REPO_ROOT
    from fer_lib.evaluate.record import ExperimentRecord

    root = tmp_path / "reports"
    for name in ("fer2013_standard", "fer2013_kaggle_resplit"):
        shutil.copytree(REPO_ROOT / "reports" / "paper" / "mahdi2025" / name, root / "paper" / "mahdi2025" / name)
    folder = root / "paper" / "mahdi2025" / "fer2013_standard"
    record = ExperimentRecord.read(folder)
    starts = sorted((seg["from_epoch"], seg["device"]) for seg in record.backends[0])
    gpu, cpu = starts[0][1], starts[-1][1]
    assert gpu != cpu and starts[1][1] == cpu  # the committed run as the docstring says
    with (folder / "history_seed0.csv").open(newline="") as f:
        seconds = {int(r["epoch"]): float(r["seconds"]) for r in csv.DictReader(f)}
    on_gpu = [s for e, s in seconds.items() if e < starts[1][0]]
    on_cpu = [s for e, s in seconds.items() if e >= starts[1][0]]
    assert campaign.seconds_per_epoch_by_device(record, folder) == {gpu: pytest.approx(sum(on_gpu) / len(on_gpu)),
                                                                     cpu: pytest.approx(sum(on_cpu) / len(on_cpu))}
    for device, per_epoch in ((gpu, sum(on_gpu) / len(on_gpu)), (cpu, sum(on_cpu) / len(on_cpu)),
                              ("2 x Some Other GPU", record.epochs.train_seconds_per_seed[0] / 50)):
        monkeypatch.setattr(campaign, "this_device", lambda device=device: device)
        (study,) = campaign.pending_jobs("paper", root, ["mahdi2025"], ["attention_ablation"])
        assert study.estimated_seconds == pytest.approx(50 * per_epoch, abs=0.1)
        assert study.measured_on == (device if device != "2 x Some Other GPU" else f"{gpu}; {cpu}")
