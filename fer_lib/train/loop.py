"""The fit loop: compile and fit a model from a `TrainConfig`, checkpointed, budgeted, on any backend.

- Each run records the commit, backend, device and packages it trained under, a new segment
  from the epoch where any of them changed (a run resumed after a code change says so).
- Every epoch writes a checkpoint (model with optimizer state, best weights, history) into the run
  folder; a restarted run with the same configuration and data resumes from the last one, under
  any Keras backend (the checkpoint is a plain `.keras` file; each backend's segment is recorded).
- A wall-clock budget stops training cleanly between epochs and counts time across restarts, so a
  resumed run does not get a fresh budget; a larger budget continues a budget-stopped run. A deadline
  (`$FER_DEADLINE`, this call's alone) stops it the same way; a run not yet trained one epoch trains one.
- The weights evaluated at the end are those of the best validation epoch, when there is a
  validation set and `config.restore_best`, else the last epoch's.
- Where it trains (one device or data parallelism) comes from `backend.placement()`; how fast
  (precision, XLA, steps per execution) from `FastPaths`. See the callbacks for the stop rules.
- Under JAX, which compiles a step for every batch shape, every batch has one shape (`predict.fixed_shapes`):
  each epoch's last partial training batch is dropped (the state says how many images an epoch left out),
  the validation set is scored by `predict_proba` in padded batches, compiled programs are kept on disk
  between processes, and each epoch's compilations and their seconds go into its history row
  (`compilation.py`). A run compiles its training step and its prediction step once each.
"""
from __future__ import annotations

import hashlib
import math
import json
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import pandas as pd

from ..config import cache_dir
from ..errors import FerError
from ..data.pipeline import build_augmenter, dropped_per_epoch, make_dataset, training_plan
from ..files import write_text
from . import backend
from ..provenance import check_committed, diff_sha256, git_commit, training_environment
from .callbacks import (BudgetStop, Checkpoint, CollapseStop, EpochProgress, EpochRecord, HeldOutScores, RunState,
                        WatchScores, next_epoch_exceeds)
from .checkpoint import MODEL_FILE, WEIGHTS_FILE
from .compilation import CompileRecord, compile_log, use_persistent_cache
from .config import STOP_BUDGET, TrainConfig, deadline_from_env
from .fast_paths import FastPaths, dtype_policy
from .predict import fixed_shapes

# 2: models take 0-255 pixels and scale them themselves. Checkpoints of format 1 expected [0, 1]
# inputs and are not resumed (their run ids differ).
CHECKPOINT_FORMAT = 2
# what starts a new provenance segment of a run (each carries the environment it trained under)
SEGMENT_KEYS = ("backend", "backend_version", "device", "git_commit")
# the state.json key of a run's starting weights (None: a random start); absent from older checkpoints
STARTED_FROM = "started_from"


@dataclass
class TrainResult:
    """A trained model (best or last weights) and the record of how training went."""

    model: keras.Model
    history: pd.DataFrame
    epochs_run: int
    epochs_planned: int
    stop_reason: str
    train_seconds: float
    best_epoch: int | None
    config: TrainConfig = TrainConfig()
    resumed_from_epoch: int = 0
    fast_paths: dict | None = None
    # provenance segments: [{"from_epoch", "backend", "backend_version", "device", "git_commit", "environment"}]
    backends: list[dict] | None = None
    placement: str = "one device"
    # images of each epoch left out with its last partial batch (JAX's one batch shape; 0 elsewhere)
    images_dropped_per_epoch: int = 0
    run_dir: Path | None = None  # its checkpoint folder (a budget-stopped run continues from it)

    @property
    def stopped_by_budget(self) -> bool:
        return self.stop_reason == STOP_BUDGET

    @property
    def paused(self) -> bool:
        """Stopped by a call's deadline (`--stop-after-minutes`) with its own budget left for another epoch: not a
        final result, the same command continues it. A stop by the run's own budget is final under that budget."""
        if self.stop_reason != STOP_BUDGET:
            return False
        budget = self.config.budget_seconds
        return budget is None or not next_epoch_exceeds(self.train_seconds, self.history.to_dict("records"), budget)


def _compile(model: keras.Model, config: TrainConfig, settings: dict, optimizer=None, steps_per_epoch: int = 1) -> None:
    model.compile(
        optimizer=optimizer or config.optimizer_instance(steps_per_epoch),
        # "accuracy" follows the loss: the top class against the integer label, or against the distribution's top class
        loss="categorical_crossentropy" if config.targets == "distribution" else "sparse_categorical_crossentropy",
        metrics=["accuracy"],
        jit_compile=settings["jit_compile"],
        steps_per_execution=settings["steps_per_execution"],
    )


def fit(build: Callable[[], keras.Model], train: tuple[np.ndarray, np.ndarray],
        val: tuple[np.ndarray, np.ndarray] | None, config: TrainConfig, run_dir: Path | str,
        data_fingerprint: str = "", placement: backend.Placement | None = None,
        fast: FastPaths | None = None, watch: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
        started_from: dict | None = None, copy_sources: tuple[np.ndarray, np.ndarray] | None = None) -> TrainResult:
    """Compile and fit `build()` on uint8 `train` images, selecting on `val`, checkpointing in `run_dir`.

    `train` is (images, labels): integer classes, or under `config.targets == "distribution"` one distribution
    over the classes per image (n, classes); `val`, `watch` and `copy_sources` always hold integer classes.

    A run folder whose `state.json` has the same configuration and data fingerprint is resumed;
    one with a different configuration is started afresh. A finished run is not trained again.
    The fast paths are fixed when a run starts: a resumed run keeps its precision (saved in the
    checkpoint's layers); resumed under another backend, it is compiled as that backend needs.

    `watch` names labelled sets scored after every epoch into the history as `<name>_accuracy`
    (for a study of what selecting on them would do); they never select, stop or change training.

    `started_from` (a warm restart's `warm_start.StartWeights.as_record`, with the epochs of every run
    before it) is kept in `state.json`, so a later restart from this run counts those epochs from this
    checkpoint alone, without its source's weights. The caller's `data_fingerprint` must already name
    the starting weights: they are part of what a checkpoint resumes.

    `copy_sources` (images, labels) may be drawn as balancing copies but are never trained on as themselves
    (`pipeline.balanced_indices`'s `copy_only`; the leakage study's flaw 1). The caller's fingerprint must name them.
    """
    check_targets(train[1], config)
    if copy_sources is not None and config.targets == "distribution":
        raise FerError("copy_sources (the leakage study's flaw 1) take integer labels; they cannot be drawn into a run "
                       "fitted to label distributions")
    placement = placement or backend.placement()
    fast = fast or FastPaths.from_env()
    deadline = deadline_from_env()
    run_dir = Path(run_dir)
    identity = {"config": config.identity(), "data": data_fingerprint, "format": CHECKPOINT_FORMAT,
                **({"watch": sorted(watch)} if watch else {})}
    run_id = hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    run = RunState.load(run_dir)
    if run is not None and (run.state.get("run_id") != run_id or not (run_dir / MODEL_FILE).exists()):
        shutil.rmtree(run_dir)
        run = None
    run_dir.mkdir(parents=True, exist_ok=True)
    here = {**backend.versions(), "git_commit": git_commit()}

    with placement.scope():
        if run is not None:
            state = run.state
            model = keras.models.load_model(run_dir / MODEL_FILE)
            settings = dict(state["fast_paths"])
            if state["backends"][-1]["backend"] != here["backend"] or placement.replicas > 1:
                # another backend compiles differently (XLA is JAX's only mode); the optimizer and
                # its state come along unchanged
                settings.update(jit_compile=fast.resolved()["jit_compile"],
                                steps_per_execution=1 if placement.replicas > 1 else settings["steps_per_execution"])
                _compile(model, config, settings, optimizer=model.optimizer)
            resumed_from = state["epochs_done"]
            if STARTED_FROM not in state:  # a checkpoint from before the state recorded its start
                state[STARTED_FROM] = started_from
                run.save()
            if state["stop_reason"] == STOP_BUDGET:  # a budget stop is not final: a larger budget continues
                state["stop_reason"] = None
        else:
            keras.utils.set_random_seed(config.seed)
            settings = fast.resolved()
            if placement.replicas > 1:
                # Keras 3.15's multi-step train function fails under MirroredStrategy ("You must feed a
                # value for placeholder ... while/cond"); on several devices each step is large anyway.
                settings["steps_per_execution"] = 1
            with dtype_policy(settings["precision"]):
                model = build()
                _compile(model, config, settings, steps_per_epoch=steps_per_epoch(train[1], config))
            resumed_from = 0
            state = {"run_id": run_id, "identity": identity, "epochs_done": 0, "elapsed_seconds": 0.0,
                     "history": [], "best_epoch": None, "best_val_accuracy": None, "stop_reason": None,
                     "fast_paths": settings, "backends": [], STARTED_FROM: started_from}
            run = RunState(run_dir, state)
        shares = [] if val is None or not len(val[1]) else [float(s) for s in np.bincount(val[1]) / len(val[1]) if s > 0]
        over_budget = config.budget_seconds is not None and run.next_epoch_exceeds(config.budget_seconds)
        # past the deadline a run with epochs to report stops before training; one with none trains one epoch
        over_budget = over_budget or (deadline is not None and time.time() >= deadline and state["epochs_done"] > 0)
        if state["stop_reason"] is None and state["epochs_done"] < config.epochs and not over_budget:
            check_committed(here["git_commit"])
            last = state["backends"][-1] if state["backends"] else {}
            if any(last.get(key) != here[key] for key in SEGMENT_KEYS):
                # a new segment whenever the code, backend or device changes: each epoch's provenance
                dirty = {"diff_sha256": diff_sha256()} if here["git_commit"].endswith("+dirty") else {}
                state["backends"].append({"from_epoch": state["epochs_done"] + 1, **here, **dirty,
                                          "environment": training_environment()})
            augmenter = None if config.augment == "none" else augmenter_for(config)
            images, labels, copy_only = train[0], train[1], None
            if copy_sources is not None and len(copy_sources[1]):
                images, labels = np.concatenate([train[0], copy_sources[0]]), np.concatenate([train[1], copy_sources[1]])
                copy_only = np.concatenate([np.zeros(len(train[1]), bool), np.ones(len(copy_sources[1]), bool)])
            fixed = fixed_shapes()
            train_ds = make_dataset(images, labels, config.batch_size, training=True, seed=config.seed, copy_only=copy_only,
                                    balance=config.balance, augment=config.augment, augmenter=augmenter,
                                    fixed_shapes=fixed)
            state["images_dropped_per_epoch"] = dropped_per_epoch(len(train_ds.index) if fixed else 0,
                                                                  config.batch_size, fixed)
            has_val = val is not None and len(val[1])
            # under JAX the validation set is scored in padded batches by a callback (one compiled step);
            # Keras's own validation would compile another step for its last, smaller batch
            val_labels = val[1] if not has_val or config.targets == "label" else \
                np.eye(labels.shape[1], dtype=np.float32)[val[1]]  # the loss's kind of target: one-hot distributions
            val_ds = make_dataset(val[0], val_labels, max(config.batch_size, 256), training=False) \
                if has_val and not fixed else None
            log = compile_log()
            if log is not None:
                use_persistent_cache(cache_dir() / "jax_compilation_cache")
            callbacks = [*([HeldOutScores(val)] if has_val and fixed else []), EpochRecord(run),
                         *([CompileRecord(run, log)] if log is not None else []),
                         *([WatchScores(run, watch)] if watch else []), CollapseStop(run, config.collapse_patience, shares),
                         BudgetStop(run, config, deadline), Checkpoint(run, config),
                         EpochProgress(run, config, f"{run_dir.parent.name}/{run_dir.name}")]
            model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, initial_epoch=state["epochs_done"],
                      callbacks=callbacks, verbose=config.verbose)
        elif over_budget and state["stop_reason"] is None:
            state["stop_reason"] = STOP_BUDGET
            run.save()

        restored = config.restore_best and state["best_epoch"] is not None and (run_dir / WEIGHTS_FILE).exists()
        if restored:
            model.load_weights(run_dir / WEIGHTS_FILE)
    history = pd.DataFrame(state["history"])
    write_text(run_dir / "history.csv", history.to_csv(index=False))
    return TrainResult(
        model=model, history=history, epochs_run=state["epochs_done"], epochs_planned=config.epochs,
        stop_reason=state["stop_reason"], train_seconds=state["elapsed_seconds"],
        best_epoch=state["best_epoch"] if restored else None, config=config, resumed_from_epoch=resumed_from,
        fast_paths=state["fast_paths"], backends=state["backends"], placement=placement.description,
        images_dropped_per_epoch=state.get("images_dropped_per_epoch", 0), run_dir=run_dir,
    )


def check_targets(labels: np.ndarray, config: TrainConfig) -> None:
    """That `labels` are what `config.targets` fits: integer classes (n,), or distributions (n, classes) whose rows
    are non-negative and sum to 1."""
    labels = np.asarray(labels)
    if config.targets == "label" and labels.ndim != 1:
        raise FerError(f"targets='label' fits one integer class per image; got labels of shape {labels.shape} "
                       "(distributions need targets='distribution')")
    if config.targets == "distribution":
        if labels.ndim != 2 or not len(labels):
            raise FerError(f"targets='distribution' fits one distribution over the classes per image, an (images, "
                           f"classes) array; got shape {labels.shape}")
        sums = labels.sum(axis=1)
        if (labels < 0).any() or not np.allclose(sums, 1.0, atol=1e-4):
            row = int(np.flatnonzero((labels < 0).any(axis=1) | ~np.isclose(sums, 1.0, atol=1e-4))[0])
            raise FerError(f"training target {row} is not a distribution (sums to {sums[row]:.4f}, least value "
                           f"{labels[row].min():.4f}): each row must be non-negative and sum to 1")


def steps_per_epoch(labels: np.ndarray, config: TrainConfig) -> int:
    """The batches of one training epoch (balancing copies included): a schedule's unit of time."""
    index, _ = training_plan(labels, training=True, balance=config.balance, augment=config.augment, seed=config.seed)
    return math.ceil(len(index) / config.batch_size)


def augmenter_for(config: TrainConfig) -> keras.Sequential:
    """The augmentation layers `config` names."""
    return build_augmenter(config.flip, config.rotation_degrees, seed=config.seed, zoom=config.zoom,
                           translate=config.translate, erasing=config.erasing, shear=config.shear,
                           brightness=config.brightness, contrast=config.contrast, blur=config.blur)
