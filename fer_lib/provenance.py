"""Provenance of a run: the git commit and the environment (packages, Python, CPU, backend, device)."""
from __future__ import annotations

import functools
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

from .config import REPO_ROOT

PACKAGES = ("keras", "tensorflow", "jax", "jaxlib", "torch", "numpy", "opencv-python-headless", "opencv-python",
            "scikit-learn", "scipy", "pandas", "seaborn", "matplotlib", "papermill")


def git_commit() -> str:
    """$FER_GIT_COMMIT where set, else the repository's commit (with '+dirty' when tracked code has
    changes), else 'unknown'.

    The repository is read once per process: a long `train` run executes the code it imported, so a
    commit made while it runs (its results committed between experiments) must not be recorded as
    the one it trained under. Generated reports are left out of the check: a run rewriting reports/
    is not a code change. A copy of the tree sent elsewhere (a GPU machine) may carry no `.git` or a
    stale one (the lent GPU's copy held the session's first commit while its files were a later one),
    so whoever sends the copy names its commit in FER_GIT_COMMIT, and that wins.
    """
    named = os.environ.get("FER_GIT_COMMIT", "").strip()
    return named or _repository_commit(Path(REPO_ROOT))


@functools.lru_cache(maxsize=None)
def _repository_commit(repo_root: Path) -> str:
    """The checkout's commit when this process first asked (see `git_commit`)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=repo_root, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!reports"],
                               cwd=repo_root, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit + ("+dirty" if dirty else "")) if commit else "unknown"


ALLOW_DIRTY_ENV = "FER_ALLOW_DIRTY"


def dirty_tree_allowed() -> bool:
    """Whether the user said a run may train on uncommitted code ($FER_ALLOW_DIRTY=1)."""
    return os.environ.get(ALLOW_DIRTY_ENV, "").strip().lower() in ("1", "true", "yes")


def check_committed(commit: str) -> None:
    """Refuse to train on uncommitted changes to tracked code (`commit` ends in '+dirty'), unless the user
    says so: a result must name the code it came from. The record then keeps the diff's hash."""
    if commit.endswith("+dirty") and not dirty_tree_allowed():
        from .errors import FerError

        raise FerError(f"the checkout has uncommitted changes to tracked code ({commit}); commit them first so the "
                       f"run records the code it trained under, or set {ALLOW_DIRTY_ENV}=1 to train anyway (its record "
                       "then keeps the diff's SHA-256)")


@functools.lru_cache(maxsize=None)
def diff_sha256(repo_root: Path = Path(REPO_ROOT)) -> str | None:
    """The SHA-256 of the uncommitted diff of tracked code (reports left out), read once per process like
    the commit; None where there is no repository or no diff."""
    import hashlib

    try:
        diff = subprocess.run(["git", "diff", "HEAD", "--", ".", ":!reports"], cwd=repo_root, capture_output=True,
                              timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return hashlib.sha256(diff).hexdigest() if diff else None


def trained_at_text(segments: list[dict]) -> str:
    """The commits a run's (or a study's) provenance segments name, each marked where it was uncommitted code:
    '+dirty' stays on the commit, and the line says what it means."""
    commits = sorted({seg.get("git_commit") or "not recorded" for seg in segments})
    dirty = [c for c in commits if c.endswith("+dirty")]
    return ", ".join(commits) + (f" ({', '.join(dirty)}: trained on uncommitted changes to that commit's code, "
                                 "so the exact code is not recoverable)" if dirty else "")


def training_environment() -> dict:
    """What a training run records once per segment: packages, Python, platform and CPU."""
    env = environment()
    return {key: env[key] for key in ("python", "platform", "cpu", "cpu_count", "gpus", "packages")}


def environment() -> dict:
    """Package versions, git commit, Python, CPU, and the Keras backend with the device it trains on."""
    from .train import backend

    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    return {
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": backend.cpu_model(),
        "cpu_count": os.cpu_count(),
        "gpus": backend.accelerators(),
        "packages": versions,
        **backend.versions(),
    }
