"""The files of a training run's checkpoint, and reading its state without Keras.

`fit` writes them into a run's folder (`callbacks.Checkpoint`); the run store, the studies and the campaign ask
whether a folder holds a checkpoint and how far it got, before anything trains, so this module imports no Keras.
"""
from __future__ import annotations

import json
from pathlib import Path

STATE_FILE = "state.json"  # epochs done, time spent, history, best epoch, why it stopped (`callbacks.RunState`)
MODEL_FILE = "last.keras"  # the model with its optimizer state after the last epoch: what a resumed run loads
WEIGHTS_FILE = "best.weights.h5"  # the selected epoch's weights, restored at the end when the config says so
CHECKPOINT_FILES = (STATE_FILE, MODEL_FILE, WEIGHTS_FILE)


def read_state(run_dir: Path | str) -> dict | None:
    """The state the checkpoint in `run_dir` recorded, or None where the folder holds no checkpoint."""
    path = Path(run_dir) / STATE_FILE
    return json.loads(path.read_text()) if path.exists() else None


def has_checkpoint(run_dir: Path | str) -> bool:
    """Whether `run_dir` holds a checkpoint a run can resume from: its state and its model."""
    return (Path(run_dir) / STATE_FILE).exists() and (Path(run_dir) / MODEL_FILE).exists()
