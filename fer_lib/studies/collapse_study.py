"""Why khalid2025 collapsed on the CPU and trained on the GPU: the same short start under each Keras
backend and precision, at two seeds, everything else fixed.

The suite's two runs of khalid2025 at our reading (Adam 1e-3, batch-normalization momentum 0.9) disagree:
under TensorFlow on a 2-core CPU in mixed bfloat16 it sat at chance for seven epochs and was stopped as
collapsed; under JAX on an H100, also in mixed bfloat16, it reached 54.1% in 21 epochs. The CPU fallback at
1e-4 then changed the precision too (float32, on another CPU). This study separates the candidates:

- arms: {tensorflow, jax} x {float32, mixed_bfloat16}, each at seeds 0 and 1;
- everything else is the experiment's own (model, options, optimizer, rate, batch, augmentation, steps per
  execution), on one fixed random part of the training part of the official split (`lr_probe.probe_split`,
  no test image), scored every epoch on held-out training images in inference mode;
- every arm runs in its own process, since Keras chooses its backend at import (`KERAS_BACKEND`), and the
  precision is set through `FER_PRECISION`. XLA follows each backend's default (TensorFlow on a CPU: off;
  JAX: every step is an XLA program), as in the runs being explained, and each row records it.

An arm "collapsed" when its last epoch predicts one class for at least `COLLAPSE_SHARE` of the held-out
images; "trained" when its held-out accuracy beats the majority class's share by `TRAINED_MARGIN`.
The result is `<reports_root>/<profile>/khalid2025/collapse_study/results.json` (and `.md`).
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from ..config import cache_dir, get_profile, reports_dir
from ..errors import FerError

PAPER, EXPERIMENT = "khalid2025", "fer2013_standard"
STUDY = "collapse_study"
BACKENDS = ("tensorflow", "jax")
PRECISIONS = ("float32", "mixed_bfloat16")
SEEDS = (0, 1)
COLLAPSE_SHARE = 0.95
TRAINED_MARGIN = 0.05


@dataclass(frozen=True)
class StudySize:
    """How much of the start each arm runs: `images` training images for `epochs` epochs, scored on
    `val_images` held-out ones."""

    images: int
    epochs: int
    val_images: int


# cpu: 200 batches of 32 per epoch, five epochs (1,000 steps, about one full FER2013 epoch, where the CPU run
# sat at chance and the GPU run had left it); smoke: enough to exercise every path.
SIZES = {"smoke": StudySize(96, 2, 64), "cpu": StudySize(6400, 5, 2000), "paper": StudySize(6400, 5, 2000)}


@dataclass(frozen=True)
class Arm:
    backend: str
    precision: str
    seed: int

    @property
    def name(self) -> str:
        return f"{self.backend}_{self.precision}_seed{self.seed}"


def arms(seeds: tuple[int, ...] = SEEDS) -> list[Arm]:
    """Every arm, seed by seed: each seed's four backend-precision pairs before the next seed's, so a study
    stopped part-way has compared all four at its first seed."""
    return [Arm(b, p, s) for s in seeds for b in BACKENDS for p in PRECISIONS]


def study_dir(profile: str, reports_root: Path | str | None = None) -> Path:
    return Path(reports_root or reports_dir()) / profile / PAPER / STUDY


def outcome(val_accuracy: float, top_share: float, majority_share: float) -> str:
    """'collapsed', 'trained' or 'at chance' for an arm's last epoch (see the module's rules)."""
    if top_share >= COLLAPSE_SHARE:
        return "collapsed"
    return "trained" if val_accuracy >= majority_share + TRAINED_MARGIN else "at chance"


# ---------------------------------------------------------------------------------------------
# One arm, in this process (its backend already chosen by KERAS_BACKEND)


def run_arm(arm: Arm, profile: str, data_root: Path | str | None = None) -> dict:
    """Train `arm` and return its row. The process's Keras backend must be `arm.backend`."""
    import keras

    if keras.backend.backend() != arm.backend:
        raise FerError(f"arm {arm.name} needs KERAS_BACKEND={arm.backend}; this process runs {keras.backend.backend()}")
    os.environ["FER_PRECISION"] = arm.precision
    from ..data import prepare
    from ..data.splits import Split
    from .lr_probe import probe_split
    from ..evaluate.runner import train_and_evaluate
    from ..papers import get_experiments
    from ..train.predict import predict_proba

    size = SIZES[get_profile(profile).name]
    spec = get_experiments(PAPER, EXPERIMENT)[0]
    dataset = prepare(spec.dataset, data_root, get_profile(profile).per_class, spec.preprocess).dataset
    base = probe_split(spec, dataset)
    rng = np.random.default_rng(0)  # one part for every arm: only backend, precision and seed vary
    fit_part, held = np.sort(rng.permutation(base.train)[:size.images]), np.sort(rng.permutation(base.val)[:size.val_images])
    split = Split(STUDY, f"{len(fit_part)} random images of {base.description}, scored on {len(held)} of the "
                  "held-out ones", 0, fit_part, held, held[:0])
    config = replace(spec.training, epochs=size.epochs, seed=arm.seed, budget_seconds=None, collapse_patience=None,
                     restore_best=False)
    run = train_and_evaluate(spec.model, spec.model_options, dataset, split, config,
                             cache_dir() / "runs" / profile / PAPER / STUDY / arm.name, spec.preprocess,
                             score_test=False).run
    y_val = dataset.labels[held]
    predicted = predict_proba(run.model, dataset.images[held]).argmax(axis=1)
    counts = np.bincount(predicted, minlength=dataset.num_classes)
    majority = float(np.bincount(y_val, minlength=dataset.num_classes).max() / len(y_val))
    val_accuracy = float((predicted == y_val).mean())
    top_share = float(counts.max() / len(predicted))
    return {**asdict(arm), "epochs": size.epochs, "train_images": int(len(fit_part)), "val_images": int(len(held)),
            "train_accuracy_per_epoch": [round(float(v), 4) for v in run.history["accuracy"]],
            "val_accuracy_per_epoch": [round(float(v), 4) for v in run.history["val_accuracy"]],
            "val_accuracy": round(val_accuracy, 4), "classes_predicted": int((counts > 0).sum()),
            "top_class_share": round(top_share, 4), "majority_share": round(majority, 4),
            "outcome": outcome(val_accuracy, top_share, majority), "fast_paths": run.fast_paths,
            "train_seconds": round(run.train_seconds, 1), "provenance": run.backends,
            "settings": {"model": spec.model, "model_options": spec.model_options,
                         "optimizer": config.optimizer, "learning_rate": config.learning_rate,
                         "batch_size": config.batch_size, "augment": config.augment}}


# ---------------------------------------------------------------------------------------------
# The study: one process per arm, then the table


def device_of(row: dict) -> str:
    """The machine an arm's row trained on (its provenance segments' devices)."""
    return "; ".join(sorted({seg["device"] for seg in row["provenance"]}))


def run_study(profile: str = "smoke", *, data_root: Path | str | None = None, reports_root: Path | str | None = None,
              seeds: tuple[int, ...] = SEEDS, backends: tuple[str, ...] = BACKENDS) -> dict:
    """Run every arm not yet saved for this machine (each in a fresh process with its backend) and save the table.

    The arms are compared on one machine: a CPU with native bfloat16 and one that emulates it may differ in
    exactly the arms in question. Rows saved from other machines stay in the record, each machine's block with
    its own finding; a study resumed on another machine runs its arms there afresh."""
    from ..train.backend import device_description

    prof = get_profile(profile)
    unknown = sorted(set(backends) - set(BACKENDS))
    if unknown:
        raise FerError(f"unknown backend(s) {', '.join(unknown)}; the study compares {', '.join(BACKENDS)}")
    out = study_dir(prof.name, reports_root)
    from ..provenance import git_commit

    here = device_description()
    saved = json.loads((out / "results.json").read_text()) if (out / "results.json").exists() else {}
    rows = list(saved.get("rows", []))
    planned = [a for a in arms(seeds) if a.backend in backends]
    done = {(device_of(r), r["backend"], r["precision"], r["seed"]) for r in rows}
    record = saved
    for arm in planned:
        if (here, arm.backend, arm.precision, arm.seed) in done:
            continue  # saved from this machine already
        env = {**os.environ, "KERAS_BACKEND": arm.backend, "FER_PROGRESS": "0"}
        cmd = [sys.executable, "-m", "fer_lib.studies.collapse_study", "--arm", arm.backend, arm.precision,
               str(arm.seed), "--profile", prof.name] + (["--data-dir", str(data_root)] if data_root else [])
        done_run = subprocess.run(cmd, env=env, capture_output=True, text=True)
        if done_run.returncode != 0:
            raise FerError(f"collapse-study arm {arm.name} failed (exit {done_run.returncode}): "
                           f"{(done_run.stderr or done_run.stdout).strip().splitlines()[-1:]}")
        rows.append(json.loads(done_run.stdout.strip().splitlines()[-1]))
        # saved after every arm: a study stopped part-way (a session's end) keeps what it measured, and says so
        # the study plans every arm, whichever backends run now: a machine without JAX's arms is part-way
        record = study_record(prof.name, rows, len(arms(seeds)), git_commit())
        _write(out, record)
    return record


def study_record(profile: str, rows: list[dict], arms_planned: int, commit: str) -> dict:
    """The saved study: every row, and per machine its finding and how many of its arms ran."""
    machines = sorted({device_of(r) for r in rows})
    return {"paper": PAPER, "experiment": EXPERIMENT, "study": STUDY, "profile": profile,
            "size": asdict(SIZES[profile]), "rules": {"collapse_share": COLLAPSE_SHARE, "trained_margin": TRAINED_MARGIN},
            "arms_planned": arms_planned, "rows": rows,
            "by_machine": [{"device": m, "arms_run": sum(device_of(r) == m for r in rows),
                            "finding": finding([r for r in rows if device_of(r) == m])} for m in machines],
            "finding": finding_by_machine(rows), "git_commit": commit}


def finding(rows: list[dict]) -> str:
    """One sentence on which arms failed to train (at every seed, or at some seeds only), from the rows."""
    by_arm: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        by_arm.setdefault((r["backend"], r["precision"]), []).append(r["outcome"])
    parts = [f"{b} {p}: {', '.join(f'{o} {outs.count(o)}/{len(outs)}' for o in sorted(set(outs)))}"
             for (b, p), outs in sorted(by_arm.items())]
    never = sorted(k for k, outs in by_arm.items() if all(o != "trained" for o in outs))
    always = sorted(k for k, outs in by_arm.items() if all(o == "trained" for o in outs))
    mixed = sorted(set(by_arm) - set(never) - set(always))
    seeds = sorted({r["seed"] for r in rows})
    every = "at every seed" if len(seeds) > 1 else f"at seed {seeds[0]} (one seed so far)"

    def names(arms: list[tuple[str, str]]) -> str:
        labels = [f"{b} in {p}" for b, p in arms]
        return labels[0] if len(labels) == 1 else ", ".join(labels[:-1]) + " and " + labels[-1]

    def trained(arms: list[tuple[str, str]]) -> str:
        """`arms` trained: those run at several seeds at every seed, each run at one seed so far at that seed."""
        several = [a for a in arms if len(by_arm[a]) > 1] if len(seeds) > 1 else []
        clauses = [f"{names(several)} trained at every seed"] if several else []
        by_seed: dict[int, list[tuple[str, str]]] = {}
        for arm in (a for a in arms if a not in several):
            by_seed.setdefault(next(r["seed"] for r in rows if (r["backend"], r["precision"]) == arm), []).append(arm)
        for seed, group in sorted(by_seed.items()):
            clauses.append(f"{names(group)} trained at seed {seed} (one seed so far)")
        return "; ".join(clauses)

    if never and not always and not mixed:
        cause = "no arm trained at every seed: the failure does not follow the backend or the precision"
    elif not never and not mixed:
        cause = "every arm trained at every seed: the failure does not reproduce in this start"
    else:
        clauses = ([("only " if len(never) == 1 and not mixed else "") + f"{names(never)} failed to train {every}"]
                   if never else []) + ([f"{names(mixed)} failed to train at some seeds, not others"] if mixed else [])
        cause = "; ".join(clauses) + (f", while {trained(always)}" if always else "")
    return f"{cause} ({'; '.join(parts)})."


def finding_by_machine(rows: list[dict]) -> str:
    """The finding of each machine's arms, the machine with the most arms first."""
    machines = sorted({device_of(r) for r in rows}, key=lambda m: -sum(device_of(r) == m for r in rows))
    if len(machines) <= 1:
        return finding(rows)
    return " ".join(f"On {m}: {finding([r for r in rows if device_of(r) == m])}" for m in machines)


def rerender(folder: Path | str) -> dict:
    """Rewrite a saved study's finding and table from its rows (results.json), no training."""
    folder = Path(folder)
    record = json.loads((folder / "results.json").read_text())
    record = study_record(record["profile"], record["rows"], record["arms_planned"], record["git_commit"])
    _write(folder, record)
    return record


def _write(out: Path, record: dict) -> None:
    from ..files import write_json, write_text
    from ..reporting.tables import markdown_table
    import pandas as pd

    write_json(out / "results.json", record)
    size = record["size"]
    blocks = []
    for machine in record["by_machine"]:
        table = pd.DataFrame([{"backend": r["backend"], "precision": r["precision"], "seed": r["seed"],
                               "XLA": r["fast_paths"]["jit_compile"],
                               "train accuracy by epoch": " ".join(f"{v:.3f}" for v in r["train_accuracy_per_epoch"]),
                               "held-out accuracy by epoch": " ".join(f"{v:.3f}" for v in r["val_accuracy_per_epoch"]),
                               "classes predicted": r["classes_predicted"], "top class share": r["top_class_share"],
                               "outcome": r["outcome"], "train s": r["train_seconds"],
                               "commit": "; ".join(sorted({seg["git_commit"] for seg in r["provenance"]}))}
                              for r in record["rows"] if device_of(r) == machine["device"]])
        part_way = machine["arms_run"] < record["arms_planned"]
        blocks.append(f"## {machine['device']}\n\n"
                      + (f"**Part-way: {machine['arms_run']} of {record['arms_planned']} arms run on this machine**; the "
                         "rest run when the study is resumed on it (`python -m fer_lib.studies.collapse_study --profile "
                         f"{record['profile']}`: arms saved from this machine are kept).\n\n" if part_way else "")
                      + f"**Finding on this machine:** {machine['finding']}\n\n{markdown_table(table)}\n")
    write_text(out / "results.md", (
        f"# Why khalid2025 collapsed on the CPU: backend x precision ({record['profile']})\n\n"
        f"The same start of khalid2025's `{EXPERIMENT}` at our reading of its settings (Adam 1e-3, batch 32, "
        f"batch-normalization momentum 0.9; not stated by the paper) under each Keras backend and precision: "
        f"{size['epochs']} epochs of {size['images']} fixed random images of the official split's training part, "
        f"scored every epoch on {size['val_images']} held-out training images (inference mode; no test image). "
        f"Collapsed: the last epoch predicts one class for at least {COLLAPSE_SHARE:.0%} of them; trained: "
        f"its accuracy beats the majority class's share by {TRAINED_MARGIN:.0%}. Code: "
        f"`fer_lib/studies/collapse_study.py`, commit {record['git_commit']}. Arms are compared within one machine "
        "(a CPU that emulates bfloat16 and one that has it natively may differ in exactly the arms in question); "
        "each machine's rows are a block of their own.\n\n"
        f"**Finding:** {record['finding']}\n\n" + "\n".join(blocks)))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--arm", nargs=3, metavar=("BACKEND", "PRECISION", "SEED"), help="run one arm here, print its row")
    parser.add_argument("--profile", default="smoke")
    parser.add_argument("--data-dir")
    parser.add_argument("--reports-root")
    parser.add_argument("--seeds", default=",".join(map(str, SEEDS)))
    parser.add_argument("--backends", default=",".join(BACKENDS),
                        help="comma-separated: run only these backends' arms now (JAX's are slow on some CPUs)")
    args = parser.parse_args(argv)
    try:
        if args.arm:
            backend, precision, seed = args.arm
            if precision not in PRECISIONS:
                raise FerError(f"unknown precision {precision!r}; the study compares {', '.join(PRECISIONS)}")
            row = run_arm(Arm(backend, precision, int(seed)), args.profile, args.data_dir)
            print(json.dumps(row))
            return 0
        seeds = tuple(int(s) for s in args.seeds.split(","))
        record = run_study(args.profile, data_root=args.data_dir, reports_root=args.reports_root, seeds=seeds,
                           backends=tuple(b.strip() for b in args.backends.split(",")))
        print(record["finding"])
        return 0
    except FerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
