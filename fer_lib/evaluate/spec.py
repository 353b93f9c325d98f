"""An experiment of a paper as data (`ExperimentSpec`): dataset, split protocol, model, training, budget and
seeds, and the names and settings every run of it derives from them (its report folder's name, its label, its
per-run training settings). It holds no training code: the runner (`runner.py`) and the report
writer (`reporting.experiment_report`) take a spec, not the other way round."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np

from ..config import Profile, budget_minutes_in_seconds
from ..data.preprocessing import PreprocessConfig
from ..data.splits import KFOLD_PROTOCOLS
from ..errors import FerError
from ..train.config import TrainConfig
from . import claims as claims_lib


@dataclass(frozen=True)
class ExperimentSpec:
    """One experiment of a paper: dataset, split protocol, model, how it trains, budget, seeds.

    `training` holds the paper's training settings; each run fills in its seed, the profile's
    epoch cap and budget. `compare_on_train_split` also sets every claim beside the training
    split's number (for papers whose tables are captioned training results). Under a k-fold
    protocol (`splits.KFOLD_PROTOCOLS`) the runs are the folds of `seeds[0]`; `holdout` names a
    FER2013 part no run trains on (e.g. "PrivateTest"), which every run also scores.
    """

    paper: str
    name: str
    title: str
    dataset: str
    protocol: str
    model: str
    training: TrainConfig
    protocol_options: dict = field(default_factory=dict)
    model_options: dict = field(default_factory=dict)
    preprocess: PreprocessConfig = PreprocessConfig()
    cpu_budget_minutes: float = 10.0
    seeds: tuple[int, ...] = (0,)
    fallback_lr: float | None = 1e-3
    compare_on_train_split: bool = False
    holdout: str | None = None
    cpu_epochs: int | None = None
    # another experiment of the same paper whose selected weights each run starts from (a warm restart:
    # `warm_start`); its runs must have completed under the same profile
    start_from: str | None = None
    # the rule in force that chooses among this experiment's recipes on held-out data (logged with every look
    # at its test split, `test_looks`); empty where nothing is chosen
    selection_rule: str = ""

    @property
    def kfold(self) -> bool:
        return self.protocol in KFOLD_PROTOCOLS

    def options_for(self, profile: str) -> dict:
        """The model options a run under `profile` builds with: under `paper`, ImageNet weights where the
        paper fine-tunes a pretrained network (its claims file's `pretrained` setting, stated or read), so an
        online user runs the paper's setup; the other profiles train from scratch, as our machines cannot
        download the weights (the verdicts say "different setup: no ImageNet weights")."""
        pretrained = claims_lib.load_settings(self.paper, self.model).get("pretrained")
        if profile == "paper" and pretrained is not None and pretrained.value == "imagenet":
            return {**self.model_options, "weights": "imagenet"}
        return dict(self.model_options)

    def planned_epochs(self, profile: Profile) -> int:
        """The epochs a run plans under `profile`: the training's, capped by the profile; under the cpu
        profile `cpu_epochs` where set (a schedule that anneals over its planned epochs is planned for
        what the budget trains, not stopped halfway through its decay)."""
        epochs = self.cpu_epochs if self.cpu_epochs is not None and profile.name == "cpu" else self.training.epochs
        return profile.epochs(epochs)


def budget_seconds(spec: ExperimentSpec, profile: Profile, budget_minutes: float | None = None) -> float | None:
    """The per-seed wall-clock budget: the spec's minutes times the profile's scale, or the override's
    minutes as they stand under any profile (a `paper` run on a machine lent for minutes)."""
    if budget_minutes is not None:
        return budget_minutes_in_seconds(budget_minutes)
    return profile.budget_seconds(spec.cpu_budget_minutes)


def unit_config(spec: ExperimentSpec, profile: Profile, lr: float, seed: int,
                budget_minutes: float | None = None) -> TrainConfig:
    """The training settings of one run of `spec` under `profile` at `lr`: the paper's, with the
    profile's epoch cap and budget and the run's seed."""
    return replace(spec.training.capped(spec.planned_epochs(profile)), learning_rate=lr, seed=seed,
                   budget_seconds=budget_seconds(spec, profile, budget_minutes))


def check_seeds(seeds: object) -> list[int]:
    """`seeds` as a list of distinct non-negative ints, or a FerError naming the bad value."""
    if isinstance(seeds, (str, bytes)) or not hasattr(seeds, "__iter__"):
        raise FerError(f"seeds must be a list of non-negative integers, got {seeds!r}")
    seeds = list(seeds)
    bad = [s for s in seeds if isinstance(s, bool) or not isinstance(s, (int, np.integer)) or s < 0]
    if not seeds or bad or len(set(seeds)) != len(seeds):
        raise FerError(f"seeds must be a non-empty list of distinct non-negative integers, got {seeds!r}")
    return [int(s) for s in seeds]


def folder_name(spec: ExperimentSpec, lr: float) -> str:
    """The name of `spec`'s report folder at `lr`: the experiment's name, with `__lr<rate>` for a fallback rate."""
    return spec.name if lr == spec.training.learning_rate else f"{spec.name}__lr{lr:g}"


def experiment_label(spec: ExperimentSpec, lr: float) -> str:
    """The experiment's name, and for a fallback rate whose rate it replaced: the paper's stated one (quoted in
    the claims file's settings) or our reading where the paper states none."""
    paper_lr = spec.training.learning_rate
    if lr == paper_lr:
        return spec.name
    rate = claims_lib.load_settings(spec.paper, spec.model).get("learning_rate")
    whose = "the paper's stated" if rate is not None and rate.stated else "our reading's (not stated)"
    return f"{spec.name} (lr {lr:g}: {whose} {paper_lr:g} did not train)"
