"""The reference model after training: ten-crop scoring, the side-by-side comparison with the models
people install and the papers' models, and the choice between its recipes.

- `ten_crop_proba`: Khaireddin and Chen's test-time augmentation (the centre and four corner 40x40
  crops of a 48x48 face, each also mirrored, probabilities averaged). The reference model crops the
  centre itself, so each corner crop is made by shifting the face 4 pixels (the wrapped rows fall
  outside the crop). It is fixed before testing and scored beside the single centre crop, not chosen.
- `compare_models`: every entry scored on the same FER2013 PrivateTest images (and the deduplicated
  PrivateTest): accuracy with its 95% CI, macro F1, per-class recall, and classification-only
  images per second measured on this machine (`latency.faces_per_second`), and each entry minus the
  first (the reference model's centre crop) in points with a paired bootstrap 95% CI on the same images;
  each entry's predictions are saved, so `rerender_comparison` recomputes the table from them.
- `select_recipe`: the recipe chosen on PublicTest among the suite's FER2013 recipes (no test score read).

Shipping the chosen model is `shipping.py`; its card is `model_card.py`.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import pandas as pd

from ..errors import FerError
from ..evaluate.metrics import accuracy_difference, classification_metrics, save_predictions
from ..evaluate.record import RECORD_FILE, ExperimentRecord, official_split_runs
from ..evaluate.latency import faces_per_second
from ..files import atomic_folder, write_json, write_text
from ..reporting import tables

PUBLIC_TEST_ACCURACY = "PublicTest accuracy at it"  # select_recipe's column: at each run's selected epoch
COMPARISON_FILE = "comparison.json"  # compare_models' record: each row with its predictions file
SELECTION_FOLDER = "recipe_selection"  # select_recipe's output, beside the paper's experiment folders
CROP_SHIFT = 4  # (48 - 40) / 2: the reference model's centre crop leaves 4 pixels a side
# The suite's accuracy target for the `cpu` profile (the reference-model issue: at least 70% on PrivateTest on a
# 2-core CPU); the `paper` profile's target is the recipe's published accuracy (`papers/reference/claims.json`).
CPU_TARGET = 0.70
TARGET_ROWS = ("reference, centre crop", "reference, ten-crop")  # compare_models' rows of the model itself


def ten_crop_proba(classify: Callable[[np.ndarray], np.ndarray], faces: np.ndarray, shift: int = CROP_SHIFT,
                   batch: int = 256) -> np.ndarray:
    """Mean class probabilities over the ten crops of each face (see the module's notes); `classify`
    takes uint8 faces (N, 48, 48) and returns (N, classes)."""
    faces = np.asarray(faces)
    views = []
    for flipped in (faces, faces[:, :, ::-1]):
        for dy, dx in ((0, 0), (shift, shift), (shift, -shift), (-shift, shift), (-shift, -shift)):
            view = np.roll(flipped, (dy, dx), axis=(1, 2)) if dy or dx else flipped
            views.append(np.concatenate([classify(view[i:i + batch]) for i in range(0, len(view), batch)]))
    return np.mean(views, axis=0)


@dataclass
class Entry:
    """One row of the comparison: a name, its probabilities on the test images (in the suite's class
    order), its throughput, and what it is."""

    name: str
    proba: np.ndarray
    images_per_second: float | None
    what: str


# how `compare_models` appends its note on the minus_first columns to the caller's description
MINUS_FIRST_NOTE = "; minus_first: "


def measurement_description(description: str) -> str:
    """The caller's part of a saved comparison description (images, profile, the machine that measured the
    speeds), without the note on minus_first that `compare_models` appended."""
    return description.split(MINUS_FIRST_NOTE)[0]


def compare_models(entries: list[Entry], y_true: np.ndarray, ids: np.ndarray, class_names: tuple[str, ...],
                   duplicate_free: np.ndarray | None, folder: Path | str, description: str) -> pd.DataFrame:
    """Score every entry on the same test images and write the comparison folder: one predictions
    file per entry, `comparison.csv`, `.md` and `.json`. Returns the table."""
    rows = []
    first_correct = None
    description = (f"{description}{MINUS_FIRST_NOTE}each model's accuracy minus the first row's ({entries[0].name}), "
                   "in points, with a paired bootstrap 95% CI over the same test images") if entries else description
    with atomic_folder(Path(folder)) as tmp:
        for i, entry in enumerate(entries):
            if entry.proba.shape != (len(y_true), len(class_names)):
                raise FerError(f"{entry.name}: probabilities of shape {entry.proba.shape}, expected "
                               f"({len(y_true)}, {len(class_names)})")
            masks = {} if duplicate_free is None else {"duplicate_free": duplicate_free}
            save_predictions(tmp / f"predictions_{i}.npz", y_true, entry.proba, ids, class_names, **masks)
            pred = entry.proba.argmax(axis=1)
            full = classification_metrics(y_true, pred, class_names)
            row = {"model": entry.name, "accuracy": round(full["accuracy"], 4),
                   "accuracy_ci": [round(v, 4) for v in full["accuracy_ci"]],
                   "macro_f1": round(full["macro_avg"]["f1"], 4)}
            if duplicate_free is not None:
                dedup = classification_metrics(y_true[duplicate_free], pred[duplicate_free], class_names)
                row["deduplicated_accuracy"] = round(dedup["accuracy"], 4)
                row["deduplicated_accuracy_ci"] = [round(v, 4) for v in dedup["accuracy_ci"]]
            correct = pred == np.asarray(y_true)
            if first_correct is None:
                first_correct, row["minus_first_points"], row["minus_first_ci"] = correct, None, None
            else:
                diff = accuracy_difference(correct, first_correct)
                row["minus_first_points"] = round(100 * diff["difference"], 1)
                row["minus_first_ci"] = [round(100 * v, 1) for v in diff["ci"]]
            row.update({f"recall_{c}": round(full["per_class"][c]["recall"], 3) for c in class_names})
            row["images_per_second"] = None if entry.images_per_second is None else round(entry.images_per_second)
            row["what"] = entry.what
            row["predictions"] = f"predictions_{i}.npz"
            rows.append(row)
        table = pd.DataFrame(rows)
        table.to_csv(tmp / "comparison.csv", index=False)
        write_json(tmp / COMPARISON_FILE, {"description": description, "rows": rows, "n": int(len(y_true)),
                                             "n_deduplicated": None if duplicate_free is None else int(duplicate_free.sum())})
        write_text(tmp / "comparison.md", f"{description}\n\n{tables.markdown_table(table.drop(columns=['predictions']))}\n")
    return table


def rerender_comparison(folder: Path | str) -> pd.DataFrame:
    """Rewrite a comparison folder from its saved predictions (`comparison.json` names each entry's file,
    speed and description): for when the table's columns change. No model runs."""
    import json

    folder = Path(folder)
    saved = json.loads((folder / COMPARISON_FILE).read_text())
    description = measurement_description(saved["description"])
    entries, y_true, ids, duplicate_free, class_names = [], None, None, None, None
    for row in saved["rows"]:
        with np.load(folder / row["predictions"]) as z:
            if y_true is None:
                y_true, ids, class_names = z["y_true"], z["ids"], tuple(str(c) for c in z["class_names"])
                duplicate_free = z["duplicate_free"] if "duplicate_free" in z.files else None
            elif not np.array_equal(z["ids"], ids):
                raise FerError(f"{folder / row['predictions']}: scored on other images than the first entry's; "
                               "re-run notebooks/reference_model.ipynb")
            entries.append(Entry(row["model"], z["proba"], row["images_per_second"], row["what"]))
    return compare_models(entries, y_true, ids, class_names, duplicate_free, folder, description)


def target_check(comparison: pd.DataFrame, record: ExperimentRecord) -> pd.DataFrame | None:
    """The reference model's rows of `comparison` (centre crop and ten-crop) against its profile's
    accuracy target: `CPU_TARGET` for `cpu`, the recipe's published accuracy for `paper`; None for any
    other profile, whose subset measures no target. A point estimate at or above the target meets it;
    below it, the verdict says whether the 95% CI still holds the target."""
    if record.profile == "cpu":
        target, source = CPU_TARGET, "the suite's cpu target"
    elif record.profile == "paper" and (claim := published_accuracy(record)) is not None:
        target, source = claim.value, claim.where
    else:
        return None
    rows = []
    for _, row in comparison[comparison["model"].isin(TARGET_ROWS)].iterrows():
        verdict = ("meets the target" if row["accuracy"] >= target else "below the target; its 95% CI holds it"
                   if row["accuracy_ci"][1] >= target else "below the target and its 95% CI")
        rows.append({"model": row["model"], "accuracy": row["accuracy"], "accuracy_ci": row["accuracy_ci"],
                     "target": target, "target_from": source, "verdict": verdict})
    return pd.DataFrame(rows)


def published_accuracy(record: ExperimentRecord):
    """The accuracy the reference recipe's source reports on the run's dataset (the paper's headline
    claim for it, `papers/reference/claims.json`), or None where it reports none."""
    from ..evaluate.claims import load_claims, load_paper

    headline = load_paper(record.paper).get("headline", {}).get(record.dataset)
    return next((c for c in load_claims(record.paper) if c.id == headline and c.value is not None), None)


def not_chosen_note(selection: pd.DataFrame, recipe: str) -> str:
    """What the comparison says of a recipe `select_recipe` did not choose, from its row of `selection`."""
    row = selection.set_index("recipe").loc[recipe]
    why = ("stopped by its budget at " + str(row["epochs run / planned"]).replace("/", " of ") + " epochs, so it ranks "
           "below every completed run" if not row["completed"] else "lower PublicTest accuracy")
    return (f"its run's own test predictions; the same network, not chosen: PublicTest {row[PUBLIC_TEST_ACCURACY]:.1%} at its "
            f"selected epoch, {why}")


def _start_description(record: ExperimentRecord) -> str:
    """Where the record's first run started: random weights, or a warm restart's source run and epoch."""
    if not record.started_from:
        return "random weights"
    start = record.started_from[0]
    return f"{start['experiment']} epoch {start['best_epoch']} ({start['epochs']} epoch{'' if start['epochs'] == 1 else 's'} trained before)"


def paper_entries(reports_root: Path | str, profile: str, ids: np.ndarray, faces: np.ndarray,
                  seconds: float = 3.0) -> tuple[list[Entry], list[str]]:
    """One entry per paper whose FER2013 run under the official split (`record.official_split_runs`,
    which states the rule) is reported under `profile` on these very test images (`ids`, in order): its
    saved predictions, and the throughput of its architecture built afresh (speed does not depend on
    the weights). Returns the entries and a note per paper left out, with why."""
    from ..models import build_model
    from ..recognizer.classifiers import KerasClassifier, ModelInfo

    runs, notes = official_split_runs(reports_root, profile, exclude=("reference",))
    entries = []
    for record, predictions in runs:
        with np.load(predictions) as saved:
            if len(saved["ids"]) != len(ids) or not np.array_equal(saved["ids"], np.asarray(ids).astype(str)):
                notes.append(f"{record.paper} {record.experiment}: tested on other images than these")
                continue
            proba = saved["proba"]
        model = build_model(record.model, (48, 48, 1), proba.shape[1], **record.model_options)
        classes = tuple(str(c) for c in range(proba.shape[1]))  # the speed needs no names
        speed = faces_per_second(KerasClassifier(model, ModelInfo(classes)).predict, faces, seconds=seconds)
        # the epochs of the seed whose predictions these are (the first), not the most any seed ran
        epochs = f"{record.epochs.run_per_seed[0]} of {record.epochs.planned} epochs"
        entries.append(Entry(f"{record.paper} ({record.model})", proba, speed,
                             f"{record.paper}'s {record.experiment} run at lr {record.learning_rate:g}, {epochs}, "
                             f"seed {record.seeds[0]} ({predictions.parent.relative_to(Path(reports_root))})"))
    return entries, notes


# ---------------------------------------------------------------------------------------------
# The snapshot ensemble of the warm-restart chain: reported beside, never shipped

def snapshot_ensemble_entries(chain: list, folders: dict[str, Path], profile: str, n_images: int, ids: np.ndarray,
                              faces: np.ndarray, speed: float | None, models_dir: Path | str | None = None,
                              saved_comparison: Path | str | None = None) -> tuple[list[Entry], str | None]:
    """Comparison rows for the snapshot ensemble (Huang et al. 2017) of a chain of warm restarts (`chain`:
    the ExperimentSpecs, each starting from the one before): the mean of its members' class probabilities
    on the centre crop, from their runs' own saved test predictions (so it needs only the reports), and on
    ten crops, from each member's selected weights in float32. `speed` is one network's images per
    second, divided here by the work each row does. It shows what the profile's training reaches at
    several times the recognizer's cost; it is not chosen among and not shipped.

    Where a member's weights are not here, the ten-crop row is taken from `saved_comparison` (the
    comparison folder the last execution wrote) if it is provably the same members' (`_saved_ten_crop`).
    Returns the rows and, where a member's completed report or saved predictions on these `ids` are
    missing (no rows), or its weights and a saved row are (the centre-crop row alone), why."""
    from ..evaluate.run_store import selected_weights
    from ..evaluate.warm_start import load_start_weights
    from ..models import build_model
    from ..recognizer.classifiers import KerasClassifier, ModelInfo

    k, members = len(chain), ", ".join(spec.name for spec in chain)
    saved, records = [], []
    for spec in chain:
        folder = folders.get(spec.name)
        if folder is None or not (Path(folder) / RECORD_FILE).exists():
            return [], f"snapshot ensemble of {members}: {spec.name} has no report"
        record = ExperimentRecord.read(folder)
        if not record.completed:
            return [], f"snapshot ensemble of {members}: {spec.name} did not complete its planned epochs"
        with np.load(Path(folder) / record.unit_file("predictions")) as z:
            if not np.array_equal(z["ids"], np.asarray(ids).astype(str)):
                return [], f"snapshot ensemble of {members}: {spec.name} was tested on other images"
            saved.append(z["proba"])
        records.append(record)
    why = (f"reported, not a candidate to ship: the recognizer runs one network, and {k} would do {k} times its "
           "classification work")
    centre_name, ten_crop_name = f"snapshot ensemble ({k} networks), centre crop", f"snapshot ensemble ({k} networks), ten-crop"
    rows = [Entry(centre_name, np.mean(saved, axis=0), None if speed is None else speed / k,
                  f"the mean of {members}'s own test predictions, each run's PublicTest-selected weights; {why}")]
    ten_crop_what = f"the same networks in float32, ten crops each, all averaged ({10 * k} times the work)"
    networks = []
    for spec, record in zip(chain, records):
        weights = selected_weights(spec, profile, n_images, record.seeds[0], models_dir)
        if weights is None or weights.best_epoch != record.epochs.best_epoch_per_seed[0]:
            reused = _saved_ten_crop(saved_comparison, centre_name, ten_crop_name, rows[0].proba, ids)
            if reused is None:
                return rows, (f"the snapshot ensemble's ten-crop row: the selected weights of {spec.name}'s reported run "
                              "are not here (neither in the cache nor shipped), and no saved row of the same members is")
            rows.append(Entry(ten_crop_name, reused, None if speed is None else speed / (10 * k),
                              f"{ten_crop_what}; the probabilities the comparison saved when it last ran them, as "
                              f"{spec.name}'s weights are not here (the same members: their centre-crop mean equals the "
                              f"saved one); {why}"))
            return rows, None
        network = build_model(spec.model, faces.shape[1:] + (1,), saved[0].shape[1], **spec.model_options)
        networks.append(load_start_weights(network, weights))
    classes = tuple(str(c) for c in range(saved[0].shape[1]))  # the probabilities need no names
    ten_crop = np.mean([ten_crop_proba(KerasClassifier(network, ModelInfo(classes)).predict, faces)
                        for network in networks], axis=0)
    rows.append(Entry(ten_crop_name, ten_crop, None if speed is None else speed / (10 * k), f"{ten_crop_what}; {why}"))
    return rows, None


def _saved_ten_crop(folder: Path | str | None, centre_name: str, ten_crop_name: str, centre: np.ndarray,
                    ids: np.ndarray) -> np.ndarray | None:
    """The ten-crop ensemble's probabilities from a saved comparison `folder`, where it holds both ensemble
    rows on these `ids` and its centre-crop row equals `centre` exactly: that row is the mean of the
    members' own test predictions, so a member from another run would change it. None otherwise."""
    import json

    if folder is None or not (Path(folder) / COMPARISON_FILE).exists():
        return None
    by_name = {row["model"]: row["predictions"] for row in json.loads((Path(folder) / COMPARISON_FILE).read_text())["rows"]}
    if centre_name not in by_name or ten_crop_name not in by_name:
        return None
    with np.load(Path(folder) / by_name[centre_name]) as saved_centre, np.load(Path(folder) / by_name[ten_crop_name]) as saved:
        same = (np.array_equal(saved_centre["ids"], np.asarray(ids).astype(str)) and np.array_equal(saved["ids"], saved_centre["ids"])
                and np.array_equal(saved_centre["proba"], np.asarray(centre, np.float32)))
        return saved["proba"] if same else None


# ---------------------------------------------------------------------------------------------
# Which recipe ships: chosen on PublicTest alone

@dataclass(frozen=True)
class RecipeChoice:
    """The recipe to ship (an experiment name), and the table it was chosen from."""

    chosen: str
    table: pd.DataFrame


def select_recipe(folders: dict[str, Path], out: Path | str | None = None) -> RecipeChoice:
    """Choose among the report folders of `folders` (experiment name -> folder, in order of preference on
    a tie) the one whose selected epochs reached the highest PublicTest accuracy, averaged over its seeds
    (a run that kept no best epoch counts its last); a run that did not train (`runner.did_train`) ranks
    below every run that did, and one stopped short of its planned epochs (by its budget) below every run
    that completed them: its schedule did not anneal, its number is a lower bound, and its weights may
    live only in a cache that is gone. Only each run's validation history is read, never a test score.
    The table (recipe, regularisation, learning rate, starting weights, epochs, selected epoch, PublicTest
    accuracy, chosen) is written to `out`/selection.csv and .md when given."""
    rows = []
    for name, folder in folders.items():
        record = ExperimentRecord.read(folder)
        at_selected = []
        for seed, best in zip(record.seeds, record.epochs.best_epoch_per_seed):
            history = pd.read_csv(Path(folder) / f"history_{record.unit}{seed}.csv").set_index("epoch")
            at_selected.append(float(history["val_accuracy"].loc[best] if best is not None
                                     else history["val_accuracy"].iloc[-1]))
        rows.append({"recipe": name, "weight decay": record.train_config.get("weight_decay"),
                     "dropout": built_dropout(record), "learning rate": record.learning_rate,
                     "starts from": _start_description(record), "trained": record.trained,
                     "completed": record.completed,
                     "epochs run / planned": " / ".join(f"{r}/{record.epochs.planned}" for r in record.epochs.run_per_seed),
                     "selected epoch": " / ".join(str(b) for b in record.epochs.best_epoch_per_seed),
                     PUBLIC_TEST_ACCURACY: round(float(np.mean(at_selected)), 4)})
    if not rows:
        raise FerError("no recipe to choose from: pass at least one report folder")
    table = pd.DataFrame(rows)
    ranks = list(zip(table["trained"], table["completed"], table[PUBLIC_TEST_ACCURACY]))
    chosen = str(table["recipe"].iloc[ranks.index(max(ranks))])
    table["chosen"] = table["recipe"] == chosen
    if out is not None:
        rule = ("The recipe shipped is the one whose PublicTest-selected epoch reached the highest PublicTest "
                "accuracy (mean over seeds; a run that did not train ranks last, and one stopped by its budget before "
                "its planned epochs below every run that completed them; a tie goes to the first listed). "
                "No test score is read.")
        with atomic_folder(Path(out)) as tmp:
            table.to_csv(tmp / "selection.csv", index=False)
            write_text(tmp / "selection.md", f"{rule}\n\n{tables.markdown_table(table)}\n")
    return RecipeChoice(chosen, table)


def built_dropout(record: ExperimentRecord) -> float:
    """The dropout rate the record's network was built with: its option, else the builder's default."""
    from ..models.registry import option_defaults

    return {**option_defaults(record.model), **record.model_options}["dropout"]
