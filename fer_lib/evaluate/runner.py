"""Experiments: a paper's protocol as data (`ExperimentSpec`), and the runner that measures it.

`run_experiment(spec, profile)` loads the dataset, preprocesses it (cached), splits it with the
named protocol, trains one model per seed under the profile's epochs and budget, evaluates each
once on the test split, and writes the experiment's report folder. `rerender(folder)` rewrites a
report folder's tables, figures and record from its saved predictions and histories alone.

The learning-rate rule: a paper's learning rate is always run first. If that run does not train
(its predictions collapse to one class, or its best validation accuracy stays within 2 points of
the majority-class rate), it is reported as it is, and the experiment is run again, labelled, with
`fallback_lr`.
"""
from __future__ import annotations

import hashlib
import shutil
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import Profile, cache_dir, get_profile, portable_path, reports_dir
from ..data import FaceDataset, PreprocessConfig, prepare
from ..data.splits import Split, make_split
from ..errors import FerError
from ..files import atomic_folder, writable_dir, write_json
from ..models import build_model
from .. import provenance
from ..reporting import figures, pages, tables
from ..train import STOP_BUDGET, STOP_COLLAPSED, TrainConfig, TrainResult, fit, predict_proba
from . import claims as claims_lib
from .metrics import (SEED_RULE, classification_metrics, metrics_from_predictions, pooled_metrics, save_labels,
                      save_predictions, seed_summary)
from .record import EpochsRecord, ExperimentRecord, RunStrength, refuse_weaker


@dataclass(frozen=True)
class ExperimentSpec:
    """One experiment of a paper: dataset, split protocol, model, how it trains, budget, seeds.

    `training` holds the paper's training settings; each run fills in its seed, the profile's
    epoch cap and budget. `compare_on_train_split` also sets every claim beside the training
    split's number (for papers whose tables are captioned training results).
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
    """One seed of one experiment variant: its split, training record and test predictions."""

    seed: int
    split: Split
    run: TrainResult
    test_proba: np.ndarray
    test_metrics: dict
    train_metrics: dict  # the same model on its own (unaugmented) training images
    train_pred: np.ndarray | None = None  # its predicted class for each training image


def budget_seconds(spec: ExperimentSpec, profile: Profile, budget_minutes: float | None = None) -> float | None:
    """The per-seed wall-clock budget: the spec's (or the override's) minutes times the profile's scale."""
    return profile.budget_seconds(budget_minutes if budget_minutes is not None else spec.cpu_budget_minutes)


def _did_train(run: TrainResult, val_labels: np.ndarray) -> bool:
    if run.stop_reason == STOP_COLLAPSED:
        return False
    if "val_accuracy" not in run.history or not len(val_labels):
        return True
    majority = np.bincount(val_labels).max() / len(val_labels)
    return bool(run.history["val_accuracy"].max() > majority + 0.02)


def train_and_evaluate(model: str, model_options: dict, dataset: FaceDataset, split: Split, config: TrainConfig,
                       run_dir: Path, preprocess: PreprocessConfig = PreprocessConfig(),
                       watch: dict[str, np.ndarray] | None = None, score_test: bool = True) -> SeedRun:
    """Train `model` on `split.train` of the (preprocessed) `dataset`, selecting on `split.val`, then
    score it once on `split.test` and on its own training images. The run folder resumes when model,
    data, split and config match. `watch` names index sets of `dataset` scored after every epoch into
    the history (recorded only, never used to select: see `fit`). `score_test=False` only trains
    (a probe whose split has no test part): the returned run has no predictions or metrics."""
    images, y = dataset.images, dataset.labels
    digest = hashlib.sha1(f"{model}|{model_options}|{asdict(preprocess)}".encode())
    for part in (split.train, split.val, split.test, dataset.labels, dataset.ids.astype(str)):
        digest.update(np.ascontiguousarray(part).tobytes())
    run = fit(lambda: build_model(model, images.shape[1:] + (1,), dataset.num_classes, **model_options),
              (images[split.train], y[split.train]), (images[split.val], y[split.val]), config, run_dir,
              data_fingerprint=digest.hexdigest(),
              watch={name: (images[idx], y[idx]) for name, idx in (watch or {}).items()})
    if not score_test:
        return SeedRun(config.seed, split, run, np.zeros((0, dataset.num_classes), np.float32), {}, {})
    proba = predict_proba(run.model, images[split.test])
    train_pred = predict_proba(run.model, images[split.train]).argmax(axis=1)
    return SeedRun(config.seed, split, run, proba,
                   classification_metrics(y[split.test], proba.argmax(axis=1), dataset.class_names),
                   classification_metrics(y[split.train], train_pred, dataset.class_names), train_pred)


def _train_seed(spec: ExperimentSpec, profile: Profile, dataset: FaceDataset, seed: int, lr: float,
                runs_root: Path, budget_minutes: float | None) -> SeedRun:
    split = make_split(spec.protocol, dataset, seed=seed, **spec.protocol_options)
    config = replace(spec.training, learning_rate=lr, epochs=profile.epochs(spec.training.epochs), seed=seed,
                     budget_seconds=budget_seconds(spec, profile, budget_minutes))
    return train_and_evaluate(spec.model, spec.model_options, dataset, split, config,
                              runs_root / f"lr{lr:g}" / f"seed{seed}", spec.preprocess)


def check_seeds(seeds: object) -> list[int]:
    """`seeds` as a list of distinct non-negative ints, or a FerError naming the bad value."""
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise FerError(f"seeds must be a list of non-negative integers, got {seeds!r}")
    seeds = list(seeds)
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0]
    if not seeds or bad or len(set(seeds)) != len(seeds):
        raise FerError(f"seeds must be a non-empty list of distinct non-negative integers, got {seeds!r}")
    return [int(s) for s in seeds]


def run_experiment(spec: ExperimentSpec, profile: str = "smoke", *, data_root: Path | str | None = None,
                   reports_root: Path | str | None = None, seeds: list[int] | None = None,
                   budget_minutes: float | None = None, replace: bool = False) -> list[ExperimentResult]:
    """Run `spec` under `profile`; returns one result per learning-rate variant that ran.

    `seeds` overrides the spec's seeds (the profile decides whether all of them run);
    `budget_minutes` overrides the per-seed wall-clock budget of the cpu profile. A report already in
    `reports_root` (default: the project's reports/) made from more images, seeds, budget or epochs
    is not replaced unless `replace`: the run stops before training and says so.
    """
    prof = get_profile(profile)
    seeds = check_seeds(seeds if seeds is not None else spec.seeds)
    if not prof.multi_seed:
        seeds = seeds[:1]
    reports_root = writable_dir(reports_root if reports_root is not None else reports_dir(), "reports root")
    prepared = prepare(spec.dataset, data_root, prof.per_class, spec.preprocess)
    dataset = prepared.dataset
    strength = RunStrength(len(dataset), tuple(seeds), budget_seconds(spec, prof, budget_minutes),
                           prof.epochs(spec.training.epochs))
    for lr in (spec.training.learning_rate, spec.fallback_lr):
        folder = reports_root / prof.name / spec.paper / _folder_name(spec, lr) if lr is not None else None
        if folder is not None and (folder / "experiment.json").exists():
            refuse_weaker(folder, strength, ExperimentRecord.read(folder).strength, replace)
    runs_root = cache_dir() / "runs" / prof.name / spec.paper / spec.name

    results = []
    lr = spec.training.learning_rate
    while True:
        started = time.monotonic()
        first = _train_seed(spec, prof, dataset, seeds[0], lr, runs_root, budget_minutes)
        trained = _did_train(first.run, dataset.labels[first.split.val])
        per_seed = [first]
        # A run that did not train is reported from its one seed; the fallback gets the rest.
        if trained:
            per_seed += [_train_seed(spec, prof, dataset, s, lr, runs_root, budget_minutes) for s in seeds[1:]]
        wall = time.monotonic() - started
        results.append(_write_report(spec, prof, lr, dataset, prepared.summary, per_seed, trained, wall, reports_root))
        if trained or spec.fallback_lr is None or lr == spec.fallback_lr:
            return results
        lr = spec.fallback_lr


# ---------------------------------------------------------------------------------------------
# The report folder: written from a run, or re-rendered from what a run saved


def _label(spec: ExperimentSpec, lr: float) -> str:
    paper_lr = spec.training.learning_rate
    return spec.name if lr == paper_lr else f"{spec.name} (lr {lr:g}: the paper's {paper_lr:g} did not train)"


def _folder_name(spec: ExperimentSpec, lr: float) -> str:
    return spec.name if lr == spec.training.learning_rate else f"{spec.name}__lr{lr:g}"


def run_facts(record: ExperimentRecord) -> claims_lib.RunFacts:
    """What the verdicts need to know about a recorded run besides its numbers."""
    return claims_lib.RunFacts(
        protocol=record.protocol, protocol_options=record.protocol_options,
        protocol_description=record.protocol_description, epochs_run=tuple(record.epochs.run_per_seed),
        epochs_planned=record.epochs.planned, stopped_by_budget=STOP_BUDGET in record.epochs.stop_reasons,
        collapsed=not record.trained)


def _render(folder: Path, spec: ExperimentSpec, record: ExperimentRecord, test_metrics: list[dict],
            train_metrics: dict, train_accuracies: list[float], histories: dict[int, pd.DataFrame],
            train_confusions: list[np.ndarray] | None = None) -> list[dict]:
    """Write everything derived from a run's predictions and histories into `folder`: metrics.json,
    the claims tables, the figures, experiment.json (accuracy, seed summary, headline claim filled
    in here) and report.html. Verdicts rest on all seeds pooled (`metrics.SEED_RULE`); the training
    split's claims on the pooled training-split predictions where they were saved, else on seed
    `record.seeds[0]`'s. Returns the claim rows."""
    metrics0 = test_metrics[0]
    names = metrics0["class_names"]
    pooled = pooled_metrics([np.array(m["confusion_matrix"]) for m in test_metrics], names)
    pooled_train = pooled_metrics(train_confusions, names) if train_confusions else train_metrics
    summary = seed_summary([m["accuracy"] for m in test_metrics])
    claims = claims_lib.load_claims(spec.paper)
    rows = claims_lib.compare(claims, pooled, spec.dataset, run_facts(record), summary, pooled_train)
    if spec.compare_on_train_split:
        for row, claim in zip(rows, (c for c in claims if c.dataset == spec.dataset)):
            measured, _ = claims_lib.measured_value(claim, pooled_train)
            row["measured_on_train_split"] = None if measured is None else round(measured, 4)
    headline_id = claims_lib.load_paper(spec.paper).get("headline", {}).get(spec.dataset)
    write_json(folder / "metrics.json", {
        "primary_seed": record.seeds[0], "primary": metrics0, "seed_summary": summary,
        "pooled_over_seeds": pooled, "pooled_on_train_split": pooled_train if train_confusions else None,
        "primary_on_train_split": train_metrics,
        "per_seed": {str(seed): {"accuracy": m["accuracy"], "accuracy_ci": m["accuracy_ci"], "macro_f1": m["macro_avg"]["f1"],
                                 "train_split_accuracy": train_acc}
                     for seed, m, train_acc in zip(record.seeds, test_metrics, train_accuracies)},
    })
    tables.write_claims_table(rows, folder)
    title = f"{spec.paper} {record.label} [{record.profile}]"
    figures.plot_learning_curves(histories, folder / "learning_curves.png", title)
    figures.plot_confusion(metrics0, folder / "confusion_matrix.png", f"{title}: test split, seed {record.seeds[0]}")
    record.accuracy, record.accuracy_ci = pooled["accuracy"], list(pooled["accuracy_ci"])
    record.seed_summary = summary
    record.seed_rule = SEED_RULE
    record.train_split_accuracy = pooled_train["accuracy"]
    record.headline_claim = next((r for r in rows if r["claim_id"] == headline_id), None)
    record.write(folder)
    pages.experiment_page(folder)
    return rows


def _write_report(spec: ExperimentSpec, prof: Profile, lr: float, dataset: FaceDataset, pre_summary: dict,
                  per_seed: list[SeedRun], trained: bool, wall: float, reports_root: Path) -> ExperimentResult:
    first = per_seed[0]
    runs = [r.run for r in per_seed]
    partial = pre_summary.get("count_differences_from_public_release") or []
    note = ("" if trained else f"At lr {lr:g} this model did not train (see learning curves); reported as it is. ") + \
        f"Verdicts and the headline accuracy: {SEED_RULE}. The confusion matrix is seed {first.seed}'s." + \
        (" Under this protocol each seed also re-draws the split, so the spread across seeds mixes the split "
         "and the initialisation." if spec.protocol != "official" and len(per_seed) > 1 else "") + \
        (f" PARTIAL DATA: the copy used differs from the public release ({'; '.join(partial[:3])}"
         f"{'; ...' if len(partial) > 3 else ''})." if partial else "")
    record = ExperimentRecord(
        paper=spec.paper, experiment=spec.name, label=_label(spec, lr), title=spec.title, dataset=spec.dataset,
        protocol=spec.protocol, protocol_options=spec.protocol_options, protocol_description=first.split.description,
        model=spec.model, model_options=spec.model_options, profile=prof.name, profile_description=prof.description,
        learning_rate=lr, paper_learning_rate=spec.training.learning_rate, trained=trained,
        seeds=[r.seed for r in per_seed], split_sizes=first.split.sizes(), n_images=len(dataset),
        epochs=EpochsRecord(planned=first.run.epochs_planned, run_per_seed=[r.epochs_run for r in runs],
                            best_epoch_per_seed=[r.best_epoch for r in runs], stop_reasons=[r.stop_reason for r in runs],
                            train_seconds_per_seed=[round(r.train_seconds, 1) for r in runs]),
        train_seconds_total=round(sum(r.train_seconds for r in runs), 1), train_config=asdict(first.run.config),
        fast_paths=first.run.fast_paths, wall_seconds=wall, accuracy=float("nan"), accuracy_ci=[],
        seed_summary={}, train_split_accuracy=float("nan"), headline_claim=None, preprocessing=pre_summary,
        note=note, environment=provenance.environment(), backends=[r.backends for r in runs],
        placement=first.run.placement,
    )
    folder = reports_root / prof.name / spec.paper / _folder_name(spec, lr)
    with atomic_folder(folder) as tmp:
        for r in per_seed:
            save_predictions(tmp / f"predictions_seed{r.seed}.npz", dataset.labels[r.split.test], r.test_proba,
                             dataset.ids[r.split.test], dataset.class_names)
            r.run.history.to_csv(tmp / f"history_seed{r.seed}.csv", index=False)
            save_labels(tmp / f"train_predictions_seed{r.seed}.npz", dataset.labels[r.split.train], r.train_pred,
                        dataset.ids[r.split.train], dataset.class_names)
        rows = _render(tmp, spec, record, [r.test_metrics for r in per_seed], first.train_metrics,
                       [r.train_metrics["accuracy"] for r in per_seed], {r.seed: r.run.history for r in per_seed},
                       [np.array(r.train_metrics["confusion_matrix"]) for r in per_seed])
    return ExperimentResult(spec, record.label, lr, folder, first.test_metrics, rows, trained, runs)


def rerender(folder: Path | str) -> ExperimentRecord:
    """Rewrite a report folder's metrics, claims tables, figures, record and page from its saved
    predictions and histories, without training (e.g. after a change to the claims or verdicts).

    The training-split metrics, which need the model, are read back from the saved metrics.json.
    """
    import json

    from ..papers import get_experiments

    folder = Path(folder)
    record = ExperimentRecord.read(folder)
    if Path(record.preprocessing.get("source", "")).is_absolute():  # recorded before paths were portable
        record.preprocessing["source"] = portable_path(record.preprocessing["source"])
    spec = get_experiments(record.paper, record.experiment)[0]
    saved = json.loads((folder / "metrics.json").read_text())
    test_metrics = [metrics_from_predictions(folder / f"predictions_seed{s}.npz") for s in record.seeds]
    histories = {s: pd.read_csv(folder / f"history_seed{s}.csv") for s in record.seeds}
    train_accuracies = [saved["per_seed"][str(s)]["train_split_accuracy"] for s in record.seeds]
    train_files = [folder / f"train_predictions_seed{s}.npz" for s in record.seeds]
    train_confusions = [np.array(metrics_from_predictions(f)["confusion_matrix"]) for f in train_files] \
        if all(f.exists() for f in train_files) else None  # runs before they were saved: seed 0's metrics
    with atomic_folder(folder) as tmp:
        shutil.copytree(folder, tmp, dirs_exist_ok=True)
        _render(tmp, spec, record, test_metrics, saved["primary_on_train_split"], train_accuracies, histories,
                train_confusions)
    return record
