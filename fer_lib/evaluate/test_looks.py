"""Every look at a test split, disclosed: a log of each time a run's test score was produced or committed.

A test split is scored once and never used to choose anything; what a reviewer still needs is the order in
which scores became visible, since a recipe added after another's test score was known may have been
added because of it. Two sources fill `reports/test_looks.csv`:

- `log_look`: written by the runner each time a run is scored on its test split (the date, the run, the
  commit(s) it trained under, the score and the selection rule in force). Runs refuse uncommitted code
  (`provenance.check_committed`), so the commit a run trained under holds its recipe and the rule that ships
  it, fixed before this first score; the row names that commit (`recipe_fixed_at`).
- `from_git_history`: the looks before the log existed, recovered from the repository: every commit that
  saved a report's `experiment.json` with a test accuracy it did not hold before. Superseded runs (a
  50-epoch reference run replaced by a 100-epoch one, an interim run replaced by its completion) appear
  here although their reports have since left the folders.

`recipes_tried_after_scores` counts, for a group of recipes (the reference model's FER2013 recipes), how
many were first scored after another recipe's test score was already visible.
"""
from __future__ import annotations

import csv
import io
import json
import subprocess
from datetime import datetime, timezone
from pathlib import Path

from ..files import write_text

LOG_FILE = "test_looks.csv"
COLUMNS = ("scored_at", "source", "paper", "experiment", "profile", "test_split", "accuracy", "epochs",
           "recipe_fixed_at", "selection_rule", "saved_in_commit")
SOURCE_LOGGED = "logged when scored"
SOURCE_GIT = "recovered from git history"
SOURCE_DEVICE = "logged when scored on a lent device, brought back with its runs"


def read_log(reports_root: Path | str) -> list[dict]:
    """The log's rows, oldest first ([] where there is none)."""
    path = Path(reports_root) / LOG_FILE
    if not path.exists():
        return []
    return list(csv.DictReader(io.StringIO(path.read_text())))


def write_log(reports_root: Path | str, rows: list[dict]) -> Path:
    """Write `rows` (sorted by time, then run) as the log, atomically."""
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: r["scored_at"]):  # stable: looks logged in one second keep their order
        writer.writerow({k: row.get(k, "") for k in COLUMNS})
    path = Path(reports_root) / LOG_FILE
    write_text(path, out.getvalue())
    return path


def look_row(record: dict, when: str, source: str, rule: str = "", saved_in: str = "") -> dict:
    """One log row from an experiment record (as its JSON dict)."""
    commits = sorted({seg.get("git_commit") for per in record.get("backends") or [] for seg in per
                      if seg.get("git_commit")})
    epochs = record.get("epochs") or {}
    return {"scored_at": when, "source": source, "paper": record["paper"],
            "experiment": record.get("label") or record["experiment"], "profile": record["profile"],
            "test_split": record.get("protocol_description", ""),
            "accuracy": f"{record['accuracy']:.4f}", "epochs": " / ".join(
                f"{r}/{epochs.get('planned')}" for r in epochs.get("run_per_seed", [])),
            "recipe_fixed_at": ", ".join(commits) or "not recorded", "selection_rule": rule, "saved_in_commit": saved_in}


def log_look(reports_root: Path | str, record: dict, rule: str = "") -> Path:
    """Append the look that just scored `record`'s runs on their test split."""
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
    return write_log(reports_root, [*read_log(reports_root), look_row(record, now, SOURCE_LOGGED, rule)])


def merge_looks(reports_root: Path | str, rows: list[dict], source: str = SOURCE_DEVICE) -> int:
    """Add the looks logged on another machine (a GPU lease's log, brought back with its runs) that this log
    lacks, marked with `source`; returns how many were added."""
    def key(row: dict) -> tuple:
        return tuple(row.get(k, "") for k in ("scored_at", "paper", "experiment", "profile", "accuracy", "epochs"))

    here = read_log(reports_root)
    known = {key(r) for r in here}
    new = [{**r, "source": source} for r in rows if key(r) not in known]
    if new:
        write_log(reports_root, here + new)
    return len(new)


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=True).stdout


def from_git_history(repo: Path | str, reports_dir_name: str = "reports") -> list[dict]:
    """The looks the repository's history shows: per commit that saved an `experiment.json` under
    `reports/<profile>/<paper>/<experiment>/`, a row where the saved test accuracy differs from that
    file's previous version (a re-render that leaves the score alone is not a new look)."""
    repo = Path(repo)
    pattern = f"{reports_dir_name}/*/*/*/experiment.json"
    log = _git(repo, "log", "--reverse", "--format=@%H %cI", "--name-only", "--", pattern)
    rows, last_score = [], {}
    commit = when = ""
    for line in log.splitlines():
        if line.startswith("@"):
            commit, when = line[1:].split(" ", 1)
            continue
        if not line.endswith("experiment.json"):
            continue
        try:
            record = json.loads(_git(repo, "show", f"{commit}:{line}"))
        except (subprocess.CalledProcessError, json.JSONDecodeError):
            continue  # deleted in this commit, or not a record
        score = record.get("accuracy")
        if score is None or score != score or last_score.get(line) == round(score, 6):
            continue
        last_score[line] = round(score, 6)
        when_utc = datetime.fromisoformat(when).astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows.append(look_row(record, when_utc, SOURCE_GIT, saved_in=commit[:7]))
    return rows


def rebuild(repo: Path | str, reports_root: Path | str) -> Path:
    """The log from the repository's history, with every row logged at scoring time kept."""
    logged = [r for r in read_log(reports_root) if r["source"] == SOURCE_LOGGED]
    return write_log(reports_root, [*from_git_history(repo), *logged])


def recipes_tried_after_scores(rows: list[dict], paper: str, profile: str, recipes: tuple[str, ...]) -> list[dict]:
    """For each of `recipes` (experiment names of `paper` under `profile`): when it was first scored, and
    which other recipes' test scores were visible by then. A recipe first scored after another's score was
    visible may have been added because of it."""
    first: dict[str, str] = {}  # in the log's order (by time; looks logged within one second keep theirs)
    for row in rows:
        name = row["experiment"].split(" (")[0]
        if row["paper"] == paper and row["profile"] == profile and name in recipes and name not in first:
            first[name] = row["scored_at"]
    names = list(first)
    return [{"recipe": name, "first scored": first[name], "test scores visible before": ", ".join(names[:i])}
            for i, name in enumerate(names)]
