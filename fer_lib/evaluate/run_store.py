"""Where the runs of an experiment are kept, and what a saved run may stand for.

A run's checkpoints live in the cache (`unit_run_dir`); its report folder in the reports (`report_folder`,
committed). A fresh checkout has the reports and not the cache, so every question "is this run already done?"
is answered here, from either: a finished report a caller reads instead of training (`finished_report`), the
folders that together hold an experiment (`saved_folders`), a paper rate on record as not training
(`reported_untrained`), one run of it a study reads instead of training again (`saved_unit`), the rate a study
starts from (`trained_rate`), and a warm restart's starting weights and the epochs before them (`start_weights`).

A budget-stopped run's checkpoint travels with its report (`keep_checkpoint`, `restore_checkpoint`): a session
that ends with the machine it trained on, or a fresh clone, continues the run from the epoch it reached instead
of from scratch. A run that completes its epochs leaves it out, and so does a model whose checkpoint (weights
and optimizer state) is over `MAX_KEPT_CHECKPOINT_BYTES`: abdulkadir2025's 20-30M-parameter networks would add
240-370 MB to git and could not come back from a GPU lease (8 files of 16 MiB).
"""
from __future__ import annotations

import shutil
from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING

from ..config import Profile, cache_dir, get_profile, reports_dir
from ..errors import FerError
from .record import RECORD_FILE, ExperimentRecord, RunStrength
from .spec import ExperimentSpec, budget_seconds, check_seeds, folder_name, unit_config
from .warm_start import StartWeights, find_selected_weights

from ..train.checkpoint import CHECKPOINT_FILES, STATE_FILE, has_checkpoint
from ..train.config import with_later_defaults

if TYPE_CHECKING:  # the runner imports this module
    from ..train.config import TrainConfig
    from .runner import SeedRun


def unit_name(spec: ExperimentSpec, unit: int) -> str:
    """One run of `spec` by name: "seed0", or under a k-fold protocol "fold3"."""
    return f"fold{unit}" if spec.kfold else f"seed{unit}"


def unit_run_dir(spec: ExperimentSpec, profile: str, lr: float, unit: int) -> Path:
    """The checkpoint folder of one run of `spec` (a seed, or under a k-fold protocol a fold) at `lr`."""
    return cache_dir() / "runs" / profile / spec.paper / spec.name / f"lr{lr:g}" / unit_name(spec, unit)


MAX_KEPT_CHECKPOINT_BYTES = 16 * 2**20  # khalid2025's and mahdi2025's are 5-8 MiB


CHECKPOINT_PREFIX = "checkpoint_"


def kept_checkpoint(folder: Path | str, unit_name: str) -> Path:
    """Where a report folder keeps the checkpoint of its budget-stopped run `unit_name` (e.g. "seed0")."""
    return Path(folder) / f"{CHECKPOINT_PREFIX}{unit_name}"


def keep_checkpoint(run_dir: Path | str, kept: Path | str, max_bytes: int | None = None) -> bool:
    """Copy the checkpoint in `run_dir` (the cache) to `kept`, inside a report folder being written, when its
    files add up to at most `max_bytes` (default `MAX_KEPT_CHECKPOINT_BYTES`); returns whether it was kept."""
    files = [Path(run_dir) / name for name in CHECKPOINT_FILES if (Path(run_dir) / name).exists()]
    if sum(f.stat().st_size for f in files) > (MAX_KEPT_CHECKPOINT_BYTES if max_bytes is None else max_bytes):
        return False
    kept = Path(kept)
    kept.mkdir(parents=True, exist_ok=True)
    for f in files:
        shutil.copy2(f, kept / f.name)
    return True


def restore_checkpoint(kept: Path | str, run_dir: Path | str) -> bool:
    """Copy a checkpoint kept in a report folder into `run_dir` when the cache holds none there; True when
    copied. `train.fit` then resumes it only if its configuration and data are the run's own (it checks the
    run id in state.json and starts afresh otherwise)."""
    kept, run_dir = Path(kept), Path(run_dir)
    if (run_dir / STATE_FILE).exists() or not has_checkpoint(kept):
        return False
    run_dir.mkdir(parents=True, exist_ok=True)
    for name in CHECKPOINT_FILES:
        if (kept / name).exists():
            shutil.copy2(kept / name, run_dir / name)
    return True


def report_folder(spec: ExperimentSpec, profile: str, reports_root: Path | str | None = None,
                  lr: float | None = None) -> Path:
    """The report folder of `spec` under `profile` at `lr` (default: the paper's learning rate); it may not
    exist yet."""
    root = Path(reports_root) if reports_root is not None else reports_dir()
    return root / profile / spec.paper / folder_name(spec, spec.training.learning_rate if lr is None else lr)


def trained_rate(spec: ExperimentSpec, profile: str, reports_root: Path | str | None = None) -> float:
    """The learning rate of `spec`'s runs under `profile` that stand for its trained model (what a study
    built on the experiment starts from): the fallback rate where its checkpoints or its report (in
    `reports_root`, default the project's reports/) exist (`run_experiment` trains it only after the
    paper's rate did not train, and removes both once the paper's rate does), else the paper's rate."""
    if spec.fallback_lr is None or spec.fallback_lr == spec.training.learning_rate:
        return spec.training.learning_rate
    root = Path(reports_root if reports_root is not None else reports_dir())
    if ((unit_run_dir(spec, profile, spec.fallback_lr, 0) / STATE_FILE).exists()
            or (root / profile / spec.paper / folder_name(spec, spec.fallback_lr) / RECORD_FILE).exists()):
        return spec.fallback_lr
    return spec.training.learning_rate


def finished_report(spec: ExperimentSpec, profile: str, n_images: int, *, reports_root: Path | str | None = None,
                    budget_minutes: float | None = None) -> Path | None:
    """The folder of `spec`'s report under `profile` at the paper's learning rate when it already rests on
    at least what a run now would (`n_images`, the profile's seeds, budget and planned epochs) and every
    run completed its planned epochs; else None. Such a report is a saved result a caller may read instead
    of training again (its checkpoints live in a cache a fresh checkout lacks)."""
    prof = get_profile(profile)
    folder = report_folder(spec, prof.name, reports_root)
    if not (folder / RECORD_FILE).exists():
        return None
    record = ExperimentRecord.read(folder)
    seeds = check_seeds(spec.seeds) if prof.multi_seed else check_seeds(spec.seeds)[:1]
    wanted = RunStrength(n_images, tuple(seeds), budget_seconds(spec, prof, budget_minutes), spec.planned_epochs(prof))
    return folder if record.trained and record.completed and not record.strength.shortfalls(wanted) else None


def saved_folders(spec: ExperimentSpec, profile: str, reports_root: Path | str | None = None) -> list[Path]:
    """`spec`'s saved report folders under `profile` (the paper's rate, then its fallback), when together they
    hold everything `run_experiment` would write: the paper's rate trained, or it did not and the fallback's
    report is there too (or the profile tries no fallback). Otherwise []: the experiment is missing."""
    prof = get_profile(profile)
    paper = report_folder(spec, prof.name, reports_root)
    if not (paper / RECORD_FILE).exists():
        return []
    if ExperimentRecord.read(paper).trained or not prof.fallback or spec.fallback_lr in (None, spec.training.learning_rate):
        return [paper]
    fallback = report_folder(spec, prof.name, reports_root, spec.fallback_lr)
    return [paper, fallback] if (fallback / RECORD_FILE).exists() else []


def reported_untrained(folder: Path, spec: ExperimentSpec, prof: Profile, strength: RunStrength,
                       budget_minutes: float | None = None) -> bool:
    """Whether `folder` holds a report that `spec`'s paper-rate run did not train, made under exactly
    the settings this run would use (model and its options, training settings, images, seeds, budget
    and epochs). Its checkpoints live in a cache a fresh checkout lacks; the committed report is the
    saved result, so the learning-rate rule goes on to the fallback instead of retraining a rate
    whose outcome is on record. Any difference, and the paper's rate trains again."""
    if not (folder / RECORD_FILE).exists():
        return False
    record = ExperimentRecord.read(folder)
    lr = spec.training.learning_rate
    expected = asdict(unit_config(spec, prof, lr, record.train_config.get("seed", -1), budget_minutes))
    return (not record.trained and record.model == spec.model and record.model_options == spec.options_for(prof.name)
            and record.learning_rate == lr and with_later_defaults(record.train_config) == expected
            # a run that did not train is reported from its first seed alone
            and record.strength == replace(strength, seeds=strength.seeds[:1]))


def saved_unit(spec: ExperimentSpec, profile: str, unit: int, config: "TrainConfig",
               reports_root: Path | str | None = None) -> tuple[Path, ExperimentRecord] | None:
    """The report folder and record of `spec` under `profile` that hold run `unit` trained under exactly `config`
    (rate, epochs planned, budget, seed) with the spec's model options, or None: what a study reads instead of
    training that run a second time (its checkpoints live in a cache a fresh checkout lacks). The budget is
    compared only where it stopped the run."""
    root = Path(reports_root if reports_root is not None else reports_dir())
    folder = root / profile / spec.paper / folder_name(spec, config.learning_rate)
    if not (folder / RECORD_FILE).exists():
        return None
    record = ExperimentRecord.read(folder)
    saved, wanted = with_later_defaults(record.train_config), asdict(config)
    if record.completed:  # a budget that never stopped the run did not shape it (a lent GPU's runs carry one)
        saved.pop("budget_seconds", None)
        wanted.pop("budget_seconds", None)
    if (unit not in record.seeds or not (folder / record.unit_file("predictions", unit)).exists()
            or record.profile != profile or record.model_options != spec.model_options or saved != wanted):
        return None
    return folder, record


def selected_weights(spec: ExperimentSpec, profile: str, n_images: int, unit: int = 0,
                     models_dir: Path | None = None, reports_root: Path | str | None = None) -> StartWeights | None:
    """The selected weights of `spec`'s completed run `unit` under `profile` at the paper's learning rate:
    its checkpoint, else a shipped model whose sidecar names the run, else that model kept beside the run's report
    under `reports_root` (`warm_start`); None where none is."""
    return find_selected_weights(spec.paper, spec.name, profile, n_images,
                                 unit_run_dir(spec, profile, spec.training.learning_rate, unit), models_dir,
                                 reports_root)


def start_weights(spec: ExperimentSpec, profile: str, unit: int, n_images: int,
                  reports_root: Path | str | None = None) -> StartWeights | None:
    """Where run `unit` of a warm-restarted `spec` starts (`selected_weights` of its source); None for a run
    that starts from random weights; a FerError naming the run to train first where they are not here.
    Its `epochs` count every run of a chain of restarts; `reports_root` (default: the project's reports/)
    is read only for a source checkpoint older than that count (`_epochs_before`)."""
    if spec.start_from is None:
        return None
    from ..papers import get_experiments

    source = get_experiments(spec.paper, spec.start_from)[0]
    found = selected_weights(source, profile, n_images, unit)
    if found is None:
        raise FerError(f"{spec.paper}'s {spec.name} starts from the weights of its {source.name} run under the "
                       f"{profile} profile, and no completed one is in the cache or shipped: train it first with "
                       f"`python -m fer_lib train {spec.paper} {source.name} --profile {profile}`")
    if source.start_from is not None and not found.counts_earlier_runs:
        found = replace(found, epochs=found.epochs + _epochs_before(source, profile, unit, n_images, reports_root),
                        counts_earlier_runs=True)
    return found


def _epochs_before(spec: ExperimentSpec, profile: str, unit: int, n_images: int,
                   reports_root: Path | str | None) -> int:
    """The epochs trained before warm-restarted `spec`'s run `unit`, for a checkpoint of it that does not
    say: its own starting weights' count where those are still here, else its committed report's."""
    try:
        return start_weights(spec, profile, unit, n_images, reports_root).epochs
    except FerError as missing:
        folder = report_folder(spec, profile, reports_root)
        if not (folder / RECORD_FILE).exists():
            raise missing
        record = ExperimentRecord.read(folder)
        if record.n_images != n_images or not record.started_from or unit not in record.seeds:
            raise missing
        return int(record.started_from[record.seeds.index(unit)]["epochs"])


def refuse_fewer_epochs(folder: Path, per_seed: list[SeedRun]) -> None:
    """After training: refuse to replace a saved report whose runs completed their planned epochs with runs a
    budget stopped short of them (a loaded machine trains fewer epochs in the same minutes). The checks before
    training compare what was planned; this one compares what was trained. The new runs' checkpoints stay in
    the cache, so a larger budget continues them."""
    if not (folder / RECORD_FILE).exists():
        return
    saved = ExperimentRecord.read(folder)
    short = [f"{r.seed}: {r.run.epochs_run}" for r in per_seed if r.run.stopped_by_budget]
    if saved.trained and saved.completed and short:
        raise FerError(f"{folder} holds runs that completed all {saved.epochs.planned} planned epochs; this run's budget "
                       f"stopped it short (epochs by seed {', '.join(short)}), so the saved report is kept and nothing "
                       "was written. Continue it from its checkpoints with a larger --budget-minutes, write elsewhere "
                       "with --reports-root, or replace on purpose with --replace")


def retire_stale_fallback(spec: ExperimentSpec, profile: str, reports_root: Path | str | None = None) -> Path | None:
    """Remove `spec`'s fallback-rate report and checkpoints of `profile` once its paper-rate run has
    trained; return the report folder if one was removed.

    A fallback report exists to say "the paper's rate did not train"; after the paper's rate trains (a
    longer budget, a model fixed since), that row would be false, so it leaves the reports (git keeps it),
    and its checkpoints leave the cache, so `trained_rate` no longer points at them."""
    if spec.fallback_lr is None or spec.fallback_lr == spec.training.learning_rate:
        return None
    checkpoints = unit_run_dir(spec, profile, spec.fallback_lr, 0).parent
    if checkpoints.exists():
        shutil.rmtree(checkpoints)
    root = Path(reports_root if reports_root is not None else reports_dir())
    stale = root / profile / spec.paper / folder_name(spec, spec.fallback_lr)
    if not (stale / RECORD_FILE).exists():
        return None
    shutil.rmtree(stale)
    print(f"[{spec.paper}] {spec.name} trained at the paper's rate: removed the fallback report {stale}", flush=True)
    return stale
