"""Where the data and caches live, and the run profiles.

The data folder is found the way a user points the suite at their own download:
the `FER_DATA_DIR` environment variable, defaulting to `data/` in the working directory.
Decoded and preprocessed arrays are cached under `FER_CACHE_DIR` (default `.cache/fer_lib`).
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from .errors import unknown_name_error

REPO_ROOT = Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The data root: `$FER_DATA_DIR`, or `data/` under the current directory."""
    return Path(os.environ.get("FER_DATA_DIR", "data")).expanduser()


def cache_dir() -> Path:
    """The cache root for decoded arrays, preprocessed arrays and training checkpoints."""
    path = Path(os.environ.get("FER_CACHE_DIR", REPO_ROOT / ".cache" / "fer_lib")).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path


@dataclass(frozen=True)
class Profile:
    """How much of the data and compute an experiment uses.

    `per_class` limits every class of every split to that many images (a stratified subset);
    `max_epochs` caps the paper's epochs; `budget_scale` multiplies each experiment's
    wall-clock budget (None: no budget); `multi_seed` runs every seed an experiment lists.
    """

    name: str
    description: str
    per_class: int | None
    max_epochs: int | None
    budget_scale: float | None
    multi_seed: bool

    def budget_seconds(self, minutes: float) -> float | None:
        """The wall-clock budget of a run given `minutes` under the cpu profile (None: no budget)."""
        return None if self.budget_scale is None else 60 * minutes * self.budget_scale


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        "smoke",
        "small stratified subset of the real data, one epoch: for tests and CI",
        per_class=24, max_epochs=1, budget_scale=None, multi_seed=False,
    ),
    "cpu": Profile(
        "cpu",
        "full real data, the paper's protocol and hyperparameters, epochs capped by a "
        "per-experiment wall-clock budget sized for a 2-core CPU",
        per_class=None, max_epochs=None, budget_scale=1.0, multi_seed=True,
    ),
    "paper": Profile(
        "paper",
        "exactly the paper's settings (epochs, batch size, lr), no budget: meant for a GPU",
        per_class=None, max_epochs=None, budget_scale=None, multi_seed=True,
    ),
}


def get_profile(name: str) -> Profile:
    """The profile called `name`, or a FerError listing the valid ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise unknown_name_error("profile", name, list(PROFILES)) from None
