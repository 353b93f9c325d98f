"""The papers' claims, kept as data (`fer_lib/papers/<paper>/claims.json`), set beside what we measured.

The verdict rules, in the order they apply (`verdict`):
1. A class the dataset does not have: "not comparable" for that claim. An accuracy claimed over a label
   set other than the dataset's (CK+ with Neutral in place of Contempt): "not comparable" as a whole.
2. A claim made under another split protocol than the run's ("random 75:25" against the official
   split): "different protocol", whatever the numbers; like is compared with like only where we ran
   the paper's own protocol.
3. A model that collapsed to one class at the paper's settings: "not reproduced at the paper's settings".
4. Otherwise the claim is set against our 95% CI over all seeds (`metrics.SEED_RULE`): inside it,
   "consistent"; below it, "exceeded"; above it, "not reproduced" when every seed completed the
   paper's training, and "not reached within the budget (lower bound, k of n epochs)" when a seed
   was stopped by its wall-clock budget, since more training could still reach it.
Claims the paper captions as training results (`"split": "train"`) are compared with what we measure
on our training split, and their verdict says so. A claim names the `model` it is about where a
paper has several; a run is compared with its own model's claims only. Loss claims (a Keras log
value, `metric` "loss" or "val_loss") are set beside our final epoch's logs, averaged over runs,
with no CI.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field

from ..errors import FerError
from ..papers import PAPERS_DIR, paper_names

VERDICT_CONSISTENT = "consistent: claim inside our 95% CI"
VERDICT_BELOW = "not reproduced: we measure less (claim above our 95% CI)"
VERDICT_ABOVE = "exceeded: we measure more (claim below our 95% CI)"
VERDICT_NO_CI = "no CI (a class never predicted): see the difference"
VERDICT_NO_CLASS = "not comparable: the dataset has no such class"
VERDICT_COLLAPSED = "not reproduced at the paper's settings: training collapsed to one class"
VERDICT_LOG = "no CI (a Keras log value, our final epoch's): see the difference"
VERDICT_NO_LOG = "not comparable: the run logged no such value"
LOG_METRICS = ("loss", "val_loss")
TRAIN_SPLIT_PREFIX = "on our training split (the paper captions it training results): "


def verdict_lower_bound(epochs_run: int, epochs_planned: int) -> str:
    return f"not reached within the budget (lower bound, {epochs_run} of {epochs_planned} epochs)"


def verdict_different_protocol(claimed: str, ours: str) -> str:
    return f"different protocol: claimed under {claimed}; measured under {ours}"


def verdict_label_set(paper_classes: list[str], dataset_classes: list[str]) -> str:
    only_paper = sorted(set(paper_classes) - set(dataset_classes))
    only_ours = sorted(set(dataset_classes) - set(paper_classes))
    return (f"not comparable: the paper's label set has {', '.join(only_paper)} where the dataset has "
            f"{', '.join(only_ours)}")


VERDICT_CATEGORIES = {  # category: (verdict prefix, colour in the index's figures)
    "consistent": ("consistent", "tab:green"),
    "exceeded": ("exceeded", "tab:blue"),
    "not reproduced": ("not reproduced", "tab:red"),
    "lower bound": ("not reached within the budget", "tab:orange"),
    "different protocol": ("different protocol", "tab:gray"),
    "not comparable": ("not comparable", "tab:purple"),
    "no CI": ("no CI", "tab:gray"),
}


def verdict_category(text: str) -> str:
    """The category of a verdict text (see `VERDICT_CATEGORIES`)."""
    text = text.removeprefix(TRAIN_SPLIT_PREFIX)
    return next((name for name, (prefix, _) in VERDICT_CATEGORIES.items() if text.startswith(prefix)), "no CI")


@dataclass(frozen=True)
class RunFacts:
    """What a verdict needs to know about the run besides its numbers."""

    protocol: str
    protocol_options: dict = field(default_factory=dict)
    protocol_description: str = ""
    epochs_run: tuple[int, ...] = ()
    epochs_planned: int = 0
    stopped_by_budget: bool = False
    collapsed: bool = False

    def matches(self, spec: dict | None) -> bool:
        """Whether the run used the protocol `spec` names (None: the claim's protocol is not recorded)."""
        if spec is None:
            return True
        return spec["protocol"] == self.protocol and all(
            self.protocol_options.get(k) == v for k, v in spec.items() if k not in ("protocol", "text"))


@dataclass(frozen=True)
class Claim:
    """One number a paper claims."""

    id: str
    dataset: str
    metric: str  # accuracy, precision, recall, f1, confusion_diagonal, loss, val_loss
    where: str
    value: float | None = None
    range: tuple[float, float] | None = None
    class_name: str | None = None
    protocol: str = ""
    protocol_spec: dict | None = None  # {"protocol": name, option: value, ...} as the splits take them
    split: str = "test"  # "train": the paper captions it training results
    label_set: tuple[str, ...] | None = None  # the paper's classes for this dataset, where they differ
    model: str | None = None  # the registered model it is about (None: the paper's only model)

    def text(self) -> str:
        if self.range is not None:
            return f"{self.range[0]:.1%}-{self.range[1]:.1%}"
        if self.metric in LOG_METRICS:
            return f"{self.value:.4f}"
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
    protocols, label_sets = raw.get("protocols", {}), raw.get("label_sets", {})

    def common(dataset: str, entry: dict) -> dict:
        spec = entry.get("protocol_spec", protocols.get(dataset))
        return {"protocol_spec": spec, "protocol": entry.get("protocol") or (spec or {}).get("text", ""),
                "split": entry.get("split", "test"), "model": entry.get("model"),
                "label_set": tuple(label_sets[dataset]) if dataset in label_sets else None}

    claims = [Claim(id=c["id"], dataset=c["dataset"], metric=c.get("metric", "accuracy"), where=c["where"],
                    value=c.get("value"), range=tuple(c["range"]) if "range" in c else None,
                    **common(c["dataset"], c)) for c in raw.get("accuracy", [])]
    per_class = raw.get("per_class", {})
    for table in per_class.get("tables", []):
        prefix = table.get("id", table["dataset"])
        for cls, value in zip(per_class["class_order"], table["values"]):
            claims.append(Claim(id=f"{prefix}_{table['metric']}_{cls}", dataset=table["dataset"],
                                metric=table["metric"], where=table["where"], value=value, class_name=cls,
                                **common(table["dataset"], table)))
    return claims


def _against_ci(claimed: float | tuple[float, float], ci: tuple[float, float] | None, facts: RunFacts) -> str:
    if ci is None or any(math.isnan(v) for v in ci):  # a class never predicted (no precision)
        return VERDICT_NO_CI
    lo, hi = ci
    low, high = claimed if isinstance(claimed, tuple) else (claimed, claimed)
    if low <= hi and high >= lo:  # a claimed range overlaps our interval, or a value lies inside it
        return VERDICT_CONSISTENT
    if high < lo:
        return VERDICT_ABOVE
    if facts.stopped_by_budget:
        return verdict_lower_bound(min(facts.epochs_run, default=0), facts.epochs_planned)
    return VERDICT_BELOW


def verdict(claim: Claim, measured: float | None, ci: tuple[float, float] | None, facts: RunFacts,
            dataset_classes: list[str], on_train_split: bool = False) -> str:
    """The verdict on `claim` given what we measured (see the module's rules); `on_train_split`: the
    measurement is the training split's, and the verdict says so."""
    if measured is None:
        return VERDICT_NO_LOG if claim.metric in LOG_METRICS else VERDICT_NO_CLASS
    if claim.metric == "accuracy" and claim.label_set and set(claim.label_set) != set(dataset_classes):
        return verdict_label_set(list(claim.label_set), dataset_classes)
    if not facts.matches(claim.protocol_spec):
        return verdict_different_protocol(claim.protocol or claim.protocol_spec["protocol"],
                                          facts.protocol_description or facts.protocol)
    if facts.collapsed:
        return VERDICT_COLLAPSED
    if claim.metric in LOG_METRICS:
        return VERDICT_LOG
    result = _against_ci(claim.range if claim.range is not None else claim.value, ci, facts)
    return (TRAIN_SPLIT_PREFIX + result) if on_train_split else result


def measured_value(claim: Claim, metrics: dict, logs: dict | None = None) -> tuple[float | None, tuple[float, float] | None]:
    """The number in `metrics` (or, for a loss claim, the final epoch's `logs`) that `claim` is about,
    with its CI ((None, None): no such class or log)."""
    if claim.metric in LOG_METRICS:
        return (logs or {}).get(claim.metric), None
    if claim.metric == "accuracy":
        return metrics["accuracy"], tuple(metrics["accuracy_ci"])
    if claim.class_name not in metrics["per_class"]:
        return None, None
    pc = metrics["per_class"][claim.class_name]
    key = "recall" if claim.metric == "confusion_diagonal" else claim.metric
    return pc[key], (tuple(pc[f"{key}_ci"]) if f"{key}_ci" in pc else None)


def compare(claims: list[Claim], metrics: dict, dataset: str, facts: RunFacts, seed_summary: dict | None = None,
            train_metrics: dict | None = None, logs: dict | None = None) -> list[dict]:
    """One row per claim about `dataset`: claimed, measured, 95% CI, difference in points, verdict.

    `metrics` are the test split's (pooled over seeds, `metrics.pooled_metrics`); `train_metrics` the
    training split's, for the claims a paper captions as training results (without them, those claims
    are compared with the test split and say so); `logs` the final epoch's Keras logs, for loss claims."""
    rows = []
    classes = list(metrics["class_names"])
    for claim in (c for c in claims if c.dataset == dataset):
        is_log = claim.metric in LOG_METRICS
        on_train = claim.split == "train" and train_metrics is not None and not is_log
        measured, ci = measured_value(claim, train_metrics if on_train else metrics, logs)
        claimed = claim.range if claim.range is not None else claim.value
        verdict_text = verdict(claim, measured, ci, facts, classes, on_train)
        if claim.split == "train" and not on_train and measured is not None and not is_log:
            verdict_text += " (on the test split: no training-split predictions saved)"
        row = {
            "claim_id": claim.id, "where": claim.where, "metric": claim.metric,
            "class": claim.class_name or "", "claimed": claim.text(), "claimed_protocol": claim.protocol,
            "measured_on": "final epoch's Keras log" if is_log else "training split" if on_train else "test split",
            "measured": None if measured is None else round(measured, 4),
            "ci_low": None if ci is None or math.isnan(ci[0]) else round(ci[0], 4),
            "ci_high": None if ci is None or math.isnan(ci[1]) else round(ci[1], 4),
            "difference_points": None if measured is None or is_log else round(
                100 * (measured - (sum(claimed) / 2 if isinstance(claimed, tuple) else claimed)), 1),
            "verdict": verdict_text,
        }
        if claim.metric == "accuracy" and seed_summary and seed_summary.get("n_seeds", 0) > 1:
            row["seeds_mean"] = round(seed_summary["mean"], 4)
            row["seeds_std"] = round(seed_summary["std"], 4)
            row["n_seeds"] = seed_summary["n_seeds"]
        rows.append(row)
    return rows
