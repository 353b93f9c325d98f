"""Ablations: arms of one model that differ in one switch, trained at equal compute on the same split
and seeds, each set against the first arm (the reference) with a paired CI of the difference.

`equal="epochs"`: the reference trains under the profile's budget; every other arm then trains for
exactly the epochs the reference reached (a switch that changes speed does not change the epochs).
`equal="budget"`: every arm gets the same wall-clock budget (for an input size, whose cost per
epoch differs: the question is what the same compute buys).

Each arm's test accuracy pools its seeds (`metrics.SEED_RULE`); the difference from the reference
is `metrics.accuracy_difference` over the same test images, seed by seed (seeds resampled, then
images, both arms on one draw). A difference reads "lower"/"higher" only when its 95% CI excludes
zero, else "no difference detected"; and never where either arm collapsed to one class or trained fewer
than `MIN_EPOCHS_FOR_AN_EFFECT` epochs, which the effect column says instead; nor where the arms' validation
accuracy over their last epochs (`late_epochs`) points the other way (`_late_disagreement`). On FER2013 the
deduplicated PrivateTest is scored beside.
`reference_runs_of` names the paper's experiment that is the reference arm exactly: its
checkpoints are the reference's, so the model is not trained twice; where they are gone (a fresh
checkout) and that experiment's report holds the seed's saved predictions and history under the same
settings, the report is the reference arm (`reference_from_report`).
Reports: `reports/<profile>/<paper>/<name>/` with results.csv/.md/.json, predictions/, histories/,
ablation.png and report.html.
"""
from __future__ import annotations

import html
import json
import re
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd

from ..config import budget_minutes_in_seconds, cache_dir, get_profile, reports_dir
from ..data import prepare
from ..data.splits import make_split
from ..provenance import trained_at_text
from ..errors import FerError
from ..evaluate import test_looks
from ..evaluate.metrics import (SEED_RULE, accuracy_difference, late_epochs, late_validation, pooled_metrics,
                                save_predictions)
from ..evaluate.record import RunStrength, refuse_weaker
from ..evaluate.run_store import (CHECKPOINT_PREFIX, MAX_KEPT_CHECKPOINT_BYTES, keep_checkpoint, kept_checkpoint,
                                  restore_checkpoint, saved_unit)
from ..evaluate.runner import duplicate_free, train_and_evaluate
from ..files import atomic_folder, writable_dir, write_json, write_text
from ..models import build_model
from ..reporting.pages import reading_html, report_page
from ..reporting.tables import markdown_table
from ..evaluate.study_specs import AblationSpec
from ..train import TrainConfig
from ..train.checkpoint import read_state

def _slug(arm: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", arm.lower()).strip("_")


# An arm (or its reference) trained for fewer epochs than this says nothing yet about its switch: the hybrid's
# equal-epochs arms at 1 epoch differ by where one epoch happened to land, not by the architecture.
MIN_EPOCHS_FOR_AN_EFFECT = 5


def _short_of_reference(arm: list["ArmSeed"], reference: list["ArmSeed"],
                        equal: str | None) -> tuple["ArmSeed", "ArmSeed"] | None:
    """At equal epochs, the first seed's (arm run, reference run) whose arm trained fewer epochs than the
    reference's (its budget stopped it first), or None."""
    if equal != "epochs":
        return None
    return next(((a, r) for a, r in zip(arm, reference) if a.epochs_run < r.epochs_run), None)


def _not_an_effect(arm: list["ArmSeed"], reference: list["ArmSeed"], k: int, equal: str | None = None) -> str | None:
    """Why a difference between `arm` and `reference` is not an effect of the switch, or None: either
    predicted one class on some seed (collapsed), or either trained fewer than `MIN_EPOCHS_FOR_AN_EFFECT`, or
    (at equal epochs) the arm's budget stopped it before the reference's epochs."""
    short = _short_of_reference(arm, reference, equal)
    if short is not None:
        a, r = short
        return (f"not yet comparable: the arm trained {a.epochs_run} of the reference's {r.epochs_run} epochs "
                f"(seed {a.seed}, {a.stop_reason}; its kept checkpoint continues it)")
    for who, runs in (("the arm", arm), ("the reference", reference)):
        if any(len(np.unique(r.proba.argmax(axis=1))) == 1 for r in runs):
            return f"not an effect of the switch: {who} collapsed to one class"
    fewest = min(r.epochs_run for r in arm + reference)
    if fewest < MIN_EPOCHS_FOR_AN_EFFECT:
        return (f"not an effect of the switch: {fewest} epoch{'s' if fewest != 1 else ''} trained "
                f"(fewer than {MIN_EPOCHS_FOR_AN_EFFECT}, too early to tell)")
    return None


# what a study's note says of the late_val_difference_points column (`write_study_folder` adds it)
LATE_RULE = ("late_val_difference_points: the same difference in validation accuracy, averaged over the runs' last "
             "epochs (the last fifth, 3 to 10); an effect whose CI excludes zero but which this points against reads "
             "'not settled'.")


def late_validation_accuracy(runs: list["ArmSeed"]) -> float | None:
    """An arm's validation accuracy over its last `late_epochs` epochs, averaged within each seed's
    history and then over seeds; None where a history lacks validation accuracy."""
    late = late_validation([r.history for r in runs])
    return None if late is None else late["mean"]


def _late_disagreement(effect: str, late_difference: float | None, k: int, point_difference: float) -> str | None:
    """Why an effect read off the evaluated epoch does not stand, or None. The paired CI holds the test
    images' noise, and seed-to-seed spread only where there are several seeds; a single run's evaluated
    epoch is one draw from its epoch-to-epoch swing (2-4 points late in mahdi2025's 50-epoch runs). So a
    "lower"/"higher" must point the same way as the arms' validation accuracy averaged over their last
    `k` epochs (`late_difference`, arm minus reference), else it is not settled. (This rule was added
    after mahdi2025's Kaggle re-split arm finished; it can only withhold an effect, never make one.)"""
    if late_difference is None or not effect.startswith(("lower", "higher")):
        return None
    if (late_difference < 0) if effect.startswith("lower") else (late_difference > 0):
        return None
    return (f"not settled: {point_difference:+.1f} points at the evaluated epoch, but {100 * late_difference:+.1f} "
            f"in validation accuracy over the last {k} epochs; one run's evaluated epoch is within its "
            f"epoch-to-epoch swing")


def _effect(ci: tuple[float, float]) -> str:
    lo, hi = ci
    if hi < 0:
        return "lower (95% CI below zero)"
    if lo > 0:
        return "higher (95% CI above zero)"
    return "no difference detected (95% CI includes zero)"


@dataclass
class ArmSeed:
    """One arm's run of one seed: its test predictions and how its training went."""

    arm: str
    seed: int
    ids: np.ndarray
    y_true: np.ndarray
    proba: np.ndarray
    duplicate_free: np.ndarray | None
    history: pd.DataFrame
    epochs_run: int
    epochs_planned: int
    stop_reason: str
    train_seconds: float
    budget_seconds: float | None
    backends: list[dict]

    def __post_init__(self) -> None:
        # results.json keeps tenths of a second; the table is computed from the same value, so a
        # re-render from the saved rows reproduces it to the digit (round(sum/60, 1) can flip otherwise)
        self.train_seconds = round(float(self.train_seconds), 1)

    @property
    def correct(self) -> np.ndarray:
        return self.proba.argmax(axis=1) == self.y_true


def ablation_table(arms: dict[str, dict], runs: dict[str, list[ArmSeed]], class_names: list[str],
                   params: dict[str, int], equal: str | None = None) -> pd.DataFrame:
    """One row per arm (`arms`: name -> what differs; the first is the reference): pooled accuracy with
    CI, macro F1, the classes each seed's model predicts, the deduplicated test's accuracy, epochs,
    time, the backends and devices it trained on, and the paired difference from the reference arm with its CI and
    what it shows (`equal`, the study's `AblationSpec.equal`: at "epochs" an arm its budget stopped short of the
    reference's epochs is not yet compared)."""
    reference = next(iter(arms))
    k = len(class_names)
    rows = []
    for arm, per_seed in runs.items():
        cms = [np.bincount(r.y_true * k + r.proba.argmax(axis=1), minlength=k * k).reshape(k, k) for r in per_seed]
        pooled = pooled_metrics(cms, class_names)
        row = {"arm": arm, "options": str(arms[arm] or "the model as built"), "parameters": params[arm],
               "accuracy": round(pooled["accuracy"], 4), "ci_low": round(pooled["accuracy_ci"][0], 4),
               "ci_high": round(pooled["accuracy_ci"][1], 4),
               "macro_f1": round(float(np.nanmean([pooled["per_class"][c]["f1"] for c in class_names])), 4),
               # how many classes each seed's model predicts on the test split (its confusion matrix's
               # non-empty columns): 1 is a collapsed arm
               "classes_predicted": " / ".join(f"{int((cm.sum(axis=0) > 0).sum())}/{k}" for cm in cms)}
        if all(r.duplicate_free is not None for r in per_seed):
            hits = sum(int(r.correct[r.duplicate_free].sum()) for r in per_seed)
            row["accuracy_deduplicated"] = round(hits / sum(int(r.duplicate_free.sum()) for r in per_seed), 4)
        row["epochs_run"] = " / ".join(f"{r.epochs_run}/{r.epochs_planned}" for r in per_seed)
        row["train_minutes"] = round(sum(r.train_seconds for r in per_seed) / 60, 1)
        # arms trained on other backends or devices differ in more than their switch: shown, not hidden
        row["trained_on"] = "; ".join(dict.fromkeys(f"{seg['backend']}, {seg['device']}" for r in per_seed
                                                    for seg in r.backends or [])) or None
        if arm != reference:
            diff = accuracy_difference([r.correct for r in per_seed], [r.correct for r in runs[reference]], paired=True)
            late, late_reference = late_validation_accuracy(per_seed), late_validation_accuracy(runs[reference])
            # an arm short of the reference's epochs ends elsewhere in training: its late epochs compare with nothing
            short = _short_of_reference(per_seed, runs[reference], equal) is not None
            late_difference = None if short or late is None or late_reference is None else late - late_reference
            epochs = min(r.epochs_run for r in per_seed + runs[reference])
            effect = _effect(diff["ci"])
            row.update(difference_points=round(100 * diff["difference"], 1), diff_ci_low=round(100 * diff["ci"][0], 1),
                       diff_ci_high=round(100 * diff["ci"][1], 1),
                       late_val_difference_points=None if late_difference is None else round(100 * late_difference, 1),
                       effect=_not_an_effect(per_seed, runs[reference], k, equal)
                       or _late_disagreement(effect, late_difference, late_epochs(epochs), 100 * diff["difference"])
                       or effect)
        rows.append(row)
    return pd.DataFrame(rows)


# what an ablation's page shows of its results.json
ABLATION_META = ("profile", "protocol_description", "seeds", "equal", "budget_minutes_per_run", "training",
                 "environment", "runs")


def study_folder(spec: AblationSpec, profile: str, reports_root: Path | str | None = None) -> Path:
    """Where `spec`'s report goes: `<reports_root>/<profile>/<paper>/<name>/` (default: the project's reports/)."""
    return Path(reports_root if reports_root is not None else reports_dir()) / profile / spec.paper / spec.name


def run_ablation(spec: AblationSpec, profile: str = "smoke", *, data_root: Path | str | None = None,
                 reports_root: Path | str | None = None, replace_existing: bool = False,
                 budget_minutes: float | None = None) -> pd.DataFrame:
    """Train every arm of `spec` under `profile` and write its report folder; returns the table.

    A report already there from more images, seeds, budget or epochs is not replaced unless
    `replace_existing` (a FerError says so before anything trains). `budget_minutes` caps each run this call
    trains, counted across restarts, under any profile (the `paper` profile sets none), except a reference arm that
    is an experiment's runs (the experiment's own budget stands); a run it stops keeps its checkpoint in the report
    folder (`checkpoint_<arm>_seed<n>/`, as an experiment's report does), and a later call, on this machine or a
    fresh checkout, continues it under a larger budget."""
    from ..provenance import environment
    from .audit import fer2013_duplicate_groups

    spec.check_arms()
    prof = get_profile(profile)
    spec.reference_experiment()  # a reference that is not the named experiment fails before training
    seeds = list(spec.seeds) if prof.multi_seed else list(spec.seeds[:1])
    reports_root = writable_dir(reports_root if reports_root is not None else reports_dir(), "reports root")
    training = replace(spec.training, learning_rate=spec.learning_rate(prof.name, reports_root))
    folder = study_folder(spec, prof.name, reports_root)
    budget = prof.budget_seconds(spec.cpu_budget_minutes)
    capped = None if budget_minutes is None else budget_minutes_in_seconds(budget_minutes)
    if capped is not None and spec.equal == "budget" and spec.reference_runs_of:
        raise FerError(f"ablation {spec.name} gives its arms equal budgets and its reference arm is experiment "
                       f"{spec.reference_runs_of}'s runs: --budget-minutes would make them unequal; leave it out")
    if capped is not None and not spec.reference_runs_of:
        budget = capped  # the reference arm is the study's own: capped as every arm
    prepared = prepare(spec.dataset, data_root, prof.per_class, spec.preprocess)
    dataset = prepared.dataset
    per_run = capped if capped is not None else budget
    strength = RunStrength(len(dataset), tuple(seeds), per_run, prof.epochs(spec.training.epochs))
    refuse_weaker_study(folder, strength, replace_existing)
    groups = fer2013_duplicate_groups(prepared)
    runs_root = cache_dir() / "runs" / prof.name / spec.paper / spec.name
    shape = dataset.images.shape[1:] + (1,)
    params = {arm: build_model(spec.model, shape, dataset.num_classes, **options).count_params()
              for arm, options in spec.arms.items()}
    started = time.monotonic()
    runs: dict[str, list[ArmSeed]] = {arm: [] for arm in spec.arms}
    checkpoints: dict[str, Path] = {}  # the budget-stopped runs' checkpoints, kept with the report
    trained_here: list[str] = []  # arms scored on the test split by this call (each a look, logged)
    for seed in seeds:
        split = make_split(spec.protocol, dataset, seed=seed, **spec.protocol_options)
        config = replace(training, seed=seed, epochs=prof.epochs(training.epochs), budget_seconds=budget,
                         # as `train_and_evaluate` runs it, so a saved reference run is recognised as this arm's
                         restore_best=training.restore_best and not split.val_is_test)
        for i, (arm, options) in enumerate(spec.arms.items()):
            if i and spec.equal == "epochs":
                # the reference's epochs exactly; the budget only guards against a runaway arm. (An arm
                # is retrained from scratch when the reference later reaches more epochs: the epochs are
                # part of a checkpoint's identity.)
                reached = runs[next(iter(spec.arms))][-1].epochs_run
                arm_budget = capped if capped is not None else None if budget is None else 3 * budget
                config = replace(config, epochs=max(reached, 1), budget_seconds=arm_budget)
            run_dir = (i == 0 and spec.reference_run_dir(prof.name, seed, reports_root)) or runs_root / _slug(arm) / f"seed{seed}"
            if i == 0 and spec.reference_runs_of and read_state(run_dir) is None:
                saved_run = reference_from_report(spec, prof.name, seed, dataset.ids[split.test], config, reports_root)
                if saved_run is not None:
                    runs[arm].append(saved_run)
                    continue
            stem = f"{_slug(arm)}_seed{seed}"
            owned = not (i == 0 and spec.reference_runs_of)  # else the experiment's report keeps its checkpoint
            if owned and restore_checkpoint(kept_checkpoint(folder, stem), run_dir):
                print(f"[{spec.paper}] {spec.name}: {arm}, seed {seed} continues from the checkpoint kept in {folder}",
                      flush=True)
            result = train_and_evaluate(spec.model, options, dataset, split, config, run_dir, spec.preprocess)
            run = result.run
            if owned and run.stopped_by_budget and run.run_dir is not None:
                checkpoints[stem] = Path(run.run_dir)
            if owned:  # the experiment's own run was scored, and logged, when the experiment ran
                trained_here.append(arm)
            runs[arm].append(ArmSeed(arm, seed, dataset.ids[split.test], dataset.labels[split.test], result.test_proba,
                                      duplicate_free(split, groups), run.history,
                                      run.epochs_run, run.epochs_planned, run.stop_reason, run.train_seconds,
                                      config.budget_seconds, run.backends))
    table = ablation_table(spec.arms, runs, list(dataset.class_names), params, spec.equal)
    saved = {
        "kind": "ablation", "paper": spec.paper, "name": spec.name, "title": spec.title, "profile": prof.name,
        "profile_description": prof.description, "model": spec.model, "arms": spec.arms, "equal": spec.equal,
        "reference_runs_of": spec.reference_runs_of,
        "protocol": spec.protocol, "protocol_options": spec.protocol_options,
        "protocol_description": split.description, "seeds": seeds, "seed_rule": SEED_RULE,
        "training": asdict(training), "budget_minutes_per_run": None if per_run is None else per_run / 60,
        "strength": asdict(strength), "n_test": int(len(split.test)), "wall_seconds": round(time.monotonic() - started, 1),
        "environment": environment(),
        "runs": run_rows(runs), "note": _note(spec, prof.name, reports_root), "parameters": params,
    }
    write_study_folder(folder, spec, runs, table, saved, dataset.class_names, ABLATION_META, checkpoints)
    for arm in dict.fromkeys(trained_here):
        row = table.loc[table["arm"] == arm].iloc[0]
        test_looks.log_look(reports_root, {
            "paper": spec.paper, "label": f"{spec.name}: {arm}", "profile": prof.name,
            "protocol_description": split.description, "accuracy": float(row["accuracy"]),
            "epochs": {"planned": runs[arm][0].epochs_planned, "run_per_seed": [r.epochs_run for r in runs[arm]]},
            "backends": [r.backends for r in runs[arm]]}, "none: an ablation arm, nothing is chosen on it")
    return table


def rerender_ablation(folder: Path | str) -> pd.DataFrame:
    """Rewrite an ablation's table, figure and page from the predictions, histories and run rows its
    folder saved, without training (e.g. after a change to a metric); returns the table."""
    return rerender_study(folder, "ablation", ABLATION_META)


def rerender_study(folder: Path | str, kind: str, meta: tuple[str, ...]) -> pd.DataFrame:
    """Rewrite a study of arms (an ablation, a fine-tuning study: `kind`) from the predictions, histories and
    run rows its folder saved; `meta` names the record's fields its page lists. Returns the table."""
    folder = Path(folder)
    saved = json.loads((folder / "results.json").read_text())
    if saved.get("kind") != kind:
        raise FerError(f"{folder} holds no {kind} report (results.json kind {saved.get('kind')!r})")
    # the page needs only the study's names, which the folder saved (a study need not be registered)
    spec = SimpleNamespace(paper=saved["paper"], name=saved["name"], title=saved["title"])
    runs: dict[str, list[ArmSeed]] = {arm: [] for arm in saved["arms"]}
    class_names = None
    for row in saved["runs"]:
        stem = f"{_slug(row['arm'])}_seed{row['seed']}"
        with np.load(folder / "predictions" / f"{stem}.npz", allow_pickle=False) as z:
            class_names = [str(c) for c in z["class_names"]]
            runs[row["arm"]].append(ArmSeed(
                row["arm"], row["seed"], *_saved_predictions(z),
                pd.read_csv(folder / "histories" / f"{stem}.csv"), row["epochs_run"], row["epochs_planned"],
                row["stop_reason"], row["train_seconds"], row["budget_seconds"], row["provenance"]))
    if "parameters" not in saved:
        raise FerError(f"{folder / 'results.json'} is from before studies saved each arm's parameter count; "
                       "re-run the study to rebuild its folder")
    table = ablation_table(saved["arms"], runs, class_names, saved["parameters"], saved.get("equal"))
    kept = {p.name.removeprefix(CHECKPOINT_PREFIX): p for p in folder.glob(f"{CHECKPOINT_PREFIX}*") if p.is_dir()}
    write_study_folder(folder, spec, runs, table, saved, class_names, meta, kept)
    return table


def reference_from_report(spec: AblationSpec, profile: str, seed: int, test_ids: np.ndarray, config: TrainConfig,
                          reports_root: Path) -> "ArmSeed | None":
    """The reference arm's run of `seed`, read from the report of experiment `reference_runs_of` (its
    saved test predictions, history, epochs and provenance), or None where that report does not hold
    this seed under exactly `config` (rate, epochs planned, budget, seed) on the same test images.
    The experiment's checkpoints live in a cache that a fresh checkout lacks; its report is the saved
    run, so the reference is not trained a second time."""
    experiment = spec.reference_experiment()
    found = saved_unit(experiment, profile, seed, config, reports_root)
    if found is None:
        return None
    folder, record = found
    predictions = folder / record.unit_file("predictions", seed)
    saved = np.load(predictions, allow_pickle=False)
    if not np.array_equal(saved["ids"], np.asarray(test_ids).astype(str)):
        raise FerError(f"{folder}: its seed-{seed} test images are not this ablation's; re-run experiment "
                       f"{experiment.name} (its report and the ablation must come from the same data)")
    i = record.seeds.index(seed)
    arm = next(iter(spec.arms))
    return ArmSeed(arm, seed, *_saved_predictions(saved),
                   pd.read_csv(folder / record.unit_file("history", seed, "csv")), record.epochs.run_per_seed[i],
                   record.epochs.planned, record.epochs.stop_reasons[i], record.epochs.train_seconds_per_seed[i],
                   config.budget_seconds, (record.backends or [[]])[i])


def _saved_predictions(saved) -> tuple:
    """An opened predictions .npz's (ids, y_true, proba, duplicate_free), as `ArmSeed` takes them
    (duplicate_free None where the file has none)."""
    return (saved["ids"], saved["y_true"], saved["proba"],
            saved["duplicate_free"] if "duplicate_free" in saved.files else None)


def refuse_weaker_study(folder: Path, strength: RunStrength, replace_existing: bool) -> None:
    """`refuse_weaker` against the study report already in `folder` (none: nothing to refuse)."""
    if (folder / "results.json").exists():
        saved = json.loads((folder / "results.json").read_text())["strength"]
        refuse_weaker(folder, strength, RunStrength(**{**saved, "seeds": tuple(saved["seeds"])}), replace_existing)


def run_rows(runs: dict[str, list[ArmSeed]]) -> list[dict]:
    """How each arm's run of each seed went, for results.json."""
    return [{"arm": r.arm, "seed": r.seed, "epochs_run": r.epochs_run, "epochs_planned": r.epochs_planned,
             "stop_reason": r.stop_reason, "train_seconds": r.train_seconds,
             "budget_seconds": r.budget_seconds, "provenance": r.backends}
            for per_seed in runs.values() for r in per_seed]


def write_study_folder(folder: Path, spec, runs: dict[str, list[ArmSeed]], table: pd.DataFrame, saved: dict,
                       class_names, meta_keys: tuple[str, ...], checkpoints: dict[str, Path] | None = None) -> None:
    """A study's report folder, atomically: predictions/ and histories/ per arm and seed, results.csv,
    results.json (`saved`, with its "note" and "profile"), results.md, ablation.png and report.html
    (the note, the table, the figure, the paper's reading table and `meta_keys` of `saved`); and
    `checkpoints` (run stem -> a folder holding a checkpoint) kept as `checkpoint_<stem>/` where small enough."""
    title = f"{spec.paper} {spec.name} [{saved['profile']}]"
    if "late_val_difference_points" in table.columns and LATE_RULE not in saved["note"]:
        # a report saved before the rule gains its sentence on a re-render
        saved = {**saved, "note": f"{saved['note']} {LATE_RULE}"}
    with atomic_folder(folder) as tmp:
        (tmp / "predictions").mkdir()
        (tmp / "histories").mkdir()
        for per_seed in runs.values():
            for r in per_seed:
                masks = {} if r.duplicate_free is None else {"duplicate_free": r.duplicate_free}
                save_predictions(tmp / "predictions" / f"{_slug(r.arm)}_seed{r.seed}.npz", r.y_true, r.proba, r.ids,
                                 class_names, **masks)
                r.history.to_csv(tmp / "histories" / f"{_slug(r.arm)}_seed{r.seed}.csv", index=False)
        table.to_csv(tmp / "results.csv", index=False)
        write_json(tmp / "results.json", saved)
        segments = [seg for run in saved.get("runs", []) for seg in run.get("provenance") or []]
        write_text(tmp / "results.md", f"**{spec.title}** ({saved['profile']} profile). {saved['note']} Trained at: "
                   f"{trained_at_text(segments)}.\n\n" + markdown_table(table) + "\n")
        for stem, source in (checkpoints or {}).items():
            if not keep_checkpoint(source, kept_checkpoint(tmp, stem)):
                print(f"[{spec.paper}] {spec.name}: the checkpoint of {stem} is over "
                      f"{MAX_KEPT_CHECKPOINT_BYTES / 2**20:.0f} MiB and stays in the cache only: a fresh checkout "
                      "restarts this run", flush=True)
        plot_arms(runs, table, tmp / "ablation.png", title)
        report_page(tmp / "report.html", spec.name, f"{spec.paper}: {spec.title}",
                    f"<p>{html.escape(saved['note'])}</p>\n{table.to_html(index=False, na_rep='')}"
                    f"{reading_html(spec.paper)}<img src=\"ablation.png\" width=\"1000\">",
                    {k: saved[k] for k in meta_keys})


def _note(spec: AblationSpec, profile: str, reports_root: Path) -> str:
    how = ("every arm trained for the epochs the reference reached under the budget" if spec.equal == "epochs"
           else "every arm had the same wall-clock budget")
    rate = spec.learning_rate(profile, reports_root)
    fallback = ("" if rate == spec.training.learning_rate else
                f" Every arm trained at lr {rate:g}, the rate at which experiment {spec.reference_runs_of} trained "
                f"(the paper's {spec.training.learning_rate:g} did not), so its runs are the reference arm's.")
    return (f"Equal compute: {how}.{fallback} Each difference is the arm minus the reference ({next(iter(spec.arms))}), "
            f"on the same test images seed by seed, with a paired bootstrap 95% CI; {SEED_RULE}.")


def plot_arms(runs: dict[str, list[ArmSeed]], table: pd.DataFrame, path: Path, title: str) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..reporting.figures import save_figure

    fig, (bars, curves) = plt.subplots(1, 2, figsize=(12, 4))
    y = np.arange(len(table))
    bars.errorbar(100 * table.accuracy, y, xerr=[100 * (table.accuracy - table.ci_low), 100 * (table.ci_high - table.accuracy)],
                  fmt="o", capsize=4)
    bars.set_yticks(y, table.arm)
    bars.invert_yaxis()
    bars.set_xlabel("test accuracy, seeds pooled (%, 95% CI)")
    for arm, per_seed in runs.items():
        for r in per_seed:
            if "val_accuracy" in r.history:
                curves.plot(r.history["epoch"] if "epoch" in r.history else np.arange(1, len(r.history) + 1),
                            100 * r.history["val_accuracy"], marker=".", label=f"{arm} (seed {r.seed})")
    curves.set_xlabel("epoch")
    curves.set_ylabel("validation accuracy (%)")
    curves.legend(fontsize=7)
    save_figure(fig, path, title)
