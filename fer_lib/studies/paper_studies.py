"""A paper's studies (ablations, fine-tuning) as its notebook runs them: trained where the plan says so, else
read from their saved report folders."""
from __future__ import annotations

from pathlib import Path

from ..config import get_profile
from ..evaluate.train_plan import TrainPlan
from .ablation import AblationSpec, run_ablation, study_folder
from .fine_tune import FineTuneSpec, run_fine_tuning


def study_saved(study: AblationSpec | FineTuneSpec, profile: str, reports_root: Path | str | None = None) -> bool:
    """Whether `study`'s report (its results.json and results.md) is saved under `profile`."""
    folder = study_folder(study, get_profile(profile).name, reports_root)
    return (folder / "results.json").exists() and (folder / "results.md").exists()


def study_report(study: AblationSpec | FineTuneSpec, profile: str, plan: TrainPlan, *,
                 data_root: Path | str | None = None, reports_root: Path | str | None = None,
                 replace: bool = False) -> Path | None:
    """`study`'s report folder under `profile`, trained now where `plan` says so; None when the plan trains
    nothing and no report is saved."""
    profile = get_profile(profile).name
    saved = study_saved(study, profile, reports_root)
    if plan.trains(study.name, saved=saved):
        run_study = run_fine_tuning if isinstance(study, FineTuneSpec) else run_ablation
        run_study(study, profile, data_root=data_root, reports_root=reports_root, replace_existing=replace)
    elif not saved:
        print(plan.not_trained(study.paper, study.name, profile), flush=True)
        return None
    return study_folder(study, profile, reports_root)
