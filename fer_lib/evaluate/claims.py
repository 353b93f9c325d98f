"""The papers' claims, kept as data (`fer_lib/papers/<paper>/claims.json`), set beside what we measured.

Each claim is compared with the matching measured number. Where the measured number has a
95% confidence interval (accuracy, per-class precision and recall, confusion diagonals, which are
per-class recall), the verdict says whether the claim lies inside it; F1 has no interval and gets
only the difference.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass

from ..errors import FerError
from ..papers import PAPERS_DIR, paper_names

VERDICT_CONSISTENT = "consistent: claim inside our 95% CI"
VERDICT_BELOW = "not reproduced: we measure less (claim above our 95% CI)"
VERDICT_ABOVE = "exceeded: we measure more (claim below our 95% CI)"
VERDICT_NO_CI = "no CI (F1, or a class never predicted): see the difference"
VERDICT_NO_CLASS = "not comparable: the dataset has no such class"


@dataclass(frozen=True)
class Claim:
    """One number a paper claims."""

    id: str
    dataset: str
    metric: str  # accuracy, precision, recall, f1, confusion_diagonal
    where: str
    value: float | None = None
    range: tuple[float, float] | None = None
    class_name: str | None = None
    protocol: str = ""

    def text(self) -> str:
        if self.range is not None:
            return f"{self.range[0]:.1%}-{self.range[1]:.1%}"
        return f"{self.value:.1%}" if self.metric == "accuracy" else f"{self.value:.2f}"


def load_paper(paper: str) -> dict:
    """The raw claims file of `paper` (title, citation, oddities, claims)."""
    available = _papers_with_claims()
    if paper not in available:
        raise FerError(f"no claims recorded for paper {paper!r}; papers with claims: {', '.join(available)}")
    return json.loads((PAPERS_DIR / paper / "claims.json").read_text())


def _papers_with_claims() -> list[str]:
    return [p for p in paper_names() if (PAPERS_DIR / p / "claims.json").exists()]


def flaw_signs() -> list[dict]:
    """For every paper with a claims file: each protocol flaw of the leakage study its text shows
    signs of, with the sentence quoted verbatim from `../shared/papers/`."""
    return [{"paper": raw["paper"], "flaw": sign["flaw"], "name": sign["name"], "quote": sign["quote"], "why": sign["why"]}
            for raw in (load_paper(paper) for paper in _papers_with_claims())
            for sign in raw.get("flaw_signs", [])]


def load_claims(paper: str) -> list[Claim]:
    """Every claim of `paper`, one `Claim` per number."""
    raw = load_paper(paper)
    claims = [Claim(id=c["id"], dataset=c["dataset"], metric="accuracy", where=c["where"],
                    value=c.get("value"), range=tuple(c["range"]) if "range" in c else None,
                    protocol=c.get("protocol", "")) for c in raw.get("accuracy", [])]
    per_class = raw.get("per_class", {})
    for table in per_class.get("tables", []):
        for cls, value in zip(per_class["class_order"], table["values"]):
            claims.append(Claim(id=f"{table['dataset']}_{table['metric']}_{cls}", dataset=table["dataset"], metric=table["metric"], where=table["where"],
                                value=value, class_name=cls))
    return claims


def _verdict(claimed: float | tuple[float, float], ci: tuple[float, float] | None) -> str:
    if ci is None or any(math.isnan(v) for v in ci):  # F1, or a class never predicted (no precision)
        return VERDICT_NO_CI
    lo, hi = ci
    if isinstance(claimed, tuple):  # a claimed range: does it overlap our interval?
        return VERDICT_CONSISTENT if claimed[0] <= hi and claimed[1] >= lo else (
            VERDICT_BELOW if claimed[0] > hi else VERDICT_ABOVE)
    return VERDICT_CONSISTENT if lo <= claimed <= hi else (VERDICT_BELOW if claimed > hi else VERDICT_ABOVE)


def compare(claims: list[Claim], metrics: dict, dataset: str, seed_summary: dict | None = None) -> list[dict]:
    """One row per claim about `dataset`: claimed, measured, 95% CI, difference in points, verdict."""
    rows = []
    for claim in (c for c in claims if c.dataset == dataset):
        measured, ci = None, None
        if claim.metric == "accuracy":
            measured, ci = metrics["accuracy"], tuple(metrics["accuracy_ci"])
        elif claim.class_name in metrics["per_class"]:
            pc = metrics["per_class"][claim.class_name]
            key = "recall" if claim.metric == "confusion_diagonal" else claim.metric
            measured = pc[key]
            ci = tuple(pc[f"{key}_ci"]) if f"{key}_ci" in pc else None
        claimed = claim.range if claim.range is not None else claim.value
        row = {
            "claim_id": claim.id, "where": claim.where, "metric": claim.metric,
            "class": claim.class_name or "", "claimed": claim.text(),
            "measured": None if measured is None else round(measured, 4),
            "ci_low": None if ci is None else round(ci[0], 4),
            "ci_high": None if ci is None else round(ci[1], 4),
            "difference_points": None if measured is None else round(
                100 * (measured - (sum(claimed) / 2 if isinstance(claimed, tuple) else claimed)), 1),
            "verdict": VERDICT_NO_CLASS if measured is None else _verdict(claimed, ci),
        }
        if claim.metric == "accuracy" and seed_summary and seed_summary.get("n_seeds", 0) > 1:
            row["seeds_mean"] = round(seed_summary["mean"], 4)
            row["seeds_std"] = round(seed_summary["std"], 4)
            row["n_seeds"] = seed_summary["n_seeds"]
        rows.append(row)
    return rows
