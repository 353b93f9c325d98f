"""The experiment record: `experiment.json`, as one typed dataclass that writes and reads it.

Every reader (the index, the compute table, the experiment page, the notebooks' summaries) goes
through `ExperimentRecord.read`, so a field is named once. Fields added after the first committed
reports (`backends`, `placement`) are optional: a record written before them reads back with None
and writes back without them, unchanged.
"""
from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from ..errors import FerError
from ..files import file_sha256, write_json
from ..train.config import STOP_COMPLETED

RECORD_FILE = "experiment.json"


@dataclass(frozen=True)
class RunStrength:
    """How much evidence a report rests on: images, seeds, the per-seed budget (None: unlimited) and
    planned epochs. A run never silently replaces a report that rests on more of any of them."""

    n_images: int
    seeds: tuple[int, ...]
    budget_seconds: float | None
    epochs_planned: int

    def shortfalls(self, existing: "RunStrength") -> list[str]:
        """What this run has less of than `existing`, one phrase each (empty: not weaker)."""
        out = []
        if self.n_images < existing.n_images:
            out.append(f"{self.n_images} images instead of {existing.n_images}")
        if not set(existing.seeds) <= set(self.seeds):
            out.append(f"seeds {list(self.seeds)} instead of {list(existing.seeds)}")
        if existing.budget_seconds is None and self.budget_seconds is not None or (
                self.budget_seconds is not None and existing.budget_seconds is not None
                and self.budget_seconds < existing.budget_seconds):
            def show(b):
                return "no budget" if b is None else f"a {b / 60:g}-minute budget per seed"
            out.append(f"{show(self.budget_seconds)} instead of {show(existing.budget_seconds)}")
        if self.epochs_planned < existing.epochs_planned:
            out.append(f"{self.epochs_planned} planned epochs instead of {existing.epochs_planned}")
        return out


def refuse_weaker(folder: Path, strength: RunStrength, existing: RunStrength | None, replace: bool) -> None:
    """Raise a FerError when a run of `strength` would replace the weaker-than-existing report in `folder`
    without `replace`; the message says what differs and how to write elsewhere or replace on purpose."""
    if replace or existing is None:
        return
    shortfalls = strength.shortfalls(existing)
    if shortfalls:
        raise FerError(
            f"{folder} holds a report from more evidence than this run would have ({'; '.join(shortfalls)}); "
            "nothing was trained or written. Write elsewhere with --reports-root DIR (the notebooks' "
            "reports_root), or replace it on purpose with --replace (replace=True).")


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
    # per seed: the provenance segments it trained under (commit, backend, device, packages), from which epoch on
    backends: list[list[dict]] | None = None
    placement: str | None = None
    # how the accuracy and verdicts combine seeds (metrics.SEED_RULE); absent in records before the rule
    seed_rule: str | None = None
    # "fold" where the runs are the folds of a k-fold protocol (`seeds` then holds fold numbers)
    unit: str = "seed"
    holdout: str | None = None  # a FER2013 part no run trained on, scored by every run
    # other test sets scored from the same runs: {name: {accuracy, accuracy_ci, n, description}}
    extra_scores: dict | None = None
    # milliseconds to classify one face (batch 1) with the first run's model: `latency.single_face_latency`
    inference_latency: dict | None = None
    # per seed, a warm restart's starting weights (`warm_start.StartWeights.as_record`): the source run and
    # its epochs, which the run's own epochs add to
    started_from: list[dict] | None = None
    # the SHA-256 of every raw file the run saved ({file name: digest}): a re-render refuses a file that changed
    files: dict[str, str] | None = None
    # where the last epoch is scored (validation is the test set): the validation accuracy over the runs' last
    # epochs (`metrics.late_validation`), the swing that score is one draw from
    late_validation: dict | None = None

    OPTIONAL = ("backends", "placement", "seed_rule", "unit", "holdout", "extra_scores", "inference_latency",
                "started_from", "files", "late_validation")

    @property
    def strength(self) -> RunStrength:
        return RunStrength(self.n_images, tuple(self.seeds), self.train_config.get("budget_seconds"), self.epochs.planned)

    @property
    def total_epochs(self) -> int:
        """The most epochs any seed's network trained, counting a warm restart's source run."""
        before = max((int(s["epochs"]) for s in self.started_from), default=0) if self.started_from else 0
        return before + max(self.epochs.run_per_seed)

    def unit_file(self, prefix: str, unit: int | None = None, suffix: str = "npz") -> str:
        """The name of run `unit`'s (default: the first's) file in the experiment's folder, e.g.
        `predictions_seed0.npz` or `history_fold3.csv`."""
        return f"{prefix}_{self.unit}{self.seeds[0] if unit is None else unit}.{suffix}"

    def raw_files(self, folder: Path | str) -> list[str]:
        """The names of the raw files the run saved in `folder`, from which everything else is derived:
        per run its test predictions and history, and where saved its training-split and holdout predictions."""
        names = []
        for unit in self.seeds:
            names += [self.unit_file("predictions", unit), self.unit_file("history", unit, "csv")]
            names += [n for n in (self.unit_file("train_predictions", unit), self.unit_file("holdout_predictions", unit))
                      if (Path(folder) / n).exists()]
        return names

    def check_raw_files(self, folder: Path | str) -> None:
        """Refuse, naming the file, a raw file that is missing, unreadable, holds another number of test images
        than the record says, or (where the record keeps their digests) changed since the run wrote it."""
        import zipfile

        import numpy as np

        folder = Path(folder)
        expected = self.split_sizes.get("test_all_folds") if self.unit == "fold" else self.split_sizes.get("test")
        counted = 0
        for name in self.raw_files(folder):
            path = folder / name
            if not path.exists():
                raise FerError(f"{path} is missing; its record names it, so the report cannot be re-rendered: restore it "
                               "(git checkout) or re-run the experiment")
            if name.endswith(".npz"):
                try:
                    with np.load(path) as saved:
                        n = len(saved["y_true"])
                except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
                    raise FerError(f"{path} cannot be read as saved predictions ({type(exc).__name__}); restore it "
                                   "(git checkout) or re-run the experiment") from None
                if name.startswith("predictions_"):
                    counted += n
                    if self.unit != "fold" and expected is not None and n != expected:
                        raise FerError(f"{path} holds {n} test predictions where the record says {expected}; restore it "
                                       "(git checkout) or re-run the experiment: nothing was re-rendered")
            # last, so a cut or unreadable file is named for what is wrong with it
            if self.files and name in self.files and file_sha256(path) != self.files[name]:
                raise FerError(f"{path} changed since its run wrote it (its SHA-256 differs from the record's); restore "
                               "it (git checkout) or re-run the experiment: nothing was re-rendered")
        if self.unit == "fold" and expected is not None and counted != expected:
            raise FerError(f"the folds' predictions in {folder} hold {counted} test images where the record says "
                           f"{expected}; restore them or re-run the experiment")

    def file_digests(self, folder: Path | str) -> dict[str, str]:
        return {name: file_sha256(Path(folder) / name) for name in self.raw_files(folder)}

    @property
    def completed(self) -> bool:
        """Whether every run trained all its planned epochs (none stopped by its budget or a collapse)."""
        return all(reason == STOP_COMPLETED for reason in self.epochs.stop_reasons)

    @property
    def partial_data(self) -> list[str]:
        """How the data differed from the public release (empty: the whole release)."""
        return list(self.preprocessing.get("count_differences_from_public_release") or [])

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


def official_split_runs(reports_root: Path | str, profile: str, exclude: tuple[str, ...] = ()
                        ) -> tuple[list[tuple[ExperimentRecord, Path]], list[str]]:
    """One run per paper (papers in `exclude` left out) among those reported under `profile`: its
    FER2013 run under the official split (fit on Training, test on PrivateTest) that trained, with the
    saved predictions of its first seed. The rule, fixed before looking at any score: the paper's own
    learning rate where it trained, else its fallback. Returns the runs and a note per paper left out."""
    runs, notes = [], []
    root = Path(reports_root) / profile
    for paper_dir in sorted(p for p in root.iterdir() if p.is_dir() and p.name not in exclude) if root.exists() else []:
        records = {f.parent: ExperimentRecord.read(f.parent) for f in sorted(paper_dir.glob(f"*/{RECORD_FILE}"))}
        official = [(r, folder) for folder, r in records.items() if r.dataset == "fer2013" and r.protocol == "official"
                    and r.trained and not r.protocol_options.get("validation_is_test")]  # tested on PrivateTest
        if not official:
            if records:
                notes.append(f"{paper_dir.name}: no FER2013 run under the official split that trained")
            continue
        record, folder = min(official, key=lambda rf: (rf[0].learning_rate != rf[0].paper_learning_rate, rf[0].experiment))
        runs.append((record, folder / record.unit_file("predictions")))
    return runs, notes
