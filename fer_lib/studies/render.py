"""Re-render a reports tree from what its runs saved, without training: one renderer per kind of folder.

A report folder's kind is read from the folder itself (`folder_kind`): an experiment has `experiment.json`, an
ablation a `results.json` whose `kind` says so, and the studies that keep one folder per profile are named by
their folder (the collapse study, the leakage study, the model comparison). `render_folder(folder)` rewrites
that folder's derived files (tables, figures, verdicts, record, page) from its raw outputs with the kind's
renderer; `render_tree(profile)` renders every folder of a profile in the one order the derived files need
(the collapse study before the experiments whose collapse verdicts cite it; the comparison before the shipped
model's card that quotes it), then the probes' tables, the index and the README.

Kinds whose derived files are written only when they run (the out-of-domain benchmark, the data audit, the
label-noise tables) have no renderer yet: `render_tree` leaves them as committed.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from ..config import get_profile, is_project_reports, reports_dir
from ..errors import FerError
from ..evaluate.record import RECORD_FILE, ExperimentRecord
from ..files import visible
from ..reporting.experiment_report import rerender as render_experiment
from ..reporting.index import build_index
from ..reporting.readme import update_readme
from . import collapse_study, lr_probe, option_probe
from .ablation import rerender_ablation
from .fine_tune import rerender_fine_tuning
from .leakage import rerender_figure
from .model_card import refresh_model_card, shipped_model_profile
from .reference_model import rerender_comparison

COMPARISON = "model_comparison"
LEAKAGE_STUDY = "leakage_study"

# Each kind's renderer, in the order `render_tree` runs them.
RENDERERS: dict[str, Callable[[Path], object]] = {
    "collapse_study": collapse_study.rerender,  # first: the experiments' collapse verdicts cite its finding
    "experiment": render_experiment,
    "ablation": rerender_ablation,
    "fine_tuning": rerender_fine_tuning,
    "leakage_study": rerender_figure,
    "model_comparison": rerender_comparison,
}


def folder_kind(folder: Path | str) -> str | None:
    """What kind of report `folder` holds, read from its own files (None: none that can be re-rendered)."""
    folder = Path(folder)
    if (folder / RECORD_FILE).exists():
        return "experiment"
    if folder.name == COMPARISON and (folder / "comparison.json").exists():
        return "model_comparison"
    results = folder / "results.json"
    if not results.exists():
        return None
    if folder.name == collapse_study.STUDY:
        return "collapse_study"
    if folder.name == LEAKAGE_STUDY:
        return "leakage_study"
    kind = json.loads(results.read_text()).get("kind")
    return kind if kind in ("ablation", "fine_tuning") else None


def render_folder(folder: Path | str) -> str:
    """Rewrite `folder`'s derived files from its saved raw outputs with its kind's renderer; returns the kind.
    A folder of no renderable kind is a FerError that names it."""
    kind = folder_kind(folder)
    if kind is None:
        raise FerError(f"{folder} holds no report that can be re-rendered (no experiment.json, ablation, "
                       f"fine-tuning study, collapse study, leakage study or model comparison); name one of those folders")
    RENDERERS[kind](Path(folder))
    return kind


def render_tree(profile: str, reports_root: Path | str | None = None) -> list[Path]:
    """Re-render every folder of `profile` under `reports_root` (default: the project's reports/), then the
    probes' tables, the shipped model's card (where it came from this profile), the index and the README;
    returns the folders rendered. Every experiment's saved files are checked before anything is written, so a
    damaged one leaves every report as it was."""
    get_profile(profile)
    root = Path(reports_root or reports_dir())
    if not (root / profile).exists():
        raise FerError(f"nothing to render: {root / profile} does not exist; run `make reproduce-all "
                       f"PROFILE={profile}` (or name another --reports-root)")
    candidates = [p.parent for p in visible(root / profile, "*/*/experiment.json")]
    candidates += [p.parent for p in visible(root / profile, "*/*/results.json")]
    candidates += [p.parent for p in visible(root / profile, "*/results.json")]
    candidates += [p.parent for p in visible(root / profile, f"*/{COMPARISON}/comparison.json")]
    by_kind: dict[str, list[Path]] = {kind: [] for kind in RENDERERS}
    for folder in dict.fromkeys(candidates):
        kind = folder_kind(folder)
        if kind is not None:
            by_kind[kind].append(folder)
    for folder in by_kind["experiment"]:
        ExperimentRecord.read(folder).check_raw_files(folder)
    rendered = []
    for kind, folders in by_kind.items():
        for folder in folders:
            RENDERERS[kind](folder)
        # the collapse study feeds the experiments' verdicts; it is not a report of the index's own
        rendered += folders if kind != "collapse_study" else []
    for path in visible(root / profile, "*/lr_probe_*.json"):
        lr_probe.write_probe_markdown(path)
    for path in visible(root / profile, "*/option_probe_*.json"):
        option_probe.write_probe_markdown(path)
    if by_kind["model_comparison"] and is_project_reports(root) and shipped_model_profile() == profile:
        refresh_model_card()  # the card quotes the comparison
    build_index(root)
    if is_project_reports(root):
        update_readme()
    return rendered
