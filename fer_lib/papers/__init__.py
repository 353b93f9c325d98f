"""One folder per paper: `fer_lib/papers/<paper>/` holds everything the suite knows about it.

- `__init__.py`: the citation and `PAPER`, the name used everywhere;
- `models.py`: its model builders, registered in `fer_lib.models` by name;
- `experiments.py`: its experiments as data (`EXPERIMENTS`, a list of `ExperimentSpec`) and its studies
  (`STUDIES`: ablations, fine-tuning);
- `claims.json`: every number it claims, transcribed once, its oddities and its flaw signs.
Its notebook is `notebooks/<paper>.ipynb`. Nothing here is imported until asked for.
"""
from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import TYPE_CHECKING

from ..errors import FerError, unknown_name_error

if TYPE_CHECKING:
    from ..evaluate.spec import ExperimentSpec

PAPERS_DIR = Path(__file__).parent


def paper_names() -> list[str]:
    """Every paper with a folder here."""
    return sorted(m.name for m in pkgutil.iter_modules(__path__) if m.ispkg)


def claims_path(paper: str) -> Path:
    """The paper's `claims.json`."""
    if paper not in paper_names():
        raise unknown_name_error("paper", paper, paper_names())
    return PAPERS_DIR / paper / "claims.json"


def papers_with_experiments() -> list[str]:
    return [p for p in paper_names() if (PAPERS_DIR / p / "experiments.py").exists()]


def get_experiments(paper: str, names: str | list[str] = "all") -> list["ExperimentSpec"]:
    """The paper's experiments called `names` ("all", a comma-separated string, or a list)."""
    if paper not in papers_with_experiments():
        raise unknown_name_error("paper", paper, papers_with_experiments())
    specs = importlib.import_module(f"{__name__}.{paper}.experiments").EXPERIMENTS
    return select_named(specs, names, f"{paper} experiment(s)", "experiments")


def get_studies(paper: str, names: str | list[str] = "all") -> list:
    """The paper's studies (its `experiments.STUDIES`: ablations, fine-tuning) called `names`: "all",
    "none", a comma-separated string or a list; a paper without studies has none."""
    if paper not in papers_with_experiments():
        raise unknown_name_error("paper", paper, papers_with_experiments())
    studies = getattr(importlib.import_module(f"{__name__}.{paper}.experiments"), "STUDIES", [])
    return [] if names == "none" else select_named(studies, names, f"{paper} study(ies)", "studies", ("all", "none"))


def select_named(items: list, names: str | list[str], what: str, plural: str, also: tuple[str, ...] = ("all",)) -> list:
    """The `items` (each with a `.name`) called `names`: "all", a comma-separated string or a list; a
    FerError names the unknown ones and lists the valid names (and `also`, the words taken besides)."""
    if names == "all":
        return list(items)
    wanted = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    by_name = {item.name: item for item in items}
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        besides = f" (or {', '.join(also)})" if also != ("all",) else ""
        raise FerError(f"unknown {what} {unknown}; valid {plural} are: {', '.join(by_name)}{besides}")
    return [by_name[n] for n in wanted]
