"""The papers' claims, kept as data (`fer_lib/papers/<paper>/claims.json`), set beside what we measured.

The verdict rules, in the order they apply (`verdict`):
1. A class the dataset does not have: "not comparable" for that claim. An accuracy claimed over a label
   set other than the dataset's (CK+ with Neutral in place of Contempt): "not comparable" as a whole.
2. A claim made under another split protocol than the run's ("random 75:25" against the official
   split): "different protocol", whatever the numbers; like is compared with like only where we ran
   the paper's own protocol.
3. A run under another setup than the claim's (`Setup`: a paper that fine-tunes ImageNet weights against our
   run from scratch; a reference figure from a wider network trained longer and tested on ten crops):
   "different setup: ...", with what the numbers say beside it, never a refutation.
4. A model that collapsed to one class: "not reproduced at the paper's stated settings" only where the
   paper states the optimizer and learning rate it ran at (quoted, `Setting.stated`); where they are
   our reading (`Setting.read`), "collapsed at our reading (...)": that says nothing about the claim.
5. Otherwise the claim is set against our 95% CI over all seeds (`metrics.SEED_RULE`): inside it,
   "consistent"; below it, "exceeded"; above it, "not reproduced" when every seed completed the
   paper's training, and "not reached within the budget (lower bound, k of n epochs)" when a seed
   was stopped by its wall-clock budget, since more training could still reach it.
Every setting a verdict rests on is either stated by the paper (with its quote) or read by us (with why):
`load_settings` gives them per model from the claims file's `settings` (and `settings_by_model`).
A label set that differs only by a name the paper itself contradicts (yousaf2024's CK+ tables print
Neutral where its dataset section lists Contempt) is compared as the mislabel it is, and says so.
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
from pathlib import Path

from ..errors import FerError

VERDICT_CONSISTENT = "consistent: claim inside our 95% CI"
VERDICT_BELOW = "not reproduced: we measure less (claim above our 95% CI)"
VERDICT_ABOVE = "exceeded: we measure more (claim below our 95% CI)"
VERDICT_NO_CI = "no CI (a class never predicted): see the difference"
VERDICT_NO_CLASS = "not comparable: the dataset has no such class"
VERDICT_COLLAPSED_PREFIX = "not reproduced at the paper's stated settings"
VERDICT_READING_PREFIX = "collapsed at our reading"
VERDICT_SETUP_PREFIX = "different setup"
VERDICT_LOG = "no CI (a Keras log value, our final epoch's): see the difference"
VERDICT_NO_LOG = "not comparable: the run logged no such value"
LOG_METRICS = ("loss", "val_loss")
TRAIN_SPLIT_PREFIX = "on our training split (the paper captions it training results): "

# Claims are data in each paper's folder, read by path: reading them runs no paper's code (fer_lib.papers sits
# above this layer).
PAPERS_DIR = Path(__file__).resolve().parent.parent / "papers"


# protocol_spec keys that describe rather than select: its text, and `read`, what we read an unstated protocol as
SPEC_TEXT_KEYS = ("protocol", "text", "read")


def verdict_lower_bound(epochs_run: int, epochs_planned: int) -> str:
    return f"not reached within the budget (lower bound, {epochs_run} of {epochs_planned} epochs)"


def verdict_different_protocol(claimed: str, ours: str) -> str:
    return f"different protocol: claimed under {claimed}; measured under {ours}"


def verdict_collapsed(settings: dict[str, "Setting"], facts: "RunFacts") -> str:
    """A run that collapsed to one class: a finding about the paper only where its optimizer and learning
    rate are stated (quoted); otherwise about our reading of them."""
    run = f"{facts.optimizer.capitalize()} {facts.learning_rate:g}" if facts.optimizer else f"lr {facts.learning_rate:g}"
    rate, optimizer = settings.get("learning_rate"), settings.get("optimizer")
    if rate is not None and rate.stated and (optimizer is None or optimizer.stated):
        return (f"{VERDICT_COLLAPSED_PREFIX} ({run}: {settings['learning_rate'].stated}): training collapsed to "
                "one class")
    return f"{VERDICT_READING_PREFIX} ({run}, not stated by the paper): training collapsed to one class, which " \
           "says nothing about the claim" + (f"; {facts.collapse_note}" if facts.collapse_note else "")


def verdict_setup(differences: list[str], then: str) -> str:
    """A claim made under another setup: what differs, then what the numbers alone would say."""
    return f"{VERDICT_SETUP_PREFIX}: {'; '.join(differences)} (the numbers alone: {then})"


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
    "collapsed at our reading": (VERDICT_READING_PREFIX, "tab:olive"),
    "different setup": (VERDICT_SETUP_PREFIX, "tab:cyan"),
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
    optimizer: str = ""
    learning_rate: float = float("nan")
    weights: str | None = None  # the backbone's starting weights (model option `weights`): None from scratch
    # what a saved study of this paper's collapse found (`studies.collapse_study`), cited by a collapse verdict
    collapse_note: str = ""

    def matches(self, spec: dict | None) -> bool:
        """Whether the run used the protocol `spec` names (None: the claim's protocol is not recorded)."""
        if spec is None:
            return True
        protocols = spec["protocol"] if isinstance(spec["protocol"], list) else [spec["protocol"]]
        return self.protocol in protocols and all(
            self.protocol_options.get(k) == v for k, v in spec.items() if k not in SPEC_TEXT_KEYS)


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


@dataclass(frozen=True)
class Setting:
    """One training setting a verdict rests on: `stated` quotes the paper; `read` says why we chose it."""

    name: str
    stated: str | None = None
    read: str | None = None
    value: object = None

    def __post_init__(self) -> None:
        if (self.stated is None) == (self.read is None):
            raise FerError(f"setting {self.name!r} must be either stated (a quote) or read (our reason), not "
                           f"{'both' if self.stated else 'neither'}")

    def text(self) -> str:
        return f"stated: {self.stated}" if self.stated else f"our reading, not stated: {self.read}"


@dataclass(frozen=True)
class Setup:
    """A difference between the setup a claim was made under and the run's, which makes the comparison
    one of different setups: `applies` names when it holds (`"no_imagenet"`: the run starts from scratch;
    `"centre_crop"`: a row scored on the centre crop against a ten-crop figure; `"always"`), `datasets` the datasets it concerns (empty: every one), `text` what differs."""

    text: str
    applies: str = "always"
    datasets: tuple[str, ...] = ()

    def holds(self, dataset: str, facts: "RunFacts") -> bool:
        if self.datasets and dataset not in self.datasets:
            return False
        # "centre_crop": a row scored on the single centre crop, as every experiment's row is (a ten-crop
        # comparison row leaves it out)
        return self.applies in ("always", "centre_crop") or (self.applies == "no_imagenet" and facts.weights != "imagenet")


def load_settings(paper: str, model: str | None = None) -> dict[str, Setting]:
    """The settings of `paper`'s runs of `model` a verdict rests on, each stated (quoted) or read."""
    raw = load_paper(paper)
    merged = {**raw.get("settings", {}), **raw.get("settings_by_model", {}).get(model or "", {})}
    return {name: Setting(name, entry.get("stated"), entry.get("read"), entry.get("value"))
            for name, entry in merged.items()}


def load_setups(paper: str, model: str | None = None) -> list[Setup]:
    """How the claims' setups differ from our runs of `model` (`Setup`); pretrained weights from the settings."""
    raw = load_paper(paper)
    setups = [Setup(e["text"], e.get("applies", "always"), tuple(e.get("datasets", ())))
              for e in raw.get("setup_differences", []) if e.get("model") in (None, model)]
    pretrained = load_settings(paper, model).get("pretrained")
    if pretrained is not None and pretrained.value == "imagenet":
        paper = (f"the paper fine-tunes a pretrained network: {pretrained.stated}" if pretrained.stated
                 else f"we read the paper as fine-tuning a pretrained network: {pretrained.read}")
        setups.append(Setup(f"no ImageNet weights ({paper}; our run starts from scratch, as ImageNet weights cannot "
                            "be downloaded on our machines)", "no_imagenet"))
    return setups


def mislabels(paper: str, dataset: str) -> dict:
    """A label set the paper contradicts itself on: {"names": {paper's name: the dataset's}, "quotes": [...]}."""
    return load_paper(paper).get("mislabels", {}).get(dataset, {})


def load_paper(paper: str) -> dict:
    """The raw claims file of `paper` (title, citation, oddities, claims)."""
    available = _papers_with_claims()
    if paper not in available:
        raise FerError(f"no claims recorded for paper {paper!r}; papers with claims: {', '.join(available)}")
    return json.loads((PAPERS_DIR / paper / "claims.json").read_text())


def _papers_with_claims() -> list[str]:
    return sorted(p.name for p in PAPERS_DIR.iterdir() if (p / "claims.json").exists())


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
            dataset_classes: list[str], on_train_split: bool = False, settings: dict[str, Setting] | None = None,
            setups: list[Setup] | None = None, mislabel: dict | None = None) -> str:
    """The verdict on `claim` given what we measured (see the module's rules); `on_train_split`: the
    measurement is the training split's, and the verdict says so. `settings`, `setups` and `mislabel`
    are the paper's (`load_settings`, `load_setups`, `mislabels`)."""
    if measured is None:
        return VERDICT_NO_LOG if claim.metric in LOG_METRICS else VERDICT_NO_CLASS
    renamed = {(mislabel or {}).get("names", {}).get(c, c) for c in claim.label_set or ()}
    if claim.metric == "accuracy" and claim.label_set and renamed != set(dataset_classes):
        return verdict_label_set(list(claim.label_set), dataset_classes)
    if not facts.matches(claim.protocol_spec):
        return verdict_different_protocol(claim.protocol or claim.protocol_spec["protocol"],
                                          facts.protocol_description or facts.protocol)
    differences = [s.text for s in setups or [] if s.holds(claim.dataset, facts)]
    if facts.collapsed:
        result = verdict_collapsed(settings or {}, facts)
    elif claim.metric in LOG_METRICS:
        result = VERDICT_LOG
    else:
        result = _against_ci(claim.range if claim.range is not None else claim.value, ci, facts)
    if differences:
        result = verdict_setup(differences, result)
    if (claim.protocol_spec or {}).get("read"):  # a like-for-like verdict whose protocol the paper leaves out
        result += f" (at our reading of a protocol the paper does not state: {claim.protocol_spec['read']})"
    if claim.metric == "accuracy" and claim.label_set and set(claim.label_set) != set(dataset_classes):
        names = ", ".join(f"{a} for {b}" for a, b in mislabel["names"].items())
        result += f" (compared with the paper's label set read as a mislabel, {names}: {'; '.join(mislabel['quotes'])})"
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
            train_metrics: dict | None = None, logs: dict | None = None, settings: dict[str, Setting] | None = None,
            setups: list[Setup] | None = None, mislabel: dict | None = None) -> list[dict]:
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
        verdict_text = verdict(claim, measured, ci, facts, classes, on_train, settings, setups, mislabel)
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
