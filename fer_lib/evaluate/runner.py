"""Experiments: a paper's protocol as data (`ExperimentSpec`), and the runner that measures it.

`run_experiment(spec, profile)` loads the dataset, preprocesses it (cached), splits it with the
named protocol, trains one model per seed (or, under a k-fold protocol, per fold) under the
profile's epochs and budget, evaluates each once on the test split, times the first run's model
on one face at a time (`latency.single_face_latency`), and writes the experiment's report folder.
On FER2013 each test image is also marked when an exact or near duplicate of it is in that run's
training images (`studies.audit.duplicate_groups`), and the report scores the deduplicated test
set beside the full one; a `holdout` part (e.g. PrivateTest, left out of every fold) is scored by
every run too. `report_interim(spec)` reports a run whose process ended before its budget as far
as it got (a lower bound), without training further. `rerender(folder)` rewrites a report
folder's tables, figures and record from its saved predictions and histories alone.

The learning-rate rule: a paper's learning rate is always run first. If that run does not train
(its predictions collapse to one class, or its best validation accuracy stays within 2 points of
the majority-class rate), it is reported as it is, and the experiment is run again, labelled, with
`fallback_lr` (not in the smoke profile, whose one epoch cannot tell). Where a report already says
that the paper's rate did not train under exactly the run's settings (`reported_untrained`), that
report stands and the fallback runs; `replace=True` retrains the paper's rate.
"""
from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Iterator

import numpy as np
import pandas as pd

from ..config import Profile, budget_minutes_in_seconds, cache_dir, get_profile, portable_path, reports_dir
from ..data import FaceDataset, PreprocessConfig, Prepared, prepare
from ..data.splits import KFOLD_PROTOCOLS, Split, folds_description, make_folds, make_split, shares_group
from ..errors import FerError
from ..files import atomic_folder, writable_dir, write_json
from ..models import build_model
from .. import provenance
from ..reporting import figures, pages, tables
from ..train import STOP_BUDGET, STOP_COLLAPSED, TrainConfig, TrainResult, fit, predict_proba
from . import claims as claims_lib
from . import test_looks
from .latency import single_face_latency
from .metrics import (SEED_RULE, classification_metrics, metrics_from_predictions, pooled_metrics,
                      recall_beside_specificity, save_labels, save_predictions, seed_summary)
from .record import RECORD_FILE, EpochsRecord, ExperimentRecord, RunStrength, refuse_weaker
from .train_plan import TrainPlan
from .warm_start import StartWeights, find_selected_weights, load_start_weights


@dataclass(frozen=True)
class ExperimentSpec:
    """One experiment of a paper: dataset, split protocol, model, how it trains, budget, seeds.

    `training` holds the paper's training settings; each run fills in its seed, the profile's
    epoch cap and budget. `compare_on_train_split` also sets every claim beside the training
    split's number (for papers whose tables are captioned training results). Under a k-fold
    protocol (`splits.KFOLD_PROTOCOLS`) the runs are the folds of `seeds[0]`; `holdout` names a
    FER2013 part no run trains on (e.g. "PrivateTest"), which every run also scores.
    """

    paper: str
    name: str
    title: str
    dataset: str
    protocol: str
    model: str
    training: TrainConfig
    protocol_options: dict = field(default_factory=dict)
    model_options: dict = field(default_factory=dict)
    preprocess: PreprocessConfig = PreprocessConfig()
    cpu_budget_minutes: float = 10.0
    seeds: tuple[int, ...] = (0,)
    fallback_lr: float | None = 1e-3
    compare_on_train_split: bool = False
    holdout: str | None = None
    cpu_epochs: int | None = None
    # another experiment of the same paper whose selected weights each run starts from (a warm restart:
    # `warm_start`); its runs must have completed under the same profile
    start_from: str | None = None
    # the rule in force that chooses among this experiment's recipes on held-out data (logged with every look
    # at its test split, `test_looks`); empty where nothing is chosen
    selection_rule: str = ""

    @property
    def kfold(self) -> bool:
        return self.protocol in KFOLD_PROTOCOLS

    def options_for(self, profile: str) -> dict:
        """The model options a run under `profile` builds with: under `paper`, ImageNet weights where the
        paper fine-tunes a pretrained network (its claims file's `pretrained` setting, stated or read), so an
        online user runs the paper's setup; the other profiles train from scratch, as our machines cannot
        download the weights (the verdicts say "different setup: no ImageNet weights")."""
        pretrained = claims_lib.load_settings(self.paper, self.model).get("pretrained")
        if profile == "paper" and pretrained is not None and pretrained.value == "imagenet":
            return {**self.model_options, "weights": "imagenet"}
        return dict(self.model_options)

    def planned_epochs(self, profile: Profile) -> int:
        """The epochs a run plans under `profile`: the training's, capped by the profile; under the cpu
        profile `cpu_epochs` where set (a schedule that anneals over its planned epochs is planned for
        what the budget trains, not stopped halfway through its decay)."""
        epochs = self.cpu_epochs if self.cpu_epochs is not None and profile.name == "cpu" else self.training.epochs
        return profile.epochs(epochs)


@dataclass
class ExperimentResult:
    """What one experiment variant (one learning rate, all its seeds) measured."""

    spec: ExperimentSpec
    label: str
    learning_rate: float
    folder: Path
    metrics: dict
    claims: list[dict]
    trained: bool
    runs: list[TrainResult]


@dataclass
class SeedRun:
    """One seed (or fold) of one experiment variant: its split, training record and test predictions."""

    seed: int  # the seed, or under a k-fold protocol the fold's number
    split: Split
    run: TrainResult
    test_proba: np.ndarray
    test_metrics: dict
    train_metrics: dict  # the same model on its own (unaugmented) training images
    train_pred: np.ndarray | None = None  # its predicted class for each training image
    holdout_proba: np.ndarray | None = None  # on the spec's holdout part
    started_from: StartWeights | None = None  # a warm restart's starting weights


def budget_seconds(spec: ExperimentSpec, profile: Profile, budget_minutes: float | None = None) -> float | None:
    """The per-seed wall-clock budget: the spec's minutes times the profile's scale, or the override's
    minutes as they stand under any profile (a `paper` run on a machine lent for minutes)."""
    if budget_minutes is not None:
        return budget_minutes_in_seconds(budget_minutes)
    return profile.budget_seconds(spec.cpu_budget_minutes)


def _did_train(run: TrainResult, val_labels: np.ndarray) -> bool:
    if run.stop_reason == STOP_COLLAPSED:
        return False
    if "val_accuracy" not in run.history or not len(val_labels):
        return True
    majority = np.bincount(val_labels).max() / len(val_labels)
    return bool(run.history["val_accuracy"].max() > majority + 0.02)


def data_fingerprint(model: str, model_options: dict, preprocess: PreprocessConfig, split: Split,
                     dataset: FaceDataset) -> str:
    """What a checkpoint must share to be resumed besides its training settings: the model and its
    options, the preprocessing, the split's index arrays, and the dataset's labels and ids."""
    digest = hashlib.sha1(f"{model}|{model_options}|{asdict(preprocess)}".encode())
    for part in (split.train, split.val, split.test, dataset.labels, dataset.ids.astype(str)):
        digest.update(np.ascontiguousarray(part).tobytes())
    return digest.hexdigest()


def train_and_evaluate(model: str, model_options: dict, dataset: FaceDataset, split: Split, config: TrainConfig,
                       run_dir: Path, preprocess: PreprocessConfig = PreprocessConfig(),
                       watch: dict[str, np.ndarray] | None = None, score_test: bool = True,
                       start: StartWeights | None = None, copy_sources: np.ndarray | None = None) -> SeedRun:
    """Train `model` on `split.train` of the (preprocessed) `dataset`, selecting on `split.val`, then
    score it once on `split.test` and on its own training images. The run folder resumes when model,
    data, split and config match. `watch` names index sets of `dataset` scored after every epoch into
    the history (recorded only, never used to select: see `fit`). `score_test=False` only trains
    (a probe whose split has no test part): the returned run has no predictions or metrics.
    Where validation and test are one set (`split.val_is_test`, a paper's own protocol) the last
    epoch's weights are evaluated: choosing the best epoch there would choose on the test set.
    `start` (a warm restart) gives the weights the network starts from instead of a random draw. `copy_sources`
    (indices of `dataset`) may be drawn as balancing copies but are never trained on as themselves (the
    leakage study's flaw 1, `fit`)."""
    images, y = dataset.images, dataset.labels
    if split.val_is_test:
        config = replace(config, restore_best=False)

    def build():
        network = build_model(model, images.shape[1:] + (1,), dataset.num_classes, **model_options)
        return network if start is None else load_start_weights(network, start)

    fingerprint = data_fingerprint(model, model_options, preprocess, split, dataset)
    if copy_sources is not None:
        fingerprint += "|copies from:" + hashlib.sha1(np.ascontiguousarray(copy_sources, np.int64).tobytes()).hexdigest()
    run = fit(build, (images[split.train], y[split.train]), (images[split.val], y[split.val]), config, run_dir,
              copy_sources=None if copy_sources is None else (images[copy_sources], y[copy_sources]),
              data_fingerprint=fingerprint if start is None else f"{fingerprint}|start:{start.sha256}",
              started_from=None if start is None else start.as_record(),
              watch={name: (images[idx], y[idx]) for name, idx in (watch or {}).items()})
    if not score_test:
        return SeedRun(config.seed, split, run, np.zeros((0, dataset.num_classes), np.float32), {}, {},
                       started_from=start)
    proba = predict_proba(run.model, images[split.test])
    train_pred = predict_proba(run.model, images[split.train]).argmax(axis=1)
    return SeedRun(config.seed, split, run, proba,
                   classification_metrics(y[split.test], proba.argmax(axis=1), dataset.class_names),
                   classification_metrics(y[split.train], train_pred, dataset.class_names), train_pred,
                   started_from=start)


def experiment_splits(spec: ExperimentSpec, dataset: FaceDataset, seeds: list[int]) -> dict[int, Split]:
    """The split of every run of `spec`: one per seed, or under a k-fold protocol one per fold of
    `seeds[0]`, numbered from 1. Holdout images are kept out of every split's training part."""
    if spec.kfold:
        splits = dict(enumerate(make_folds(spec.protocol, dataset, seed=seeds[0], **spec.protocol_options), start=1))
    else:
        splits = {seed: make_split(spec.protocol, dataset, seed=seed, **spec.protocol_options) for seed in seeds}
    held = holdout_index(spec, dataset)
    if held is not None:
        overlap = [k for k, split in splits.items() if np.isin(np.concatenate([split.train, split.val]), held).any()]
        if overlap:
            raise FerError(f"{spec.paper} {spec.name}: holdout {spec.holdout} overlaps the training or validation part "
                           f"of run(s) {overlap}; use a protocol that leaves it out (e.g. within='Training')")
    return splits


def holdout_index(spec: ExperimentSpec, dataset: FaceDataset) -> np.ndarray | None:
    """The images of the spec's holdout part (None: no holdout)."""
    if spec.holdout is None:
        return None
    if dataset.split is None or not (dataset.split == spec.holdout).any():
        raise FerError(f"holdout {spec.holdout!r} names no part of {dataset.name}; use one of: "
                       f"{', '.join(sorted(set(dataset.split.tolist()))) if dataset.split is not None else 'none'}")
    return np.flatnonzero(dataset.split == spec.holdout)


def unit_run_dir(spec: ExperimentSpec, profile: str, lr: float, unit: int) -> Path:
    """The checkpoint folder of one run of `spec` (a seed, or under a k-fold protocol a fold) at `lr`."""
    return (cache_dir() / "runs" / profile / spec.paper / spec.name / f"lr{lr:g}"
            / (f"fold{unit}" if spec.kfold else f"seed{unit}"))


def trained_rate(spec: ExperimentSpec, profile: str, reports_root: Path | str | None = None) -> float:
    """The learning rate of `spec`'s runs under `profile` that stand for its trained model (what a study
    built on the experiment starts from): the fallback rate where its checkpoints or its report (in
    `reports_root`, default the project's reports/) exist (`run_experiment` trains it only after the
    paper's rate did not train, and removes both once the paper's rate does), else the paper's rate."""
    if spec.fallback_lr is None or spec.fallback_lr == spec.training.learning_rate:
        return spec.training.learning_rate
    root = Path(reports_root if reports_root is not None else reports_dir())
    if ((unit_run_dir(spec, profile, spec.fallback_lr, 0) / "state.json").exists()
            or (root / profile / spec.paper / folder_name(spec, spec.fallback_lr) / RECORD_FILE).exists()):
        return spec.fallback_lr
    return spec.training.learning_rate


def unit_config(spec: ExperimentSpec, profile: Profile, lr: float, seed: int,
                budget_minutes: float | None = None) -> TrainConfig:
    """The training settings of one run of `spec` under `profile` at `lr`: the paper's, with the
    profile's epoch cap and budget and the run's seed."""
    return replace(spec.training.capped(spec.planned_epochs(profile)), learning_rate=lr, seed=seed,
                   budget_seconds=budget_seconds(spec, profile, budget_minutes))


def _train_unit(spec: ExperimentSpec, profile: Profile, dataset: FaceDataset, unit: int, split: Split, lr: float,
                budget_minutes: float | None) -> SeedRun:
    seed = split.seed if spec.kfold else unit
    config = unit_config(spec, profile, lr, seed, budget_minutes)
    result = train_and_evaluate(spec.model, spec.options_for(profile.name), dataset, split, config,
                                unit_run_dir(spec, profile.name, lr, unit), spec.preprocess,
                                start=start_weights(spec, profile.name, unit, len(dataset)))
    result.seed = unit
    held = holdout_index(spec, dataset)
    if held is not None:
        result.holdout_proba = predict_proba(result.run.model, dataset.images[held])
    return result


def selected_weights(spec: ExperimentSpec, profile: str, n_images: int, unit: int = 0,
                     models_dir: Path | None = None) -> StartWeights | None:
    """The selected weights of `spec`'s completed run `unit` under `profile` at the paper's learning rate:
    its checkpoint, else a shipped model whose sidecar names the run (`warm_start`); None where neither is."""
    return find_selected_weights(spec.paper, spec.name, profile, n_images,
                                 unit_run_dir(spec, profile, spec.training.learning_rate, unit), models_dir)


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


def duplicate_free(split: Split, groups: np.ndarray | None) -> np.ndarray | None:
    """Per test image of `split`, whether no exact or near duplicate of it is among the split's
    training images (None without duplicate groups: `audit.fer2013_duplicate_groups`)."""
    return None if groups is None else ~shares_group(split.test, split.train, groups)


def check_seeds(seeds: object) -> list[int]:
    """`seeds` as a list of distinct non-negative ints, or a FerError naming the bad value."""
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise FerError(f"seeds must be a list of non-negative integers, got {seeds!r}")
    seeds = list(seeds)
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0]
    if not seeds or bad or len(set(seeds)) != len(seeds):
        raise FerError(f"seeds must be a non-empty list of distinct non-negative integers, got {seeds!r}")
    return [int(s) for s in seeds]


def _prepare_units(spec: ExperimentSpec, prof: Profile, data_root: Path | str | None,
                   seeds: list[int] | None = None) -> tuple[Prepared, dict[int, Split], list[int]]:
    """The prepared dataset, the split of every run (`experiment_splits`) and the runs the profile
    trains (all, or under a single-seed profile the first); `seeds` overrides the spec's."""
    seeds = check_seeds(seeds if seeds is not None else spec.seeds)
    if not prof.multi_seed:
        seeds = seeds[:1]
    prepared = prepare(spec.dataset, data_root, prof.per_class, spec.preprocess)
    splits = experiment_splits(spec, prepared.dataset, seeds)
    return prepared, splits, list(splits) if prof.multi_seed else list(splits)[:1]


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
    prepared, splits, units = _prepare_units(spec, prof, data_root, seeds)
    dataset = prepared.dataset
    strength = RunStrength(len(dataset), tuple(units), budget_seconds(spec, prof, budget_minutes),
                           spec.planned_epochs(prof))
    for lr in (spec.training.learning_rate, spec.fallback_lr):
        folder = reports_root / prof.name / spec.paper / folder_name(spec, lr) if lr is not None else None
        if folder is not None and (folder / RECORD_FILE).exists():
            refuse_weaker(folder, strength, ExperimentRecord.read(folder).strength, replace)

    from ..studies.audit import fer2013_duplicate_groups
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
        with precision_pinned(paper_rate_precision if lr != spec.training.learning_rate else None):
            first = _train_unit(spec, prof, dataset, units[0], splits[units[0]], lr, budget_minutes)
            trained = _did_train(first.run, dataset.labels[first.split.val])
            per_seed = [first]
            # A run that did not train is reported from its one seed; the fallback gets the rest.
            if trained:
                per_seed += [_train_unit(spec, prof, dataset, u, splits[u], lr, budget_minutes) for u in units[1:]]
        if not trained and lr == spec.training.learning_rate:
            paper_rate_precision = (first.run.fast_paths or {}).get("precision")
        wall = time.monotonic() - started
        if not replace:
            refuse_fewer_epochs(reports_root / prof.name / spec.paper / folder_name(spec, lr), per_seed)
        results.append(_write_report(spec, prof, lr, dataset, prepared.summary, per_seed, trained, wall, reports_root,
                                     groups))
        if trained and lr == spec.training.learning_rate:
            retire_stale_fallback(spec, prof.name, reports_root)
        if trained or spec.fallback_lr is None or lr == spec.fallback_lr or not prof.fallback:
            return results
        lr = spec.fallback_lr


@contextlib.contextmanager
def precision_pinned(precision: str | None) -> Iterator[None]:
    """Train under `precision` (the paper rate's run's, for its fallback) unless FER_PRECISION is set by the
    user; None: as the machine's default would. Before this, a fallback on another machine could run in
    another precision (khalid2025: bfloat16 at 1e-3, float32 at 1e-4), changing two things at once."""
    if precision is None or os.environ.get("FER_PRECISION"):
        yield
        return
    os.environ["FER_PRECISION"] = precision
    try:
        yield
    finally:
        os.environ.pop("FER_PRECISION", None)


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


def report_folder(spec: ExperimentSpec, profile: str, reports_root: Path | str | None = None,
                  lr: float | None = None) -> Path:
    """The report folder of `spec` under `profile` at `lr` (default: the paper's learning rate); it may not
    exist yet."""
    root = Path(reports_root) if reports_root is not None else reports_dir()
    return root / profile / spec.paper / folder_name(spec, spec.training.learning_rate if lr is None else lr)


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
            and record.learning_rate == lr and record.train_config == expected
            # a run that did not train is reported from its first seed alone
            and record.strength == replace(strength, seeds=strength.seeds[:1]))


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
    prepared, splits, units = _prepare_units(spec, prof, data_root)
    dataset = prepared.dataset
    lr = spec.training.learning_rate
    used = {}
    for unit in units:
        state = unit_run_dir(spec, prof.name, lr, unit) / "state.json"
        if not state.exists():
            raise FerError(f"{spec.paper} {spec.name}: no checkpoint at {state.parent} to report; run the experiment first")
        used[unit] = json.loads(state.read_text())["elapsed_seconds"] / 60 / prof.budget_scale
    strength = RunStrength(len(dataset), tuple(units), prof.budget_seconds(max(used.values())),
                           spec.planned_epochs(prof))
    folder = reports_root / prof.name / spec.paper / folder_name(spec, lr)
    if (folder / RECORD_FILE).exists():
        refuse_weaker(folder, strength, ExperimentRecord.read(folder).strength, replace)
    started = time.monotonic()
    per_seed = [_train_unit(spec, prof, dataset, u, splits[u], lr, used[u]) for u in units]
    trained = _did_train(per_seed[0].run, dataset.labels[per_seed[0].split.val])
    from ..studies.audit import fer2013_duplicate_groups
    return _write_report(spec, prof, lr, dataset, prepared.summary, per_seed, trained, time.monotonic() - started,
                         reports_root, fer2013_duplicate_groups(prepared))


# ---------------------------------------------------------------------------------------------
# The report folder: written from a run, or re-rendered from what a run saved


def _label(spec: ExperimentSpec, lr: float) -> str:
    """The experiment's name, and for a fallback rate whose rate it replaced: the paper's stated one (quoted in
    the claims file's settings) or our reading where the paper states none."""
    paper_lr = spec.training.learning_rate
    if lr == paper_lr:
        return spec.name
    rate = claims_lib.load_settings(spec.paper, spec.model).get("learning_rate")
    whose = "the paper's stated" if rate is not None and rate.stated else "our reading's (not stated)"
    return f"{spec.name} (lr {lr:g}: {whose} {paper_lr:g} did not train)"


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


def folder_name(spec: ExperimentSpec, lr: float) -> str:
    """The name of `spec`'s report folder at `lr`: the experiment's name, with `__lr<rate>` for a fallback rate."""
    return spec.name if lr == spec.training.learning_rate else f"{spec.name}__lr{lr:g}"


def run_facts(record: ExperimentRecord) -> claims_lib.RunFacts:
    """What the verdicts need to know about a recorded run besides its numbers."""
    return claims_lib.RunFacts(
        protocol=record.protocol, protocol_options=record.protocol_options,
        protocol_description=record.protocol_description, epochs_run=tuple(record.epochs.run_per_seed),
        epochs_planned=record.epochs.planned, stopped_by_budget=STOP_BUDGET in record.epochs.stop_reasons,
        collapsed=not record.trained, optimizer=record.train_config.get("optimizer", ""),
        learning_rate=record.learning_rate, weights=(record.model_options or {}).get("weights"))


def collapse_study_note(path: Path) -> str:
    """What a saved collapse study beside the report found, for its collapse verdict ('' where there is none)."""
    if not path.exists():
        return ""
    saved = json.loads(path.read_text())
    # arms are compared within one machine: the study is as far as its furthest machine
    machines = saved.get("by_machine") or [{"arms_run": len(saved.get("rows", []))}]
    done = max(m["arms_run"] for m in machines)
    planned = saved.get("arms_planned", done)
    part = f" (part-way: {done} of {planned} arms on one machine)" if done < planned else ""
    return f"the collapse study (collapse_study/results.md){part} finds: {saved['finding']}"


def _final_logs(histories: dict[int, pd.DataFrame]) -> dict[str, float]:
    """The last epoch's Keras logs (loss, accuracy, val_loss, val_accuracy), averaged over runs."""
    last = pd.DataFrame([h.iloc[-1] for h in histories.values() if len(h)])
    return {k: float(last[k].mean()) for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in last}


def _subset_confusion(path: Path, key: str) -> tuple[np.ndarray, int] | None:
    """The confusion matrix of a predictions file over the images its boolean `key` marks, and how
    many it leaves out (None: no such key)."""
    with np.load(path) as z:
        if key not in z.files:
            return None
        keep = z[key]
        y_pred = z["y_pred"] if "y_pred" in z.files else z["proba"].argmax(axis=1)
        k = len(z["class_names"])
        return np.bincount(z["y_true"][keep] * k + y_pred[keep], minlength=k * k).reshape(k, k), int((~keep).sum())


def _extra_scores(folder: Path, record: ExperimentRecord, names: list[str], holdout: str | None) -> dict:
    """The deduplicated test set's and the holdout part's pooled metrics, where the run saved them."""
    extra = {}
    dedup = [_subset_confusion(folder / record.unit_file("predictions", u), "duplicate_free") for u in record.seeds]
    if all(d is not None for d in dedup):
        extra["deduplicated_test"] = {
            "description": "the test images with no exact or near duplicate among the run's training images",
            "removed": [removed for _, removed in dedup], **pooled_metrics([cm for cm, _ in dedup], names)}
    files = [folder / record.unit_file("holdout_predictions", u) for u in record.seeds]
    if holdout and all(f.exists() for f in files):
        per_run = [metrics_from_predictions(f) for f in files]
        extra["holdout"] = {"description": f"FER2013 {holdout}, which no run trained or selected on",
                            "per_run_accuracy": [m["accuracy"] for m in per_run],
                            **pooled_metrics([np.array(m["confusion_matrix"]) for m in per_run], names)}
    return extra


def _render(folder: Path, spec: ExperimentSpec, record: ExperimentRecord) -> list[dict]:
    """Write everything derived from a run's saved predictions and histories in `folder`: metrics.json,
    the claims tables, the figures, experiment.json (accuracy, seed summary, headline claim filled
    in here) and report.html. Verdicts rest on all seeds (or folds) pooled (`metrics.SEED_RULE`);
    the training split's claims on the pooled training-split predictions (none where they were not saved).
    Returns the claim rows."""
    units = record.seeds
    test_metrics = [metrics_from_predictions(folder / record.unit_file("predictions", u)) for u in units]
    histories = {u: pd.read_csv(folder / record.unit_file("history", u, "csv")) for u in units}
    train_files = [folder / record.unit_file("train_predictions", u) for u in units]
    train_per_unit = [metrics_from_predictions(f) for f in train_files] if all(f.exists() for f in train_files) else None
    metrics0 = test_metrics[0]
    names = metrics0["class_names"]
    pooled = pooled_metrics([np.array(m["confusion_matrix"]) for m in test_metrics], names)
    if train_per_unit:
        pooled_train = pooled_metrics([np.array(m["confusion_matrix"]) for m in train_per_unit], names)
        train_metrics, train_accuracies = train_per_unit[0], [m["accuracy"] for m in train_per_unit]
    else:
        pooled_train, train_metrics, train_accuracies = None, None, [None] * len(units)
    summary = seed_summary([m["accuracy"] for m in test_metrics])
    logs = _final_logs(histories)
    extra = _extra_scores(folder, record, names, spec.holdout)
    claims = [c for c in claims_lib.load_claims(spec.paper) if c.model in (None, spec.model)]
    facts = run_facts(record)
    if not record.trained:
        facts = replace(facts, collapse_note=collapse_study_note(folder.parent / "collapse_study" / "results.json"))
    rows = claims_lib.compare(claims, pooled, spec.dataset, facts, summary, pooled_train, logs,
                              claims_lib.load_settings(spec.paper, spec.model),
                              claims_lib.load_setups(spec.paper, spec.model),
                              claims_lib.mislabels(spec.paper, spec.dataset))
    if spec.compare_on_train_split:
        for row, claim in zip(rows, (c for c in claims if c.dataset == spec.dataset)):
            measured, _ = claims_lib.measured_value(claim, pooled_train)
            row["measured_on_train_split"] = None if measured is None else round(measured, 4)
    raw = claims_lib.load_paper(spec.paper)  # a paper of several models names a headline claim per model
    headline_id = raw.get("headline_by_model", {}).get(spec.model) or raw.get("headline", {}).get(spec.dataset)
    write_json(folder / "metrics.json", {
        "primary_seed": units[0], "unit": record.unit, "primary": metrics0, "seed_summary": summary,
        "pooled_over_seeds": pooled, "pooled_on_train_split": pooled_train if train_per_unit else None,
        "primary_on_train_split": train_metrics, "final_epoch_logs": logs, **extra,
        "per_seed": {str(u): {"accuracy": m["accuracy"], "accuracy_ci": m["accuracy_ci"], "macro_f1": m["macro_avg"]["f1"],
                              "train_split_accuracy": train_acc}
                     for u, m, train_acc in zip(units, test_metrics, train_accuracies)},
    })
    tables.write_claims_table(rows, folder)
    recall_beside_specificity(pooled).to_csv(folder / "per_class.csv", index=False)
    title = f"{spec.paper} {record.label} [{record.profile}]"
    figures.plot_learning_curves(histories, folder / "learning_curves.png", title)
    figures.plot_confusion(metrics0, folder / "confusion_matrix.png", f"{title}: test split, {record.unit} {units[0]}")
    record.accuracy, record.accuracy_ci = pooled["accuracy"], list(pooled["accuracy_ci"])
    record.seed_summary = summary
    record.seed_rule = SEED_RULE
    record.train_split_accuracy = pooled_train["accuracy"]
    record.extra_scores = {name: {"accuracy": v["accuracy"], "accuracy_ci": list(v["accuracy_ci"]), "n": v["n"],
                                  "n_seeds": v["n_seeds"], "description": v["description"]} for name, v in extra.items()} or None
    record.headline_claim = next((r for r in rows if r["claim_id"] == headline_id), None)
    record.write(folder)
    pages.experiment_page(folder)
    return rows


def _run_note(spec: ExperimentSpec, lr: float, trained: bool, first: SeedRun, n_runs: int, pre_summary: dict) -> str:
    partial = pre_summary.get("count_differences_from_public_release") or []
    unit = "fold" if spec.kfold else "seed"
    return ("" if trained else f"At lr {lr:g} this model did not train (see learning curves); reported as it is. ") + \
        (f"Verdicts and the headline accuracy: {SEED_RULE}" + (" (here the folds take the seeds' place: every image "
         "is tested once, by the fold that held it out; mean and sd over folds beside)." if spec.kfold else ".")) + \
        f" The confusion matrix is {unit} {first.seed}'s." + \
        (" Validation and test are one set here (the paper's protocol): the last epoch is evaluated, and no score "
         "is on an untouched test set." if first.split.val_is_test else "") + \
        (" Under this protocol each seed also re-draws the split, so the spread across seeds mixes the split "
         "and the initialisation." if spec.protocol != "official" and not spec.kfold and n_runs > 1 else "") + \
        (f" PARTIAL DATA: the copy used differs from the public release ({'; '.join(partial[:3])}"
         f"{'; ...' if len(partial) > 3 else ''})." if partial else "")


def _split_sizes(spec: ExperimentSpec, splits: list[Split]) -> dict[str, int]:
    """The first run's part sizes; under a k-fold protocol also the test images of all folds run,
    which the pooled accuracy covers (each image once)."""
    sizes = splits[0].sizes()
    if spec.kfold:
        sizes["test_all_folds"] = sum(len(split.test) for split in splits)
    return sizes


def _write_report(spec: ExperimentSpec, prof: Profile, lr: float, dataset: FaceDataset, pre_summary: dict,
                  per_seed: list[SeedRun], trained: bool, wall: float, reports_root: Path,
                  groups: np.ndarray | None = None) -> ExperimentResult:
    """Write the report folder of one variant's runs, with the first run's model's single-face
    inference time; `groups` (FER2013's duplicate groups) marks each test image that has no duplicate
    among its run's training images."""
    first = per_seed[0]
    latency = single_face_latency(first.run.model, dataset.images[first.split.test][:100])
    runs = [r.run for r in per_seed]
    record = ExperimentRecord(
        paper=spec.paper, experiment=spec.name, label=_label(spec, lr), title=spec.title, dataset=spec.dataset,
        protocol=spec.protocol, protocol_options=spec.protocol_options, protocol_description=first.split.protocol_description,
        model=spec.model, model_options=spec.options_for(prof.name), profile=prof.name, profile_description=prof.description,
        learning_rate=lr, paper_learning_rate=spec.training.learning_rate, trained=trained,
        seeds=[r.seed for r in per_seed], split_sizes=_split_sizes(spec, [r.split for r in per_seed]), n_images=len(dataset),
        epochs=EpochsRecord(planned=first.run.epochs_planned, run_per_seed=[r.epochs_run for r in runs],
                            best_epoch_per_seed=[r.best_epoch for r in runs], stop_reasons=[r.stop_reason for r in runs],
                            train_seconds_per_seed=[round(r.train_seconds, 1) for r in runs]),
        train_seconds_total=round(sum(r.train_seconds for r in runs), 1), train_config=asdict(first.run.config),
        fast_paths=first.run.fast_paths, wall_seconds=wall, accuracy=float("nan"), accuracy_ci=[],
        seed_summary={}, train_split_accuracy=float("nan"), headline_claim=None, preprocessing=pre_summary,
        note=_run_note(spec, lr, trained, first, len(per_seed), pre_summary), environment=provenance.environment(),
        backends=[r.backends for r in runs], placement=first.run.placement,
        unit="fold" if spec.kfold else "seed", holdout=spec.holdout, inference_latency=latency,
        started_from=[r.started_from.as_record() for r in per_seed] if first.started_from is not None else None,
    )
    folder = reports_root / prof.name / spec.paper / folder_name(spec, lr)
    held = holdout_index(spec, dataset)
    with atomic_folder(folder) as tmp:
        for r in per_seed:
            mask = duplicate_free(r.split, groups)
            save_predictions(tmp / record.unit_file("predictions", r.seed), dataset.labels[r.split.test], r.test_proba,
                             dataset.ids[r.split.test], dataset.class_names,
                             **({} if mask is None else {"duplicate_free": mask}))
            r.run.history.to_csv(tmp / record.unit_file("history", r.seed, "csv"), index=False)
            save_labels(tmp / record.unit_file("train_predictions", r.seed), dataset.labels[r.split.train], r.train_pred,
                        dataset.ids[r.split.train], dataset.class_names)
            if held is not None:
                save_predictions(tmp / record.unit_file("holdout_predictions", r.seed), dataset.labels[held],
                                 r.holdout_proba, dataset.ids[held], dataset.class_names)
        record.files = record.file_digests(tmp)
        rows = _render(tmp, spec, record)
    test_looks.log_look(reports_root, json.loads((folder / RECORD_FILE).read_text()), spec.selection_rule)
    return ExperimentResult(spec, record.label, lr, folder, first.test_metrics, rows, trained, runs)


def rerender(folder: Path | str) -> ExperimentRecord:
    """Rewrite a report folder's metrics, claims tables, figures, record and page from its saved
    predictions and histories, without training (e.g. after a change to the claims or verdicts)."""
    from ..papers import get_experiments

    folder = Path(folder)
    record = ExperimentRecord.read(folder)
    record.check_raw_files(folder)  # a missing, cut or changed file is refused, named, before anything is written
    if record.files is None:  # a record from before digests were kept: its files, checked above, are the run's
        record.files = record.file_digests(folder)
    if Path(record.preprocessing.get("source", "")).is_absolute():  # recorded before paths were portable
        record.preprocessing["source"] = portable_path(record.preprocessing["source"])
    spec = get_experiments(record.paper, record.experiment)[0]
    record.label = _label(spec, record.learning_rate)  # the label says whose rate failed, as the claims file has it
    if record.unit == "fold":  # records from before they named the whole cross-validation and its pooled size
        record.protocol_description = folds_description(record.protocol, **record.protocol_options)
        record.split_sizes["test_all_folds"] = sum(
            len(np.load(folder / record.unit_file("predictions", u))["y_true"]) for u in record.seeds)
    with atomic_folder(folder) as tmp:
        shutil.copytree(folder, tmp, dirs_exist_ok=True)
        _render(tmp, spec, record)
    return record
