"""Protocol flaws that inflate FER accuracies, each built so that it leaks exactly as named.

The clean protocol is `data.splits.official`: split first, balance and augment the training split only,
select on PublicTest, test once on PrivateTest. Each flaw below changes one thing:

1. `augment_before_split`: class balancing by augmentation applied to the whole pool *before* a
   random train/test split, so augmented copies of test images are trained on.
2. `splits.random_stratified` on all 35,887 images: duplicates now straddle train and test.
3. `select_on_test`: the official split, but the epoch is selected on the test split itself.
4. Reporting training accuracy, or the best epoch's validation accuracy, as "accuracy": read from
   the clean run's history (`reported_as_accuracy`).
5. CK+48 split by frame (`splits.random_stratified`) instead of by subject (`splits.subject_independent`).
6. abdulkadir2025's Eq. (3) "recall", TN / (TN + FP), which is specificity: `eq3_recall`.
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

import keras

from ..data import FaceDataset
from ..data.pipeline import balanced_indices, build_augmenter
from ..data.splits import Split, official, random_stratified
from ..evaluate.claims import flaw_signs
from ..evaluate.metrics import classification_metrics


def select_on_test(dataset: FaceDataset, seed: int = 0) -> Split:
    """Flaw 3: the official split with PrivateTest as the selection set as well as the test set."""
    clean = official(dataset, seed)
    return Split("select_on_test", "FER2013 Training / PrivateTest used for epoch selection AND as the test set",
                 seed, clean.train, clean.test, clean.test)


def augment_before_split(dataset: FaceDataset, seed: int = 0, test_fraction: float = 0.25,
                         val_fraction: float = 0.2) -> tuple[FaceDataset, Split, np.ndarray]:
    """Flaw 1: balance the whole pool with flipped and rotated copies, then split at random.

    Returns the enlarged dataset (copies have ids `<id>#aug<k>`), the random split of it, and for
    every image of the enlarged dataset the index of the original image it came from.
    """
    index, is_copy = balanced_indices(dataset.labels, seed)
    augmenter = build_augmenter(seed=seed)
    copies = dataset.images[index[is_copy]]
    augmented = np.concatenate([
        keras.ops.convert_to_numpy(augmenter(copies[i:i + 1024, ..., None].astype("float32"), training=True))[..., 0]
        for i in range(0, len(copies), 1024)]) if len(copies) else copies
    pool = dataset.subset(index)
    pool.images = np.concatenate([dataset.images, np.clip(np.rint(augmented), 0, 255).astype(np.uint8)])
    pool.ids = np.concatenate([dataset.ids.astype(str),
                               [f"{dataset.ids[j]}#aug{k}" for k, j in enumerate(index[is_copy])]])
    pool.split = None  # the official split no longer means anything
    split = random_stratified(pool, seed=seed, test_fraction=test_fraction, val_fraction=val_fraction)
    split = Split("augment_before_split", "balanced by augmentation before a random "
                  f"{round(100 * (1 - test_fraction))}:{round(100 * test_fraction)} split: "
                  "augmented copies of test images are in train", seed, split.train, split.val, split.test)
    return pool, split, index


def shared_sources(split: Split, source: np.ndarray) -> int:
    """How many test images come from an original that also has an image in train (0 = no leak)."""
    return int(np.isin(source[split.test], source[split.train]).sum())


def reported_as_accuracy(history: pd.DataFrame) -> dict[str, float]:
    """Flaw 4: the numbers a paper can call "accuracy" from one training history."""
    return {"training accuracy, last epoch": float(history["accuracy"].iloc[-1]),
            "training accuracy, best epoch": float(history["accuracy"].max()),
            "validation accuracy, best epoch": float(history["val_accuracy"].max())}


def eq3_recall(y_true: np.ndarray, y_pred: np.ndarray, class_names: tuple[str, ...]) -> float:
    """Flaw 6: abdulkadir2025's Eq. (3) "recall", TN / (TN + FP) (specificity), averaged over classes."""
    return classification_metrics(y_true, y_pred, class_names)["macro_avg"]["specificity"]


# ---------------------------------------------------------------------------------------------
# The study: one model, one learning rate, one budget, each flaw alone against the clean protocol


def _row(flaw: str, dataset: str, protocol: str, accuracy: float, ci, n: int, run=None, note: str = "",
         trained: bool = True) -> dict:
    """One table row. `trained=False`: the row re-reads another row's run, which spent the training time."""
    return {"flaw": flaw, "dataset": dataset, "protocol": protocol, "measured_accuracy": round(accuracy, 4),
            "ci_low": None if ci is None else round(ci[0], 4), "ci_high": None if ci is None else round(ci[1], 4),
            "n_test": n, "epochs_run/planned": "" if run is None else f"{run.epochs_run}/{run.epochs_planned}",
            "stopped": "" if run is None else run.stop_reason, "note": note,
            **({"train_seconds": round(run.train_seconds, 1), "budget_seconds": run.config.budget_seconds}
               if run is not None and trained else {})}


def run_study(profile: str = "smoke", *, model: str, data_root=None, reports_root=None, budget_minutes: float = 10.0,
              ckplus_budget_minutes: float = 3.0, seed: int = 0, learning_rate: float = 3e-4,
              replace: bool = False) -> pd.DataFrame:
    """Run the clean protocol and every flaw; write `<reports_root>/<profile>/leakage_study/`; return the table.

    Each training run uses the registered `model`, Adam at `learning_rate`, its paper's batch size,
    the same epochs and the same wall-clock budget under the cpu profile, so the flaws are compared
    at equal compute. A study already written from more images or a larger budget is not replaced
    unless `replace`: the run stops before training and says so.
    """
    from ..config import cache_dir, get_profile, reports_dir
    from ..data import prepare
    from ..data.splits import subject_independent
    from ..evaluate.record import RunStrength, refuse_weaker
    from ..evaluate.runner import train_and_evaluate
    from ..files import atomic_folder, writable_dir, write_json, write_text
    from ..models import paper_batch_size
    from ..provenance import environment
    from ..reporting.tables import markdown_table
    from ..train import TrainConfig

    prof = get_profile(profile)
    reports_root = writable_dir(reports_root or reports_dir(), "reports root")
    runs_root = cache_dir() / "runs" / prof.name / "leakage_study"
    epochs = prof.epochs(100)

    def config(minutes: float, balance: bool = True, augment: str = "copies") -> TrainConfig:
        return TrainConfig(learning_rate=learning_rate, batch_size=paper_batch_size(model), epochs=epochs, seed=seed,
                           balance=balance, augment=augment, budget_seconds=prof.budget_seconds(minutes))

    fer, ck = (prepare(name, data_root, prof.per_class).dataset for name in ("fer2013", "ckplus48"))
    folder = Path(reports_root) / prof.name / "leakage_study"
    budget = prof.budget_seconds(budget_minutes)
    strength = RunStrength(len(fer), (seed,), budget, epochs)
    if (folder / "results.json").exists():
        saved = json.loads((folder / "results.json").read_text())
        saved_minutes = saved.get("budget_minutes_per_run")
        # studies written before n_images was recorded ran on all of FER2013 under cpu and paper
        existing = RunStrength(saved.get("n_images", len(fer) if prof.per_class is None else 0), (saved.get("seed", seed),),
                               None if saved_minutes is None else 60 * saved_minutes, saved.get("epochs", epochs))
        refuse_weaker(folder, strength, existing, replace)
    rows = []

    def measured(flaw, dataset, split, run, note=""):
        m = run.test_metrics
        rows.append(_row(flaw, dataset, split.description, m["accuracy"], m["accuracy_ci"], m["n"], run.run, note))

    clean = official(fer, seed)
    base = train_and_evaluate(model, {}, fer, clean, config(budget_minutes), runs_root / "clean")
    measured("none: clean protocol (baseline)", "fer2013", clean, base)

    pool, split1, _ = augment_before_split(fer, seed, test_fraction=0.25)
    flaw1 = train_and_evaluate(model, {}, pool, split1,
                               config(budget_minutes, balance=False, augment="none"), runs_root / "augment_before_split")
    measured("1. augmentation for balance before a random split", "fer2013", split1, flaw1,
             "includes flaw 2 (a random re-split); its own share is the difference to flaw 2")

    split2 = random_stratified(fer, seed, test_fraction=0.25, val_fraction=0.2)
    flaw2 = train_and_evaluate(model, {}, fer, split2, config(budget_minutes), runs_root / "random_resplit")
    measured("2. random re-split of all images (duplicates straddle train and test)", "fer2013", split2, flaw2)

    split3 = select_on_test(fer, seed)
    flaw3 = train_and_evaluate(model, {}, fer, split3, config(budget_minutes), runs_root / "select_on_test")
    measured("3. epoch selection on the test split", "fer2013", split3, flaw3)

    for name, value in reported_as_accuracy(base.run.history).items():
        rows.append(_row(f"4. reporting the {name} as accuracy", "fer2013", clean.description, value, None,
                         len(clean.train) if name.startswith("training") else len(clean.val), base.run,
                         "from the clean run's history", trained=False))

    by_subject = subject_independent(ck, seed, test_fraction=0.2, val_fraction=0.2)
    ck_clean = train_and_evaluate(model, {}, ck, by_subject, config(ckplus_budget_minutes),
                                  runs_root / "ckplus_subject")
    measured("none: CK+48 subject-independent (baseline for flaw 5)", "ckplus48", by_subject, ck_clean)
    by_frame = random_stratified(ck, seed, test_fraction=0.2, val_fraction=0.2)
    ck_flaw = train_and_evaluate(model, {}, ck, by_frame, config(ckplus_budget_minutes),
                                 runs_root / "ckplus_frame")
    measured("5. CK+48 split by frame instead of by subject", "ckplus48", by_frame, ck_flaw)

    y_pred = base.test_proba.argmax(axis=1)
    rows.append(_row("6. Eq. (3) \"recall\" TN/(TN+FP), i.e. specificity, averaged over classes", "fer2013",
                     clean.description, eq3_recall(fer.labels[clean.test], y_pred, fer.class_names), None,
                     len(clean.test), base.run, "from the clean run's test predictions", trained=False))

    # training time and budget stay in results.json (the index's compute table reads them)
    table = pd.DataFrame(rows).drop(columns=["train_seconds", "budget_seconds"], errors="ignore")
    baselines = {"fer2013": table.measured_accuracy[0], "ckplus48": table.measured_accuracy[table.flaw.str.startswith("none: CK+")].iloc[0]}
    table.insert(4, "inflation_points", [round(100 * (a - baselines[d]), 1) for a, d in zip(table.measured_accuracy, table.dataset)])
    with atomic_folder(folder) as tmp:
        table.to_csv(tmp / "results.csv", index=False)
        write_text(tmp / "results.md", markdown_table(table))
        write_json(tmp / "results.json", {"profile": prof.name, "model": model, "learning_rate": learning_rate,
                                          "budget_minutes_per_run": budget_minutes if prof.budget_scale else None,
                                          "seed": seed, "n_images": len(fer), "epochs": epochs, "rows": rows,
                                          "environment": environment()})
        _plot_study(table, tmp / "leakage.png", f"protocol flaws, {model}, {prof.name} profile")
        write_text(tmp / "paper_signs.md", markdown_table(pd.DataFrame(flaw_signs())))
    return table


def _plot_study(table: pd.DataFrame, path, title: str) -> None:
    import matplotlib.pyplot as plt

    from ..reporting.figures import save_figure

    fig, ax = plt.subplots(figsize=(9, 0.45 * len(table) + 1.2))
    y = np.arange(len(table))[::-1]
    err = np.array([[a - lo if lo == lo and lo is not None else 0, hi - a if hi == hi and hi is not None else 0]
                    for a, lo, hi in zip(table.measured_accuracy, table.ci_low, table.ci_high)]).T
    colors = ["tab:green" if f.startswith("none") else "tab:red" for f in table.flaw]
    ax.barh(y, 100 * table.measured_accuracy, xerr=100 * err, color=colors, alpha=0.8)
    ax.set_yticks(y, [f[:60] for f in table.flaw], fontsize=8)
    ax.set_xlabel("reported accuracy (%), 95% CI where it applies")
    ax.grid(axis="x", alpha=0.3)
    save_figure(fig, path, title, title_size=10)
