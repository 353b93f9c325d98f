"""A GPU lease that carries the suite: the data and wheels a campaign needs, split over calls of the device tool.

A call of the device tool carries the tracked tree (about 41 MiB, most of it committed results and the shipped
model) plus the ignored paths it names, 64 MiB in all; FER2013 alone packs to about 41 MiB with xz. So no single
call can carry both. The machine keeps ignored files between calls while it stays warm, so the data travel as
parts over calls issued back to back, and the last call unpacks them and runs the campaign:

1. `pack_lease` packs the datasets into one xz tar, cuts it into parts that fit beside the tree under `BUDGET`
   (56 MiB a call: 8 MiB of room under the tool's limit for what a session adds), adds the wheels the GPU image
   lacks, and writes `.device/lease.json` with each call's carried paths and command (`plan_calls`);
2. each call but the last only carries its parts (its command lists them); the last carries the rest and runs
   `final_command`: joins the parts, unpacks the data to /tmp/data, installs the wheels, runs the campaign and
   packs its reports into $OUT (`campaign.pack`).

`fer-lib lease` does step 1 and prints the calls; a test checks that this checkout's calls fit the budget.
"""
from __future__ import annotations

import hashlib
import json
import lzma
import subprocess
import tarfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import REPO_ROOT, data_dir as default_data_dir
from ..errors import FerError
from ..files import atomic_path, write_json

MiB = 2**20
CALL_LIMIT = 64 * MiB  # the device tool's limit on one call's tree plus carried paths
BUDGET = 56 * MiB  # ours, per call
MAX_CARRY_PATHS = 8  # the device tool's limit on paths named in `carry`
MAX_CALLS = 5  # the machine goes back after 30 idle seconds: more back-to-back transfers would be fragile
LEASE_DIR = ".device"
ARCHIVE = "data.tar.xz"
WHEELS = "wheels"

UNPACK = ("cat .device/data.tar.xz.part* | python3 -c \"import sys, tarfile; "
          "tarfile.open(fileobj=sys.stdin.buffer, mode='r|xz').extractall('/tmp/data')\"")
INSTALL = "python3 -m pip install -q --no-index --no-deps --target /tmp/site .device/wheels/*.whl"
ENVIRONMENT = "export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax FER_DATA_DIR=/tmp/data PYTHONUNBUFFERED=1"


def final_command(minutes: float = 9, jobs: int = 4, profile: str = "paper") -> str:
    """The last call's command: unpack, install, run the campaign until `minutes` from its start, pack to $OUT."""
    return (f"set -e; {UNPACK}; {INSTALL}; {ENVIRONMENT}; python3 -m fer_lib campaign --profile {profile} "
            f"--minutes {minutes:g} --jobs {jobs} --pack-to $OUT 2>&1 | tee $OUT/campaign.log")


@dataclass(frozen=True)
class Call:
    """One call of the device tool: the ignored paths it carries, their bytes, and its command."""

    carry: tuple[str, ...]
    carried_bytes: int
    command: str


@dataclass(frozen=True)
class LeasePlan:
    """The calls of one lease, in order, beside the tree every call carries."""

    tree_bytes: int
    budget: int
    calls: tuple[Call, ...]

    def payloads(self) -> list[int]:
        """What each call carries in all: the tree plus its paths."""
        return [self.tree_bytes + call.carried_bytes for call in self.calls]

    def describe(self) -> str:
        lines = [f"{len(self.calls)} calls, issued back to back (the machine stays warm 30 s after each); every call "
                 f"carries the tracked tree ({self.tree_bytes / MiB:.1f} MiB) and, under a budget of "
                 f"{self.budget / MiB:.0f} MiB a call:"]
        for i, (call, payload) in enumerate(zip(self.calls, self.payloads()), 1):
            lines.append(f"{i}. carry {list(call.carry)} ({payload / MiB:.1f} MiB in all); command: {call.command}")
        return "\n".join(lines)


def tree_bytes(root: Path | str = REPO_ROOT) -> int:
    """The bytes a call carries from `root` besides `carry`: tracked files and untracked ones git does not ignore."""
    try:
        listed = subprocess.run(["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"], cwd=root,
                                capture_output=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise FerError(f"{root} is not a git checkout ({exc}); a lease carries a checkout's files") from None
    paths = {Path(root) / name for name in listed.decode().split("\0") if name}
    return sum(p.stat().st_size for p in paths if p.is_file() and not p.is_symlink())


def plan_calls(tree: int, files: list[tuple[str, int]], command: str, budget: int = BUDGET) -> LeasePlan:
    """Calls that carry `files` (path, bytes) in order, each beside the `tree`, under `budget` and the tool's
    limit on paths; the last call runs `command`, the others only list what arrived."""
    room = budget - tree
    if room <= 0:
        raise FerError(f"the tracked tree alone is {tree / MiB:.1f} MiB, over the lease budget of {budget / MiB:.0f} "
                       "MiB a call: commit fewer or smaller files")
    too_big = [f"{name} ({size / MiB:.1f} MiB)" for name, size in files if size > room]
    if too_big:
        raise FerError(f"{', '.join(too_big)} cannot travel beside the {tree / MiB:.1f} MiB tree under "
                       f"{budget / MiB:.0f} MiB a call: cut it into parts of at most {room / MiB:.1f} MiB")
    groups: list[list[tuple[str, int]]] = [[]]
    for name, size in files:
        if sum(s for _, s in groups[-1]) + size > room or len(groups[-1]) == MAX_CARRY_PATHS:
            groups.append([])
        groups[-1].append((name, size))
    calls = [Call(tuple(n for n, _ in g), sum(s for _, s in g), f"ls -l {LEASE_DIR}") for g in groups]
    calls[-1] = Call(calls[-1].carry, calls[-1].carried_bytes, command)
    return LeasePlan(tree, budget, tuple(calls))


def _ignore_lease_dir(root: Path) -> None:
    """Carried paths must be ignored by git (the tool carries only those); the lease folder is, locally."""
    exclude = root / ".git" / "info" / "exclude"
    if exclude.parent.is_dir() and f"/{LEASE_DIR}/" not in exclude.read_text(errors="replace").split():
        with exclude.open("a") as f:
            f.write(f"\n/{LEASE_DIR}/\n")


def pack_data(data_root: Path, datasets: tuple[str, ...], archive: Path, preset: int = 9 | lzma.PRESET_EXTREME) -> None:
    """`datasets` (folders of `data_root`) as one xz tar, by default at the strongest preset (FER2013's JPEGs share
    headers); a faster, weaker `preset` bounds the strongest one's size from above."""
    missing = [name for name in datasets if not (data_root / name).is_dir()]
    if missing:
        raise FerError(f"no {', '.join(missing)} folder in {data_root}: set --data-dir (or FER_DATA_DIR) to the "
                       "data folder")
    with atomic_path(archive) as tmp, lzma.open(tmp, "wb", preset=preset) as xz, \
            tarfile.open(fileobj=xz, mode="w|") as tar:
        for name in datasets:
            tar.add(str(data_root / name), arcname=name)


def cut(path: Path, part_bytes: int) -> list[Path]:
    """`path` cut into `path.part000`, ... of at most `part_bytes` each; `path` itself is removed."""
    data = path.read_bytes()
    parts = []
    for i, start in enumerate(range(0, len(data), part_bytes)):
        part = path.with_name(f"{path.name}.part{i:03d}")
        part.write_bytes(data[start:start + part_bytes])
        parts.append(part)
    path.unlink()
    return parts


def pack_lease(*, root: Path | str = REPO_ROOT, data_root: Path | str | None = None,
               datasets: tuple[str, ...] = ("fer2013",), wheels: Path | str | None = None,
               command: str | None = None, budget: int = BUDGET) -> LeasePlan:
    """Pack `datasets` and the `wheels` folder into `<root>/.device/` as parts that fit beside the tree, and write
    the lease's calls to `.device/lease.json` (see the module). Nothing is written when a check fails."""
    root = Path(root)
    data_root = Path(data_root) if data_root is not None else default_data_dir()
    wheel_files = sorted(Path(wheels).glob("*.whl")) if wheels is not None else []
    if wheels is not None and not wheel_files:
        raise FerError(f"no .whl file in {wheels}: ../shared/tools/pack-for-gpu downloads Keras and the packages the "
                       "GPU image lacks into .device/wheels; name a folder holding them")
    _ignore_lease_dir(root)
    tree = tree_bytes(root)
    room = budget - tree
    if room <= 0:
        raise FerError(f"the tracked tree alone is {tree / MiB:.1f} MiB, over the lease budget of {budget / MiB:.0f} "
                       "MiB a call: commit fewer or smaller files")
    out = root / LEASE_DIR
    out.mkdir(exist_ok=True)
    for old in out.glob(f"{ARCHIVE}*"):
        old.unlink()
    staged_wheels = out / WHEELS
    if wheel_files and staged_wheels.resolve() != Path(wheels).resolve():
        staged_wheels.mkdir(exist_ok=True)
        for wheel in wheel_files:
            (staged_wheels / wheel.name).write_bytes(wheel.read_bytes())
    archive = out / ARCHIVE
    pack_data(data_root, datasets, archive)
    digest = hashlib.sha256(archive.read_bytes()).hexdigest()
    parts = cut(archive, room)
    files = [(str(p.relative_to(root)), p.stat().st_size) for p in parts]
    if wheel_files:
        files.append((f"{LEASE_DIR}/{WHEELS}", sum(w.stat().st_size for w in wheel_files)))
    plan = plan_calls(tree, files, command or final_command(), budget)
    write_json(out / "lease.json", {"datasets": list(datasets), "archive_sha256": digest, **asdict(plan),
                                    "payloads": plan.payloads()})
    return plan


def read_plan(root: Path | str = REPO_ROOT) -> LeasePlan:
    """The plan `pack_lease` wrote last."""
    path = Path(root) / LEASE_DIR / "lease.json"
    if not path.exists():
        raise FerError(f"no lease packed at {path.parent}: run `fer-lib lease` first")
    saved = json.loads(path.read_text())
    return LeasePlan(saved["tree_bytes"], saved["budget"], tuple(Call(tuple(c["carry"]), c["carried_bytes"], c["command"])
                                                                 for c in saved["calls"]))
