"""Which runs a notebook or command trains, and which it only reads from their saved reports.

Re-executing a notebook must not retrain hours of runs that are already saved: by default (`"missing"`) a run
is trained only when no saved report holds it, and everything else is rendered from the reports. `"none"` trains
nothing (a run with no report is listed as missing), `"all"` trains every run as the command would on its own
(continuing budget-stopped runs from their checkpoints), and a list names the runs to train, the rest as `"missing"`.
"""
from __future__ import annotations

from dataclasses import dataclass

from ..errors import FerError

MODES = ("missing", "none", "all")


@dataclass(frozen=True)
class TrainPlan:
    """`mode` is one of MODES; `names` are runs (experiments or studies) trained whatever their reports hold."""

    mode: str = "missing"
    names: frozenset[str] = frozenset()

    @classmethod
    def parse(cls, value: str | list[str] | tuple[str, ...] | None) -> TrainPlan:
        """`"missing"` (also None), `"none"`, `"all"`, or names as a list or comma-separated text."""
        if value is None:
            return cls()
        if isinstance(value, str):
            text = value.strip()
            if text in MODES:
                return cls(text)
            value = [name.strip() for name in text.split(",")]
        names = [n for n in value if isinstance(n, str) and n.strip()]
        if not names or len(names) != len(value):
            raise FerError(f"train={value!r}: give one of {', '.join(map(repr, MODES))}, or the names of the runs to "
                           "train (a list, or comma-separated text)")
        return cls("missing", frozenset(n.strip() for n in names))

    def trains(self, name: str, saved: bool) -> bool:
        """Whether the run called `name` trains, given whether a saved report already holds it."""
        if name in self.names or self.mode == "all":
            return True
        return self.mode == "missing" and not saved

    def check_names(self, known: list[str]) -> None:
        """A named run that is not among `known` is a mistake (a typo would otherwise train nothing silently)."""
        unknown = sorted(self.names - set(known))
        if unknown:
            raise FerError(f"train names {', '.join(unknown)}, which is not a run here; valid: {', '.join(known)}")

    def not_trained(self, paper: str, name: str, profile: str) -> str:
        """The line printed for a run that has no saved report and that this plan does not train."""
        return (f"[{paper}] {name}: no saved {profile} report, and train={self.mode!r} trains nothing "
                f"(train='missing' or naming {name!r} runs it)")

    def describe(self) -> str:
        if self.names:
            return f"trains {', '.join(sorted(self.names))}, and any other run only where no report is saved"
        return {"missing": "trains only the runs with no saved report; the rest are read from their reports",
                "none": "trains nothing; every run is read from its saved report",
                "all": "trains every run (continuing a budget-stopped one from its checkpoints)"}[self.mode]
