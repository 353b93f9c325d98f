"""A GPU lease that carries the suite: one call of the device tool with the code, the reports of the profile it
trains, the data and the wheels.

A call carries the checkout's tracked files and the untracked ones git does not ignore, plus the ignored paths it
names in `carry`: 64 MiB in all (`CALL_LIMIT`). The tracked tree is about 44 MiB, most of it the cpu profile's
committed results and the shipped model, and FER2013 packs to about 41 MiB with xz. Parts sent over several calls
do not add up: on an H200 lease (2026-12-04) a call carrying `.device/data.tar.xz.part001` found no `part000` from
the call before, although the machine had stayed warm. So a lease is one call that leaves out what its runs do not
read:

1. `stage_travel` takes the committed paths a campaign of the profile never reads (`left_out`: the other
   profiles' reports, the benchmarks, the shipped model) out of git's index and ignores them in
   `.git/info/exclude` between markers. The files, HEAD and its commit stay as they are; the tree must be clean,
   since the runs record HEAD's commit (`FER_GIT_COMMIT` in the command) and that commit's code is what travels;
2. `pack_lease` stages, packs the data (one xz tar) and the wheels into `.device/`, writes the call (carry, bytes,
   command) to `.device/lease.json`, and refuses, restoring the index, when the call would exceed `BUDGET`;
3. after the call, `restore_travel` puts the index and the exclude file back (`git reset -- paths`).

`fer-lib lease` does 1 and 2 and prints the call; `fer-lib lease --restore` does 3. A test checks that this
checkout's call fits the budget.
"""
from __future__ import annotations

import json
import lzma
import subprocess
import tarfile
from dataclasses import asdict, dataclass
from pathlib import Path

from ..config import REPO_ROOT, data_dir as default_data_dir
from ..errors import FerError
from ..files import atomic_path, write_json
from .candidate_runs import FOLDER as CANDIDATES_FOLDER, MODEL_FILE as CANDIDATE_MODEL

MiB = 2**20
CALL_LIMIT = 64 * MiB  # the device tool's limit on one call's tree plus carried paths
# ours: the code, the profile's reports, the data and the wheels within BUDGET, leaving room under the tool's limit
# for the checkpoints budget-stopped runs keep in their reports (5-11 MiB each), which may take it up to HARD_LIMIT
BUDGET = 56 * MiB
HARD_LIMIT = CALL_LIMIT - MiB
LEASE_DIR = ".device"
ARCHIVE = "data.tar.xz"
WHEELS = "wheels"
STAGED = "staged.json"
MARK_BEGIN, MARK_END = "# fer-lib lease: left out of the device call (fer-lib lease --restore)", "# end fer-lib lease"
# committed paths no training run reads: results, figures and benchmarks of the profiles not trained, the model the
# recognizer ships
SHIPPED_MODELS = "fer_lib/recognizer/models"

UNPACK = ("python3 -c \"import tarfile; tarfile.open('.device/data.tar.xz').extractall('/tmp/data')\"")
INSTALL = "python3 -m pip install -q --no-index --no-deps --target /tmp/site .device/wheels/*.whl"
ENVIRONMENT = ("export PYTHONPATH=/tmp/site:$PWD KERAS_BACKEND=jax FER_DATA_DIR=/tmp/data FER_CACHE_DIR=/tmp/cache "
               "PYTHONUNBUFFERED=1 FER_PROGRESS=0")


def call_command(commit: str, minutes: float = 7, jobs: int = 4, profile: str = "paper", precision: str = "float32",
                 campaign_args: str = "") -> str:
    """The call's command: unpack, install, run the campaign until `minutes` from its start, pack to $OUT.
    `precision` float32 by default: the collapse study found mixed bfloat16 failing to train at some seeds."""
    return (f"set -e; {UNPACK}; {INSTALL}; {ENVIRONMENT} FER_PRECISION={precision} FER_GIT_COMMIT={commit}; "
            f"python3 -m fer_lib campaign --profile {profile} --minutes {minutes:g} --jobs {jobs} "
            f"{campaign_args + ' ' if campaign_args else ''}--pack-to $OUT 2>&1 | tee $OUT/campaign.log")


@dataclass(frozen=True)
class Call:
    """The device call of one lease: the tree it carries, the ignored paths it names in `carry`, its command."""

    tree_bytes: int
    carry: tuple[str, ...]
    carried_bytes: int
    command: str
    left_out: tuple[str, ...]

    @property
    def payload(self) -> int:
        return self.tree_bytes + self.carried_bytes

    def describe(self) -> str:
        return (f"one call carrying {self.payload / MiB:.1f} MiB (the tree without {', '.join(self.left_out)}: "
                f"{self.tree_bytes / MiB:.1f} MiB; carry {list(self.carry)}: {self.carried_bytes / MiB:.1f} MiB)\n"
                f"command: {self.command}\nafterwards: fer-lib lease --restore")


def _git(root: Path, *args: str) -> str:
    try:
        return subprocess.run(["git", *args], cwd=root, capture_output=True, check=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError) as exc:
        raise FerError(f"{root} is not a git checkout, or git failed ({exc}); a lease carries a checkout") from None


def _listed(root: Path, *args: str) -> list[str]:
    return [name for name in _git(root, "ls-files", "-z", *args).split("\0") if name]


def tree_bytes(root: Path | str = REPO_ROOT) -> int:
    """The bytes a call carries from `root` besides `carry`: tracked files and untracked ones git does not ignore."""
    paths = {Path(root) / name for name in _listed(Path(root), "--cached", "--others", "--exclude-standard")}
    return sum(p.stat().st_size for p in paths if p.is_file() and not p.is_symlink())


def left_out(root: Path | str, profile: str, reports: tuple[str, ...] | None = None) -> list[str]:
    """The committed paths a campaign of `profile` does not read, each as high in the tree as it can be: every part
    of reports/ but the report folders it reads (`reports`, default the profile's own folder; a campaign of
    candidates alone reads only theirs) and the log of test-split looks, and the shipped models. So are the finished
    candidates' committed model files (11 MB each): a campaign trains only unfinished candidates, whose model files
    come back with the pack."""
    kept = set(reports or (f"reports/{profile}",)) | {"reports/test_looks.csv"}
    tops = set()
    model_files = (CANDIDATE_MODEL, Path(CANDIDATE_MODEL).with_suffix(".json").name)
    for name in _listed(Path(root), "--cached"):
        if name.startswith(SHIPPED_MODELS + "/"):
            tops.add(SHIPPED_MODELS)
            continue
        parts = name.split("/")
        if len(parts) == 5 and parts[0] == "reports" and parts[2] == CANDIDATES_FOLDER and parts[4] in model_files:
            tops.add(name)
            continue
        if parts[0] != "reports":
            continue
        for depth in range(2, len(parts) + 1):
            prefix = "/".join(parts[:depth])
            if prefix in kept:
                break
            if not any(path.startswith(prefix + "/") for path in kept):  # holds nothing kept: leaves as one
                tops.add(prefix)
                break
    return sorted(tops)


def travel_bytes(root: Path | str, profile: str, reports: tuple[str, ...] | None = None) -> int:
    """What the call's tree will be once `left_out` is staged (without staging it)."""
    root = Path(root)
    out = left_out(root, profile, reports)
    dropped = {root / n for n in _listed(root, "--cached", "--", *out)} if out else set()
    return tree_bytes(root) - sum(p.stat().st_size for p in dropped if p.is_file() and not p.is_symlink())


def kept_checkpoint_bytes(root: Path | str, profile: str) -> int:
    """The bytes of the checkpoints that budget-stopped runs of `profile` keep in their reports (they travel, so
    the campaign continues them)."""
    return sum(p.stat().st_size for p in (Path(root) / "reports" / profile).glob("**/checkpoint_*/*") if p.is_file())


def _exclude_file(root: Path) -> Path:
    path = root / ".git" / "info" / "exclude"
    path.parent.mkdir(parents=True, exist_ok=True)
    return path


def _ignore_lease_dir(root: Path) -> None:
    """Carried paths must be ignored by git (the tool carries only those); the lease folder is, locally."""
    exclude = _exclude_file(root)
    text = exclude.read_text(errors="replace") if exclude.exists() else ""
    if f"/{LEASE_DIR}/" not in text.split():
        exclude.write_text(text + f"\n/{LEASE_DIR}/\n")


def stage_travel(root: Path | str, profile: str, reports: tuple[str, ...] | None = None) -> list[str]:
    """Take `left_out(root, profile, reports)` out of git's index and ignore them locally (see the module); returns
    them."""
    root = Path(root)
    if (root / LEASE_DIR / STAGED).exists():
        raise FerError(f"a lease is already staged in {root} ({LEASE_DIR}/{STAGED}): run `fer-lib lease --restore` first")
    if _git(root, "status", "--porcelain", "--untracked-files=no").strip():
        raise FerError(f"{root} has uncommitted changes: commit them first, so the runs record the code that travels")
    out = left_out(root, profile, reports)
    if not out:
        return out
    _ignore_lease_dir(root)
    (root / LEASE_DIR).mkdir(exist_ok=True)
    write_json(root / LEASE_DIR / STAGED, {"left_out": out})
    _git(root, "rm", "-r", "-q", "--cached", "--", *out)
    exclude = _exclude_file(root)
    exclude.write_text(exclude.read_text() + "\n".join([MARK_BEGIN, *(f"/{p}/" if (root / p).is_dir() else f"/{p}"
                                                                       for p in out), MARK_END]) + "\n")
    return out


def restore_travel(root: Path | str = REPO_ROOT) -> list[str]:
    """Undo `stage_travel`: the index entries back from HEAD, the exclude file's lease block removed."""
    root = Path(root)
    staged = root / LEASE_DIR / STAGED
    if not staged.exists():
        return []
    out = json.loads(staged.read_text())["left_out"]
    _git(root, "reset", "-q", "--", *out)
    exclude = _exclude_file(root)
    lines, keep, inside = exclude.read_text().splitlines(), [], False
    for line in lines:
        if line == MARK_BEGIN:
            inside = True
        elif line == MARK_END:
            inside = False
        elif not inside:
            keep.append(line)
    exclude.write_text("\n".join(keep) + "\n")
    staged.unlink()
    return out


def _check_datasets(data_root: Path, datasets: tuple[str, ...]) -> None:
    missing = [name for name in datasets if not (data_root / name).is_dir()]
    if missing:
        raise FerError(f"no {', '.join(missing)} folder in {data_root}: set --data-dir (or FER_DATA_DIR) to the "
                       "data folder")


def pack_data(data_root: Path, datasets: tuple[str, ...], archive: Path, preset: int = 9 | lzma.PRESET_EXTREME) -> None:
    """`datasets` (folders of `data_root`) as one xz tar, by default at the strongest preset (FER2013's JPEGs share
    headers); a faster, weaker `preset` bounds the strongest one's size from above."""
    _check_datasets(data_root, datasets)
    with atomic_path(archive) as tmp, lzma.open(tmp, "wb", preset=preset) as xz, \
            tarfile.open(fileobj=xz, mode="w|") as tar:
        for name in datasets:
            tar.add(str(data_root / name), arcname=name)


def pack_lease(*, root: Path | str = REPO_ROOT, profile: str = "paper", data_root: Path | str | None = None,
               datasets: tuple[str, ...] = ("fer2013",), wheels: Path | str | None = None,
               command: str | None = None, budget: int = HARD_LIMIT, reports: tuple[str, ...] | None = None,
               **command_options) -> Call:
    """Stage the travel set, pack `datasets` and the `wheels` folder into `<root>/.device/`, and write the call to
    `.device/lease.json` (see the module); refused over `budget`, by default the tool's limit less 1 MiB (the
    suite's test keeps all but the kept checkpoints within `BUDGET`). On any failure the index is restored and no
    archive is left."""
    root = Path(root)
    data_root = Path(data_root) if data_root is not None else default_data_dir()
    wheel_files = sorted(Path(wheels).glob("*.whl")) if wheels is not None else []
    if wheels is not None and not wheel_files:
        raise FerError(f"no .whl file in {wheels}: ../shared/tools/pack-for-gpu downloads Keras and the packages the "
                       "GPU image lacks into .device/wheels; name a folder holding them")
    _check_datasets(data_root, datasets)  # before anything is staged
    out_dir = root / LEASE_DIR
    _ignore_lease_dir(root)
    out_dir.mkdir(exist_ok=True)
    staged = stage_travel(root, profile, reports)
    try:
        archive = out_dir / ARCHIVE
        pack_data(data_root, datasets, archive)
        staged_wheels = out_dir / WHEELS
        if wheel_files and staged_wheels.resolve() != Path(wheels).resolve():
            staged_wheels.mkdir(exist_ok=True)
            for wheel in wheel_files:
                (staged_wheels / wheel.name).write_bytes(wheel.read_bytes())
        carry = (f"{LEASE_DIR}/{ARCHIVE}",) + ((f"{LEASE_DIR}/{WHEELS}",) if wheel_files else ())
        carried = archive.stat().st_size + sum(w.stat().st_size for w in wheel_files)
        commit = _git(root, "rev-parse", "HEAD").strip()
        call = Call(tree_bytes(root), carry, carried, command or call_command(commit, profile=profile, **command_options),
                    tuple(staged))
        if call.payload > budget:
            archive.unlink()
            raise FerError(f"the call would carry {call.payload / MiB:.1f} MiB, over the lease budget of "
                           f"{budget / MiB:.0f} MiB (tree {call.tree_bytes / MiB:.1f}, data and wheels "
                           f"{carried / MiB:.1f}): pack fewer datasets, or commit fewer or smaller files")
    except BaseException:
        restore_travel(root)
        raise
    write_json(out_dir / "lease.json", {"datasets": list(datasets), **asdict(call), "payload": call.payload})
    return call
