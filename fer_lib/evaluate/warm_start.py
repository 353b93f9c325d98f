"""Warm restarts: a run that starts from the selected weights of another experiment's finished run.

An experiment with `ExperimentSpec.start_from` set trains the same network again from the weights its
source experiment selected (same paper, profile, learning rate and seed), under its own schedule: a
second cosine cycle in the manner of SGDR (Loshchilov and Hutter 2017), which costs a fraction of
training afresh. The weights are found, in this order:

1. the source run's checkpoint (`best.weights.h5` beside a `state.json` that completed its planned
   epochs), on a machine that trained it;
2. a shipped model whose sidecar names the source run (paper, experiment, profile, images, every
   planned epoch run), the float32 copy the recognizer loads; on a fresh checkout this is the only
   copy of a run that took hours;
3. the same file kept beside the run's report (`REPLACED_MODEL`) after another model replaced it as the
   recognizer's default (`studies.shipping`).

Anything else is an error that says which run to train first (`run_store.start_weights`). Where they came from, their SHA-256
and the source run's epochs go into the run's identity (a different start never resumes a
checkpoint) and into its record (`ExperimentRecord.started_from`), so the total training a model
received is always stated.

A chain of restarts counts every cycle before it. The source's own checkpoint (`state.json`'s
`started_from`) or sidecar (`epochs_total`) says how many epochs preceded it, so only the direct
source's weights are needed. A checkpoint written before `state.json` kept that is marked
`counts_earlier_runs=False`, and `run_store.start_weights` finds the earlier epochs elsewhere.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

import keras

from ..config import portable_path
from ..errors import FerError
from ..files import file_sha256
from ..train import STARTED_FROM, STOP_COMPLETED
from ..train.checkpoint import WEIGHTS_FILE, read_state

# `StartWeights.where`
FROM_CHECKPOINT = "checkpoint"
FROM_SHIPPED_MODEL = "shipped model"
FROM_KEPT_MODEL = "former default kept beside its report"
# a former default's file in its run's report folder (`reports/<profile>/<paper>/<experiment>/`), with its sidecar
REPLACED_MODEL = "model.keras"


@dataclass(frozen=True)
class StartWeights:
    """The weights a warm-restarted run starts from and the run that trained them."""

    experiment: str
    where: str  # FROM_CHECKPOINT, FROM_SHIPPED_MODEL or FROM_KEPT_MODEL
    path: str
    sha256: str
    epochs: int  # the epochs the source run trained, with those of the runs it started from (a chain of restarts)
    best_epoch: int | None  # its selected epoch, whose weights these are
    # False: the weights' own files do not say what preceded the source run (a checkpoint from before
    # state.json recorded it), so `epochs` is the source run's alone; never part of the record
    counts_earlier_runs: bool = field(default=True, compare=False)

    def as_record(self) -> dict:
        """The record's copy: the path as reports carry it (`config.portable_path`), no machine's folders."""
        record = {**asdict(self), "path": portable_path(self.path)}
        del record["counts_earlier_runs"]
        return record


def from_checkpoint(experiment: str, run_dir: Path) -> StartWeights | None:
    """The source run's selected weights in its checkpoint folder, when it completed its planned epochs."""
    state, weights = read_state(run_dir), run_dir / WEIGHTS_FILE
    if state is None or not weights.exists():
        return None
    if state.get("stop_reason") != STOP_COMPLETED:
        return None
    started_from = state.get(STARTED_FROM)  # None: a random start
    return StartWeights(experiment, FROM_CHECKPOINT, str(weights), file_sha256(weights),
                        int(state["epochs_done"]) + (int(started_from["epochs"]) if started_from else 0),
                        state.get("best_epoch"), counts_earlier_runs=STARTED_FROM in state)


def _source_model(model_path: Path, where: str, paper: str, experiment: str, profile: str,
                  n_images: int) -> StartWeights | None:
    """The model file at `model_path` where its sidecar names the source run, complete, on `n_images` images."""
    sidecar = model_path.with_suffix(".json")
    if not (model_path.exists() and sidecar.exists()):
        return None
    try:
        source = json.loads(sidecar.read_text()).get("source", {})
    except (ValueError, AttributeError):
        return None
    if not isinstance(source, dict):
        return None
    if ((source.get("paper"), source.get("experiment"), source.get("profile"), source.get("n_images"))
            == (paper, experiment, profile, n_images) and source.get("epochs") == source.get("epochs_planned")):
        # `epochs_total` counts the runs a restarted source started from; sidecars before it lack it
        return StartWeights(experiment, where, str(model_path), file_sha256(model_path),
                            int(source.get("epochs_total", source["epochs"])), source.get("best_epoch"),
                            counts_earlier_runs="epochs_total" in source)
    return None


def from_shipped(paper: str, experiment: str, profile: str, n_images: int, models_dir: Path) -> StartWeights | None:
    """A shipped model (a `.keras` with its sidecar) that is the source run's, complete, on `n_images` images."""
    for sidecar in sorted(Path(models_dir).glob("*.json")):
        found = _source_model(sidecar.with_suffix(".keras"), FROM_SHIPPED_MODEL, paper, experiment, profile, n_images)
        if found is not None:
            return found
    return None


def from_kept(paper: str, experiment: str, profile: str, n_images: int,
              reports_root: Path | str | None = None) -> StartWeights | None:
    """The source run's former default kept beside its report (`REPLACED_MODEL`), complete, on `n_images` images."""
    from ..config import reports_dir

    root = Path(reports_root) if reports_root is not None else reports_dir()
    return _source_model(root / profile / paper / experiment / REPLACED_MODEL, FROM_KEPT_MODEL, paper, experiment,
                         profile, n_images)


def find_selected_weights(paper: str, experiment: str, profile: str, n_images: int, run_dir: Path,
                          models_dir: Path | None = None,
                          reports_root: Path | str | None = None) -> StartWeights | None:
    """The selected weights of `experiment`'s completed run: its checkpoint in `run_dir`, else a shipped
    model in `models_dir` (default: the recognizer's) whose sidecar names it, else its former default kept beside
    its report under `reports_root` (default: the project's reports/); None where none is here."""
    found = from_checkpoint(experiment, run_dir)
    if found is None:
        if models_dir is None:
            from ..recognizer.classifiers import MODELS_DIR
            models_dir = MODELS_DIR
        found = from_shipped(paper, experiment, profile, n_images, models_dir)
    return found if found is not None else from_kept(paper, experiment, profile, n_images, reports_root)


def load_start_weights(model: keras.Model, start: StartWeights) -> keras.Model:
    """`model` (built afresh, any dtype policy) with `start`'s weights; returns it."""
    if start.where == FROM_CHECKPOINT:
        model.load_weights(start.path)
        return model
    source = keras.models.load_model(start.path, compile=False)
    if len(source.weights) != len(model.weights):
        raise FerError(f"{start.path} holds {len(source.weights)} weight arrays, this network {len(model.weights)}: "
                       "not the source run's network")
    model.set_weights(source.get_weights())
    return model
