"""The learning-rate probe: how an experiment's fallback learning rate is chosen, as code with its saved result.

When a paper's own learning rate does not train (see `studies.experiment_runs`), the experiment is re-run at its
`fallback_lr`. That value is chosen here, never on a test split: each candidate trains for a few
epochs on the experiment's training part (seed 0's split) minus a stratified 20% of it, and is
scored on that 20%. The candidate with the best validation accuracy at its best epoch wins; ties go to
the smaller rate. The result is written to `<reports_root>/<profile>/<paper>/lr_probe_<experiment>.json`
(and `.md`), and a test checks that every experiment's `fallback_lr` is the probe's choice.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path


from ..config import cache_dir, get_profile, reports_dir
from ..data import prepare
from ..data.splits import Split, make_split, stratified_holdout
from ..errors import FerError
from ..files import writable_dir, write_json
from ..provenance import environment
from ..reporting import tables
from ..evaluate.spec import ExperimentSpec
from ..evaluate.runner import train_and_evaluate

CANDIDATES = (1e-3, 3e-4, 1e-4)
PROBE_EPOCHS = 4
PROBE_VAL_FRACTION = 0.2


def probe_path(spec: ExperimentSpec, profile: str, reports_root: Path | str | None = None) -> Path:
    """Where the probe of `spec` under `profile` is saved."""
    return Path(reports_root or reports_dir()) / profile / spec.paper / f"lr_probe_{spec.name}.json"


def probe_split(spec: ExperimentSpec, dataset, seed: int = 0) -> Split:
    """The probe's split: the training part of `spec`'s seed-0 split, 20% of it held out (stratified)
    for scoring. Its test part is empty: no test image is ever seen."""
    base = make_split(spec.protocol, dataset, seed=seed, **spec.protocol_options)
    fit_part, held = stratified_holdout(base.train, dataset.labels, PROBE_VAL_FRACTION, seed)
    return Split("lr_probe", f"the training part of '{base.description}', {PROBE_VAL_FRACTION:.0%} of it held out "
                 "for scoring; no test image", seed, fit_part, held, held[:0])


def choose(scores: dict[float, float]) -> float:
    """The learning rate with the best score; a tie goes to the smaller rate."""
    return max(sorted(scores), key=lambda lr: (scores[lr], -lr))


def run_probe(spec: ExperimentSpec, profile: str = "smoke", *, candidates: tuple[float, ...] = CANDIDATES,
              epochs: int = PROBE_EPOCHS, data_root: Path | str | None = None,
              reports_root: Path | str | None = None) -> dict:
    """Train `spec`'s model at each candidate learning rate for `epochs` epochs on the probe split and
    save which one validates best. Returns the saved record."""
    if not candidates or any(not (isinstance(lr, (int, float)) and 0 < lr < 1) for lr in candidates):
        raise FerError(f"candidates must be learning rates in (0, 1), got {candidates!r}")
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 1:
        raise FerError(f"epochs must be a positive integer, got {epochs!r}")
    prof = get_profile(profile)
    root = writable_dir(reports_root if reports_root is not None else reports_dir(), "reports root")
    dataset = prepare(spec.dataset, data_root, prof.per_class, spec.preprocess).dataset
    split = probe_split(spec, dataset)
    rows = []
    for lr in candidates:
        config = replace(spec.training, learning_rate=lr, epochs=prof.epochs(epochs), seed=0, budget_seconds=None)
        run = train_and_evaluate(spec.model, spec.model_options, dataset, split, config,
                                 cache_dir() / "runs" / prof.name / spec.paper / "lr_probe" / spec.name / f"lr{lr:g}",
                                 spec.preprocess, score_test=False).run
        history = run.history
        rows.append({"learning_rate": lr, "best_val_accuracy": round(float(history["val_accuracy"].max()), 4),
                     "best_epoch": run.best_epoch, "epochs": run.epochs_run, "stopped": run.stop_reason,
                     "val_accuracy_per_epoch": [round(float(v), 4) for v in history["val_accuracy"]],
                     "train_seconds": round(run.train_seconds, 1), "backends": run.backends})
    chosen = choose({r["learning_rate"]: r["best_val_accuracy"] for r in rows})
    record = {"paper": spec.paper, "experiment": spec.name, "profile": prof.name, "model": spec.model,
              "rule": f"best validation accuracy within {epochs} epochs; ties to the smaller rate",
              "split": split.description, "split_sizes": split.sizes(), "n_images": len(dataset),
              "paper_learning_rate": spec.training.learning_rate, "candidates": list(candidates),
              "chosen": chosen, "rows": rows, "environment": environment()}
    path = probe_path(spec, prof.name, root)
    write_json(path, record)
    write_probe_markdown(path)
    return record


def write_probe_markdown(path: Path | str) -> Path:
    """The saved probe's table (`path`: its .json) as markdown beside it, with the commits it trained under."""
    record = json.loads(Path(path).read_text())
    return tables.write_probe_markdown(
        path, f"Learning-rate probe: {record['paper']} {record['experiment']} ({record['profile']})",
        ("learning_rate", "best_val_accuracy", "best_epoch", "epochs", "train_seconds"), f"{record['chosen']:g}")


def saved_choice(spec: ExperimentSpec, profile: str, reports_root: Path | str | None = None) -> float | None:
    """The learning rate a saved probe of `spec` chose, or None when none is saved."""
    path = probe_path(spec, profile, reports_root)
    return json.loads(path.read_text())["chosen"] if path.exists() else None


def probe_scores(record: dict) -> dict[float, float]:
    """{learning rate: best validation accuracy} from a saved probe record."""
    return {r["learning_rate"]: r["best_val_accuracy"] for r in record["rows"]}

