"""The package as a fresh clone gets it: every source file tracked, installable, one command."""
from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_every_source_file_of_the_package_is_tracked_by_git():
    """An ignore rule once swallowed fer_lib/data/: a fresh clone then lacked half the data package."""
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout")
    tracked = set(subprocess.run(["git", "ls-files", "fer_lib", "notebooks", "tests"], cwd=ROOT, capture_output=True,
                                 text=True, check=True).stdout.split())
    on_disk = {str(p.relative_to(ROOT)) for folder in ("fer_lib", "notebooks", "tests")
               for p in (ROOT / folder).rglob("*") if p.suffix in (".py", ".json", ".ipynb")
               and "__pycache__" not in p.parts and ".ipynb_checkpoints" not in p.parts}
    assert sorted(on_disk - tracked) == []


def test_the_fer_lib_command_is_installed_with_the_package():
    import importlib.metadata as md
    scripts = {ep.name: ep.value for ep in md.entry_points(group="console_scripts")}
    assert scripts.get("fer-lib") == "fer_lib.cli:main"


def test_make_test_hands_out_the_heaviest_test_files_first():
    """xdist reorders files by their number of tests unless told not to, which had started the notebooks 14th."""
    from conftest import HEAVIEST_FIRST

    assert all((ROOT / "tests" / name).is_file() for name in HEAVIEST_FIRST), "a renamed file: update HEAVIEST_FIRST"
    pytest_line = next(line for line in (ROOT / "Makefile").read_text().splitlines() if "-m pytest" in line)
    assert "--dist loadfile" in pytest_line and "--no-loadscope-reorder" in pytest_line
