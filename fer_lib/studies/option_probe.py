"""The model-option probe: how a setting the paper leaves open is chosen, as code with its saved result.

Where a model trains badly as first built (khalid2025's from-scratch MobileNetV2 predicted one class
in inference mode after five epochs), candidate values of one of its options are compared here, never
on a test split: each candidate trains for `steps` batches of the experiment's training settings on a
random part of the probe split's training part (`lr_probe.probe_split`: the experiment's training
part minus a stratified 20%), and is scored in inference mode on up to `val_images` of the held-out
20%. The best validation accuracy wins; ties go to the first candidate listed (the builder's own
value). The result is saved to `<reports_root>/<profile>/<paper>/option_probe_<experiment>_<option>.json`
(and `.md`), and a test checks that the experiment uses what the probe chose.
"""
from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np

from ..config import cache_dir, get_profile, reports_dir
from ..data import prepare
from ..data.splits import Split
from ..errors import FerError
from ..files import writable_dir, write_json
from ..models.registry import model_options
from ..provenance import environment
from ..reporting import tables
from .lr_probe import probe_split
from ..evaluate.spec import ExperimentSpec
from ..evaluate.runner import train_and_evaluate

PROBE_STEPS = 700  # about one epoch of the probe split of FER2013 Training (22,967 images)
PROBE_VAL_IMAGES = 2000


def probe_path(spec: ExperimentSpec, option: str, profile: str, reports_root: Path | str | None = None) -> Path:
    """Where the probe of `spec`'s model option `option` under `profile` is saved."""
    return Path(reports_root or reports_dir()) / profile / spec.paper / f"option_probe_{spec.name}_{option}.json"


def choose(scores: list[tuple[object, float]]) -> object:
    """The candidate with the best score; a tie goes to the one listed first."""
    best = max(score for _, score in scores)
    return next(value for value, score in scores if score == best)


def run_probe(spec: ExperimentSpec, option: str, candidates: tuple, profile: str = "smoke", *,
              steps: int = PROBE_STEPS, val_images: int = PROBE_VAL_IMAGES, data_root: Path | str | None = None,
              reports_root: Path | str | None = None) -> dict:
    """Train `spec`'s model with `option` set to each candidate for `steps` batches and save which one
    scores best on held-out training images. Returns the saved record."""
    if option not in model_options(spec.model):
        raise FerError(f"model {spec.model} has no option {option!r}; its options are: "
                       f"{', '.join(model_options(spec.model))}")
    if len(candidates) < 2:
        raise FerError(f"give at least two candidate values of {option!r} to compare, got {candidates!r}")
    for name, value in (("steps", steps), ("val_images", val_images)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 1:
            raise FerError(f"{name} must be a positive integer, got {value!r}")
    prof = get_profile(profile)
    root = writable_dir(reports_root if reports_root is not None else reports_dir(), "reports root")
    dataset = prepare(spec.dataset, data_root, prof.per_class, spec.preprocess).dataset
    base = probe_split(spec, dataset)
    rng = np.random.default_rng(0)
    fit_part = rng.permutation(base.train)[:steps * spec.training.batch_size]
    held = rng.permutation(base.val)[:val_images]
    split = Split("option_probe", f"{len(fit_part)} random images of {base.description}, scored on {len(held)} "
                  "of the held-out ones", 0, np.sort(fit_part), np.sort(held), held[:0])
    config = replace(spec.training, epochs=1, seed=0, budget_seconds=None, collapse_patience=None)
    rows = []
    for value in candidates:
        run = train_and_evaluate(spec.model, {**spec.model_options, option: value}, dataset, split, config,
                                 cache_dir() / "runs" / prof.name / spec.paper / "option_probe" / spec.name / f"{option}{value}",
                                 spec.preprocess, score_test=False).run
        last = run.history.iloc[-1]
        rows.append({"value": value, "val_accuracy": round(float(last["val_accuracy"]), 4),
                     "train_accuracy": round(float(last["accuracy"]), 4),
                     "train_seconds": round(run.train_seconds, 1), "backends": run.backends})
    chosen = choose([(r["value"], r["val_accuracy"]) for r in rows])
    record = {"paper": spec.paper, "experiment": spec.name, "profile": prof.name, "model": spec.model,
              "option": option, "other_options": {k: v for k, v in spec.model_options.items() if k != option},
              "rule": f"validation accuracy (inference mode) after {steps} batches of {spec.training.batch_size}; "
                      "ties to the first candidate",
              "split": split.description, "split_sizes": split.sizes(), "candidates": list(candidates),
              "chosen": chosen, "rows": rows, "environment": environment()}
    path = probe_path(spec, option, prof.name, root)
    write_json(path, record)
    write_probe_markdown(path)
    return record


def write_probe_markdown(path: Path | str) -> Path:
    """The saved probe's table (`path`: its .json) as markdown beside it, with the commits it trained under."""
    record = json.loads(Path(path).read_text())
    return tables.write_probe_markdown(
        path, f"Model-option probe: {record['paper']} {record['experiment']}, `{record['option']}` ({record['profile']})",
        ("value", "val_accuracy", "train_accuracy", "train_seconds"), str(record["chosen"]))


def saved_choice(spec: ExperimentSpec, option: str, profile: str, reports_root: Path | str | None = None) -> object:
    """The value a saved probe of `spec`'s `option` chose; a FerError when none is saved."""
    path = probe_path(spec, option, profile, reports_root)
    if not path.exists():
        raise FerError(f"no {profile} probe of {spec.paper} {spec.name}'s {option!r} is saved at {path}; run "
                       f"fer_lib.studies.option_probe.run_probe first")
    return json.loads(path.read_text())["chosen"]
