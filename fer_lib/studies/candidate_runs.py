"""Issue 50's candidates' saved runs, read without Keras (the index reads them): where each is kept, its record,
which are trained, paused or set aside, and the status table the index shows. Training and the choice are
`studies.candidates`.

- **A candidate's folder**: `<reports_root>/<profile>/out_of_domain_candidates/<name>/` (record.json, history.csv;
  its model file beside them, git-ignored while paused and committed once finished).
- **The choice**: `selection.json` beside them (`candidates.choose`), summed up for the model card and the index
  (`selection_summary`).
- **Runs set aside**: `superseded/<name>-<run>of<planned>-<commit>/`, each with `superseded.json` saying why
  (`candidates.set_aside`): a run that could not be continued stays visible beside the one that replaced it.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..config import reports_dir
# a former default, kept beside its run's report (`reports/<profile>/reference/<recipe>/`) when the choice's default
# replaced it (`shipping.ship_reference_model`), with its sidecar: the benchmark scores it beside the new one, and
# warm restarts and the reference notebook find its weights there (`warm_start.from_kept`)
from ..evaluate.warm_start import REPLACED_MODEL
from ..papers.reference.experiments import CANDIDATE_RUNS
from ..reporting.tables import markdown_table

FOLDER = "out_of_domain_candidates"
MODEL_FILE = "model.keras"  # with its sidecar model.json (about 11 MB each): git-ignored until the run finishes
SELECTION_FILE = "selection.json"  # the choice between the candidates on the selection parts (`candidates.choose`)
SUPERSEDED = "superseded"  # candidates' runs set aside by a restart, each with why (SUPERSEDED_NOTE), kept in git
SUPERSEDED_NOTE = "superseded.json"


def candidates_root(profile: str, reports_root: Path | str | None = None) -> Path:
    return Path(reports_root if reports_root is not None else reports_dir()) / profile / FOLDER


def candidate_folder(name: str, profile: str, reports_root: Path | str | None = None) -> Path:
    return candidates_root(profile, reports_root) / name


def candidate_model_file(name: str, profile: str, reports_root: Path | str | None = None) -> Path:
    """Where candidate `name`'s selected weights under `profile` are saved for the recognizer: beside its record, out
    of git (.gitignore) but packed with the folder when a lease brings it back."""
    return candidate_folder(name, profile, reports_root) / MODEL_FILE


def candidate_record(name: str, profile: str, reports_root: Path | str | None = None) -> dict | None:
    """Candidate `name`'s saved record under `profile` (None: never trained here)."""
    path = candidate_folder(name, profile, reports_root) / "record.json"
    return json.loads(path.read_text()) if path.exists() else None


def trained_candidates(profile: str, reports_root: Path | str | None = None) -> dict[str, Path]:
    """{name: model file} of the candidates trained under `profile` to the end of their epochs or budget (not paused)
    whose record and model file are both here."""
    found = {}
    for spec in CANDIDATE_RUNS:
        record = candidate_record(spec.name, profile, reports_root)
        model_file = candidate_model_file(spec.name, profile, reports_root)
        # a record without "finished" was written before a paused run was told apart from a finished one
        if record is not None and record.get("finished", False) and model_file.exists():
            found[spec.name] = model_file
    return found


def replaced_models(profile: str, reports_root: Path | str | None = None) -> dict[str, Path]:
    """{recipe: model file} of the former defaults kept beside their reports under `profile`."""
    root = Path(reports_root) if reports_root is not None else reports_dir()
    folder = root / profile / "reference"
    return {p.parent.name: p for p in sorted(folder.glob(f"*/{REPLACED_MODEL}"))} if folder.exists() else {}


def paused_candidates(profile: str, reports_root: Path | str | None = None) -> dict[str, str]:
    """{name: "k of n epochs"} of the candidates whose saved run was paused before its end (`trained_candidates`
    leaves them out until the same command continues them)."""
    records = {spec.name: candidate_record(spec.name, profile, reports_root) for spec in CANDIDATE_RUNS}
    return {name: f"{r['epochs']['run']} of {r['epochs']['planned']} epochs" for name, r in records.items()
            if r is not None and not r.get("finished", False)}


def superseded_runs(profile: str, reports_root: Path | str | None = None) -> list[dict]:
    """The notes of the candidates' runs set aside under `profile` (`candidates.set_aside`), each with its folder's
    name."""
    root = candidates_root(profile, reports_root) / SUPERSEDED
    return [{"folder": note.parent.name, **json.loads(note.read_text())}
            for note in sorted(root.glob(f"*/{SUPERSEDED_NOTE}"))]


def _status_row(name: str, record: dict, state: str) -> dict:
    epochs, segments = record["epochs"], record.get("backends") or []
    accuracy = record.get("publictest_accuracy_own_labels")
    return {"candidate": name, "epochs": f"{epochs['run']} of {epochs['planned']}", "state": state,
            "best epoch": epochs.get("best_epoch"),
            "PublicTest accuracy, its own labels %": None if accuracy is None else round(100 * accuracy, 1),
            "training minutes": round(record.get("train_seconds", 0.0) / 60, 1),
            "trained on": "; ".join(sorted({seg.get("device", "?") for seg in segments})),
            "commits": ", ".join(dict.fromkeys(seg.get("git_commit") or "?" for seg in segments))}


def candidates_status(profile: str, reports_root: Path | str | None = None) -> pd.DataFrame:
    """One row per candidate run saved under `profile`, the runs set aside included: its epochs, whether it finished,
    is paused or was set aside (and why), its best PublicTest accuracy on its own labels (FER+'s for the FER+
    candidates: not comparable across label sets; no test split), training minutes, device and commits. Empty when
    none has a run."""
    rows = []
    for spec in CANDIDATE_RUNS:
        record = candidate_record(spec.name, profile, reports_root)
        if record is not None:
            state = (record["epochs"].get("stop_reason") or "finished") if record.get("finished", False) else \
                "paused: the same command continues it"
            rows.append(_status_row(spec.name, record, state))
    for note in superseded_runs(profile, reports_root):
        path = candidates_root(profile, reports_root) / SUPERSEDED / note["folder"] / "record.json"
        if path.exists():
            rows.append(_status_row(note["candidate"], json.loads(path.read_text()),
                                    f"set aside ({SUPERSEDED}/{note['folder']}): {note['reason']}"))
    return pd.DataFrame(rows)


def saved_selection(profile: str, reports_root: Path | str | None = None) -> dict | None:
    """The choice between the candidates saved under `profile` (`candidates.choose`), or None before one."""
    path = candidates_root(profile, reports_root) / SELECTION_FILE
    return json.loads(path.read_text()) if path.exists() else None


def selection_summary(selection: dict) -> str:
    """The saved choice in markdown, for the model card and the index: each scored model's FER2013 PublicTest
    accuracy (the gate) and mean macro F1 over the selection parts (what the rule reads), the decision and why, and
    the candidates it could not weigh (not trained, paused) with the caveat it was saved with. Selection parts only:
    no report part and no test split is read by the choice."""
    accuracy, f1 = selection["publictest_accuracy"], selection["mean_selection_macro_f1"]
    epochs = selection.get("epochs", {})
    table = pd.DataFrame([{"model": name, "FER2013 PublicTest accuracy %": round(100 * accuracy[name], 1),
                           "mean selection macro F1 %": round(100 * f1[name], 1),
                           "epochs": f"{epochs[name]['run']} of {epochs[name]['planned']}" if name in epochs else ""}
                          for name in accuracy])
    decision = selection["decision"]
    verdict = (f"`{decision['ships']}` replaces the shipped model as the default"
               if decision["ships"] in {spec.name for spec in CANDIDATE_RUNS} else "the shipped model stays the default")
    paragraphs = [f"The candidates were chosen between on held-out data only (`{selection['profile']}` profile, commit "
                  f"{selection['git_commit']}, `{FOLDER}/{SELECTION_FILE}`), by the rule fixed before any of them "
                  f"trained: {selection['selection_rule']}", markdown_table(table).strip(),
                  f"**Decision: {verdict}**: {decision['why']}. (`shipped model`: the default when the choice was "
                  "made.)"]
    second = selection.get("second_model")
    if second:
        shipped_beside = "ships beside the default" if second["ships"] else "does not ship"
        paragraphs.append(f"**Second model (`--model {second['name']}`): {shipped_beside}** ({second['why']}). Its "
                          f"rule, fixed before the choice: {selection['second_model_rule']}")
    left = [f"{name} (not trained)" for name in selection.get("not_trained", []) if name not in selection.get("paused", {})]
    left += [f"{name} (paused at {how_far})" for name, how_far in selection.get("paused", {}).items()]
    if left:
        paragraphs.append(f"Not weighed by this choice: {', '.join(left)}.")
    if selection.get("caveat"):
        paragraphs.append(f"Caveat: {selection['caveat']}.")
    return "\n\n".join(paragraphs)
