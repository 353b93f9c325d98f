"""Each paper's experiments, by paper name: `get_experiments("yousaf2024", "all")`."""
from __future__ import annotations

from ..errors import FerError, unknown_name_error
from ..experiments import ExperimentSpec
from . import yousaf2024

PAPERS: dict[str, list[ExperimentSpec]] = {
    yousaf2024.PAPER: yousaf2024.EXPERIMENTS,
}


def get_experiments(paper: str, names: str | list[str] = "all") -> list[ExperimentSpec]:
    """The paper's experiments called `names` ("all", a comma-separated string, or a list)."""
    if paper not in PAPERS:
        raise unknown_name_error("paper", paper, list(PAPERS))
    specs = PAPERS[paper]
    if names == "all":
        return list(specs)
    wanted = [n.strip() for n in names.split(",")] if isinstance(names, str) else list(names)
    by_name = {s.name: s for s in specs}
    unknown = [n for n in wanted if n not in by_name]
    if unknown:
        raise FerError(f"unknown {paper} experiment(s) {unknown}; valid experiments are: {', '.join(by_name)}")
    return [by_name[n] for n in wanted]
