"""Training: one function that compiles and fits a model from a `TrainConfig`.

- Every epoch writes a checkpoint (model with optimizer state, best weights, history) atomically
  into the run folder; a restarted run with the same configuration resumes from the last one.
- A wall-clock budget stops training cleanly *between* epochs, before an epoch that would not fit,
  and the run records how many epochs ran and why it stopped. The budget counts time across
  restarts, so a resumed run does not get a fresh budget.
- A run whose validation accuracy equals the share of a single class for `collapse_patience`
  epochs in a row predicts one class for everything (as Adam at lr 0.01 does here; with balanced
  training that class need not be the majority); it stops and says so.
- The weights evaluated at the end are those of the best validation epoch, when there is a
  validation set, else the last epoch's.
- Training runs under a `tf.distribute` strategy chosen from the devices present: the default
  (one device) or `MirroredStrategy` over several GPUs. `batch_size` is the *global* batch, split
  across replicas, and the learning rate is the paper's for that global batch, unchanged: a run
  on 2 GPUs takes the same optimizer steps as on one device. Checkpoints are strategy-free Keras
  files, so a run started on several devices resumes on one and the other way round.
"""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable

import keras
import numpy as np
import pandas as pd
import tensorflow as tf

from .augmentation import make_dataset
from .errors import FerError
from .fast_paths import FastPaths, dtype_policy

OPTIMIZERS = {"adam": keras.optimizers.Adam, "sgd": keras.optimizers.SGD, "rmsprop": keras.optimizers.RMSprop}

STOP_COMPLETED = "completed all planned epochs"
STOP_BUDGET = "stopped by wall-clock budget"
STOP_COLLAPSED = "stopped: predictions collapsed to a single class"


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how a model is trained. `budget_seconds` None means no budget."""

    optimizer: str = "adam"
    learning_rate: float = 0.01
    batch_size: int = 16
    epochs: int = 100
    seed: int = 0
    balance: bool = True
    augment: str = "copies"
    budget_seconds: float | None = None
    collapse_patience: int | None = 5
    verbose: int = 0

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise FerError(f"unknown optimizer {self.optimizer!r}; valid optimizers are: {', '.join(OPTIMIZERS)}")
        for name in ("learning_rate", "batch_size", "epochs"):
            if not getattr(self, name) > 0:
                raise FerError(f"{name} must be positive, got {getattr(self, name)}")

    def identity(self) -> dict:
        """The settings a checkpoint must share to be resumed (the budget may change)."""
        return {k: v for k, v in asdict(self).items() if k not in ("budget_seconds", "verbose")}


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

    @property
    def stopped_by_budget(self) -> bool:
        return self.stop_reason == STOP_BUDGET


def _atomic_json(path: Path, data: dict) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(json.dumps(data, indent=2, default=float))
    os.replace(tmp, path)


def distribution_strategy() -> tf.distribute.Strategy:
    """MirroredStrategy when several GPUs are visible, else the default single-device strategy."""
    gpus = tf.config.list_logical_devices("GPU")
    if len(gpus) > 1:
        return tf.distribute.MirroredStrategy([g.name for g in gpus])
    return tf.distribute.get_strategy()


BUDGET_MARGIN = 1.1  # epochs vary by a few percent on a busy machine: plan for 10% slower than seen


def _next_epoch_exceeds(state: dict, budget_seconds: float) -> bool:
    """Whether another epoch, 10% slower than the slowest of the last three, would overrun the budget."""
    recent = [h["seconds"] for h in state["history"][-3:]]
    return state["elapsed_seconds"] + BUDGET_MARGIN * (max(recent) if recent else 0.0) > budget_seconds


class _RunState(keras.callbacks.Callback):
    """Checkpoints every epoch, applies the budget and the collapse rule, keeps the history."""

    def __init__(self, run_dir: Path, state: dict, config: TrainConfig, val_class_shares: list[float]):
        super().__init__()
        self.run_dir, self.state, self.config = run_dir, state, config
        self.val_class_shares = val_class_shares
        self.epoch_started = 0.0
        self.session_started = time.monotonic()
        self.elapsed_before = state["elapsed_seconds"]

    def elapsed(self) -> float:
        return self.elapsed_before + time.monotonic() - self.session_started

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        seconds = time.monotonic() - self.epoch_started
        state = self.state
        state["history"].append({"epoch": epoch + 1, **logs, "seconds": seconds})
        state["epochs_done"] = epoch + 1
        state["elapsed_seconds"] = self.elapsed()
        val = logs.get("val_accuracy")
        if val is not None and (state["best_val_accuracy"] is None or val > state["best_val_accuracy"]):
            state["best_val_accuracy"], state["best_epoch"] = val, epoch + 1
            self.model.save_weights(self.run_dir / ".best.weights.h5")
            os.replace(self.run_dir / ".best.weights.h5", self.run_dir / "best.weights.h5")
        if self._collapsed():
            state["stop_reason"] = STOP_COLLAPSED
        elif (self.config.budget_seconds is not None and state["epochs_done"] < self.config.epochs
              and _next_epoch_exceeds(state, self.config.budget_seconds)):
            state["stop_reason"] = STOP_BUDGET
        if state["epochs_done"] >= self.config.epochs and state["stop_reason"] is None:
            state["stop_reason"] = STOP_COMPLETED
        if state["stop_reason"] is not None:
            self.model.stop_training = True
        self.model.save(self.run_dir / ".last.keras")
        os.replace(self.run_dir / ".last.keras", self.run_dir / "last.keras")
        _atomic_json(self.run_dir / "state.json", state)

    def _collapsed(self) -> bool:
        patience = self.config.collapse_patience
        if not patience or not self.val_class_shares or len(self.state["history"]) < patience:
            return False
        recent = [h.get("val_accuracy", -1.0) for h in self.state["history"][-patience:]]
        return all(min(abs(v - share) for share in self.val_class_shares) < 0.005 for v in recent)


def fit(build: Callable[[], keras.Model], train: tuple[np.ndarray, np.ndarray],
        val: tuple[np.ndarray, np.ndarray] | None, config: TrainConfig, run_dir: Path | str,
        data_fingerprint: str = "", strategy: tf.distribute.Strategy | None = None,
        fast: FastPaths | None = None) -> TrainResult:
    """Compile and fit `build()` on uint8 `train` images, selecting on `val`, checkpointing in `run_dir`.

    A run folder whose `state.json` has the same configuration and data fingerprint is resumed;
    one with a different configuration is started afresh. A finished run is not trained again.
    `strategy` defaults to `distribution_strategy()`; `fast` (precision, XLA, steps per execution)
    to `FastPaths.from_env()`. The fast paths are fixed when a run starts and recorded in its
    state: a resumed run keeps the precision and compilation saved in its checkpoint.
    """
    strategy = strategy or distribution_strategy()
    fast = fast or FastPaths.from_env()
    run_dir = Path(run_dir)
    identity = {"config": config.identity(), "data": data_fingerprint}
    run_id = hashlib.sha1(json.dumps(identity, sort_keys=True).encode()).hexdigest()[:16]
    state_path = run_dir / "state.json"
    state = json.loads(state_path.read_text()) if state_path.exists() else None
    if state is not None and (state.get("run_id") != run_id or not (run_dir / "last.keras").exists()):
        shutil.rmtree(run_dir)
        state = None
    run_dir.mkdir(parents=True, exist_ok=True)

    if state is not None:
        with strategy.scope():
            model = keras.models.load_model(run_dir / "last.keras")
        resumed_from = state["epochs_done"]
        # A budget stop is not final: a larger budget continues the run.
        if state["stop_reason"] == STOP_BUDGET:
            state["stop_reason"] = None
    else:
        keras.utils.set_random_seed(config.seed)
        settings = fast.resolved()
        if strategy.num_replicas_in_sync > 1:
            # Keras 3.15's multi-step train function fails under MirroredStrategy ("You must feed a
            # value for placeholder ... while/cond"); on several devices each step is large anyway.
            settings["steps_per_execution"] = 1
        with strategy.scope(), dtype_policy(settings["precision"]):
            model = build()
            model.compile(
                optimizer=OPTIMIZERS[config.optimizer](learning_rate=config.learning_rate),
                loss="sparse_categorical_crossentropy",
                metrics=["accuracy"],
                jit_compile=settings["jit_compile"],
                steps_per_execution=settings["steps_per_execution"],
            )
        resumed_from = 0
        state = {"run_id": run_id, "identity": identity, "epochs_done": 0, "elapsed_seconds": 0.0,
                 "history": [], "best_epoch": None, "best_val_accuracy": None, "stop_reason": None,
                 "fast_paths": settings}

    shares = [] if val is None or not len(val[1]) else [float(s) for s in np.bincount(val[1]) / len(val[1]) if s > 0]
    callback = _RunState(run_dir, state, config, shares)
    over_budget = config.budget_seconds is not None and _next_epoch_exceeds(state, config.budget_seconds)
    if state["stop_reason"] is None and state["epochs_done"] < config.epochs and not over_budget:
        train_ds = make_dataset(*train, config.batch_size, training=True, seed=config.seed,
                                balance=config.balance, augment=config.augment)
        val_ds = make_dataset(*val, max(config.batch_size, 256), training=False) if val is not None and len(val[1]) else None
        model.fit(train_ds, validation_data=val_ds, epochs=config.epochs, initial_epoch=state["epochs_done"],
                  callbacks=[callback], verbose=config.verbose, shuffle=False)
    elif over_budget and state["stop_reason"] is None:
        state["stop_reason"] = STOP_BUDGET
        _atomic_json(state_path, state)

    if state["best_epoch"] is not None and (run_dir / "best.weights.h5").exists():
        model.load_weights(run_dir / "best.weights.h5")
    history = pd.DataFrame(state["history"])
    history.to_csv(run_dir / "history.csv", index=False)
    return TrainResult(
        model=model, history=history, epochs_run=state["epochs_done"], epochs_planned=config.epochs,
        stop_reason=state["stop_reason"], train_seconds=state["elapsed_seconds"],
        best_epoch=state["best_epoch"], config=config, resumed_from_epoch=resumed_from,
        # runs started before the fast paths existed trained in float32, one step per call
        fast_paths=state.get("fast_paths", FastPaths.naive().resolved()),
    )


def predict_proba(model: keras.Model, images: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Class probabilities for uint8 images (N, H, W)."""
    ds = make_dataset(images, np.zeros(len(images), np.int64), batch_size, training=False)
    return np.asarray(model.predict(ds, verbose=0), np.float32)
