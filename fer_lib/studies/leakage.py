"""Protocol flaws that inflate FER accuracies, each measured alone against a protocol that differs from it
in that one thing, over several seeds, with a bootstrap CI of every difference.

The arms (FER2013 unless named), each trained per seed with the same model, optimizer, epochs and budget:

- `clean`: the official protocol (train on Training, balance and augment it only, select on PublicTest),
  tested once on PrivateTest and on the *deduplicated* PrivateTest (its images with no exact or near
  duplicate in Training, from `audit.duplicate_groups`). Every epoch's PrivateTest predictions are
  recorded (never used to select), for flaw 3.
- `grouped`: a random stratified 75:25 split of all images in which every duplicate group sits on one
  side (the training images that duplicate a test image are left out), then the clean pipeline.
- `random` (flaw 2): the same test and validation images; training images drawn at random from the
  rest, with `grouped`'s size and class counts, so duplicates of test images are trained on.
- `augment_first` (flaw 1): `grouped` exactly (the same training originals, validation and test images, the
  same number of balancing copies per class, each flipped and rotated afresh every epoch), except that the
  balancing copies are drawn from the pool before the split: each class's copies come from its training
  *and test* originals, so augmented copies of test images are trained on. Scored on `grouped`'s test
  images (paired). Design 2 differed from `grouped` in more than that (copies of the duplicates `grouped`
  excludes and of validation images, copies fixed once, more images per epoch, copies in test); its
  rows are kept in `superseded/`.
- CK+48 (flaw 5): split by frame (`random_stratified`) against split by subject.

What each flaw row compares:
1. `augment_first` against `grouped` (paired: the same test images); 2. `random` against `grouped` (both paired: the same test images);
3. the clean run at the epoch that scores best on PrivateTest (chosen after the fact) against the epoch
   PublicTest chose (paired); 4. the clean model's accuracy on its own unaugmented training split, in
   inference mode, against its test accuracy (different images: unpaired); 5. CK+48 by frame against
   by subject (unpaired); 6. not an inflation but a mislabelled metric: abdulkadir2025's Eq. (3)
   "recall" is specificity, shown beside recall in its own columns.
Flaws 1-3 act through memorised near copies, so each arm's training-split accuracy is reported, and the
differences are also given at the last epoch (the most memorised model), not only at the selected one.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from ..data import FaceDataset
from ..data.pipeline import balanced_indices
from ..data.splits import (Split, official, random_stratified, shares_group, stratified_holdout,
                           subject_independent)
from ..errors import FerError
from ..files import atomic_path
from ..evaluate.claims import flaw_signs
from ..evaluate.train_plan import TrainPlan
from ..evaluate.metrics import accuracy_difference, classification_metrics, pooled_metrics

STUDY_MODEL_NOTE = (
    "yousaf2024's CNN with its dropout switched off, standing in for the paper's model: flaws 1-3 leak through "
    "memorised near copies, which only a model that fits its training images can show, and without dropout "
    "this CNN fits them in far fewer epochs than the regularised original (12 epochs of the original reached "
    "56% on its training split); whether each run did is in its training-split accuracy")


# ---------------------------------------------------------------------------------------------
# The splits, each built so that it differs from its reference in one thing


def deduplicated(test: np.ndarray, train: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The images of `test` with no exact or near duplicate (same group) in `train`."""
    return test[~shares_group(test, train, groups)]


def grouped_random_split(dataset: FaceDataset, groups: np.ndarray, seed: int = 0, test_fraction: float = 0.25,
                         val_fraction: float = 0.2) -> Split:
    """A random stratified split of all images with every duplicate group on one side: the test images
    are drawn at random, and the images that duplicate one of them are left out of training."""
    rest, test = stratified_holdout(np.arange(len(dataset)), dataset.labels, test_fraction, seed)
    rest = rest[~shares_group(rest, test, groups)]
    train, val = stratified_holdout(rest, dataset.labels, val_fraction, seed)
    return Split("grouped_random", f"random stratified {round(100 * (1 - test_fraction))}:{round(100 * test_fraction)} "
                 "split of all images, every duplicate group on one side", seed, train, val, test)


def random_split_like(dataset: FaceDataset, reference: Split, seed: int = 0) -> Split:
    """Flaw 2: `reference`'s test and validation images; training images drawn at random from all the
    others with `reference.train`'s class counts, so duplicates of test images can be among them."""
    rng = np.random.default_rng(seed + 1000)
    pool = np.setdiff1d(np.arange(len(dataset)), np.concatenate([reference.test, reference.val]))
    counts = np.bincount(dataset.labels[reference.train], minlength=dataset.num_classes)
    train = np.sort(np.concatenate([rng.choice(pool[dataset.labels[pool] == c], size=n, replace=False)
                                    for c, n in enumerate(counts) if n]))
    return Split("random_resplit", "random split of all images of the same sizes and class counts "
                 "(duplicates straddle train and test)", seed, train, reference.val, reference.test)


def augment_first_sources(reference: Split) -> np.ndarray:
    """Flaw 1 (design 3): the images that may be drawn as balancing copies besides `reference`'s training
    originals: its test images, which a pipeline that balances the pool before splitting copies too. Its
    validation images are not among them, nor the duplicates `grouped` keeps out of training."""
    return np.sort(reference.test)


def augment_first_leaks(dataset: FaceDataset, reference: Split, seed: int) -> tuple[int, int]:
    """(test images drawn as the source of at least one training copy, training copies made from test images)
    for the flaw-1 arm of `seed`: the same draw its training makes (`balanced_indices` with the run's seed)."""
    sources = augment_first_sources(reference)
    labels = np.concatenate([dataset.labels[reference.train], dataset.labels[sources]])
    copy_only = np.concatenate([np.zeros(len(reference.train), bool), np.ones(len(sources), bool)])
    index, is_copy = balanced_indices(labels, seed, copy_only)
    from_test = index[is_copy][index[is_copy] >= len(reference.train)]
    return int(len(np.unique(from_test))), int(len(from_test))


def leaked(test: np.ndarray, train: np.ndarray, groups: np.ndarray) -> int:
    """How many test images share a duplicate group (or, for copies, an original) with a training image."""
    return int(shares_group(test, train, groups).sum())


def eq3_recall(y_true: np.ndarray, y_pred: np.ndarray, class_names: tuple[str, ...]) -> float:
    """Flaw 6: abdulkadir2025's Eq. (3) "recall", TN / (TN + FP) (specificity), averaged over classes."""
    return classification_metrics(y_true, y_pred, class_names)["macro_avg"]["specificity"]


# ---------------------------------------------------------------------------------------------
# One arm's run, and what the table needs from it


@dataclass
class ArmRun:
    """One arm, one seed: test labels, the predictions at the selected and the last epoch, every epoch's
    predictions on the test set, and the training-split accuracy at the selected and the last epoch."""

    arm: str
    seed: int
    ids: np.ndarray
    y_true: np.ndarray
    pred_selected: np.ndarray
    pred_by_epoch: np.ndarray  # epochs x test images
    train_correct: np.ndarray  # per training image, right at the selected epoch (inference mode, unaugmented)
    train_accuracy_last: float
    best_epoch: int | None
    epochs_run: int
    epochs_planned: int
    stop_reason: str
    train_seconds: float
    backends: list[dict]

    @property
    def pred_last(self) -> np.ndarray:
        return self.pred_by_epoch[-1]

    @property
    def train_accuracy_selected(self) -> float:
        return float(self.train_correct.mean())

    def correct(self, which: str = "selected", rows: np.ndarray | None = None) -> np.ndarray:
        pred = {"selected": self.pred_selected, "last": self.pred_last}[which]
        hit = pred == self.y_true
        return hit if rows is None else hit[rows]

    def save(self, path: Path) -> None:
        np.savez_compressed(path, ids=self.ids.astype(str), y_true=self.y_true.astype(np.int8),
                            pred_selected=self.pred_selected.astype(np.int8), pred_by_epoch=self.pred_by_epoch.astype(np.int8),
                            train_correct=self.train_correct)


    @classmethod
    def load(cls, path: Path, run: dict) -> "ArmRun":
        """A saved arm run (`save`'s file and its row of results.json's `runs`), for a study that re-renders
        or retrains only some arms."""
        with np.load(path) as z:
            return cls(run["arm"], run["seed"], z["ids"].astype(str), z["y_true"].astype(np.int64),
                       z["pred_selected"].astype(np.int64), z["pred_by_epoch"].astype(np.int64), z["train_correct"],
                       run["train_split_accuracy_last"], run["best_epoch"], run["epochs_run"], run["epochs_planned"],
                       run["stopped"], run["train_seconds"], run["provenance"])


def _train_arm(arm: str, model: str, model_options: dict, dataset: FaceDataset, split: Split, config, run_dir: Path,
               copy_sources: np.ndarray | None = None) -> ArmRun:
    from ..evaluate.runner import train_and_evaluate
    from ..train.callbacks import watched_predictions

    seed_run = train_and_evaluate(model, model_options, dataset, split, config, run_dir,
                                  watch={"test": split.test, "train": split.train}, copy_sources=copy_sources)
    run = seed_run.run
    by_epoch = watched_predictions(run_dir, "test")[:run.epochs_run]
    train_last = float(run.history["train_accuracy"].iloc[-1]) if "train_accuracy" in run.history else float("nan")
    return ArmRun(arm, config.seed, dataset.ids[split.test], dataset.labels[split.test],
                  seed_run.test_proba.argmax(axis=1), by_epoch, seed_run.train_pred == dataset.labels[split.train], train_last,
                  run.best_epoch, run.epochs_run, run.epochs_planned, run.stop_reason, run.train_seconds, run.backends)


# ---------------------------------------------------------------------------------------------
# The table


def _pct(x: float) -> float:
    return round(100 * x, 1)


def _difference_row(flaw: str, comparison: str, diff: dict, runs_a: list[ArmRun], runs_b: list[ArmRun] | None,
                    n_test: str, note: str = "") -> dict:
    def train_acc(runs, which):
        return _pct(np.mean([getattr(r, f"train_accuracy_{which}") for r in runs])) if runs else None
    return {"flaw": flaw, "comparison": comparison, "reference_accuracy": _pct(diff["accuracy_b"]),
            "flawed_accuracy": _pct(diff["accuracy_a"]), "difference_points": _pct(diff["difference"]),
            "ci_low": _pct(diff["ci"][0]), "ci_high": _pct(diff["ci"][1]), "paired": diff["paired"],
            "n_test": n_test, "seeds": diff["n_seeds"],
            "train_split_accuracy_reference": train_acc(runs_b, "selected"),
            "train_split_accuracy_flawed": train_acc(runs_a, "selected"),
            "train_split_accuracy_last_epoch": train_acc(runs_a, "last"), "note": note}


def study_table(runs: dict[str, list[ArmRun]], dedup_rows: list[np.ndarray], copies_from_test: list[int],
                leaks: dict[str, list[int]], class_names: tuple[str, ...]) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """(the flaw table, the clean baseline table, flaw 6's metric table) from every arm's runs, seed by
    seed in the same order.

    `dedup_rows[k]`: rows of the clean run's test set (seed k) with no duplicate in Training;
    `copies_from_test[k]`: the flaw-1 arm's training copies made from test images, seed k; `leaks`: per arm,
    how many test images have a duplicate (or, for flaw 1, a copy) in its training data, per seed."""
    clean, grouped, rand, first = (runs[a] for a in ("clean", "grouped", "random", "augment_first"))
    n_test = lambda rs: "/".join(str(len(r.y_true)) for r in rs[:1])  # noqa: E731
    baseline = []
    everything = [slice(None)] * len(clean)
    for name, rows in (("PrivateTest (all)", everything), ("PrivateTest deduplicated", dedup_rows)):
        cms = [classification_metrics(r.y_true[k_rows], r.pred_selected[k_rows], class_names)["confusion_matrix"]
               for r, k_rows in zip(clean, rows)]
        pooled = pooled_metrics([np.array(c) for c in cms], class_names)
        baseline.append({"test set": name, "n": int(np.sum(cms[0])), "accuracy": _pct(pooled["accuracy"]),
                         "ci_low": _pct(pooled["accuracy_ci"][0]), "ci_high": _pct(pooled["accuracy_ci"][1]),
                         "seeds": len(clean), "per_seed": ", ".join(f"{_pct(np.trace(np.array(c)) / np.sum(c))}" for c in cms)})
    rows = []
    for which in ("selected", "last"):
        at = "" if which == "selected" else " (last epoch)"
        rows.append(_difference_row(
            f"1. balancing copies drawn before the split{at}", "augment_first vs grouped",
            accuracy_difference([r.correct(which) for r in first], [g.correct(which) for g in grouped]),
            first, grouped, n_test(grouped),
            f"the same test images; {np.mean(leaks['augment_first']):.0f} of them copied into training "
            f"({np.mean(copies_from_test):.0f} of the balancing copies), mean over seeds; nothing else differs"))
        rows.append(_difference_row(
            f"2. random re-split (duplicates straddle train and test){at}", "random vs grouped",
            accuracy_difference([r.correct(which) for r in rand], [g.correct(which) for g in grouped]), rand, grouped,
            n_test(grouped), f"test images with a duplicate in training: {np.mean(leaks['random']):.0f} (random) vs "
                             f"{np.mean(leaks['grouped']):.0f} (grouped), mean over seeds"))
    best_test = [r.pred_by_epoch[int(np.argmax((r.pred_by_epoch == r.y_true).mean(axis=1)))] == r.y_true for r in clean]
    rows.append(_difference_row(
        "3. epoch chosen on the test split", "clean run: best PrivateTest epoch vs the PublicTest-selected epoch",
        accuracy_difference(best_test, [r.correct() for r in clean]), clean, clean, n_test(clean),
        "one training run per seed: the test scores of every epoch, the best picked after the fact"))
    train_hits = [r.train_correct for r in clean]
    rows.append(_difference_row(
        "4. training-split accuracy reported as accuracy", "clean model on its unaugmented training split vs PrivateTest",
        accuracy_difference(train_hits, [r.correct() for r in clean], paired=False), clean, clean,
        f"{len(train_hits[0])} vs {len(clean[0].y_true)}", "inference mode, the selected epoch; different images: unpaired"))
    if runs.get("ckplus_frame") and runs.get("ckplus_subject"):
        frame, subject = runs["ckplus_frame"], runs["ckplus_subject"]
        rows.append(_difference_row(
            "5. CK+48 split by frame instead of by subject", "by frame vs by subject",
            accuracy_difference([r.correct() for r in frame], [r.correct() for r in subject], paired=False), frame,
            subject, f"{len(frame[0].y_true)} vs {len(subject[0].y_true)}",
            "different test images: unpaired; each seed re-draws both splits"))
    table = pd.DataFrame(rows)
    pooled = [classification_metrics(r.y_true, r.pred_selected, class_names)["macro_avg"] for r in clean]
    metric = pd.DataFrame([{"flaw": "6. Eq. (3) \"recall\" = TN/(TN+FP)", "model": "clean run, PrivateTest",
                            "macro recall": _pct(np.mean([m["recall"] for m in pooled])),
                            "macro specificity (Eq. 3's \"recall\")": _pct(np.mean([m["specificity"] for m in pooled])),
                            "seeds": len(clean), "note": "a mislabelled metric, not an accuracy: specificity is near "
                            "86% (6/7) for any 7-class model that spreads its errors"}])
    return table, pd.DataFrame(baseline), metric

# ---------------------------------------------------------------------------------------------
# The study

DESIGN = 3  # 1: one seed, one arm per flaw against the official split; 2: flaw 1 differed in more than one thing (both superseded, kept in superseded/)
ARMS = ("clean", "grouped", "random", "augment_first", "ckplus_subject", "ckplus_frame")


def caveats(table: pd.DataFrame, runs: dict[str, list[ArmRun]], model_note: str) -> list[str]:
    """What a reader must know beside the numbers, generated from the runs."""
    lines = [f"Model: {model_note}."]
    for arm, arm_runs in runs.items():
        epochs = ", ".join(f"{r.epochs_run}/{r.epochs_planned}" for r in arm_runs)
        stops = "; ".join(sorted({r.stop_reason for r in arm_runs}))
        lines.append(f"`{arm}`: epochs run/planned per seed {epochs} ({stops}); training-split accuracy at the "
                     f"selected epoch {', '.join(f'{100 * r.train_accuracy_selected:.1f}%' for r in arm_runs)}, "
                     f"at the last epoch {', '.join(f'{100 * r.train_accuracy_last:.1f}%' for r in arm_runs)}.")
    fitted = min((r.train_accuracy_last for rs in runs.values() for r in rs), default=float("nan"))
    if not fitted >= 0.9:
        lines.append(f"Not every run fitted its training split (lowest last-epoch training accuracy {100 * fitted:.1f}%, "
                     "below 90%): flaws 1-3 leak through memorised near copies, so their differences here are what "
                     "this much training shows, likely below what a fully fitted model would show.")
    negative = table[(table.difference_points < 0) & table.flaw.str[0].isin(list("1234"))]
    for _, row in negative.iterrows():
        inside = row.ci_low <= 0 <= row.ci_high
        lines.append(f"A negative difference ({row.flaw}: {row.difference_points} points, CI {row.ci_low} to "
                     f"{row.ci_high}) means the flawed arm scored lower than its reference"
                     + (": the CI holds zero, so no inflation is measured at this budget, not a protective effect."
                        if inside else ": the CI excludes zero; see the note of that row."))
    return lines


SUPERSEDED = "superseded"  # earlier designs' results, kept beside the study's own


def reusable_runs(folder: Path, saved: dict | None, model: str, model_options: dict, learning_rate: float,
                  epochs: int, budgets: dict[str, float | None], retrain: tuple[str, ...] = ()) -> dict:
    """{(arm, seed): ArmRun} for every arm run `saved` (the folder's results.json) holds under the same model,
    options, rate, epochs and budget, whose arm is unchanged since (the flaw-1 arm changed in design 3, so a
    design-2 study gives every arm but it) and not named in `retrain`."""
    if saved is None or saved.get("design") not in (2, DESIGN):
        return {}
    if (saved.get("model"), saved.get("model_options"), saved.get("learning_rate"), saved.get("epochs")) != \
            (model, model_options, learning_rate, epochs):
        return {}
    changed = {"augment_first"} if saved["design"] != DESIGN else set()
    found = {}
    for run in saved.get("runs", []):
        path = folder / "predictions" / f"{run['arm']}_seed{run['seed']}.npz"
        if run["arm"] in changed or run["arm"] in retrain or run.get("budget_seconds") != budgets.get(run["arm"]) \
                or not path.exists():
            continue
        found[(run["arm"], run["seed"])] = ArmRun.load(path, run)
    return found


def superseded_designs(folder: Path, saved: dict | None) -> dict[str, str]:
    """The files of `superseded/` the study keeps: those already there, and the results of a saved study of an
    earlier design, which this one replaces."""
    kept = {p.name: p.read_text() for p in sorted((folder / SUPERSEDED).glob("*"))} if (folder / SUPERSEDED).exists() else {}
    if saved is not None and saved.get("design") != DESIGN:
        kept[f"design{saved.get('design', 1)}_results.json"] = json.dumps(saved, indent=1)
        if (folder / "results.md").exists():
            kept[f"design{saved.get('design', 1)}_results.md"] = (folder / "results.md").read_text()
    return kept


def superseded_notes(files: dict[str, str]) -> list[str]:
    """What the earlier designs found, from their saved results, and why each was replaced."""
    notes = []
    if "design1_results.json" in files:
        d1 = json.loads(files["design1_results.json"])
        base = next(r["measured_accuracy"] for r in d1["rows"] if r["flaw"].startswith("none: clean"))
        found = {r["flaw"][0]: 100 * (r["measured_accuracy"] - base) for r in d1["rows"] if r["flaw"][:2] in ("1.", "2.", "3.")}
        notes.append(f"A first design ({d1['model']} with its dropout, the paper's regularised model, one seed, "
                     f"{d1['budget_minutes_per_run']:g}-minute budgets, each flaw against the official split) found flaw 2 "
                     f"at {found['2']:+.1f} points, flaw 1 at {found['1']:+.1f} and flaw 3 at {found['3']:+.1f}, without CIs of the "
                     "differences: that model had not fitted its training split, and flaws 1-3 leak through memorised near "
                     "copies, so the study was redesigned (design 2: dropout off, three seeds, each arm paired with a "
                     f"control that differs in one thing). Its results: `{SUPERSEDED}/design1_results.json`.")
    if "design2_results.json" in files:
        d2 = json.loads(files["design2_results.json"])
        row = next(r for r in d2["rows"] if r["flaw"] == "1. balancing copies made before the split, original test images only")
        notes.append("Design 2's flaw-1 arm differed from its control in more than augmenting before the split: its "
                     "training set also held copies of the near-duplicates of test images the control excludes (flaw "
                     "2's mechanism) and of validation images, its copies were fixed once instead of fresh each epoch, "
                     "and its epochs held more images. It read "
                     f"{row['difference_points']:+.1f} points [{row['ci_low']}, {row['ci_high']}] on the original test "
                     "images; design 3 changes only where the balancing copies come from. Its results: "
                     f"`{SUPERSEDED}/design2_results.json`.")
    return notes


def headline(folder: Path | str) -> str:
    """What a written study's tables show, in one paragraph generated from them: which flaws inflate by as much
    as the papers' claims need above the clean baseline, which hold zero in their CIs, and which fall between.
    The need: the lowest FER2013 headline claim minus the clean baseline's PrivateTest accuracy; for CK+48 (flaw
    5), yousaf2024's CK+ claim minus the subject-independent arm's accuracy. Selected-epoch rows only."""
    from ..evaluate.claims import load_claims
    from .label_noise import fer2013_headline_claims

    folder = Path(folder)
    table, baseline = pd.read_csv(folder / "results.csv"), pd.read_csv(folder / "baseline.csv")
    clean = float(baseline.loc[baseline["test set"] == "PrivateTest (all)", "accuracy"].iloc[0])
    claims = [c for c in fer2013_headline_claims() if c["paper"] != "reference"]  # the papers under review only
    lowest = min(claims, key=lambda c: c["claimed"])
    ck_claim = next(c.value for c in load_claims("yousaf2024") if c.id == "table6_ckplus48")
    rows = table[~table.flaw.str.contains("last epoch")]
    need_fer = 100 * lowest["claimed"] - clean
    reach, zero, between = [], [], []
    for row in rows.itertuples():
        name = f"flaw {row.flaw.split('.')[0]} ({row.flaw.split('. ', 1)[1].split(',')[0]}, {row.difference_points:+.1f})"
        need = 100 * ck_claim - row.reference_accuracy if row.flaw.startswith("5.") else need_fer
        if row.ci_low <= 0 <= row.ci_high:
            zero.append(name)
        elif row.difference_points >= need:
            reach.append(name)
        else:
            between.append(name)
    need_ck = 100 * ck_claim - float(rows.loc[rows.flaw.str.startswith("5."), "reference_accuracy"].iloc[0]) \
        if rows.flaw.str.startswith("5.").any() else float("nan")
    def listed(names: list[str], none: str) -> str:
        return none if not names else names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]

    def verb(names: list[str], singular: str, plural: str) -> str:
        return singular if len(names) == 1 else plural

    return (f"What the tables show: {'only ' if reach else ''}{listed(reach, 'no flaw')} "
            f"{verb(reach, 'reaches', 'reach')} the inflation the claims need ({need_fer:.1f} points from the clean "
            f"baseline's {clean:.1f}% to the lowest FER2013 headline claim, {lowest['paper']}'s {100 * lowest['claimed']:.1f}%; "
            f"{need_ck:.1f} points for yousaf2024's CK+ claim); {listed(zero, 'no flaw')} "
            f"{verb(zero, 'holds zero in its 95% CI', 'hold zero in their 95% CIs')}; {listed(between, 'no flaw')} "
            f"{verb(between, 'inflates', 'inflate')} by less than the claims need. Generated from the tables by "
            "`leakage.headline`.")


def _study_settings(saved: dict):
    """The `RunStrength` of a saved study of this design."""
    from ..evaluate.record import RunStrength
    return RunStrength(saved["n_images"], tuple(saved["seeds"]), saved.get("budget_seconds_per_run"), saved["epochs"])


def run_study(profile: str = "smoke", *, model: str = "yousaf2024", model_options: dict | None = None,
              seeds: tuple[int, ...] | list[int] = (0, 1, 2), learning_rate: float = 3e-4, epochs: int = 30,
              budget_minutes: float = 40.0, ckplus_budget_minutes: float = 4.0, data_root=None,
              reports_root=None, replace: bool = False, retrain: tuple[str, ...] = (),
              train: str | list[str] | None = None) -> pd.DataFrame:
    """Train every arm for every seed and write `<reports_root>/<profile>/leakage_study/`; return the flaw table.

    Every arm trains the registered `model` (default: yousaf2024 without dropout, see `STUDY_MODEL_NOTE`)
    with Adam at `learning_rate`, its paper's batch size, `epochs` epochs and, under the cpu profile, a
    wall-clock budget of `budget_minutes` per FER2013 run (`ckplus_budget_minutes` per CK+48 run).
    Runs resume from their checkpoints, and an arm whose run this study already saved under this design and
    these settings (its predictions and its row of results.json) is read, not trained again, unless named in
    `retrain` or `replace` is set (`reusable_runs`). `train` is the notebooks' `TrainPlan` over the arms: `"missing"`
    (the default) as above, `"none"` refuses to train any arm, `"all"` or arm names add to `retrain`. A study already written from more images, seeds, epochs
    or budget is not replaced unless `replace`."""
    from ..config import cache_dir, get_profile, reports_dir
    from ..data import prepare
    from ..evaluate.record import RunStrength, refuse_weaker
    from ..evaluate.spec import check_seeds
    from ..files import atomic_folder, writable_dir, write_json, write_text
    from ..models import paper_batch_size
    from ..provenance import environment
    from ..reporting.tables import markdown_table
    from ..train import TrainConfig
    from .audit import fer2013_duplicate_groups

    model_options = {"conv_dropout": 0.0, "dense_dropout": 0.0} if model_options is None and model == "yousaf2024" \
        else dict(model_options or {})
    model_note = STUDY_MODEL_NOTE if model == "yousaf2024" and model_options.get("conv_dropout") == 0.0 \
        else f"{model} with options {model_options}"
    prof = get_profile(profile)
    seeds = check_seeds(seeds)
    if not prof.multi_seed:
        seeds = seeds[:1]
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise FerError(f"epochs must be a positive integer, got {epochs!r}")
    root = writable_dir(reports_root if reports_root is not None else reports_dir(), "reports root")
    folder = Path(root) / prof.name / "leakage_study"
    fer_prepared = prepare("fer2013", data_root, prof.per_class)
    fer, ck = fer_prepared.dataset, prepare("ckplus48", data_root, prof.per_class).dataset
    budget = prof.budget_seconds(budget_minutes)
    strength = RunStrength(len(fer), tuple(seeds), budget, prof.epochs(epochs))
    saved = json.loads((folder / "results.json").read_text()) if (folder / "results.json").exists() else None
    if saved is not None and saved.get("design") == DESIGN:  # a study of an earlier design is superseded by this one
        refuse_weaker(folder, strength, _study_settings(saved), replace)

    def config(seed: int, minutes: float) -> TrainConfig:
        return TrainConfig(optimizer="adam", learning_rate=learning_rate, batch_size=paper_batch_size(model),
                           epochs=prof.epochs(epochs), seed=seed, balance=True, augment="copies",
                           budget_seconds=prof.budget_seconds(minutes))

    budgets = {arm: prof.budget_seconds(ckplus_budget_minutes) if arm.startswith("ckplus") else budget for arm in ARMS}
    plan = TrainPlan.parse(train)
    plan.check_names(list(ARMS))
    retrain = tuple(sorted(set(retrain) | plan.names | (set(ARMS) if plan.mode == "all" else set())))
    saved_runs = {} if replace else reusable_runs(folder, saved, model, model_options, learning_rate,
                                                   prof.epochs(epochs), budgets, retrain)
    unsaved = [f"{arm} seed {seed}" for seed in seeds for arm in ARMS if (arm, seed) not in saved_runs]
    if plan.mode == "none" and not plan.names and unsaved:
        raise FerError(f"train='none', but {len(unsaved)} arm runs have no saved result under this design and these "
                       f"settings ({', '.join(unsaved[:4])}{', ...' if len(unsaved) > 4 else ''}): train='missing' runs them")
    groups = fer2013_duplicate_groups(fer_prepared)
    runs: dict[str, list[ArmRun]] = {arm: [] for arm in ARMS}
    trained_now = False
    dedup_rows, copies_from_test, leaks = [], [], {arm: [] for arm in ("clean", "grouped", "random", "augment_first")}
    runs_root = cache_dir() / "runs" / prof.name / "leakage_study"
    for seed in seeds:
        where = runs_root / f"seed{seed}"
        clean = official(fer, seed)
        grouped = grouped_random_split(fer, groups, seed)
        rand = random_split_like(fer, grouped, seed)
        by_subject = subject_independent(ck, seed, test_fraction=0.2, val_fraction=0.2)
        by_frame = random_stratified(ck, seed, test_fraction=0.2, val_fraction=0.2)
        for arm, data, split, minutes, sources in (
                ("clean", fer, clean, budget_minutes, None), ("grouped", fer, grouped, budget_minutes, None),
                ("random", fer, rand, budget_minutes, None),
                ("augment_first", fer, grouped, budget_minutes, augment_first_sources(grouped)),
                ("ckplus_subject", ck, by_subject, ckplus_budget_minutes, None),
                ("ckplus_frame", ck, by_frame, ckplus_budget_minutes, None)):
            run = saved_runs.get((arm, seed))
            if run is None:  # not saved from this design and these settings: train it
                trained_now = True
                run = _train_arm(arm, model, model_options, data, split, config(seed, minutes), where / arm, sources)
            runs[arm].append(run)
        dedup_rows.append(np.flatnonzero(~shares_group(clean.test, clean.train, groups)))
        leaked_tests, copies = augment_first_leaks(fer, grouped, seed)
        copies_from_test.append(copies)
        for arm, split in (("clean", clean), ("grouped", grouped), ("random", rand)):
            leaks[arm].append(leaked(split.test, split.train, groups))
        leaks["augment_first"].append(leaked_tests)

    table, baseline, metric = study_table(runs, dedup_rows, copies_from_test, leaks, fer.class_names)
    superseded = superseded_designs(folder, saved)
    notes = caveats(table, runs, model_note) + superseded_notes(superseded)
    run_records = [{"arm": arm, "seed": r.seed, "epochs_run": r.epochs_run, "epochs_planned": r.epochs_planned,
                    "best_epoch": r.best_epoch, "stopped": r.stop_reason, "train_seconds": round(r.train_seconds, 1),
                    "budget_seconds": prof.budget_seconds(ckplus_budget_minutes) if arm.startswith("ckplus") else budget,
                    "train_split_accuracy_selected": r.train_accuracy_selected,
                    "train_split_accuracy_last": r.train_accuracy_last, "provenance": r.backends}
                   for arm, arm_runs in runs.items() for r in arm_runs]
    with atomic_folder(folder) as tmp:
        (tmp / "predictions").mkdir()
        (tmp / SUPERSEDED).mkdir()
        for name, content in superseded.items():
            write_text(tmp / SUPERSEDED / name, content)
        for arm_runs in runs.values():
            for r in arm_runs:
                r.save(tmp / "predictions" / f"{r.arm}_seed{r.seed}.npz")
        table.to_csv(tmp / "results.csv", index=False)
        baseline.to_csv(tmp / "baseline.csv", index=False)
        metric.to_csv(tmp / "metric.csv", index=False)
        write_text(tmp / "results.md", "\n".join([
            f"Clean baseline, {model} ({prof.name} profile), pooled over {len(seeds)} seed(s):", "",
            markdown_table(baseline), "",
            "Each flaw against the arm that differs from it in that one thing; difference in points with a 95% "
            "bootstrap CI over seeds and test images (paired where both arms were scored on the same images):", "",
            markdown_table(table), "", markdown_table(metric), "", "Caveats, generated from the runs:", "",
            *[f"- {line}" for line in notes], ""]))
        write_json(tmp / "results.json", {
            "design": DESIGN, "profile": prof.name, "model": model, "model_options": model_options,
            "learning_rate": learning_rate, "epochs": prof.epochs(epochs), "seeds": list(seeds),
            "budget_seconds_per_run": budget, "budget_minutes_per_run": budget_minutes if prof.budget_scale else None,
            "n_images": len(fer), "leaks": leaks, "rows": table.to_dict("records"),
            "baseline": baseline.to_dict("records"), "metric": metric.to_dict("records"), "caveats": notes,
            # where the study was last trained: a re-execution that only reads its saved runs keeps it
            "runs": run_records, "environment": environment() if trained_now or not saved else saved["environment"]})
        _plot_study(table, tmp / "leakage.png", f"protocol flaws, {model}, {prof.name} profile, {len(seeds)} seed(s)")
        write_text(tmp / "paper_signs.md", markdown_table(pd.DataFrame(flaw_signs())))
    return table


def _plot_study(table: pd.DataFrame, path, title: str) -> None:
    import textwrap

    import matplotlib.pyplot as plt

    from ..reporting.figures import save_figure

    fig, ax = plt.subplots(figsize=(10, 0.62 * len(table) + 1.8))
    y = np.arange(len(table))[::-1]
    d = table.difference_points.to_numpy(float)
    err = np.array([d - table.ci_low.to_numpy(float), table.ci_high.to_numpy(float) - d])
    colors = ["tab:red" if lo > 0 else ("tab:blue" if hi < 0 else "tab:gray") for lo, hi in zip(table.ci_low, table.ci_high)]
    ax.barh(y, d, xerr=err, color=colors, alpha=0.8, capsize=3)
    ax.axvline(0, color="black", lw=0.8)
    # wrapped, never cut: the "(last epoch)" suffix is what tells two rows apart
    ax.set_yticks(y, [textwrap.fill(f, 52) for f in table.flaw], fontsize=8)
    ax.set_xlabel("flawed minus reference accuracy (points), 95% bootstrap CI\n"
                  "red: CI above zero; blue: CI below zero; grey: CI holds zero")
    ax.grid(axis="x", alpha=0.3)
    save_figure(fig, path, title, title_size=10)


def rerender_figure(folder: Path | str) -> Path:
    """Redraw a written study's figure from its saved table (`results.csv`, `results.json`), no training."""
    folder = Path(folder)
    try:
        saved = json.loads((folder / "results.json").read_text())
        table = pd.read_csv(folder / "results.csv")
    except (OSError, ValueError) as exc:
        raise FerError(f"{folder} holds no readable leakage study (results.json and results.csv): {exc}; "
                       f"run `fer-lib train leakage_study` to write one") from None
    path = folder / "leakage.png"
    with atomic_path(path) as tmp:
        _plot_study(table, tmp, f"protocol flaws, {saved['model']}, {saved['profile']} profile, "
                                f"{len(saved['seeds'])} seed(s)")
    return path
