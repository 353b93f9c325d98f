"""Shipping the reference model to the recognizer: the trained weights in a float32 copy of the network, saved in
`fer_lib/recognizer/models/` with its sidecar (`ModelInfo`) and card (`model_card`).

A model from less data than the one shipped, from fewer epochs of the same recipe, or from a run its budget
stopped where the shipped one completed is refused unless `replace`; another completed recipe, chosen by
`select_recipe`, replaces it. `ship_run(folder)` ships a saved run from its report folder and its checkpoint
(`fer-lib ship FOLDER`); the reference notebook ships the recipe it chose with `ship_reference_model`.

A model that issue 50's out-of-domain choice shipped (`chosen_by` in its sidecar, `candidates.ship_chosen`) outranks
the recipe chosen on PublicTest: re-shipping another run over it is refused unless `replace` (`kept_by_choice`), and
the model it replaced is kept beside that run's report (`model.keras` and its sidecar), so the benchmark can still
score the former default.
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np

from ..config import portable_path
from ..errors import FerError
from ..evaluate.record import RECORD_FILE, ExperimentRecord
from ..evaluate.warm_start import REPLACED_MODEL
from ..files import atomic_path
from .model_card import refresh_model_card


def float32_copy(model, name: str, options: dict):
    """Network `name` (built with `options`) in float32, holding `model`'s weights: the recognizer runs float32,
    whatever precision the run trained under (a mixed policy keeps float32 weights, so the copy is exact)."""
    from ..models import build_model
    from ..train import dtype_policy

    with dtype_policy("float32"):
        copy = build_model(name, model.input_shape[1:], model.output_shape[-1], **options)
    copy.set_weights(model.get_weights())
    return copy


def kept_by_choice(record: ExperimentRecord, models_dir: Path | str | None = None) -> str | None:
    """Why shipping `record`'s run would undo the out-of-domain choice that shipped the current model (its sidecar's
    `chosen_by`), or None: where no such choice shipped it, or it is this very run."""
    from ..recognizer.classifiers import shipped_source

    shipped = shipped_source(models_dir)
    chosen = shipped.get("chosen_by")
    if not chosen or (shipped.get("experiment"), shipped.get("profile")) == (record.experiment, record.profile):
        return None
    return (f"the shipped model ({shipped.get('profile')}/{shipped.get('experiment')}) replaced the recipe chosen on "
            f"PublicTest by the out-of-domain choice in {chosen.get('selection')} (commit {chosen.get('commit')}): "
            f"shipping {record.profile}/{record.experiment} would undo that choice")


def ship_reference_model(model, record: ExperimentRecord, faces: np.ndarray, run_proba: np.ndarray,
                         models_dir: Path | str | None = None, replace: bool = False,
                         reports_root: Path | str | None = None, chosen_by: dict | None = None) -> Path:
    """Save the trained reference model for the recognizer with its sidecar, then its card (see the module's
    notes). `record` is a run saved under `reports_root` (default reports/): the card is written from the saved
    reports alone, by `refresh_model_card`, its only writer. The float32 copy is checked against the run on its
    test `faces`: the share of faces with the run's top class (`run_proba`: the run's probabilities) goes into
    the sidecar and the card. `chosen_by` (the out-of-domain choice that ships it: its selection file, commit and
    why) goes into the sidecar, and the model it replaces is kept beside that run's report. Returns the model's
    path."""
    from ..config import reports_dir
    from ..data.preprocessing import PreprocessConfig
    from ..recognizer.classifiers import MODELS_DIR, REFERENCE_MODEL, ModelInfo
    from ..train import predict_proba

    models_dir = Path(models_dir) if models_dir is not None else MODELS_DIR
    path = models_dir / REFERENCE_MODEL.name
    root = Path(reports_root) if reports_root is not None else reports_dir()
    folder = root / record.profile / record.paper / record.experiment
    if not (folder / "metrics.json").exists():
        raise FerError(f"{folder} holds no metrics.json: the card is written from the run's saved report, so ship a "
                       f"run saved under {root} (or pass the reports folder that holds it)")
    metrics = json.loads((folder / "metrics.json").read_text())
    shipped = ModelInfo.read(path).source
    epochs, total = max(record.epochs.run_per_seed), record.total_epochs
    weaker = _weaker_than_shipped(record, shipped) or (None if chosen_by else kept_by_choice(record, models_dir))
    if weaker and not replace:
        raise FerError(f"{weaker}. Nothing was written; pass replace=True to ship it anyway")
    copy = float32_copy(model, record.model, record.model_options)
    agreement = float(np.mean(predict_proba(copy, faces).argmax(1) == np.asarray(run_proba).argmax(1)))
    replaced = _keep_replaced(path, shipped, record, root) if chosen_by else None
    if not _holds_weights(path, copy):  # re-saving the same weights would only churn the committed file's bytes
        with atomic_path(path) as tmp:
            copy.save(tmp)
    source = {"paper": record.paper, "experiment": record.experiment, "profile": record.profile,
              "n_images": record.n_images, "epochs": epochs, "epochs_planned": record.epochs.planned,
              "best_epoch": record.epochs.best_epoch_per_seed[0], "epochs_total": total,
              "started_from": record.started_from[0] if record.started_from else None,
              "trained_under": record.backends[0] if record.backends else None,
              "accuracy_private_test": round(record.accuracy, 4), "same_top_class_as_run": round(agreement, 4)}
    if chosen_by:
        source["chosen_by"] = chosen_by
    if replaced or (chosen_by and shipped.get("replaced")):  # shipped again: it still replaced the same model
        source["replaced"] = replaced or shipped["replaced"]
    ModelInfo(tuple(metrics["primary"]["class_names"]), model.input_shape[1], PreprocessConfig(**record.preprocessing["config"])
              if "config" in record.preprocessing else PreprocessConfig(face_crop=False, equalize=False),
              source).write(path)
    refresh_model_card(models_dir, root)
    return path


def _weaker_than_shipped(record: ExperimentRecord, shipped: dict) -> str | None:
    """Why `record`'s network may not replace the shipped model (its sidecar's `source`), or None.

    Less data is always refused, and so is fewer epochs of the same recipe (an interim or shorter run
    of the run shipped). Another recipe is compared by `select_recipe`'s rule, which chose it on
    PublicTest: it replaces the shipped model unless its budget stopped it short of its planned epochs
    where the shipped run completed them. Epochs are not compared across recipes: a warm restart counts
    the epochs of the runs before it, so a recipe trained from scratch always has fewer."""
    if not shipped:
        return None
    shipped_total = shipped.get("epochs_total", shipped.get("epochs", 0))
    shipped_run = f"the shipped reference model ({shipped.get('profile')}/{shipped.get('experiment')}) was trained "
    if shipped.get("n_images", 0) > record.n_images:
        return f"{shipped_run}on {shipped.get('n_images')} images; this run on {record.n_images}"
    same_recipe = (shipped.get("paper"), shipped.get("experiment"), shipped.get("profile")) == (
        record.paper, record.experiment, record.profile)
    if same_recipe and shipped_total > record.total_epochs:
        return f"{shipped_run}{shipped_total} epochs in all; this run of the same recipe has {record.total_epochs}"
    shipped_completed = shipped.get("epochs", 0) >= shipped.get("epochs_planned", float("inf"))
    if not same_recipe and shipped_completed and not record.completed:
        return (f"{shipped_run}all {shipped.get('epochs_planned')} of its planned epochs; this run stopped at "
                f"{max(record.epochs.run_per_seed)} of {record.epochs.planned}")
    return None


def _keep_replaced(path: Path, shipped: dict, record: ExperimentRecord, root: Path) -> dict | None:
    """Copy the shipped model at `path` (its sidecar `shipped`) beside its own run's report under `root`, where that
    is another run with a saved report; returns what the new sidecar says it replaced, or None."""
    if not shipped or (shipped.get("experiment"), shipped.get("profile")) == (record.experiment, record.profile):
        return None
    folder = root / shipped["profile"] / shipped["paper"] / shipped["experiment"]
    if not (folder / RECORD_FILE).exists():
        return None
    for source, target in ((path, folder / REPLACED_MODEL), (path.with_suffix(".json"),
                                                             (folder / REPLACED_MODEL).with_suffix(".json"))):
        with atomic_path(target) as tmp:
            shutil.copyfile(source, tmp)
    return {"paper": shipped["paper"], "experiment": shipped["experiment"], "profile": shipped["profile"],
            "accuracy_private_test": shipped.get("accuracy_private_test"),
            "model_file": portable_path(folder / REPLACED_MODEL)}


def _holds_weights(path: Path, model) -> bool:
    """Whether the model saved at `path` has exactly `model`'s weights."""
    import keras

    if not path.exists():
        return False
    saved = keras.models.load_model(path, compile=False).get_weights()
    return len(saved) == len(model.weights) and all(
        a.shape == b.shape and np.array_equal(a, b) for a, b in zip(saved, model.get_weights()))


def ship_run(folder: Path | str, *, models_dir: Path | str | None = None, data_root: Path | str | None = None,
             reports_root: Path | str | None = None, replace: bool = False, chosen_by: dict | None = None) -> Path:
    """Ship the reference-model run saved in `folder` (`reports/<profile>/reference/<recipe>`): its selected
    weights from its checkpoint (or the shipped model where that is this run), checked against the run's own
    test predictions, then the card written from the saved reports (`reports_root`, default the folder's own).
    Every input is checked before anything is written. Returns the model's path."""
    from ..config import get_profile
    from ..data import prepare
    from ..evaluate.run_store import selected_weights
    from ..evaluate.warm_start import load_start_weights
    from ..models import build_model
    from ..papers import get_experiments

    folder = Path(folder)
    if not (folder / RECORD_FILE).exists():
        raise FerError(f"{folder} holds no run report ({RECORD_FILE}); name a reference-model run folder such as "
                       "reports/cpu/reference/fer2013_standard")
    record = ExperimentRecord.read(folder)
    if record.paper != "reference" or record.dataset != "fer2013":
        raise FerError(f"{folder} is a run of {record.paper} on {record.dataset}; the recognizer ships the reference "
                       "model trained on FER2013 (a folder under reports/<profile>/reference/)")
    record.check_raw_files(folder)
    spec = get_experiments(record.paper, record.experiment)[0]
    weights = selected_weights(spec, record.profile, record.n_images, record.seeds[0], models_dir, folder.parents[2])
    if weights is None:
        raise FerError(f"{record.experiment}'s {record.profile} run has no checkpoint in the cache and is not the shipped "
                       f"model, so its weights are not here: train it with `fer-lib train reference {record.experiment} "
                       f"--profile {record.profile}`")
    model = load_start_weights(build_model(record.model, **record.model_options), weights)
    with np.load(folder / record.unit_file("predictions")) as saved:
        ids, run_proba = saved["ids"], saved["proba"]
    dataset = prepare(record.dataset, data_root, get_profile(record.profile).per_class, spec.preprocess).dataset
    position = {name: k for k, name in enumerate(dataset.ids.astype(str))}
    missing = [name for name in ids.astype(str) if name not in position]
    if missing:
        raise FerError(f"{len(missing)} of the run's test images (e.g. {missing[0]}) are not in the data at "
                       f"{data_root or 'FER_DATA_DIR'}; point --data-dir at the FER2013 copy the run trained on")
    faces = dataset.images[[position[name] for name in ids.astype(str)]]
    # the card is written from the run's saved report and its neighbours: by default the folder's own reports root
    return ship_reference_model(model, record, faces, run_proba, models_dir, replace,
                                reports_root=reports_root if reports_root is not None else folder.parents[2],
                                chosen_by=chosen_by)
