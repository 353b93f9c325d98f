"""Report writing: experiment folders, figures, claims tables, run metadata and the index.

Layout: `reports/<profile>/<paper>/<experiment>/` holds `experiment.json` (what ran: profile,
data, split sizes, epochs run and planned, hyperparameters, wall time, environment),
`metrics.json`, `claims.csv` and `claims.md`, `learning_curves.png`, `confusion_matrix.png`,
and per seed `predictions_seed<k>.npz` and `history_seed<k>.csv`; the executed notebook is
`reports/<profile>/<paper>/notebook.html`. `reports/index.html` and `reports/index.md` list every
cpu and paper experiment; smoke runs index themselves under `reports/smoke/`.

An experiment folder is built beside its final place and swapped in whole, so a failed run never
leaves a half-written report over a good one.
"""
from __future__ import annotations

import html
import json
import os
import platform
import shutil
import subprocess
import uuid
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Iterator

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from .config import REPO_ROOT  # noqa: E402

PACKAGES = ("tensorflow", "keras", "numpy", "opencv-python-headless", "opencv-python", "scikit-learn",
            "scipy", "pandas", "seaborn", "matplotlib", "papermill")


# ---------------------------------------------------------------------------------------------
# Atomic writes


def write_text_atomic(path: Path | str, text: str) -> None:
    """Write `text` to `path` through a temporary file and a rename."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".tmp-{path.name}-{uuid.uuid4().hex[:8]}")
    tmp.write_text(text)
    os.replace(tmp, path)


def write_json(path: Path | str, data: object) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, default=_json_default) + "\n")


def _json_default(o: object) -> object:
    if isinstance(o, np.bool_):
        return bool(o)
    if isinstance(o, np.integer):
        return int(o)
    if isinstance(o, (np.floating,)):
        return float(o)
    if isinstance(o, np.ndarray):
        return o.tolist()
    if isinstance(o, Path):
        return str(o)
    raise TypeError(f"cannot write {type(o).__name__} to JSON")


@contextmanager
def atomic_folder(final: Path | str) -> Iterator[Path]:
    """Yield a fresh temporary folder; on success it replaces `final` whole, on error it is removed."""
    final = Path(final)
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp = final.parent / f".tmp-{final.name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        yield tmp
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    old = final.parent / f".tmp-old-{final.name}-{uuid.uuid4().hex[:8]}"
    if final.exists():
        os.replace(final, old)
    os.replace(tmp, final)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------------------------
# Run metadata


def git_commit() -> str:
    """The repository's commit (with '+dirty' when tracked code has changes), or 'unknown'.

    Generated reports are left out of the check: a run rewriting reports/ is not a code change.
    """
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO_ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ".", ":!reports"],
                               cwd=REPO_ROOT, capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (commit + ("+dirty" if dirty else "")) if commit else "unknown"


def environment() -> dict:
    """Package versions, git commit, Python, CPU and GPU of this run."""
    import tensorflow as tf

    versions = {}
    for package in PACKAGES:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            pass
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {
        "git_commit": git_commit(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": cpu,
        "cpu_count": os.cpu_count(),
        "gpus": [d.name for d in tf.config.list_physical_devices("GPU")],
        "packages": versions,
    }


# ---------------------------------------------------------------------------------------------
# Figures


def show_face(ax, image: np.ndarray, title: str = "", fontsize: int = 8) -> None:
    """A grayscale 0-255 image on `ax`, without ticks."""
    ax.imshow(image, cmap="gray", vmin=0, vmax=255)
    ax.set_title(title, fontsize=fontsize)
    ax.set_xticks([])
    ax.set_yticks([])


def save_figure(fig, path: Path | str, title: str = "", title_size: float | None = None) -> None:
    """Title, lay out, write as PNG and close a figure."""
    fig.suptitle(title, fontsize=title_size)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def plot_learning_curves(histories: dict[int, pd.DataFrame], path: Path | str, title: str = "") -> None:
    """Accuracy and loss per epoch, train and validation, one line per seed."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4))
    for seed, h in histories.items():
        if h.empty:
            continue
        for ax, metric in zip(axes, ("accuracy", "loss")):
            line, = ax.plot(h["epoch"], h[metric], label=f"train (seed {seed})")
            if f"val_{metric}" in h:
                ax.plot(h["epoch"], h[f"val_{metric}"], "--", color=line.get_color(), label=f"validation (seed {seed})")
    for ax, metric in zip(axes, ("accuracy", "loss")):
        ax.set_xlabel("epoch")
        ax.set_ylabel(metric)
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    save_figure(fig, path, title)


def plot_confusion(metrics: dict, path: Path | str, title: str = "") -> None:
    """Seaborn heatmaps of the confusion matrix: counts and row-normalised."""
    names = metrics["class_names"]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5))
    sns.heatmap(np.array(metrics["confusion_matrix"]), annot=True, fmt="d", cmap="Blues",
                xticklabels=names, yticklabels=names, ax=axes[0], cbar=False)
    sns.heatmap(np.array(metrics["confusion_matrix_normalized"]), annot=True, fmt=".2f", cmap="Blues",
                vmin=0, vmax=1, xticklabels=names, yticklabels=names, ax=axes[1], cbar=False)
    for ax, sub in zip(axes, ("counts", "row-normalised (diagonal = recall)")):
        ax.set_xlabel("predicted")
        ax.set_ylabel("true")
        ax.set_title(sub)
    save_figure(fig, path, title)


# ---------------------------------------------------------------------------------------------
# Tables


def markdown_table(df: pd.DataFrame) -> str:
    """A GitHub-flavoured Markdown table of `df` (no index)."""
    def cell(v: object) -> str:
        if v is None or (isinstance(v, float) and np.isnan(v)):
            return ""
        return str(v).replace("|", "\\|")
    lines = ["| " + " | ".join(map(str, df.columns)) + " |", "|" + "---|" * len(df.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in df.itertuples(index=False)]
    return "\n".join(lines) + "\n"


def write_claims_table(rows: list[dict], folder: Path) -> pd.DataFrame:
    """claims.csv and claims.md in `folder`; returns the table."""
    df = pd.DataFrame(rows)
    df.to_csv(folder / "claims.csv", index=False)
    (folder / "claims.md").write_text(markdown_table(df))
    return df


# ---------------------------------------------------------------------------------------------
# Index

INDEX_COLUMNS = ["paper", "experiment", "dataset", "protocol", "profile", "claim", "measured (95% CI)",
                 "seeds mean ± sd", "n test", "epochs run/planned", "stopped", "train time (all seeds)", "verdict"]


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def index_rows(reports_root: Path | str, profiles: tuple[str, ...]) -> list[dict]:
    """One row per experiment found under `reports_root/<profile>/<paper>/<experiment>/`."""
    rows = []
    for profile in profiles:
        for path in sorted(Path(reports_root, profile).glob("*/*/experiment.json")):
            e = json.loads(path.read_text())
            head = e.get("headline_claim") or {}
            s = e["seed_summary"]
            epochs = e["epochs"]
            rows.append({
                "paper": e["paper"], "experiment": e["label"], "dataset": e["dataset"],
                "protocol": e["protocol_description"], "profile": e["profile"],
                "claim": head.get("claimed", ""),
                "measured (95% CI)": f"{_pct(e['accuracy'])} [{_pct(e['accuracy_ci'][0])}, {_pct(e['accuracy_ci'][1])}]",
                "seeds mean ± sd": f"{_pct(s['mean'])} ± {100 * s['std']:.1f} (n={s['n_seeds']})" if s["n_seeds"] > 1 else "1 seed",
                "n test": e["split_sizes"]["test"],
                "epochs run/planned": " / ".join(f"{r}/{epochs['planned']}" for r in epochs["run_per_seed"]),
                "stopped": "; ".join(sorted(set(epochs["stop_reasons"]))),
                "train time (all seeds)": f"{e.get('train_seconds_total', e['wall_seconds']) / 60:.1f} min",
                "verdict": head.get("verdict", ""),
                "_link": str(path.parent.relative_to(reports_root)),
            })
    return rows


def _training_compute(folder: Path) -> tuple[float, float | None]:
    """(training seconds, budget seconds) summed over every run saved under a notebook's folder.

    The budget is None when a run had none, or when the notebook trains nothing (the data audit)."""
    train, budget, capped, runs = 0.0, 0.0, True, 0
    for path in folder.glob("*/experiment.json"):
        e = json.loads(path.read_text())
        train += e.get("train_seconds_total", 0.0)
        per_run = e["train_config"].get("budget_seconds")
        capped &= per_run is not None
        budget += (per_run or 0.0) * len(e["epochs"]["run_per_seed"])
        runs += 1
    results = folder / "results.json"
    if results.exists():
        for row in json.loads(results.read_text()).get("rows", []):
            if "train_seconds" in row:  # rows that trained a model of their own
                train += row["train_seconds"]
                capped &= row.get("budget_seconds") is not None
                budget += row.get("budget_seconds") or 0.0
                runs += 1
    return train, (budget if capped and runs else None)


def compute_table(reports_root: Path | str, profile: str) -> pd.DataFrame:
    """Per notebook: the wall time of its last execution (from `reproduce_log.json`), the training time
    its saved runs took across restarts, and the budget that capped it."""
    root = Path(reports_root, profile)
    log_path = root / "reproduce_log.json"
    log = json.loads(log_path.read_text()) if log_path.exists() else {}
    def row(name: str, wall: float | None, train: float, budget: float | None, **extra) -> dict:
        return {"notebook": name, "last execution, wall time": "not logged" if wall is None else f"{wall / 60:.1f} min",
                **extra, "training time in its runs": f"{train / 60:.1f} min",
                "training budget": ("none" if train else "-") if budget is None else f"{budget / 60:.0f} min",
                "within budget": "" if budget is None else ("yes" if train <= budget else "NO")}

    rows, totals = [], {"wall": 0.0, "train": 0.0, "budget": 0.0, "capped": True}
    for name in sorted(set(log) | {p.name for p in root.iterdir() if p.is_dir()} if root.exists() else set(log)):
        train, budget = _training_compute(root / name)
        entry = log.get(name, {})
        rows.append(row(name, entry.get("wall_seconds"), train, budget,
                        **{"executed (UTC)": entry.get("finished_utc", ""), "commit": entry.get("git_commit", "")}))
        totals["wall"] += entry.get("wall_seconds", 0.0)
        totals["train"] += train
        totals["budget"] += budget or 0.0
        totals["capped"] &= budget is not None or train == 0
    if len(rows) > 1:
        rows.append(row("all notebooks", totals["wall"], totals["train"], totals["budget"] if totals["capped"] else None,
                        **{"executed (UTC)": "", "commit": ""}))
    return pd.DataFrame(rows)


def build_index(reports_root: Path | str = "reports", profiles: tuple[str, ...] = ("cpu", "paper"),
                out_dir: Path | str | None = None) -> Path:
    """Write index.html and index.md listing every experiment of `profiles`; returns the HTML path."""
    reports_root = Path(reports_root)
    out_dir = Path(out_dir) if out_dir is not None else reports_root
    rows = index_rows(reports_root, profiles)
    rel = os.path.relpath(reports_root, out_dir)
    link = lambda r: f"{rel}/{r['_link']}".removeprefix("./")  # noqa: E731
    md = ["# Results index", "",
          "Every claim beside what this suite measured. Generated by `fer_lib.reports.build_index` from "
          "the saved runs; do not edit by hand. Accuracy is on the experiment's test split; the 95% CI is "
          "Wilson's; 'seeds mean ± sd' is across training seeds.", ""]
    if rows:
        df = pd.DataFrame([{**{k: r[k] for k in INDEX_COLUMNS}, "experiment": f"[{r['experiment']}]({link(r)}/claims.md)"}
                           for r in rows])
        md.append(markdown_table(df))
    else:
        md.append(f"No experiments of profiles {', '.join(profiles)} yet: run `make reproduce-all`.\n")
    audits = [(path.parent, json.loads(path.read_text())) for profile in profiles
              for path in sorted(Path(reports_root, profile, "data_audit").glob("*/summary.json"))]
    if audits:
        md += ["", "## Data audits", ""]
        md += [f"- [{a['dataset']} ({a['profile']})]({link({'_link': str(folder.relative_to(reports_root))})}/report.html): "
               f"{a['images']} images, {a.get('exact_duplicate', 0)} exact and {a.get('near_duplicate', 0)} near "
               f"duplicates flagged; every flagged id in flags.csv" for folder, a in audits]
    computes = [(profile, table) for profile in profiles for table in [compute_table(reports_root, profile)] if len(table)]
    for profile, table in computes:
        md += ["", f"## Compute ({profile} profile)", "",
               "What each notebook cost on the machine that ran it. A notebook whose runs were already in the "
               "checkpoint cache re-executes in minutes, so the training time of its saved runs (summed over seeds "
               "and restarts) is shown beside the wall time of its last execution.", "",
               markdown_table(table)]
    studies = [path for profile in profiles for path in [Path(reports_root, profile, "leakage_study", "results.md")] if path.exists()]
    for path in studies:
        md += ["", f"## Leakage study ({path.parent.parent.name} profile)", "",
               f"How protocol flaws inflate accuracy, one model and one budget: [results]({link({'_link': str(path.parent.relative_to(reports_root))})}/results.md), "
               f"[figure]({link({'_link': str(path.parent.relative_to(reports_root))})}/leakage.png), "
               f"[notebook]({link({'_link': str(path.parent.relative_to(reports_root))})}/notebook.html)", "", path.read_text()]
        signs = path.with_name("paper_signs.md")
        if signs.exists():
            md += ["", "Which of these flaws each paper's text shows signs of (quoted from the paper):", "", signs.read_text()]
    write_text_atomic(out_dir / "index.md", "\n".join(md) + "\n")

    cells = "".join(
        "<tr>" + "".join(
            f"<td><a href='{html.escape(link(r))}/report.html'>{html.escape(str(r[c]))}</a></td>" if c == "experiment"
            else f"<td>{html.escape(str(r[c]))}</td>" for c in INDEX_COLUMNS) + "</tr>\n"
        for r in rows)
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>FER reproduction suite: results</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:90%}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}th{{background:#eee}}</style></head><body>
<h1>Results index</h1>
<p>Every claim beside what this suite measured, generated from the saved runs. Accuracy is on each
experiment's test split with a Wilson 95% CI; "seeds mean ± sd" is across training seeds. A run stopped by
its wall-clock budget says so in the "stopped" column.</p>
<table><tr>{''.join(f'<th>{html.escape(c)}</th>' for c in INDEX_COLUMNS)}</tr>
{cells}</table>
{"".join(f"<h2>Leakage study ({html.escape(p.parent.parent.name)} profile)</h2>"
         f"<p><a href='{html.escape(link({'_link': str(p.parent.relative_to(reports_root))}))}/notebook.html'>notebook</a></p>"
         + pd.read_csv(p.with_name('results.csv')).to_html(index=False, na_rep='')
         + f"<img src='{html.escape(link({'_link': str(p.parent.relative_to(reports_root))}))}/leakage.png'>" for p in studies)}
{"".join(f"<h2>Compute ({html.escape(profile)} profile)</h2>" + table.to_html(index=False) for profile, table in computes)}
{"<h2>Data audits</h2><ul>" + "".join(
        f"<li><a href='{html.escape(link({'_link': str(folder.relative_to(reports_root))}))}/report.html'>"
        f"{html.escape(a['dataset'])} ({html.escape(a['profile'])})</a></li>" for folder, a in audits) + "</ul>" if audits else ""}
</body></html>
"""
    write_text_atomic(out_dir / "index.html", page)
    return out_dir / "index.html"


def experiment_page(folder: Path) -> None:
    """A small HTML page for one experiment folder: claims table, figures, metadata, notebook link."""
    e = json.loads((folder / "experiment.json").read_text())
    claims = pd.read_csv(folder / "claims.csv")
    meta = {k: e[k] for k in ("profile", "dataset", "protocol_description", "split_sizes", "epochs",
                              "train_config", "wall_seconds", "preprocessing", "environment") if k in e}
    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(e['label'])}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:90%}}
td,th{{border:1px solid #ccc;padding:3px 6px}}</style></head><body>
<h1>{html.escape(e['paper'])}: {html.escape(e['label'])}</h1>
<p>{html.escape(e.get('note', ''))}</p>
<p>Executed notebook: <a href="../notebook.html">notebook.html</a>. Metrics: <a href="metrics.json">metrics.json</a>.</p>
<h2>Claims beside what we measured</h2>{claims.to_html(index=False, na_rep='')}
<h2>Figures</h2><img src="learning_curves.png" width="900"><br><img src="confusion_matrix.png" width="1000">
<h2>Run metadata</h2><pre>{html.escape(json.dumps(meta, indent=2))}</pre></body></html>
"""
    write_text_atomic(folder / "report.html", page)


# ---------------------------------------------------------------------------------------------
# Notebook helpers


def plot_samples(dataset, preprocessed: np.ndarray, per_class: int = 1, title: str = ""):
    """A figure of one raw and one preprocessed image per class (top and bottom rows)."""
    n = dataset.num_classes
    fig, axes = plt.subplots(2, n, figsize=(1.6 * n, 3.6))
    for c, name in enumerate(dataset.class_names):
        index = np.flatnonzero(dataset.labels == c)[:per_class]
        for row, images in enumerate((dataset.images, preprocessed)):
            if len(index):
                show_face(axes[row, c], images[index[0]], name if row == 0 else "", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    plt.close(fig)
    return fig


def experiment_summary(e: dict) -> str:
    """A Markdown paragraph saying what one experiment measured, from its experiment.json."""
    lo, hi = e["accuracy_ci"]
    s = e["seed_summary"]
    ep = e["epochs"]
    head = e.get("headline_claim") or {}
    lines = [
        f"**{e['label']}** ({e['profile']} profile, lr {e['learning_rate']:g}): test accuracy "
        f"**{_pct(e['accuracy'])}** (95% CI {_pct(lo)}-{_pct(hi)}, n={e['split_sizes']['test']}, seed {e['seeds'][0]})",
    ]
    if s["n_seeds"] > 1:
        lines.append(f"across {s['n_seeds']} seeds: mean {_pct(s['mean'])}, sd {100 * s['std']:.1f} points")
    lines.append("epochs run / planned per seed: " + ", ".join(f"{r}/{ep['planned']}" for r in ep["run_per_seed"])
                 + f"; {'; '.join(sorted(set(ep['stop_reasons'])))}")
    if head:
        lines.append(f"paper's headline claim {head['claimed']} ({head['where']}): {head['verdict']}")
    if not e["trained"]:
        lines.append("this learning rate did not train; the run is reported as it is")
    return " — ".join(lines[:1]) + "\n\n" + "\n".join(f"- {line}" for line in lines[1:])


# ---------------------------------------------------------------------------------------------
# README blocks


def update_readme(readme: Path | str = REPO_ROOT / "README.md", reports_root: Path | str = REPO_ROOT / "reports") -> None:
    """Refresh the README's generated blocks (results table, benchmarks) from the saved reports.

    A block is the text between `<!-- BEGIN name -->` and `<!-- END name -->`; its content comes from
    `reports/index.md` (results) and `reports/benchmarks/{foundation,training}.md` (benchmarks).
    """
    readme, reports_root = Path(readme), Path(reports_root)
    text = readme.read_text()
    sources = {
        "results": reports_root / "index.md",
        "benchmarks": reports_root / "benchmarks" / "foundation.md",
        "training-benchmark": reports_root / "benchmarks" / "training.md",
    }
    for name, source in sources.items():
        begin, end = f"<!-- BEGIN {name} -->", f"<!-- END {name} -->"
        if begin not in text or end not in text:
            continue
        if source.exists():
            body = source.read_text()
            if name == "results":  # the index from its first table on, links relative to the README
                lines = body.splitlines()
                start = next((i for i, line in enumerate(lines) if line.startswith("|")), len(lines))
                body = "\n".join(line.replace("## ", "### ", 1) if line.startswith("## ") else line
                                 for line in lines[start:])
                body = body.replace("](", "](reports/")
        else:
            body = f"_Not measured yet: run `make {'reproduce-all' if name == 'results' else 'bench'}`._"
        head, rest = text.split(begin, 1)
        text = head + begin + "\n" + body.strip() + "\n" + end + rest.split(end, 1)[1]
    write_text_atomic(readme, text)
