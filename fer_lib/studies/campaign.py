"""A campaign: the unfinished runs of a profile, several at once on one machine until a deadline, packed for the trip back.

A lent GPU runs one experiment at a time today, while the seeds, folds and ablation arms waiting are independent
and each leaves most of the device idle. `fer-lib campaign --profile paper --minutes 10 --jobs 4`:

1. lists the experiments of the profile whose report is missing or incomplete (`pending_jobs`), each with its
   cost estimated from its saved report's measured seconds per epoch (on this machine's device where the run's
   histories hold epochs trained there, else over all its epochs, each device named) times the epochs still to
   run; unmeasured ones come last. It lists too the ablations at equal epochs whose reference experiment has
   completed and whose report is missing or holds an arm a deadline stopped short of the reference's epochs: the
   arms' epochs left at the reference's measured seconds per epoch. Asked for (`candidates`), it lists issue 50's
   candidates for the shipped model not yet trained to their planned epochs (`studies.candidates`; their cost from
   their own record, else from a reference experiment of the same network under the profile);
2. runs them, heaviest first, `jobs` at a time, each as its own `fer-lib train` process (its own Keras backend
   and device memory: JAX's preallocation is shared out, `XLA_PYTHON_CLIENT_MEM_FRACTION`), on joblib's process
   scheduler, on every machine the suite uses (the GPU one included);
3. gives each process the campaign's deadline (`train.DEADLINE_ENV`), so every run in it (each seed of an
   experiment, each arm of an ablation) stops between epochs before it, with its checkpoint (a later campaign, or
   `fer-lib train`, resumes it; an ablation's stopped arm keeps its checkpoint in the study's report folder). The
   deadline is the call's, not a budget counted across restarts: a run continued from a CPU's epochs is timed by
   the device's own. A process still running `GRACE_SECONDS` past the deadline is killed;
4. packs every report folder it touched (record, histories, predictions, a budget-stopped run's checkpoint) and
   the machine's log of test-split looks into at most `MAX_FILES` files of `MAX_FILE_BYTES` (`pack`), which
   `unpack` restores on the CPU machine, where the reports are rendered: the folders replace their copies, the
   looks join the local log (`test_looks.merge_looks`: every look is disclosed wherever it happened).
"""
from __future__ import annotations

import bisect
import csv
import io
import json
import os
import subprocess
import sys
import tarfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import get_profile, reports_dir
from ..errors import FerError
from ..evaluate import test_looks
from ..evaluate.record import RECORD_FILE, ExperimentRecord
from ..evaluate.run_store import report_folder
from ..evaluate.study_specs import AblationSpec
from ..papers import get_experiments, get_studies, papers_with_experiments
from ..train.checkpoint import read_state
from .ablation import study_folder

MAX_FILES, MAX_FILE_BYTES = 8, 16 * 2**20  # what a device call brings back
GRACE_SECONDS = 120  # past its budget, a run is finishing an epoch or writing its report: then it is stopped


@dataclass(frozen=True)
class Job:
    """One experiment to run: its report folder, epochs left over all its seeds, and the estimated seconds."""

    paper: str
    experiment: str
    folder: str
    epochs_left: int
    estimated_seconds: float | None
    measured_on: str | None
    kind: str = "experiment"  # or "study" (an ablation), or "candidate" (`studies.candidates`)


def this_device() -> str:
    """The device this machine trains on, as run records name it (`train.backend.device_description`)."""
    from ..train.backend import device_description

    return device_description()


def seconds_per_epoch_by_device(record: ExperimentRecord, folder: Path) -> dict[str, float]:
    """Mean training seconds per epoch on each device a record's runs trained on, from each seed's history (its
    `seconds` column) and provenance (each segment's device from its `from_epoch`); {} where neither was saved."""
    seconds: dict[str, list[float]] = {}
    for seed, segments in zip(record.seeds, record.backends or []):
        history_file = folder / record.unit_file("history", seed, "csv")
        if not segments or not history_file.exists():
            continue
        with history_file.open(newline="") as f:
            rows = [row for row in csv.DictReader(f) if row.get("seconds") and row.get("epoch")]
        segments = sorted(segments, key=lambda seg: int(seg.get("from_epoch", 1)))
        starts = [int(seg.get("from_epoch", 1)) for seg in segments]
        for row in rows:  # an epoch trained on the segment that began last at or before it
            segment = segments[max(bisect.bisect_right(starts, int(row["epoch"])) - 1, 0)]
            seconds.setdefault(segment.get("device", "?"), []).append(float(row["seconds"]))
    return {device: sum(values) / len(values) for device, values in seconds.items()}


def _measured(record: ExperimentRecord, folder: Path, device: str) -> tuple[float, str]:
    """A record's training seconds per epoch, and the devices that measured them: on `device` alone where the
    record's histories hold epochs trained there (a run that moved between a GPU and a CPU averages a hundredfold
    apart), else over every epoch it trained."""
    by_device = seconds_per_epoch_by_device(record, folder)
    if device in by_device:
        return by_device[device], device
    per_epoch = sum(record.epochs.train_seconds_per_seed) / sum(record.epochs.run_per_seed)
    return per_epoch, "; ".join(sorted({seg.get("device", "?") for per in record.backends or [] for seg in per}))


def _state(spec, profile: str, reports_root: Path, device: str) -> tuple[bool, int, float | None, str | None]:
    """(finished, epochs left, seconds per epoch measured, where) from the reports of `spec` (paper or fallback rate),
    on `device` where it trained there (`_measured`)."""
    prof = get_profile(profile)
    seeds = len(spec.seeds) if prof.multi_seed else 1
    planned = spec.planned_epochs(prof) * seeds
    folders = [report_folder(spec, prof.name, reports_root)]
    if spec.fallback_lr is not None:
        folders.append(report_folder(spec, prof.name, reports_root, spec.fallback_lr))
    best_left, per_epoch, where = planned, None, None
    for folder in folders:
        if not (folder / RECORD_FILE).exists():
            continue
        record = ExperimentRecord.read(folder)
        if record.completed:
            return True, 0, None, None
        run = sum(record.epochs.run_per_seed)
        if run:
            per_epoch, where = _measured(record, folder, device)
        best_left = min(best_left, max(planned - run, 0))
    return False, best_left, per_epoch, where


def pending_jobs(profile: str, reports_root: Path | str | None = None, papers: list[str] | None = None,
                 experiments: list[str] | None = None, candidates: list[str] | None = None) -> list[Job]:
    """The experiments of `papers` (None: every paper; []: none) under `profile` whose reports are missing or
    incomplete, and the `candidates` (names, or ["all"]) not trained to their planned epochs, heaviest estimate
    first."""
    root = Path(reports_root or reports_dir())
    device = this_device()
    jobs = _pending_candidates(profile, root, candidates, device) if candidates else []
    for paper in papers_with_experiments() if papers is None else papers:
        for spec in [s for s in get_experiments(paper) if not experiments or s.name in experiments]:
            finished, left, per_epoch, where = _state(spec, profile, root, device)
            if not finished:
                jobs.append(Job(paper, spec.name, str(report_folder(spec, get_profile(profile).name, root)), left,
                                None if per_epoch is None else round(per_epoch * left, 1), where))
        jobs += _pending_studies(paper, profile, root, experiments, device)
    return sorted(jobs, key=lambda j: (j.estimated_seconds is None, -(j.estimated_seconds or 0)))


def _pending_studies(paper: str, profile: str, root: Path, names: list[str] | None, device: str) -> list[Job]:
    """`paper`'s ablations at equal epochs under `profile` whose reference experiment has completed (before that,
    they would train their arms for the epochs of an unfinished run) and whose report is missing or unfinished."""
    name, jobs = get_profile(profile).name, []
    for study in get_studies(paper):
        if (not isinstance(study, AblationSpec) or study.equal != "epochs" or study.reference_runs_of is None
                or (names and study.name not in names)):
            continue
        reference = report_folder(study.reference_experiment(), name, root)
        record = ExperimentRecord.read(reference) if (reference / RECORD_FILE).exists() else None
        if record is None or not record.completed:
            continue
        folder = study_folder(study, name, root)
        epochs = _study_epochs_left(folder, sum(record.epochs.run_per_seed) * (len(study.arms) - 1))
        if epochs:
            per_epoch, where = _measured(record, reference, device)
            jobs.append(Job(paper, study.name, str(folder), epochs, round(per_epoch * epochs, 1), where, "study"))
    return jobs


def _study_epochs_left(folder: Path, when_new: int) -> int:
    """The epochs an ablation's arms have still to train: `when_new` where `folder` holds no report, else the
    epochs its budget-stopped runs fell short of their plan (0: finished)."""
    from ..train import STOP_BUDGET

    if not (folder / "results.json").exists():
        return when_new
    rows = json.loads((folder / "results.json").read_text())["runs"]
    return sum(r["epochs_planned"] - r["epochs_run"] for r in rows if r["stop_reason"] == STOP_BUDGET)


def _pending_candidates(profile: str, root: Path, names: list[str], device: str) -> list[Job]:
    """The candidates of `names` ("all": every one) under `profile` not trained to their planned epochs. Epochs left
    count from this machine's checkpoint (a lease's is not brought back: a candidate's is over the size kept)."""
    from .candidate_runs import candidate_folder, candidate_record
    from .candidates import candidate_run_dir, candidate_specs

    prof = get_profile(profile)
    jobs = []
    for spec in candidate_specs(names):
        folder = candidate_folder(spec.name, prof.name, root)
        record = candidate_record(spec.name, prof.name, root)
        planned = spec.planned_epochs(prof)
        if record and record["epochs"]["run"] >= planned:
            continue
        state = read_state(candidate_run_dir(spec, prof.name))
        left = planned - (state["epochs_done"] if state is not None else 0)
        if record and record["epochs"]["run"]:
            per_epoch = record["train_seconds"] / record["epochs"]["run"]
            where = "; ".join(sorted({seg.get("device", "?") for seg in record["backends"]}))
        else:
            per_epoch, where = _same_network(spec, prof.name, root, device)
        jobs.append(Job(spec.paper, spec.name, str(folder), left, None if per_epoch is None else round(per_epoch * left, 1),
                        where, "candidate"))
    return jobs


def _same_network(spec, profile: str, root: Path, device: str) -> tuple[float | None, str | None]:
    """Seconds per epoch measured by a run of the same network and options in `spec`'s paper under `profile`
    (on `device` where it trained there)."""
    for other in get_experiments(spec.paper):
        folder = report_folder(other, profile, root)
        if (other.model, other.model_options) == (spec.model, spec.model_options) and (folder / RECORD_FILE).exists():
            record = ExperimentRecord.read(folder)
            if sum(record.epochs.run_per_seed):
                return _measured(record, folder, device)
    return None, None


def _run_job(job: Job, profile: str, deadline: float, jobs: int, reports_root: str, data_dir: str | None) -> dict:
    """Run one job as a `fer-lib train` process with the budget left until `deadline`."""
    left = deadline - time.time()
    if left < 30:
        return {**asdict(job), "status": "not started: the deadline had come", "seconds": 0.0}
    started = time.time()
    try:
        done = subprocess.run(job_command(job, profile, reports_root, data_dir), env=job_environment(deadline, jobs),
                              capture_output=True, text=True, timeout=left + GRACE_SECONDS)
        status = "ran" if done.returncode == 0 else f"failed (exit {done.returncode})"
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
    except subprocess.TimeoutExpired:
        status, tail = "stopped at the deadline (its checkpoint resumes it)", []
    return {**asdict(job), "status": status, "seconds": round(time.time() - started, 1), "tail": tail}


def job_command(job: Job, profile: str, reports_root: str, data_dir: str | None) -> list[str]:
    """The `fer-lib` process that runs `job`: `train` for an experiment or a study, `candidates train` for a
    candidate. No budget: the deadline in its environment stops it (`job_environment`). A candidate restarts where its
    checkpoint is not on the machine (a lease never has it, `_pending_candidates`): its saved run is kept in
    superseded/ and travels back with the folder."""
    if job.kind == "candidate":
        cmd = [sys.executable, "-m", "fer_lib", "candidates", "train", job.experiment, "--restart"]
    else:
        cmd = [sys.executable, "-m", "fer_lib", "train", job.paper, job.experiment]
    return cmd + ["--profile", profile, "--reports-root", reports_root] + (["--data-dir", data_dir] if data_dir else [])


def job_environment(deadline: float, jobs: int) -> dict[str, str]:
    """The environment of a job's process: the campaign's `deadline`, and a `jobs`-th of the device's memory."""
    from ..train import DEADLINE_ENV

    return {**os.environ, DEADLINE_ENV: f"{deadline:.0f}", "XLA_PYTHON_CLIENT_MEM_FRACTION": f"{0.9 / jobs:.2f}",
            "TF_FORCE_GPU_ALLOW_GROWTH": "true", "FER_PROGRESS": "0"}


def run_campaign(profile: str, minutes: float, jobs: int = 2, *, reports_root: Path | str | None = None,
                 papers: list[str] | None = None, experiments: list[str] | None = None,
                 data_dir: Path | str | None = None, candidates: list[str] | None = None) -> list[dict]:
    """Run the pending jobs `jobs` at a time until `minutes` from now (see the module); one result per job."""
    from joblib import Parallel, delayed

    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise FerError(f"--jobs must be a whole number of runs at once, at least 1, got {jobs!r}")
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not minutes > 0:
        raise FerError(f"--minutes must be a positive number of minutes, got {minutes!r}")
    root = Path(reports_root or reports_dir()).resolve()
    pending = pending_jobs(profile, root, papers, experiments, candidates)
    deadline = time.time() + 60 * minutes
    # each run is its own `fer-lib train` process (its own backend and device memory); joblib's workers only
    # start them and wait, so threads suffice, and feed the next job to whichever worker is free
    return Parallel(n_jobs=jobs, backend="threading")(
        delayed(_run_job)(job, profile, deadline, jobs, str(root), str(data_dir) if data_dir else None)
        for job in pending)


def pack(folders: list[Path | str], out: Path | str, root: Path | str, max_files: int = MAX_FILES,
         max_bytes: int = MAX_FILE_BYTES) -> list[Path]:
    """The `folders` (paths kept relative to `root`) as an xz tar in at most `max_files` parts of `max_bytes`
    (`campaign.tar.xz.000`, ...), or a FerError saying how much did not fit, before anything is written."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:xz") as tar:
        for folder in folders:
            tar.add(str(folder), arcname=str(Path(folder).resolve().relative_to(Path(root).resolve())))
    data = buffer.getvalue()
    parts = [data[i:i + max_bytes] for i in range(0, len(data), max_bytes)] or [b""]
    if len(parts) > max_files:
        raise FerError(f"the campaign's results pack to {len(data) / 2**20:.1f} MiB, more than {max_files} files of "
                       f"{max_bytes / 2**20:.0f} MiB; pack fewer runs per call")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for i, part in enumerate(parts):
        path = out / f"campaign.tar.xz.{i:03d}"
        path.write_bytes(part)
        written.append(path)
    return written


def unpack(parts: list[Path | str], root: Path | str) -> list[str]:
    """Restore what `pack` wrote under `root`, merging a packed log of test-split looks into `root`'s;
    returns the member names."""
    data = b"".join(Path(p).read_bytes() for p in sorted(parts, key=lambda p: str(p)))
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:xz") as tar:
        names = tar.getnames()
        folders = [m for m in tar.getmembers() if m.name != test_looks.LOG_FILE]
        tar.extractall(root, members=folders, filter="data")
        if test_looks.LOG_FILE in names:
            log = tar.extractfile(test_looks.LOG_FILE).read().decode()
            test_looks.merge_looks(root, list(csv.DictReader(io.StringIO(log))))
    return names


def main(argv: list[str] | None = None) -> int:
    import argparse

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--minutes", type=float, required=True)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--paper", action="append")
    parser.add_argument("--experiments", help="comma-separated experiment names")
    parser.add_argument("--reports-root")
    parser.add_argument("--data-dir")
    parser.add_argument("--pack-to", help="pack the touched report folders here (at most 8 files of 16 MiB)")
    parser.add_argument("--list", action="store_true", help="only list the pending jobs and their estimates")
    parser.add_argument("--candidates", help="issue 50's candidates to train: comma-separated names, or all; alone, "
                                             "only they run (with --paper or --experiments, those too)")
    args = parser.parse_args(argv)
    try:
        experiments = args.experiments.split(",") if args.experiments else None
        candidates = [name.strip() for name in args.candidates.split(",") if name.strip()] if args.candidates else None
        if candidates and not args.paper and not experiments:
            args.paper = []  # the candidates alone
        if args.list:
            for job in pending_jobs(args.profile, args.reports_root, args.paper, experiments, candidates):
                print(json.dumps(asdict(job)))
            return 0
        results = run_campaign(args.profile, args.minutes, args.jobs, reports_root=args.reports_root,
                               papers=args.paper, experiments=experiments, data_dir=args.data_dir,
                               candidates=candidates)
        for r in results:
            keys = ("paper", "experiment", "status", "seconds", "estimated_seconds") + (("tail",) if r["status"] != "ran" else ())
            print(json.dumps({k: r.get(k) for k in keys}))  # a failure's last lines: on a lent GPU they are all one sees
        if args.pack_to:
            touched = [p for r in results for p in sorted(Path(r["folder"]).parent.glob(Path(r["folder"]).name + "*"))
                       if p.is_dir()]  # the paper-rate folder and its fallback's; a study's folder
            root = Path(args.reports_root or reports_dir())
            looks = [root / test_looks.LOG_FILE] if (root / test_looks.LOG_FILE).exists() else []
            print("\n".join(str(p) for p in pack(touched + looks, args.pack_to, root)))
    except FerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
