"""The callbacks `fit` trains with, each one rule, all sharing one `RunState` (the run's `state.json`).

They run in this order at the end of every epoch:
0. `HeldOutScores` (under JAX): the validation set's accuracy and loss into the epoch's logs.
1. `EpochRecord`: appends the epoch to the history, adds its time to the run's elapsed time
   (which counts across restarts), and saves the weights of the best validation epoch.
   `CompileRecord` (under JAX) adds the epoch's compilations, `WatchScores` (when sets are watched) the
   watched sets' accuracy, to the epoch's row.
2. `CollapseStop`: a run whose validation accuracy equals the share of a single class for
   `patience` epochs in a row predicts one class for everything (as Adam at lr 0.01 does here;
   with balanced training that class need not be the majority); it stops and says so.
3. `BudgetStop`: stops *between* epochs, before an epoch that would not fit the wall-clock budget (the run's own,
   counted across restarts) or would pass the call's deadline (`config.DEADLINE_ENV`, timed by this call's epochs).
4. `Checkpoint`: marks a run that reached its planned epochs as completed, stops training when a
   rule above said so, and writes the model (with its optimizer state) and `state.json`.
5. `EpochProgress`: a bar per run, epoch k of n, with the budget left and the latest validation accuracy.
"""
from __future__ import annotations

import time
from pathlib import Path

import keras
import numpy as np

from ..files import atomic_path, write_json
from ..progress import bar
from .checkpoint import MODEL_FILE, STATE_FILE, WEIGHTS_FILE, read_state
from .config import STOP_BUDGET, STOP_COLLAPSED, STOP_COMPLETED, TrainConfig
from .predict import held_out_scores, predict_proba

BUDGET_MARGIN = 1.1  # epochs vary by a few percent on a busy machine: plan for 10% slower than seen


class RunState:
    """A training run's folder and its `state.json`: epochs done, time spent, history, best epoch,
    why it stopped, and the fast paths and backends it trained under."""

    def __init__(self, run_dir: Path, state: dict):
        self.run_dir, self.state = Path(run_dir), state

    @classmethod
    def load(cls, run_dir: Path) -> "RunState | None":
        state = read_state(run_dir)
        return None if state is None else cls(run_dir, state)

    def save(self) -> None:
        write_json(self.run_dir / STATE_FILE, self.state)

    def next_epoch_exceeds(self, budget_seconds: float) -> bool:
        """Whether another epoch would overrun the budget (`next_epoch_exceeds` on this run's state)."""
        return next_epoch_exceeds(self.state["elapsed_seconds"], self.state["history"], budget_seconds)


def next_epoch_exceeds(elapsed_seconds: float, history: list[dict], budget_seconds: float) -> bool:
    """Whether another epoch would take a run that has trained `elapsed_seconds` past `budget_seconds`
    (`next_epoch_seconds` of its whole `history`): the budget rule, for a running run and a finished result alike."""
    return elapsed_seconds + next_epoch_seconds(history) > budget_seconds


def next_epoch_seconds(history: list[dict]) -> float:
    """The seconds planned for another epoch: 10% slower than the slowest of the last three in `history` (0 if none)."""
    recent = [h["seconds"] for h in history[-3:]]
    return BUDGET_MARGIN * (max(recent) if recent else 0.0)


class EpochRecord(keras.callbacks.Callback):
    """History, elapsed time across restarts, and the best validation epoch's weights."""

    def __init__(self, run: RunState):
        super().__init__()
        self.run = run
        self.epoch_started = 0.0
        self.session_started = time.monotonic()
        self.elapsed_before = run.state["elapsed_seconds"]

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.monotonic()

    def on_epoch_end(self, epoch, logs=None):
        logs = {k: float(v) for k, v in (logs or {}).items()}
        state = self.run.state
        state["history"].append({"epoch": epoch + 1, **logs, "seconds": time.monotonic() - self.epoch_started})
        state["epochs_done"] = epoch + 1
        state["elapsed_seconds"] = self.elapsed_before + time.monotonic() - self.session_started
        val = logs.get("val_accuracy")
        if val is not None and (state["best_val_accuracy"] is None or val > state["best_val_accuracy"]):
            state["best_val_accuracy"], state["best_epoch"] = val, epoch + 1
            with atomic_path(self.run.run_dir / WEIGHTS_FILE) as tmp:
                self.model.save_weights(tmp)


class HeldOutScores(keras.callbacks.Callback):
    """The validation set's `val_accuracy` and `val_loss`, put into the epoch's logs before the callbacks that
    read them (first in the list): Keras's own validation, scored by `predict_proba` in batches of one shape."""

    def __init__(self, val: tuple[np.ndarray, np.ndarray]):
        super().__init__()
        self.images, self.labels = val

    def on_epoch_end(self, epoch, logs=None):
        if logs is not None:
            scores = held_out_scores(self.model, self.images, self.labels)
            logs["val_accuracy"], logs["val_loss"] = scores["accuracy"], scores["loss"]


class WatchScores(keras.callbacks.Callback):
    """Scores each watched labelled set after every epoch: its accuracy into that epoch's history row
    (`<name>_accuracy`), and every image's predicted class into `watch_<name>.npz` (`pred`: epochs x
    images), so any epoch's number recomputes image by image. Watched sets are only recorded:
    nothing selects, stops or trains on them."""

    def __init__(self, run: RunState, watch: dict):
        super().__init__()
        self.run, self.watch = run, watch
        # the epochs already checkpointed (a resumed run), read once; a file may hold one epoch more
        done = run.state["epochs_done"]
        self.by_epoch = {name: watched_predictions(run.run_dir, name)[:done]
                         if (run.run_dir / f"watch_{name}.npz").exists() else np.zeros((0, len(labels)), np.int8)
                         for name, (_, labels) in watch.items()}

    def on_epoch_end(self, epoch, logs=None):
        row = self.run.state["history"][-1]
        for name, (images, labels) in self.watch.items():
            pred = predict_proba(self.model, images).argmax(axis=1).astype(np.int8)
            row[f"{name}_accuracy"] = float(np.mean(pred == labels))
            self.by_epoch[name] = np.concatenate([self.by_epoch[name][:epoch], pred[None]])
            with atomic_path(self.run.run_dir / f"watch_{name}.npz") as tmp:
                np.savez_compressed(tmp, pred=self.by_epoch[name], labels=np.asarray(labels, np.int8))


def watched_predictions(run_dir: Path | str, name: str) -> np.ndarray:
    """The predicted classes of watched set `name` after each epoch (epochs x images)."""
    with np.load(Path(run_dir) / f"watch_{name}.npz") as z:
        return z["pred"]


class CollapseStop(keras.callbacks.Callback):
    """Stops a run whose validation accuracy has sat on one class's share for `patience` epochs."""

    def __init__(self, run: RunState, patience: int | None, val_class_shares: list[float]):
        super().__init__()
        self.run, self.patience, self.val_class_shares = run, patience, val_class_shares

    def collapsed(self) -> bool:
        history = self.run.state["history"]
        if not self.patience or not self.val_class_shares or len(history) < self.patience:
            return False
        recent = [h.get("val_accuracy", -1.0) for h in history[-self.patience:]]
        return all(min(abs(v - share) for share in self.val_class_shares) < 0.005 for v in recent)

    def on_epoch_end(self, epoch, logs=None):
        if self.run.state["stop_reason"] is None and self.collapsed():
            self.run.state["stop_reason"] = STOP_COLLAPSED


class BudgetStop(keras.callbacks.Callback):
    """Stops between epochs when the next epoch would overrun `budget_seconds` (counted across restarts), or would
    end after `deadline` (a Unix time; the next epoch timed by this call's own epochs, not by another machine's)."""

    def __init__(self, run: RunState, config: TrainConfig, deadline: float | None = None):
        super().__init__()
        self.run, self.config, self.deadline = run, config, deadline
        self.first_epoch_here = len(run.state["history"])  # the history before it was trained elsewhere, or earlier

    def next_epoch_passes_deadline(self) -> bool:
        here = self.run.state["history"][self.first_epoch_here:]
        return self.deadline is not None and bool(here) and time.time() + next_epoch_seconds(here) > self.deadline

    def on_epoch_end(self, epoch, logs=None):
        state = self.run.state
        if state["stop_reason"] is not None or state["epochs_done"] >= self.config.epochs:
            return
        if ((self.config.budget_seconds is not None and self.run.next_epoch_exceeds(self.config.budget_seconds))
                or self.next_epoch_passes_deadline()):
            state["stop_reason"] = STOP_BUDGET


class Checkpoint(keras.callbacks.Callback):
    """Marks completion, stops training when a rule said so, and writes `last.keras` and `state.json`."""

    def __init__(self, run: RunState, config: TrainConfig):
        super().__init__()
        self.run, self.config = run, config

    def on_epoch_end(self, epoch, logs=None):
        state = self.run.state
        if state["epochs_done"] >= self.config.epochs and state["stop_reason"] is None:
            state["stop_reason"] = STOP_COMPLETED
        if state["stop_reason"] is not None:
            self.model.stop_training = True
        with atomic_path(self.run.run_dir / MODEL_FILE) as tmp:
            self.model.save(tmp)
        self.run.save()


class EpochProgress(keras.callbacks.Callback):
    """One progress bar per run: epoch k of n, the wall-clock budget left, the latest validation accuracy."""

    def __init__(self, run: RunState, config: TrainConfig, desc: str):
        super().__init__()
        self.run, self.config = run, config
        self.bar = bar(config.epochs, desc, initial=run.state["epochs_done"], unit="epoch")

    def on_epoch_end(self, epoch, logs=None):
        state = self.run.state
        parts = []
        if self.config.budget_seconds is not None:
            parts.append(f"budget left {max(0.0, self.config.budget_seconds - state['elapsed_seconds']) / 60:.1f} min")
        if (logs or {}).get("val_accuracy") is not None:
            parts.append(f"val acc {logs['val_accuracy']:.3f}")
        self.bar.set_postfix_str(", ".join(parts), refresh=False)
        self.bar.update(1)

    def on_train_end(self, logs=None):
        self.bar.close()
