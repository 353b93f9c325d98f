"""One answer per paper, on top of the README and the index: its headline claim, our closest like-for-like
measurement, the verdict in words, what is left and what it costs, and what would produce the claim.

- The headline claim is the claims file's `summary_claim`.
- The closest like-for-like run, among every saved run of that claim (any profile): the claim's own protocol
  before another, its setup (pretrained weights) before another, a run that trained before one that collapsed,
  the paper's own learning rate before a fallback, then the most of its planned epochs. Where that run
  collapsed, the best run that trained under the same protocol is named beside it. Where the claims file names
  `summary_measurement: "ten_crop"` (the reference figure is a ten-crop accuracy), the shipped model's ten-crop
  row of that profile's model comparison is set beside it instead of the centre crop.
- What is left: the epochs a budget-stopped run did not reach, with the minutes they would take at the run's own
  measured pace on its own device; pretrained weights an online user can add; nothing where the run completed.
- What would produce the claim: every accuracy the suite measured on that paper's model of the claim's dataset
  (the test split, the deduplicated test split, the unaugmented training split, a held-out part) whose 95% CI
  holds the claimed number. That is consistency, not proof, and the column says so.
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from ..evaluate.record import ExperimentRecord
from ..files import visible
from .pages import pct

ANSWER_COLUMNS = ["paper", "headline claim", "closest like-for-like measurement (95% CI)", "epochs", "verdict",
                  "what is left, and its cost", "what would produce the claim (consistency, not proof)"]
# the verdict categories, closest to like for like first (`claims.VERDICT_CATEGORIES`)
LIKENESS = ("consistent", "exceeded", "not reproduced", "lower bound", "no CI", "different setup",
            "collapsed at our reading", "different protocol", "not comparable")


def _claim(paper: str) -> tuple[dict, object] | tuple[None, None]:
    from ..evaluate.claims import load_claims, load_paper

    raw = load_paper(paper)
    wanted = raw.get("summary_claim")
    claim = next((c for c in load_claims(paper) if c.id == wanted), None)
    return (raw, claim) if claim is not None else (None, None)


def _likeness(record: ExperimentRecord) -> tuple:
    from ..evaluate.claims import verdict_category

    category = verdict_category((record.headline_claim or {}).get("verdict", ""))
    done = min(record.epochs.run_per_seed) / max(record.epochs.planned, 1)
    return (LIKENESS.index(category) if category in LIKENESS else len(LIKENESS),
            record.learning_rate != record.paper_learning_rate, not record.trained, -done, record.profile != "paper")


def _interval(accuracy: float, ci) -> str:
    return f"{pct(accuracy)} [{pct(ci[0])}, {pct(ci[1])}]"


def _epochs(record: ExperimentRecord) -> str:
    return " / ".join(f"{r}/{record.epochs.planned}" for r in record.epochs.run_per_seed)


def _cost_left(record: ExperimentRecord) -> str:
    """The epochs a run did not reach and their cost at its own measured pace, or what else is missing."""
    left = [record.epochs.planned - r for r in record.epochs.run_per_seed]
    segment = (record.backends or [[{}]])[0][0] if record.backends else {}
    device = segment.get("device", "its device")
    if not any(left) or not record.trained:
        return ""
    per_epoch = sum(record.epochs.train_seconds_per_seed) / max(sum(record.epochs.run_per_seed), 1) / 60
    return (f"{sum(left)} more epoch{'s' if sum(left) != 1 else ''} ({', '.join(map(str, left))} per "
            f"{record.unit}): about {per_epoch * sum(left):.0f} min at this run's {per_epoch:.1f} min an epoch on {device}")


def _quantities(records: list[ExperimentRecord], claim, folders: dict[int, Path]) -> list[str]:
    """Every measured accuracy of the claim's model on its dataset whose CI holds the claimed number."""
    claimed = claim.value
    if claimed is None:
        return []
    found = []
    for record in records:
        metrics_path = folders[id(record)] / "metrics.json"
        metrics = json.loads(metrics_path.read_text()) if metrics_path.exists() else {}
        measured = [("test split", record.accuracy, record.accuracy_ci)]
        measured += [(name.replace("_", " "), v["accuracy"], v["accuracy_ci"]) for name, v in (record.extra_scores or {}).items()]
        train = metrics.get("pooled_on_train_split")
        if train and train.get("accuracy_ci"):
            measured.append(("unaugmented training split", train["accuracy"], train["accuracy_ci"]))
        for name, accuracy, ci in measured:
            if ci and ci[0] <= claimed <= ci[1]:
                found.append(f"{record.label} [{record.profile}], {name}: {_interval(accuracy, ci)}")
    return found


def _ten_crop(reports_root: Path, paper: str, profile: str) -> dict | None:
    """The model comparison's ten-crop row of the shipped model, with its centre-crop row's accuracy."""
    from ..studies.reference_model import TARGET_ROWS

    path = reports_root / profile / paper / "model_comparison" / "comparison.json"
    if not path.exists():
        return None
    rows = {r["model"]: r for r in json.loads(path.read_text())["rows"]}
    if not all(name in rows for name in TARGET_ROWS):
        return None
    return {**rows[TARGET_ROWS[1]], "centre_accuracy": rows[TARGET_ROWS[0]]["accuracy"]}


def _ten_crop_verdict(claim, record: ExperimentRecord, row: dict) -> str:
    """The verdict on `claim` of the ten-crop row, under the run's own facts and the paper's setup."""
    from ..evaluate import claims as claims_lib
    from .experiment_report import run_facts

    return claims_lib.verdict(claim, row["accuracy"], tuple(row["accuracy_ci"]), run_facts(record),
                              list(claim.label_set or []) or [], settings=claims_lib.load_settings(record.paper, record.model),
                              setups=[s for s in claims_lib.load_setups(record.paper, record.model)
                                      if s.applies != "centre_crop"])  # this row is not the centre crop


def paper_answers(reports_root: Path | str, profiles: tuple[str, ...] = ("cpu", "paper")) -> pd.DataFrame:
    """One row per paper with a `summary_claim` and a saved run of it (see the module's rules)."""
    from ..evaluate.claims import verdict_category
    from ..papers import paper_names

    reports_root = Path(reports_root)
    folders: dict[int, Path] = {}
    records: list[ExperimentRecord] = []
    for profile in profiles:
        for path in visible(reports_root / profile, "*/*/experiment.json"):
            record = ExperimentRecord.read(path.parent)
            folders[id(record)] = path.parent
            records.append(record)
    rows = []
    for paper in paper_names():
        raw, claim = _claim(paper)
        if claim is None:
            continue
        mine = [r for r in records if r.paper == paper and (r.headline_claim or {}).get("claim_id") == claim.id]
        if not mine:
            continue
        chosen = min(mine, key=_likeness)
        ten_crop = _ten_crop(reports_root, paper, chosen.profile) if raw.get("summary_measurement") == "ten_crop" else None
        if ten_crop is not None:  # the run the comparison's model is (its centre crop is that run's own score)
            chosen = next((r for r in mine if r.profile == chosen.profile
                           and round(r.accuracy, 4) == round(ten_crop["centre_accuracy"], 4)), chosen)
        measured = f"{_interval(chosen.accuracy, chosen.accuracy_ci)}: {chosen.label} [{chosen.profile}]"
        if chosen.late_validation:  # the last epoch scored: one draw from the swing of the last epochs
            late = chosen.late_validation
            measured += (f", its last epoch; over the last {late['epochs']} epochs {100 * late['min']:.1f}%-"
                         f"{100 * late['max']:.1f}%")
        verdict = chosen.headline_claim["verdict"]
        trained_run = chosen
        if not chosen.trained:
            trained = [r for r in mine if r.trained and r.protocol == chosen.protocol
                       and r.protocol_options == chosen.protocol_options]
            if trained:
                trained_run = min(trained, key=_likeness)
                measured += (f"; it collapsed. The closest run that trained: "
                             f"{_interval(trained_run.accuracy, trained_run.accuracy_ci)} ({trained_run.label} "
                             f"[{trained_run.profile}], lr {trained_run.learning_rate:g}, {_epochs(trained_run)} epochs: "
                             f"{trained_run.headline_claim['verdict']})")
        if ten_crop is not None:
            measured = (f"{_interval(ten_crop['accuracy'], ten_crop['accuracy_ci'])}: {chosen.label}'s ten-crop accuracy "
                        f"(their figure is a ten-crop one) [{chosen.profile}]; centre crop "
                        f"{_interval(chosen.accuracy, chosen.accuracy_ci)}")
            verdict = _ten_crop_verdict(claim, chosen, ten_crop)
        left = [_cost_left(trained_run)]
        if verdict_category(verdict) == "different setup" and "ImageNet" in verdict:
            left.append("ImageNet weights: the `paper` profile builds with them for a user online")
        related = [r for r in records if r.paper == paper and r.dataset == claim.dataset and r.model == chosen.model]
        produce = _quantities(related, claim, folders)
        rows.append({"paper": paper, "headline claim": f"{claim.text()} ({claim.where})",
                     "closest like-for-like measurement (95% CI)": measured, "epochs": _epochs(chosen),
                     "verdict": verdict, "what is left, and its cost": "; ".join(x for x in left if x) or "nothing: completed",
                     "what would produce the claim (consistency, not proof)": "; ".join(produce) or
                     "no quantity the suite measured holds it"})
    return pd.DataFrame(rows, columns=ANSWER_COLUMNS)
