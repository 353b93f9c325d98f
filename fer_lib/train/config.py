"""What decides how a model is trained (`TrainConfig`), and the reasons a run stops."""
from __future__ import annotations

import math
import os
import time
from contextlib import contextmanager
from dataclasses import dataclass, fields, replace
from typing import TYPE_CHECKING

from ..config import budget_minutes_in_seconds, settings_identity
from ..errors import FerError

if TYPE_CHECKING:
    import keras

# each name's class in keras.optimizers, looked up when a run builds one: the settings are checked without Keras (so a
# user's mistake is reported without first loading TensorFlow)
OPTIMIZERS = {"adam": "Adam", "sgd": "SGD", "rmsprop": "RMSprop"}

FLIPS = ("horizontal_and_vertical", "horizontal", "vertical")
SCHEDULES = ("constant", "cosine")
# added after the first runs were checkpointed: in a run's identity only when not at their default
LATER_FIELDS = ("flip", "rotation_degrees", "momentum", "nesterov", "weight_decay", "schedule", "warmup_epochs",
                "zoom", "translate", "erasing", "targets", "brightness", "contrast", "shear", "blur")
# what a model is fitted to: one class per image (sparse cross-entropy), or a distribution over the classes per
# image (cross-entropy against it: FER+'s annotator votes, its paper's "probability" mode)
TARGETS = ("label", "distribution")



def with_later_defaults(saved: dict) -> dict:
    """A saved run's training settings (`asdict(TrainConfig)` as a record holds them) with every setting added since
    it was saved at its default: what it trained under, comparable with `asdict` of a config today."""
    defaults = {f.name: f.default for f in fields(TrainConfig)}
    return {**{key: defaults[key] for key in LATER_FIELDS}, **saved}


STOP_COMPLETED = "completed all planned epochs"
STOP_BUDGET = "stopped by wall-clock budget"
STOP_COLLAPSED = "stopped: predictions collapsed to a single class"

# A wall-clock instant (Unix seconds) before which every run of a process stops, between epochs, whatever its own
# budget and whatever earlier calls used: `fer-lib train --stop-after-minutes` sets it, and a campaign sets it for
# each process it starts. A run's budget counts across restarts (a fresh budget would let a resumed run overrun);
# a deadline is this call's alone, so a run continued from another machine's checkpoint is not stopped by time
# spent there. A run so stopped says "stopped by wall-clock budget" and continues from its checkpoint later.
DEADLINE_ENV = "FER_DEADLINE"


def deadline_from_env() -> float | None:
    """The instant in `$FER_DEADLINE` (Unix seconds), or None where it is unset or empty."""
    value = os.environ.get(DEADLINE_ENV, "").strip()
    if not value:
        return None
    try:
        instant = float(value)
    except ValueError:
        instant = math.nan
    if not math.isfinite(instant):
        raise FerError(f"${DEADLINE_ENV} must be a Unix time in seconds (as `date +%s` prints), got {value!r}; "
                       "unset it for no deadline")
    return instant


@contextmanager
def deadline_after(minutes: float | None):
    """`$FER_DEADLINE` set `minutes` from now for the runs trained inside (None: left as it is), restored after;
    a FerError names `--stop-after-minutes` where `minutes` is not a positive number."""
    if minutes is None:
        yield
        return
    seconds = budget_minutes_in_seconds(minutes, "--stop-after-minutes")
    before = os.environ.get(DEADLINE_ENV)
    os.environ[DEADLINE_ENV] = f"{time.time() + seconds:.0f}"
    try:
        yield
    finally:
        if before is None:
            os.environ.pop(DEADLINE_ENV, None)
        else:
            os.environ[DEADLINE_ENV] = before


@dataclass(frozen=True)
class TrainConfig:
    """Everything that decides how a model is trained. `budget_seconds` None means no budget.

    `balance` tops every class of the training split up to the largest with augmented copies;
    `augment` is "copies" (only those copies are flipped and rotated, as yousaf2024), "all" or "none";
    `flip` ("horizontal_and_vertical", "horizontal" or "vertical") and `rotation_degrees` say how
    (the defaults are yousaf2024's); `zoom` and `translate` (fractions of the image) and `erasing`
    (the probability of erasing a random rectangle, Zhong et al. 2020) add Khaireddin and Chen's
    augmentations where non-zero.
    `momentum`, `nesterov` and `weight_decay` go to the optimizer (SGD's momentum, decoupled decay);
    `schedule` "cosine" anneals the rate to zero over the planned epochs after `warmup_epochs` of linear
    warm-up from a tenth of it, per step (resumable: the step count is in the optimizer's state).
    `collapse_patience` stops a run whose predictions have been one class for that many epochs.
    `restore_best`: evaluate the best validation epoch's weights (else the last epoch's, as a paper
    that reports its final epoch, or whose validation set is its test set, did).
    `brightness`, `contrast` (fractions of the 0-255 range and of the image's contrast), `shear` (a fraction of the
    image) and `blur` (the strength of a 3x3 Gaussian blur, 0-1) add photometric and geometric augmentation where
    non-zero (issue 50's `strong_augment` candidate).
    `targets` "label" fits one class per image; "distribution" fits each training image's distribution over the
    classes (the dataset's `label_distribution`: FER+'s votes), by cross-entropy against it. Selection and every
    score still read one class per image.
    """

    optimizer: str = "adam"
    learning_rate: float = 0.01
    batch_size: int = 16
    epochs: int = 100
    seed: int = 0
    balance: bool = True
    augment: str = "copies"
    budget_seconds: float | None = None
    collapse_patience: int | None = 5
    restore_best: bool = True
    verbose: int = 0
    flip: str = "horizontal_and_vertical"
    rotation_degrees: float = 45.0
    momentum: float = 0.0
    nesterov: bool = False
    weight_decay: float = 0.0
    schedule: str = "constant"
    warmup_epochs: int = 0
    zoom: float = 0.0
    translate: float = 0.0
    erasing: float = 0.0
    targets: str = "label"
    brightness: float = 0.0
    contrast: float = 0.0
    shear: float = 0.0
    blur: float = 0.0

    def __post_init__(self) -> None:
        if self.optimizer not in OPTIMIZERS:
            raise FerError(f"unknown optimizer {self.optimizer!r}; valid optimizers are: {', '.join(OPTIMIZERS)}")
        for name in ("learning_rate", "batch_size", "epochs"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
                raise FerError(f"{name} must be a positive number, got {value!r}")
        if self.augment not in ("copies", "all", "none"):
            raise FerError(f"augment must be 'copies', 'all' or 'none', got {self.augment!r}")
        if self.flip not in FLIPS:
            raise FerError(f"flip must be one of {', '.join(FLIPS)}, got {self.flip!r}")
        if isinstance(self.rotation_degrees, bool) or not isinstance(self.rotation_degrees, (int, float)) \
                or not 0 <= self.rotation_degrees <= 180:
            raise FerError(f"rotation_degrees must be a number of degrees in [0, 180], got {self.rotation_degrees!r}")
        for name in ("momentum", "weight_decay", "zoom", "translate", "erasing", "brightness", "contrast", "shear", "blur"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < 1:
                raise FerError(f"{name} must be a number in [0, 1), got {value!r}")
        if self.nesterov and not self.momentum:
            raise FerError("nesterov=True needs a momentum above 0 (Nesterov momentum with none is plain SGD)")
        if self.momentum and self.optimizer not in ("sgd", "rmsprop"):
            raise FerError(f"momentum is an SGD or RMSprop setting; {self.optimizer} has its own (leave momentum at 0)")
        if self.schedule not in SCHEDULES:
            raise FerError(f"schedule must be one of {', '.join(SCHEDULES)}, got {self.schedule!r}")
        if isinstance(self.warmup_epochs, bool) or not isinstance(self.warmup_epochs, int) \
                or not 0 <= self.warmup_epochs < self.epochs:
            raise FerError(f"warmup_epochs must be a whole number of epochs below epochs ({self.epochs}), "
                           f"got {self.warmup_epochs!r}")
        if self.targets not in TARGETS:
            raise FerError(f"targets must be one of {', '.join(TARGETS)}, got {self.targets!r}")
        if self.budget_seconds is not None and not (self.budget_seconds > 0):
            raise FerError(f"budget_seconds must be positive (or None for no budget), got {self.budget_seconds!r}")

    def capped(self, epochs: int) -> "TrainConfig":
        """The same training for `epochs` (a profile's cap): a warm-up longer than the run is shortened
        to leave at least one epoch of decay."""
        return replace(self, epochs=epochs, warmup_epochs=min(self.warmup_epochs, epochs - 1))

    def optimizer_instance(self, steps_per_epoch: int) -> keras.optimizers.Optimizer:
        """The configured optimizer, its learning rate a schedule over `steps_per_epoch` steps an epoch
        where `schedule` is "cosine"."""
        import keras

        rate = self.learning_rate
        if self.schedule == "cosine":
            warmup = self.warmup_epochs * steps_per_epoch
            rate = keras.optimizers.schedules.CosineDecay(
                self.learning_rate / 10 if warmup else self.learning_rate,
                decay_steps=max(1, (self.epochs - self.warmup_epochs) * steps_per_epoch),
                warmup_target=self.learning_rate if warmup else None, warmup_steps=warmup)
        options = {"weight_decay": self.weight_decay} if self.weight_decay else {}
        if self.optimizer in ("sgd", "rmsprop") and self.momentum:
            options["momentum"] = self.momentum
        if self.nesterov:
            options["nesterov"] = True
        return getattr(keras.optimizers, OPTIMIZERS[self.optimizer])(learning_rate=rate, **options)

    def identity(self) -> dict:
        """The settings a checkpoint must share to be resumed (the budget and which weights are
        evaluated may change). The augmentation settings added after the first runs were checkpointed
        are in it only when they differ from their defaults, so those runs still resume."""
        return {k: v for k, v in settings_identity(self, LATER_FIELDS).items()
                if k not in ("budget_seconds", "verbose", "restore_best")}
