"""The specs of a paper's studies, as data: ablations (`AblationSpec`) and fine-tuning (`FineTuneSpec`).

A paper's `experiments.py` lists its studies beside its experiments; keeping the specs here, below the papers,
lets reading them import neither the studies that run them nor TensorFlow's training loop. `studies/ablation.py`
and `studies/fine_tune.py` run them.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable

from ..data import PreprocessConfig
from ..errors import FerError
from ..models.registry import model_options, unknown_options
from ..train.config import TrainConfig

if TYPE_CHECKING:
    import keras

EQUAL = ("epochs", "budget")


@dataclass(frozen=True)
class AblationSpec:
    """Arms of `model` (name -> model options; the first is the reference) on one protocol."""

    paper: str
    name: str
    title: str
    dataset: str
    model: str
    arms: dict[str, dict]
    training: TrainConfig
    equal: str = "epochs"
    protocol: str = "official"
    protocol_options: dict = field(default_factory=dict)
    preprocess: PreprocessConfig = PreprocessConfig()
    cpu_budget_minutes: float = 10.0
    seeds: tuple[int, ...] = (0,)
    reference_runs_of: str | None = None  # a paper experiment whose runs are the reference arm's

    def __post_init__(self) -> None:
        if self.equal not in EQUAL:
            raise FerError(f"equal must be one of {', '.join(EQUAL)}, got {self.equal!r}")
        if len(self.arms) < 2:
            raise FerError(f"an ablation needs a reference arm and at least one other, got {list(self.arms)}")

    def reference_experiment(self):
        """The experiment named by `reference_runs_of` (None without one), checked to be the reference
        arm exactly: same model and options, dataset, protocol, training, preprocessing and budget (a
        FerError says which differs)."""
        if self.reference_runs_of is None:
            return None
        from ..papers import get_experiments

        experiment = get_experiments(self.paper, self.reference_runs_of)[0]
        mine = dict(model=self.model, model_options=next(iter(self.arms.values())), dataset=self.dataset,
                    protocol=self.protocol, protocol_options=self.protocol_options, training=self.training,
                    preprocess=self.preprocess, cpu_budget_minutes=self.cpu_budget_minutes)
        differ = [k for k, v in mine.items() if getattr(experiment, k) != v]
        if differ:
            raise FerError(f"ablation {self.name}: its reference arm is not experiment {self.reference_runs_of} "
                           f"(they differ in {', '.join(differ)}); make them equal or drop reference_runs_of")
        return experiment

    def reference_run_dir(self, profile: str, seed: int, reports_root: Path | str | None = None) -> Path | None:
        """Where the reference arm trains: the checkpoint folder of `reference_runs_of`'s run of `seed`
        (so one model is not trained twice), or None (the study's own folder). That experiment must be
        the reference arm exactly: same model and options, dataset, protocol, training, preprocessing
        and budget (a FerError says which differs)."""
        experiment = self.reference_experiment()
        if experiment is None:
            return None
        from .run_store import unit_run_dir

        return unit_run_dir(experiment, profile, self.learning_rate(profile, reports_root), seed)

    def learning_rate(self, profile: str, reports_root: Path | str | None = None) -> float:
        """The rate every arm trains at: the training's own, or, where the reference arm is an experiment's
        runs, the rate at which that experiment trained (its fallback where the paper's did not train),
        so that the arms differ from the reference in their switch alone."""
        if self.reference_runs_of is None:
            return self.training.learning_rate
        from .run_store import trained_rate
        from ..papers import get_experiments

        return trained_rate(get_experiments(self.paper, self.reference_runs_of)[0], profile, reports_root)

    def check_arms(self) -> None:
        """Every arm's options are options of the model (a FerError names the bad switch and the valid ones)."""
        for arm, options in self.arms.items():
            unknown = unknown_options(self.model, options)
            if unknown:
                raise FerError(f"ablation {self.name}: arm {arm!r} switches {', '.join(map(repr, unknown))}, which "
                               f"{self.model} does not have; its options are: {', '.join(model_options(self.model))}")


FINE_TUNED, SCRATCH = "fine-tuned from the pretrained model", "from scratch"


@dataclass(frozen=True)
class FineTuneSpec:
    """Pretrained on `source_experiment`'s data (a paper experiment name), fine-tuned on `dataset`.

    `freeze` and `top_layers` say, for the built model, which layer is the backbone to freeze and
    which of its layers are the top blocks to unfreeze (e.g. khalid2025's `models.top_layers`)."""

    paper: str
    name: str
    title: str
    model: str
    source_experiment: str
    freeze: Callable[[keras.Model], keras.layers.Layer]
    top_layers: Callable[[keras.Model], list[keras.layers.Layer]]
    frozen: TrainConfig
    top: TrainConfig
    dataset: str = "ckplus48"
    protocol: str = "subject_independent"
    protocol_options: dict = field(default_factory=dict)
    preprocess: PreprocessConfig = PreprocessConfig(face_crop=False, equalize=False)
    cpu_budget_minutes: float = 10.0  # per phase (the scratch arm: twice that)
    seeds: tuple[int, ...] = (0,)

    @property
    def arms(self) -> dict[str, dict]:
        return {FINE_TUNED: {"frozen": f"{self.frozen.epochs} epochs at lr {self.frozen.learning_rate:g}",
                             "top blocks": f"{self.top.epochs} epochs at lr {self.top.learning_rate:g}"},
                SCRATCH: {"all layers": f"{self.frozen.epochs + self.top.epochs} epochs at lr {self.frozen.learning_rate:g}"}}
