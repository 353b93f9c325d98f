"""The experiment record: `experiment.json`, as one typed dataclass that writes and reads it.

Every reader (the index, the compute table, the experiment page, the notebooks' summaries) goes
through `ExperimentRecord.read`, so a field is named once. Fields added after the first committed
reports (`backends`, `placement`) are optional: a record written before them reads back with None
and writes back without them, unchanged.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

from ..errors import FerError
from ..files import write_json

RECORD_FILE = "experiment.json"


@dataclass
class EpochsRecord:
    """Epochs per seed: planned, run, the best (selected) one, why each stopped, training seconds."""

    planned: int
    run_per_seed: list[int]
    best_epoch_per_seed: list[int | None]
    stop_reasons: list[str]
    train_seconds_per_seed: list[float]


@dataclass
class ExperimentRecord:
    """What one experiment variant (one learning rate, all its seeds) ran and measured."""

    paper: str
    experiment: str
    label: str
    title: str
    dataset: str
    protocol: str
    protocol_options: dict
    protocol_description: str
    model: str
    model_options: dict
    profile: str
    profile_description: str
    learning_rate: float
    paper_learning_rate: float
    trained: bool
    seeds: list[int]
    split_sizes: dict[str, int]
    n_images: int
    epochs: EpochsRecord
    train_seconds_total: float
    train_config: dict
    fast_paths: dict
    wall_seconds: float
    accuracy: float
    accuracy_ci: list[float]
    seed_summary: dict
    train_split_accuracy: float
    headline_claim: dict | None
    preprocessing: dict
    note: str
    environment: dict
    # per seed: the backends (with version and device) it trained under, from which epoch on
    backends: list[list[dict]] | None = None
    placement: str | None = None

    OPTIONAL = ("backends", "placement")

    def to_dict(self) -> dict:
        data = asdict(self)
        for name in self.OPTIONAL:
            if data[name] is None:
                del data[name]
        return data

    def write(self, folder: Path | str) -> Path:
        path = Path(folder) / RECORD_FILE
        write_json(path, self.to_dict())
        return path

    @classmethod
    def from_dict(cls, data: dict) -> "ExperimentRecord":
        known = {f.name for f in fields(cls)}
        required = {f.name for f in fields(cls) if f.name not in cls.OPTIONAL}
        missing = sorted(required - set(data))
        if missing:
            raise FerError(f"experiment record lacks {', '.join(missing)}")
        values = {k: v for k, v in data.items() if k in known}
        values["epochs"] = EpochsRecord(**values["epochs"])
        return cls(**values)

    @classmethod
    def read(cls, folder_or_file: Path | str) -> "ExperimentRecord":
        """The record in `folder_or_file` (an experiment folder or its experiment.json)."""
        path = Path(folder_or_file)
        path = path / RECORD_FILE if path.is_dir() else path
        try:
            data = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise FerError(f"cannot read the experiment record {path} ({exc}); re-run its experiment to rewrite it") from None
        try:
            return cls.from_dict(data)
        except (FerError, TypeError) as exc:
            raise FerError(f"{path} is not a complete experiment record ({exc}); re-run its experiment to rewrite it") from None
