"""An experiment's report folder: written from its runs (`write_report`), or re-rendered from what they saved
(`rerender`), by one function (`_render`) that derives everything else from the raw files: metrics, the claims
tables and their verdicts, figures, the record and the page."""
from __future__ import annotations

import json
import shutil
from dataclasses import asdict, replace
from pathlib import Path

import numpy as np
import pandas as pd

from .. import provenance
from ..config import Profile
from ..data import FaceDataset
from ..data.splits import Split
from ..evaluate import claims as claims_lib
from ..evaluate import test_looks
from ..evaluate.latency import single_face_latency
from ..evaluate.metrics import (SEED_RULE, late_validation, metrics_from_predictions, pooled_metrics,
                                recall_beside_specificity, save_labels, save_predictions, seed_summary)
from ..evaluate.record import RECORD_FILE, EpochsRecord, ExperimentRecord
from ..evaluate.run_store import MAX_KEPT_CHECKPOINT_BYTES, keep_checkpoint, kept_checkpoint
from ..evaluate.runner import ExperimentResult, SeedRun, duplicate_free, holdout_index
from ..evaluate.spec import ExperimentSpec, experiment_label, folder_name
from ..files import atomic_folder, write_json
from ..papers import get_experiments
from ..train import STOP_BUDGET
from . import figures, pages, tables


def run_facts(record: ExperimentRecord) -> claims_lib.RunFacts:
    """What the verdicts need to know about a recorded run besides its numbers."""
    return claims_lib.RunFacts(
        protocol=record.protocol, protocol_options=record.protocol_options,
        protocol_description=record.protocol_description, epochs_run=tuple(record.epochs.run_per_seed),
        epochs_planned=record.epochs.planned, stopped_by_budget=STOP_BUDGET in record.epochs.stop_reasons,
        collapsed=not record.trained, optimizer=record.train_config.get("optimizer", ""),
        learning_rate=record.learning_rate, weights=(record.model_options or {}).get("weights"))


def collapse_study_note(path: Path) -> str:
    """What a saved collapse study beside the report found, for its collapse verdict ('' where there is none)."""
    if not path.exists():
        return ""
    saved = json.loads(path.read_text())
    # arms are compared within one machine: the study is as far as its furthest machine
    machines = saved.get("by_machine") or [{"arms_run": len(saved.get("rows", []))}]
    done = max(m["arms_run"] for m in machines)
    planned = saved.get("arms_planned", done)
    part = f" (part-way: {done} of {planned} arms on one machine)" if done < planned else ""
    return f"the collapse study (collapse_study/results.md){part} finds: {saved['finding']}"


def _final_logs(histories: dict[int, pd.DataFrame]) -> dict[str, float]:
    """The last epoch's Keras logs (loss, accuracy, val_loss, val_accuracy), averaged over runs."""
    last = pd.DataFrame([h.iloc[-1] for h in histories.values() if len(h)])
    return {k: float(last[k].mean()) for k in ("loss", "accuracy", "val_loss", "val_accuracy") if k in last}


def _subset_confusion(path: Path, key: str) -> tuple[np.ndarray, int] | None:
    """The confusion matrix of a predictions file over the images its boolean `key` marks, and how
    many it leaves out (None: no such key)."""
    with np.load(path) as z:
        if key not in z.files:
            return None
        keep = z[key]
        y_pred = z["y_pred"] if "y_pred" in z.files else z["proba"].argmax(axis=1)
        k = len(z["class_names"])
        return np.bincount(z["y_true"][keep] * k + y_pred[keep], minlength=k * k).reshape(k, k), int((~keep).sum())


def _extra_scores(folder: Path, record: ExperimentRecord, names: list[str], holdout: str | None) -> dict:
    """The deduplicated test set's and the holdout part's pooled metrics, where the run saved them."""
    extra = {}
    dedup = [_subset_confusion(folder / record.unit_file("predictions", u), "duplicate_free") for u in record.seeds]
    if all(d is not None for d in dedup):
        extra["deduplicated_test"] = {
            "description": "the test images with no exact or near duplicate among the run's training images",
            "removed": [removed for _, removed in dedup], **pooled_metrics([cm for cm, _ in dedup], names)}
    files = [folder / record.unit_file("holdout_predictions", u) for u in record.seeds]
    if holdout and all(f.exists() for f in files):
        per_run = [metrics_from_predictions(f) for f in files]
        extra["holdout"] = {"description": f"FER2013 {holdout}, which no run trained or selected on",
                            "per_run_accuracy": [m["accuracy"] for m in per_run],
                            **pooled_metrics([np.array(m["confusion_matrix"]) for m in per_run], names)}
    return extra


def _render(folder: Path, spec: ExperimentSpec, record: ExperimentRecord) -> list[dict]:
    """Write everything derived from a run's saved predictions and histories in `folder`: metrics.json,
    the claims tables, the figures, experiment.json (accuracy, seed summary, headline claim filled
    in here) and report.html. Verdicts rest on all seeds (or folds) pooled (`metrics.SEED_RULE`);
    the training split's claims on the pooled training-split predictions (none where they were not saved).
    Returns the claim rows."""
    units = record.seeds
    test_metrics = [metrics_from_predictions(folder / record.unit_file("predictions", u)) for u in units]
    histories = {u: pd.read_csv(folder / record.unit_file("history", u, "csv")) for u in units}
    train_files = [folder / record.unit_file("train_predictions", u) for u in units]
    train_per_unit = [metrics_from_predictions(f) for f in train_files] if all(f.exists() for f in train_files) else None
    metrics0 = test_metrics[0]
    names = metrics0["class_names"]
    pooled = pooled_metrics([np.array(m["confusion_matrix"]) for m in test_metrics], names)
    if train_per_unit:
        pooled_train = pooled_metrics([np.array(m["confusion_matrix"]) for m in train_per_unit], names)
        train_metrics, train_accuracies = train_per_unit[0], [m["accuracy"] for m in train_per_unit]
    else:
        pooled_train, train_metrics, train_accuracies = None, None, [None] * len(units)
    summary = seed_summary([m["accuracy"] for m in test_metrics])
    logs = _final_logs(histories)
    extra = _extra_scores(folder, record, names, spec.holdout)
    claims = [c for c in claims_lib.load_claims(spec.paper) if c.model in (None, spec.model)]
    facts = run_facts(record)
    if not record.trained:
        facts = replace(facts, collapse_note=collapse_study_note(folder.parent / "collapse_study" / "results.json"))
    rows = claims_lib.compare(claims, pooled, spec.dataset, facts, summary, pooled_train, logs,
                              claims_lib.load_settings(spec.paper, spec.model),
                              claims_lib.load_setups(spec.paper, spec.model),
                              claims_lib.mislabels(spec.paper, spec.dataset))
    if spec.compare_on_train_split:
        for row, claim in zip(rows, (c for c in claims if c.dataset == spec.dataset)):
            measured, _ = claims_lib.measured_value(claim, pooled_train)
            row["measured_on_train_split"] = None if measured is None else round(measured, 4)
    raw = claims_lib.load_paper(spec.paper)  # a paper of several models names a headline claim per model
    headline_id = raw.get("headline_by_model", {}).get(spec.model) or raw.get("headline", {}).get(spec.dataset)
    write_json(folder / "metrics.json", {
        "primary_seed": units[0], "unit": record.unit, "primary": metrics0, "seed_summary": summary,
        "pooled_over_seeds": pooled, "pooled_on_train_split": pooled_train if train_per_unit else None,
        "primary_on_train_split": train_metrics, "final_epoch_logs": logs, **extra,
        "per_seed": {str(u): {"accuracy": m["accuracy"], "accuracy_ci": m["accuracy_ci"], "macro_f1": m["macro_avg"]["f1"],
                              "train_split_accuracy": train_acc}
                     for u, m, train_acc in zip(units, test_metrics, train_accuracies)},
    })
    tables.write_claims_table(rows, folder)
    recall_beside_specificity(pooled).to_csv(folder / "per_class.csv", index=False)
    title = f"{spec.paper} {record.label} [{record.profile}]"
    figures.plot_learning_curves(histories, folder / "learning_curves.png", title)
    figures.plot_confusion(metrics0, folder / "confusion_matrix.png", f"{title}: test split, {record.unit} {units[0]}")
    record.accuracy, record.accuracy_ci = pooled["accuracy"], list(pooled["accuracy_ci"])
    record.seed_summary = summary
    record.seed_rule = SEED_RULE
    # the runner evaluates the last epoch, not the best, exactly where validation is the test set
    record.late_validation = late_validation(list(histories.values())) if record.train_config.get(
        "restore_best") is False else None
    record.train_split_accuracy = pooled_train["accuracy"]
    record.extra_scores = {name: {"accuracy": v["accuracy"], "accuracy_ci": list(v["accuracy_ci"]), "n": v["n"],
                                  "n_seeds": v["n_seeds"], "description": v["description"]} for name, v in extra.items()} or None
    record.headline_claim = next((r for r in rows if r["claim_id"] == headline_id), None)
    record.write(folder)
    pages.experiment_page(folder)
    return rows


def _run_note(spec: ExperimentSpec, lr: float, trained: bool, first: SeedRun, n_runs: int, pre_summary: dict) -> str:
    partial = pre_summary.get("count_differences_from_public_release") or []
    unit = "fold" if spec.kfold else "seed"
    return ("" if trained else f"At lr {lr:g} this model did not train (see learning curves); reported as it is. ") + \
        (f"Verdicts and the headline accuracy: {SEED_RULE}" + (" (here the folds take the seeds' place: every image "
         "is tested once, by the fold that held it out; mean and sd over folds beside)." if spec.kfold else ".")) + \
        f" The confusion matrix is {unit} {first.seed}'s." + \
        (" Validation and test are one set here (the paper's protocol): the last epoch is evaluated, and no score "
         "is on an untouched test set." if first.split.val_is_test else "") + \
        (" Under this protocol each seed also re-draws the split, so the spread across seeds mixes the split "
         "and the initialisation." if spec.protocol != "official" and not spec.kfold and n_runs > 1 else "") + \
        (f" PARTIAL DATA: the copy used differs from the public release ({'; '.join(partial[:3])}"
         f"{'; ...' if len(partial) > 3 else ''})." if partial else "")


def _split_sizes(spec: ExperimentSpec, splits: list[Split]) -> dict[str, int]:
    """The first run's part sizes; under a k-fold protocol also the test images of all folds run,
    which the pooled accuracy covers (each image once)."""
    sizes = splits[0].sizes()
    if spec.kfold:
        sizes["test_all_folds"] = sum(len(split.test) for split in splits)
    return sizes


def write_report(spec: ExperimentSpec, prof: Profile, lr: float, dataset: FaceDataset, pre_summary: dict,
                  per_seed: list[SeedRun], trained: bool, wall: float, reports_root: Path,
                  groups: np.ndarray | None = None) -> ExperimentResult:
    """Write the report folder of one variant's runs, with the first run's model's single-face
    inference time; `groups` (FER2013's duplicate groups) marks each test image that has no duplicate
    among its run's training images."""
    first = per_seed[0]
    latency = single_face_latency(first.run.model, dataset.images[first.split.test][:100])
    runs = [r.run for r in per_seed]
    record = ExperimentRecord(
        paper=spec.paper, experiment=spec.name, label=experiment_label(spec, lr), title=spec.title, dataset=spec.dataset,
        protocol=spec.protocol, protocol_options=spec.protocol_options, protocol_description=first.split.protocol_description,
        model=spec.model, model_options=spec.options_for(prof.name), profile=prof.name, profile_description=prof.description,
        learning_rate=lr, paper_learning_rate=spec.training.learning_rate, trained=trained,
        seeds=[r.seed for r in per_seed], split_sizes=_split_sizes(spec, [r.split for r in per_seed]), n_images=len(dataset),
        epochs=EpochsRecord(planned=first.run.epochs_planned, run_per_seed=[r.epochs_run for r in runs],
                            best_epoch_per_seed=[r.best_epoch for r in runs], stop_reasons=[r.stop_reason for r in runs],
                            train_seconds_per_seed=[round(r.train_seconds, 1) for r in runs]),
        train_seconds_total=round(sum(r.train_seconds for r in runs), 1), train_config=asdict(first.run.config),
        fast_paths=first.run.fast_paths, wall_seconds=wall, accuracy=float("nan"), accuracy_ci=[],
        seed_summary={}, train_split_accuracy=float("nan"), headline_claim=None, preprocessing=pre_summary,
        note=_run_note(spec, lr, trained, first, len(per_seed), pre_summary), environment=provenance.environment(),
        backends=[r.backends for r in runs], placement=first.run.placement,
        unit="fold" if spec.kfold else "seed", holdout=spec.holdout, inference_latency=latency,
        started_from=[r.started_from.as_record() for r in per_seed] if first.started_from is not None else None,
    )
    folder = reports_root / prof.name / spec.paper / folder_name(spec, lr)
    held = holdout_index(spec, dataset)
    with atomic_folder(folder) as tmp:
        for r in per_seed:
            mask = duplicate_free(r.split, groups)
            save_predictions(tmp / record.unit_file("predictions", r.seed), dataset.labels[r.split.test], r.test_proba,
                             dataset.ids[r.split.test], dataset.class_names,
                             **({} if mask is None else {"duplicate_free": mask}))
            r.run.history.to_csv(tmp / record.unit_file("history", r.seed, "csv"), index=False)
            save_labels(tmp / record.unit_file("train_predictions", r.seed), dataset.labels[r.split.train], r.train_pred,
                        dataset.ids[r.split.train], dataset.class_names)
            if held is not None:
                save_predictions(tmp / record.unit_file("holdout_predictions", r.seed), dataset.labels[held],
                                 r.holdout_proba, dataset.ids[held], dataset.class_names)
            if r.run.stopped_by_budget and r.run.run_dir is not None:  # a later session or clone continues it
                if not keep_checkpoint(r.run.run_dir, kept_checkpoint(tmp, f"{record.unit}{r.seed}")):
                    print(f"[{spec.paper}] {spec.name}: the checkpoint of {record.unit}{r.seed} is over "
                          f"{MAX_KEPT_CHECKPOINT_BYTES / 2**20:.0f} MiB and stays in the cache only: a fresh checkout "
                          "restarts this run", flush=True)
        record.files = record.file_digests(tmp)
        rows = _render(tmp, spec, record)
    test_looks.log_look(reports_root, json.loads((folder / RECORD_FILE).read_text()), spec.selection_rule)
    return ExperimentResult(spec, record.label, lr, folder, first.test_metrics, rows, trained, runs)


def rerender(folder: Path | str) -> ExperimentRecord:
    """Rewrite a report folder's metrics, claims tables, figures, record and page from its saved
    predictions and histories, without training (e.g. after a change to the claims or verdicts)."""
    folder = Path(folder)
    record = ExperimentRecord.read(folder)
    record.check_raw_files(folder)  # a missing, cut or changed file is refused, named, before anything is written
    spec = get_experiments(record.paper, record.experiment)[0]
    record.label = experiment_label(spec, record.learning_rate)  # whose rate failed, as the claims file has it
    with atomic_folder(folder) as tmp:
        shutil.copytree(folder, tmp, dirs_exist_ok=True)
        _render(tmp, spec, record)
    return record
