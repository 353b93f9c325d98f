"""Run an experiment and write its report: the learning-rate rule, and reading saved runs instead of training.

`run_experiment(spec, profile)` loads the dataset, preprocesses it (cached), splits it with the named protocol,
trains one model per seed (or, under a k-fold protocol, per fold) under the profile's epochs and budget, evaluates
each once on the test split, times the first run's model on one face at a time, and writes the experiment's
report folder (`reporting.experiment_report`). On FER2013 each test image is also marked when an exact or near
duplicate of it is in that run's training images (`studies.audit.duplicate_groups`), and the report scores the
deduplicated test set beside the full one; a `holdout` part (e.g. PrivateTest, left out of every fold) is scored
by every run too. `report_interim(spec)` reports a run whose process ended before its budget as far as it got
(a lower bound), without training further. `experiment_folders(spec, profile, plan)` trains only what a
notebook's `train` plan asks for and reads the rest as saved (`evaluate.run_store`).

The learning-rate rule: a paper's learning rate is always run first. If that run does not train (its predictions
collapse to one class, or its best validation accuracy stays within 2 points of the majority-class rate), it is
reported as it is, and the experiment is run again, labelled, with `fallback_lr` (not in the smoke profile, whose
one epoch cannot tell). Where a report already says that the paper's rate did not train under exactly the run's
settings (`reported_untrained`), that report stands and the fallback runs; `replace=True` retrains the paper's rate.
"""
from __future__ import annotations

import time
from pathlib import Path

from ..config import get_profile, reports_dir
from ..errors import FerError
from ..evaluate.record import RECORD_FILE, ExperimentRecord, RunStrength, refuse_weaker
from ..evaluate.run_store import (kept_checkpoint, refuse_fewer_epochs, reported_untrained, restore_checkpoint,
                                  retire_stale_fallback, saved_folders, unit_name, unit_run_dir)
from ..evaluate.runner import ExperimentResult, did_train, precision_pinned, prepare_units, train_unit
from ..evaluate.spec import ExperimentSpec, budget_seconds, folder_name
from ..evaluate.train_plan import TrainPlan
from ..files import writable_dir
from ..train.checkpoint import read_state
from ..reporting.experiment_report import write_report
from .audit import fer2013_duplicate_groups


def run_experiment(spec: ExperimentSpec, profile: str = "smoke", *, data_root: Path | str | None = None,
                   reports_root: Path | str | None = None, seeds: list[int] | None = None,
                   budget_minutes: float | None = None, replace: bool = False) -> list[ExperimentResult]:
    """Run `spec` under `profile`; returns one result per learning-rate variant that ran.

    `seeds` overrides the spec's seeds (the profile decides whether all of them run);
    `budget_minutes` overrides the per-seed wall-clock budget under any profile. A report already in
    `reports_root` (default: the project's reports/) made from more images, seeds, budget or epochs
    is not replaced unless `replace`: the run stops before training and says so.
    """
    prof = get_profile(profile)
    reports_root = writable_dir(reports_root if reports_root is not None else reports_dir(), "reports root")
    prepared, splits, units = prepare_units(spec, prof, data_root, seeds)
    dataset = prepared.dataset
    strength = RunStrength(len(dataset), tuple(units), budget_seconds(spec, prof, budget_minutes),
                           spec.planned_epochs(prof))
    for lr in (spec.training.learning_rate, spec.fallback_lr):
        folder = reports_root / prof.name / spec.paper / folder_name(spec, lr) if lr is not None else None
        if folder is not None and (folder / RECORD_FILE).exists():
            refuse_weaker(folder, strength, ExperimentRecord.read(folder).strength, replace)

    groups = fer2013_duplicate_groups(prepared)
    results = []
    lr = spec.training.learning_rate
    paper_rate_precision = None  # a fallback changes the rate and nothing else: it keeps the paper rate's precision
    if not replace and prof.fallback and spec.fallback_lr not in (None, lr):
        paper_rate_report = reports_root / prof.name / spec.paper / folder_name(spec, lr)
        if reported_untrained(paper_rate_report, spec, prof, strength, budget_minutes):
            print(f"[{spec.paper}] {spec.name}: {paper_rate_report} already reports that lr {lr:g} did not train "
                  f"under these exact settings; going on to the fallback lr {spec.fallback_lr:g} "
                  "(--replace retrains it)", flush=True)
            lr = spec.fallback_lr
            paper_rate_precision = (ExperimentRecord.read(paper_rate_report).fast_paths or {}).get("precision")
    while True:
        started = time.monotonic()
        _restore_kept_checkpoints(spec, prof.name, lr, units, reports_root / prof.name / spec.paper / folder_name(spec, lr))
        with precision_pinned(paper_rate_precision if lr != spec.training.learning_rate else None):
            first = train_unit(spec, prof, dataset, units[0], splits[units[0]], lr, budget_minutes)
            trained = did_train(first.run, dataset.labels[first.split.val])
            per_seed = [first]
            # A run that did not train is reported from its one seed; the fallback gets the rest.
            if trained:
                per_seed += [train_unit(spec, prof, dataset, u, splits[u], lr, budget_minutes) for u in units[1:]]
        if not trained and lr == spec.training.learning_rate:
            paper_rate_precision = (first.run.fast_paths or {}).get("precision")
        wall = time.monotonic() - started
        if not replace:
            refuse_fewer_epochs(reports_root / prof.name / spec.paper / folder_name(spec, lr), per_seed)
        results.append(write_report(spec, prof, lr, dataset, prepared.summary, per_seed, trained, wall, reports_root,
                                     groups))
        if trained and lr == spec.training.learning_rate:
            retire_stale_fallback(spec, prof.name, reports_root)
        if trained or spec.fallback_lr is None or lr == spec.fallback_lr or not prof.fallback:
            return results
        lr = spec.fallback_lr


def _restore_kept_checkpoints(spec: ExperimentSpec, profile: str, lr: float, units: list[int], folder: Path) -> None:
    """Continue budget-stopped runs whose checkpoints travelled with their report (`run_store.keep_checkpoint`)
    where this machine's cache has none."""
    for unit in units:
        if restore_checkpoint(kept_checkpoint(folder, unit_name(spec, unit)), unit_run_dir(spec, profile, lr, unit)):
            print(f"[{spec.paper}] {spec.name}: {unit_name(spec, unit)} continues from the checkpoint kept in {folder}",
                  flush=True)


def experiment_folders(spec: ExperimentSpec, profile: str, plan: TrainPlan, *, data_root: Path | str | None = None,
                       reports_root: Path | str | None = None, seeds: list[int] | None = None,
                       budget_minutes: float | None = None, replace: bool = False) -> list[Path]:
    """`spec`'s report folders under `profile`: trained now where `plan` says so, else read as saved ([] when
    the plan trains nothing and no report is saved). Re-executing a notebook whose runs exist trains nothing."""
    saved = saved_folders(spec, profile, reports_root)
    if not plan.trains(spec.name, saved=bool(saved)):
        if not saved:
            print(plan.not_trained(spec.paper, spec.name, get_profile(profile).name), flush=True)
        return saved
    return [r.folder for r in run_experiment(spec, profile, data_root=data_root, reports_root=reports_root,
                                             seeds=seeds, budget_minutes=budget_minutes, replace=replace)]


def report_interim(spec: ExperimentSpec, profile: str = "cpu", *, data_root: Path | str | None = None,
                   reports_root: Path | str | None = None, replace: bool = False) -> ExperimentResult:
    """Report a run that was stopped before its budget (its process ended) as far as it got, without
    training further: each unit's checkpoint is resumed with a budget equal to the time it has used,
    so the report says "stopped by wall-clock budget" at the epochs reached, and its verdicts are lower
    bounds. A later run continues from the same checkpoints with the full budget. The paper's
    learning rate only; a unit with no checkpoint is a FerError."""
    prof = get_profile(profile)
    if prof.budget_scale is None:
        raise FerError(f"profile {profile} has no budget, so a stopped run of it has none to report against; "
                       "run the experiment to its end instead")
    reports_root = writable_dir(reports_root if reports_root is not None else reports_dir(), "reports root")
    prepared, splits, units = prepare_units(spec, prof, data_root)
    dataset = prepared.dataset
    lr = spec.training.learning_rate
    used = {}
    for unit in units:
        run_dir = unit_run_dir(spec, prof.name, lr, unit)
        state = read_state(run_dir)
        if state is None:
            raise FerError(f"{spec.paper} {spec.name}: no checkpoint at {run_dir} to report; run the experiment first")
        used[unit] = state["elapsed_seconds"] / 60 / prof.budget_scale
    strength = RunStrength(len(dataset), tuple(units), prof.budget_seconds(max(used.values())),
                           spec.planned_epochs(prof))
    folder = reports_root / prof.name / spec.paper / folder_name(spec, lr)
    if (folder / RECORD_FILE).exists():
        refuse_weaker(folder, strength, ExperimentRecord.read(folder).strength, replace)
    started = time.monotonic()
    per_seed = [train_unit(spec, prof, dataset, u, splits[u], lr, used[u]) for u in units]
    trained = did_train(per_seed[0].run, dataset.labels[per_seed[0].split.val])
    return write_report(spec, prof, lr, dataset, prepared.summary, per_seed, trained, time.monotonic() - started,
                         reports_root, fer2013_duplicate_groups(prepared))
