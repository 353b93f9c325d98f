"""Experiments: a paper's protocol as data (`ExperimentSpec`), and the runner that measures it.

`run_experiment(spec, profile)` loads the dataset, preprocesses it (cached), splits it with the
named protocol, trains one model per seed under the profile's epochs and budget, evaluates each
once on the test split, and writes the experiment's report folder.

The learning-rate rule, from the issue: a paper's learning rate is always run first. If that run
does not train (its predictions collapse to one class, or its best validation accuracy stays
within 2 points of the majority-class rate), it is reported as it is, and the experiment is run
again, labelled, with `fallback_lr`.
"""
from __future__ import annotations

import hashlib
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from . import claims as claims_lib
from . import reports
from .config import Profile, cache_dir, get_profile
from .datasets import FaceDataset, count_differences, load_dataset, stratified_subset
from .errors import FerError
from .metrics import classification_metrics, save_predictions, seed_summary
from .models import build_model
from .preprocessing import PreprocessConfig, preprocess_images
from .splits import Split, make_split
from .training import STOP_COLLAPSED, TrainConfig, TrainResult, fit, predict_proba


@dataclass(frozen=True)
class ExperimentSpec:
    """One experiment of a paper: dataset, split protocol, model, training settings, budget, seeds."""

    paper: str
    name: str
    title: str
    dataset: str
    protocol: str
    model: str
    protocol_options: dict = field(default_factory=dict)
    model_options: dict = field(default_factory=dict)
    preprocess: PreprocessConfig = PreprocessConfig()
    learning_rate: float = 0.01
    batch_size: int = 16
    epochs: int = 100
    optimizer: str = "adam"
    balance: bool = True
    augment: str = "copies"
    cpu_budget_minutes: float = 10.0
    seeds: tuple[int, ...] = (0,)
    fallback_lr: float | None = 1e-3


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


def prepare_data(spec: ExperimentSpec, profile: Profile, data_root: Path | str | None = None) -> tuple[FaceDataset, np.ndarray, dict]:
    """The dataset (subset for the profile), its preprocessed images, and a preprocessing summary."""
    dataset = load_dataset(spec.dataset, data_root)
    differences = count_differences(dataset)
    if profile.per_class is not None:
        dataset = stratified_subset(dataset, profile.per_class, seed=0)
    pre = preprocess_images(dataset.images, spec.preprocess)
    summary = {
        "config": asdict(spec.preprocess),
        "images": len(dataset),
        "no_face_found": pre.no_face_count,
        "no_face_policy": "full frame kept (the images are already face crops)",
        "unreadable_skipped": len(dataset.skipped),
        "count_differences_from_public_release": differences,
        "source": dataset.source,
        "layout": dataset.layout,
    }
    return dataset, pre.images, summary


def _did_train(run: TrainResult, val_labels: np.ndarray) -> bool:
    if run.stop_reason == STOP_COLLAPSED:
        return False
    if "val_accuracy" not in run.history or not len(val_labels):
        return True
    majority = np.bincount(val_labels).max() / len(val_labels)
    return bool(run.history["val_accuracy"].max() > majority + 0.02)


def budget_seconds(spec: ExperimentSpec, profile: Profile, budget_minutes: float | None = None) -> float | None:
    """The per-seed wall-clock budget: the spec's (or the override's) minutes times the profile's scale."""
    return profile.budget_seconds(budget_minutes if budget_minutes is not None else spec.cpu_budget_minutes)


@dataclass
class SeedRun:
    """One seed of one experiment variant: its split, training record and test predictions."""

    seed: int
    split: Split
    run: TrainResult
    test_proba: np.ndarray
    test_metrics: dict
    train_metrics: dict  # the same model on its own (unaugmented) training images


def train_and_evaluate(model: str, model_options: dict, dataset: FaceDataset, images: np.ndarray, split: Split,
                       config: TrainConfig, run_dir: Path, preprocess: PreprocessConfig = PreprocessConfig()) -> SeedRun:
    """Train `model` on `split.train` (selecting on `split.val`), then score it once on `split.test`
    and on its own training images. The run folder resumes when model, data, split and config match."""
    y = dataset.labels
    digest = hashlib.sha1(f"{model}|{model_options}|{asdict(preprocess)}".encode())
    for part in (split.train, split.val, split.test, dataset.labels, dataset.ids.astype(str)):
        digest.update(np.ascontiguousarray(part).tobytes())
    run = fit(lambda: build_model(model, images.shape[1:] + (1,), dataset.num_classes, **model_options),
              (images[split.train], y[split.train]), (images[split.val], y[split.val]), config, run_dir,
              data_fingerprint=digest.hexdigest())
    proba = predict_proba(run.model, images[split.test])
    train_pred = predict_proba(run.model, images[split.train]).argmax(axis=1)
    return SeedRun(config.seed, split, run, proba,
                   classification_metrics(y[split.test], proba.argmax(axis=1), dataset.class_names),
                   classification_metrics(y[split.train], train_pred, dataset.class_names))


def _train_seed(spec: ExperimentSpec, profile: Profile, dataset: FaceDataset, images: np.ndarray,
                seed: int, lr: float, runs_root: Path, budget_minutes: float | None) -> SeedRun:
    split = make_split(spec.protocol, dataset, seed=seed, **spec.protocol_options)
    epochs = spec.epochs if profile.max_epochs is None else min(spec.epochs, profile.max_epochs)
    config = TrainConfig(optimizer=spec.optimizer, learning_rate=lr, batch_size=spec.batch_size, epochs=epochs,
                         seed=seed, balance=spec.balance, augment=spec.augment,
                         budget_seconds=budget_seconds(spec, profile, budget_minutes))
    return train_and_evaluate(spec.model, spec.model_options, dataset, images, split, config,
                              runs_root / f"lr{lr:g}" / f"seed{seed}", spec.preprocess)


def run_experiment(spec: ExperimentSpec, profile: str = "smoke", *, data_root: Path | str | None = None,
                   reports_root: Path | str = "reports", seeds: list[int] | None = None,
                   budget_minutes: float | None = None) -> list[ExperimentResult]:
    """Run `spec` under `profile`; returns one result per learning-rate variant that ran.

    `seeds` overrides the spec's seeds (the profile decides whether all of them run);
    `budget_minutes` overrides the per-seed wall-clock budget of the cpu profile.
    """
    prof = get_profile(profile)
    seeds = list(seeds if seeds is not None else spec.seeds)
    if not seeds:
        raise FerError("seeds must list at least one integer seed")
    if not prof.multi_seed:
        seeds = seeds[:1]
    dataset, images, pre_summary = prepare_data(spec, prof, data_root)
    runs_root = cache_dir() / "runs" / prof.name / spec.paper / spec.name
    claims = claims_lib.load_claims(spec.paper)
    headline_id = claims_lib.load_paper(spec.paper).get("headline", {}).get(spec.dataset)

    results = []
    lr = spec.learning_rate
    while True:
        started = time.monotonic()
        first = _train_seed(spec, prof, dataset, images, seeds[0], lr, runs_root, budget_minutes)
        trained = _did_train(first.run, dataset.labels[first.split.val])
        per_seed = [first]
        # A run that did not train is reported from its one seed; the fallback gets the rest.
        if trained:
            per_seed += [_train_seed(spec, prof, dataset, images, s, lr, runs_root, budget_minutes) for s in seeds[1:]]
        wall = time.monotonic() - started
        label = spec.name if lr == spec.learning_rate else f"{spec.name} (lr {lr:g}: the paper's {spec.learning_rate:g} did not train)"
        results.append(_write_report(spec, prof, label, lr, dataset, pre_summary, per_seed, trained, wall,
                                     claims, headline_id, Path(reports_root)))
        if trained or spec.fallback_lr is None or lr == spec.fallback_lr:
            return results
        lr = spec.fallback_lr


def _write_report(spec: ExperimentSpec, prof: Profile, label: str, lr: float, dataset: FaceDataset,
                  pre_summary: dict, per_seed: list[SeedRun], trained: bool, wall: float, claims: list,
                  headline_id: str | None, reports_root: Path) -> ExperimentResult:
    first = per_seed[0]
    metrics0 = first.test_metrics
    summary = seed_summary([r.test_metrics["accuracy"] for r in per_seed])
    rows = claims_lib.compare(claims, metrics0, spec.dataset, summary)
    # yousaf2024's Tables 3-4 are captioned "training results": show the training split's number too.
    for row, on_train in zip(rows, claims_lib.compare(claims, first.train_metrics, spec.dataset)):
        row["measured_on_train_split"] = on_train["measured"]
    headline = next((r for r in rows if r["claim_id"] == headline_id), None)
    folder_name = spec.name if lr == spec.learning_rate else f"{spec.name}__lr{lr:g}"
    folder = reports_root / prof.name / spec.paper / folder_name
    note = ("" if trained else f"At lr {lr:g} this model did not train (see learning curves); reported as it is. ") + \
        f"Measured on the test split of seed {first.seed}; other seeds enter the mean and sd."
    runs = [r.run for r in per_seed]
    with reports.atomic_folder(folder) as tmp:
        for r in per_seed:
            save_predictions(tmp / f"predictions_seed{r.seed}.npz", dataset.labels[r.split.test], r.test_proba,
                             dataset.ids[r.split.test], dataset.class_names)
            r.run.history.to_csv(tmp / f"history_seed{r.seed}.csv", index=False)
        reports.write_json(tmp / "metrics.json", {
            "primary_seed": first.seed, "primary": metrics0, "seed_summary": summary,
            "primary_on_train_split": first.train_metrics,
            "per_seed": {str(r.seed): {"accuracy": r.test_metrics["accuracy"], "accuracy_ci": r.test_metrics["accuracy_ci"],
                                       "macro_f1": r.test_metrics["macro_avg"]["f1"],
                                       "train_split_accuracy": r.train_metrics["accuracy"]} for r in per_seed},
        })
        reports.write_claims_table(rows, tmp)
        title = f"{spec.paper} {label} [{prof.name}]"
        reports.plot_learning_curves({r.seed: r.run.history for r in per_seed}, tmp / "learning_curves.png", title)
        reports.plot_confusion(metrics0, tmp / "confusion_matrix.png", f"{title}: test split, seed {first.seed}")
        train_config = asdict(first.run.config)
        reports.write_json(tmp / "experiment.json", {
            "paper": spec.paper, "experiment": spec.name, "label": label, "title": spec.title,
            "dataset": spec.dataset, "protocol": spec.protocol, "protocol_options": spec.protocol_options,
            "protocol_description": first.split.description, "model": spec.model, "model_options": spec.model_options,
            "profile": prof.name, "profile_description": prof.description,
            "learning_rate": lr, "paper_learning_rate": spec.learning_rate, "trained": trained,
            "seeds": [r.seed for r in per_seed], "split_sizes": first.split.sizes(), "n_images": len(dataset),
            "epochs": {"planned": first.run.epochs_planned, "run_per_seed": [r.epochs_run for r in runs],
                       "best_epoch_per_seed": [r.best_epoch for r in runs],
                       "stop_reasons": [r.stop_reason for r in runs],
                       "train_seconds_per_seed": [round(r.train_seconds, 1) for r in runs]},
            "train_seconds_total": round(sum(r.train_seconds for r in runs), 1),
            "train_config": train_config, "fast_paths": first.run.fast_paths, "wall_seconds": wall,
            "accuracy": metrics0["accuracy"], "accuracy_ci": metrics0["accuracy_ci"], "seed_summary": summary,
            "train_split_accuracy": first.train_metrics["accuracy"],
            "headline_claim": headline, "preprocessing": pre_summary, "note": note,
            "environment": reports.environment(),
        })
        reports.experiment_page(tmp)
    return ExperimentResult(spec, label, lr, folder, metrics0, rows, trained, runs)
