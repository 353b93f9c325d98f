"""Where the data, reports and caches live, and the run profiles.

Paths default to the project root (the folder holding `fer_lib/`), never the working directory, so
a notebook kernel started in `notebooks/` finds the same data and writes the same reports as `make`:
- the data folder: `FER_DATA_DIR`, else `data/` under the project root;
- the reports: `reports/` under the project root (each command and notebook takes another);
- decoded and preprocessed arrays and checkpoints: `FER_CACHE_DIR`, else `.cache/fer_lib/` there.
A relative `FER_DATA_DIR` is read from the working directory, else from the project root.
"""
from __future__ import annotations

import os
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from .errors import FerError, unknown_name_error


def settings_identity(settings, later_fields: tuple[str, ...]) -> dict:
    """`asdict(settings)` (a dataclass) less those of `later_fields` at their defaults: settings added after runs and
    caches were first keyed on the rest count only where they are set, so what was keyed before keeps its key."""
    defaults = {f.name: f.default for f in fields(settings)}
    return {k: v for k, v in asdict(settings).items() if k not in later_fields or v != defaults[k]}


REPO_ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK_MANIFEST = REPO_ROOT / "notebooks" / "manifest.json"


def notebook_manifest() -> list[dict]:
    """The notebooks `make reproduce-all` runs, in order: [{"paper": ..., "notebook": ..., "runs": [...]}].

    `paper` names the notebook and its reports folder; the optional `runs` lists the run folders
    (`<paper>/<experiment>`) it trains outside that folder, so their compute is counted as that notebook's
    (the reference model's notebook trains `reference/fer2013_standard`, `reference/fer2013_light_reg`,
    `reference/fer2013_restart` and `reference/fer2013_restart2`)."""
    import json

    try:
        manifest = json.loads(NOTEBOOK_MANIFEST.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise FerError(f"cannot read the notebook manifest {NOTEBOOK_MANIFEST} ({type(exc).__name__}: {exc}); restore it "
                       "with `git checkout notebooks/manifest.json`") from None
    if not isinstance(manifest, list) or not all(isinstance(e, dict) and "paper" in e and "notebook" in e for e in manifest):
        raise FerError(f"{NOTEBOOK_MANIFEST} is not a list of {{\"paper\", \"notebook\"}} entries; restore it with "
                       "`git checkout notebooks/manifest.json`")
    return manifest


def data_dir() -> Path:
    """The data root: `$FER_DATA_DIR`, or `data/` under the project root.

    A relative `FER_DATA_DIR` is taken from the working directory where it exists there, else from the
    project root (a notebook kernel runs in `notebooks/` with the variable the user set in the root)."""
    value = os.environ.get("FER_DATA_DIR")
    if not value:
        return REPO_ROOT / "data"
    path = Path(value).expanduser()
    return path if path.is_absolute() or path.exists() else REPO_ROOT / path


def portable_path(path: Path | str) -> str:
    """`path` as reports record it: under the data root as `$FER_DATA_DIR/...`, under the project as
    a relative path, and only elsewhere as given, so committed files carry no machine's folders."""
    resolved = Path(path).resolve()
    for base, label in ((data_dir(), "$FER_DATA_DIR"), (REPO_ROOT, ".")):
        try:
            return f"{label}/{resolved.relative_to(Path(base).resolve())}"
        except ValueError:
            continue
    return str(path)


def reports_dir() -> Path:
    """The reports root: `reports/` under the project root."""
    return REPO_ROOT / "reports"


def is_project_reports(root: Path | str) -> bool:
    """Whether `root` is the project's own reports/ (whose index feeds the README), not a user's other folder."""
    return Path(root).resolve() == reports_dir().resolve()


def cache_dir() -> Path:
    """The cache root for decoded arrays, preprocessed arrays and training checkpoints."""
    path = Path(os.environ.get("FER_CACHE_DIR", REPO_ROOT / ".cache" / "fer_lib")).expanduser()
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FerError(f"the cache folder {path} cannot be created ({exc.strerror or exc}); set FER_CACHE_DIR to a "
                       "folder you can write to") from None
    if not os.access(path, os.W_OK):
        raise FerError(f"the cache folder {path} is not writable; set FER_CACHE_DIR to a folder you can write to")
    return path


@dataclass(frozen=True)
class Profile:
    """How much of the data and compute an experiment uses.

    `per_class` limits every class of every split to that many images (a stratified subset);
    `max_epochs` caps the paper's epochs; `budget_scale` multiplies each experiment's
    wall-clock budget (None: no budget); `multi_seed` runs every seed an experiment lists;
    `fallback` runs an experiment again at its fallback learning rate when the paper's did not
    train (off for smoke, whose one epoch cannot tell).
    """

    name: str
    description: str
    per_class: int | None
    max_epochs: int | None
    budget_scale: float | None
    multi_seed: bool
    fallback: bool = True

    def epochs(self, planned: int) -> int:
        """The epochs a run of `planned` epochs trains under this profile (capped by `max_epochs`)."""
        return planned if self.max_epochs is None else min(planned, self.max_epochs)

    def budget_seconds(self, minutes: float) -> float | None:
        """The wall-clock budget of a run given `minutes` under the cpu profile (None: no budget)."""
        seconds = budget_minutes_in_seconds(minutes)
        return None if self.budget_scale is None else seconds * self.budget_scale


def budget_minutes_in_seconds(minutes: float, name: str = "budget_minutes") -> float:
    """`minutes` of wall clock in seconds, or a FerError naming `name` where they are not a positive finite number."""
    if isinstance(minutes, bool) or not isinstance(minutes, (int, float)) or not minutes > 0 or minutes == float("inf"):
        raise FerError(f"{name} must be a positive number of minutes, got {minutes!r}")
    return 60 * minutes


PROFILES: dict[str, Profile] = {
    "smoke": Profile(
        "smoke",
        "small stratified subset of the real data, one epoch: for tests and CI",
        per_class=24, max_epochs=1, budget_scale=None, multi_seed=False, fallback=False,
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


# The one default, for make, the command line and the notebooks: quick, and never over the committed cpu reports.
DEFAULT_PROFILE = "smoke"


def get_profile(name: str) -> Profile:
    """The profile called `name`, or a FerError listing the valid ones."""
    try:
        return PROFILES[name]
    except KeyError:
        raise unknown_name_error("profile", name, list(PROFILES)) from None
