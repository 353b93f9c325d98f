"""One run of an experiment: train a model on a split, select on its validation part, score it once.

`train_and_evaluate` trains (resuming from its checkpoint when model, data, split and settings match) and scores
the test part and the training images; `train_unit` is one seed (or fold) of an `ExperimentSpec` under a profile,
with its holdout part scored too; `experiment_splits` is every run's split. The learning-rate rule and the report
are the caller's (`studies.experiment_runs`, `reporting.experiment_report`).
"""
from __future__ import annotations

import contextlib
import hashlib
import os
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Iterator

import numpy as np

from ..config import Profile
from ..data import FaceDataset, PreprocessConfig, Prepared, prepare
from ..data.splits import Split, make_folds, make_split, shares_group
from ..errors import FerError
from ..models import build_model, get_model
from ..train import STOP_COLLAPSED, TrainConfig, TrainResult, fit, predict_proba
from .metrics import classification_metrics
from .run_store import start_weights, unit_run_dir
from .spec import ExperimentSpec, check_seeds, unit_config
from .warm_start import StartWeights, load_start_weights


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


def did_train(run: TrainResult, val_labels: np.ndarray) -> bool:
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
    digest = hashlib.sha1(f"{model}|{model_options}|{preprocess.identity()}".encode())
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
    get_model(model)  # imports the builders, registering the custom layers a checkpoint names before `fit` loads it
    if split.val_is_test:
        config = replace(config, restore_best=False)

    def build():
        network = build_model(model, images.shape[1:] + (1,), dataset.num_classes, **model_options)
        return network if start is None else load_start_weights(network, start)

    fingerprint = data_fingerprint(model, model_options, preprocess, split, dataset)
    fit_to = y[split.train]
    if config.targets == "distribution":  # FER+'s votes: fitted to each image's distribution, scored on its top class
        if dataset.label_distribution is None:
            raise FerError(f"{dataset.name} ({dataset.layout}) has no label distributions; targets='distribution' "
                           "needs one per image, such as FER+'s votes (dataset 'ferplus_votes')")
        fit_to = dataset.label_distribution[split.train].astype(np.float32)
        fingerprint += "|distributions:" + hashlib.sha1(np.ascontiguousarray(fit_to).tobytes()).hexdigest()
    if copy_sources is not None:
        fingerprint += "|copies from:" + hashlib.sha1(np.ascontiguousarray(copy_sources, np.int64).tobytes()).hexdigest()
    run = fit(build, (images[split.train], fit_to), (images[split.val], y[split.val]), config, run_dir,
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


def train_unit(spec: ExperimentSpec, profile: Profile, dataset: FaceDataset, unit: int, split: Split, lr: float,
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


def duplicate_free(split: Split, groups: np.ndarray | None) -> np.ndarray | None:
    """Per test image of `split`, whether no exact or near duplicate of it is among the split's
    training images (None without duplicate groups: `audit.fer2013_duplicate_groups`)."""
    return None if groups is None else ~shares_group(split.test, split.train, groups)


def prepare_units(spec: ExperimentSpec, prof: Profile, data_root: Path | str | None,
                   seeds: list[int] | None = None) -> tuple[Prepared, dict[int, Split], list[int]]:
    """The prepared dataset, the split of every run (`experiment_splits`) and the runs the profile
    trains (all, or under a single-seed profile the first); `seeds` overrides the spec's."""
    seeds = check_seeds(seeds if seeds is not None else spec.seeds)
    if not prof.multi_seed:
        seeds = seeds[:1]
    prepared = prepare(spec.dataset, data_root, prof.per_class, spec.preprocess)
    splits = experiment_splits(spec, prepared.dataset, seeds)
    return prepared, splits, list(splits) if prof.multi_seed else list(splits)[:1]


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
