"""The results index (`reports/index.html` and `index.md`) and the compute table, from the saved runs.

Layout of a report: `reports/<profile>/<paper>/<experiment>/` holds `experiment.json` (the typed
`ExperimentRecord`), `metrics.json`, `claims.csv` and `claims.md`, `learning_curves.png`,
`confusion_matrix.png`, and per seed `predictions_seed<k>.npz` and `history_seed<k>.csv`; the
executed notebook is `reports/<profile>/<paper>/notebook.html`. The index lists every cpu and paper
experiment; smoke runs index themselves under `reports/smoke/`.
"""
from __future__ import annotations

import html
import json
import os
from pathlib import Path

import pandas as pd

from ..evaluate.record import ExperimentRecord
from ..files import visible, write_text
from .pages import pct
from .tables import markdown_table


INDEX_COLUMNS = ["paper", "experiment", "dataset", "protocol", "profile", "claim", "measured (95% CI)",
                 "seeds mean ± sd", "n test", "epochs run/planned", "stopped", "train time (all seeds)", "verdict"]


def index_rows(reports_root: Path | str, profiles: tuple[str, ...]) -> list[dict]:
    """One row per experiment found under `reports_root/<profile>/<paper>/<experiment>/`."""
    rows = []
    for profile in profiles:
        for path in visible(Path(reports_root, profile), "*/*/experiment.json"):
            e = ExperimentRecord.read(path)
            head = e.headline_claim or {}
            s = e.seed_summary
            epochs = e.epochs
            rows.append({
                "paper": e.paper, "experiment": e.label,
                "dataset": e.dataset + (f" (PARTIAL: {e.n_images} images)" if e.partial_data else ""),
                "protocol": e.protocol_description, "profile": e.profile,
                "claim": head.get("claimed", ""),
                "measured (95% CI)": f"{pct(e.accuracy)} [{pct(e.accuracy_ci[0])}, {pct(e.accuracy_ci[1])}]",
                "seeds mean ± sd": f"{pct(s['mean'])} ± {100 * s['std']:.1f} (n={s['n_seeds']})" if s["n_seeds"] > 1 else "1 seed",
                "n test": e.split_sizes["test"],
                "epochs run/planned": " / ".join(f"{r}/{epochs.planned}" for r in epochs.run_per_seed),
                "stopped": "; ".join(sorted(set(epochs.stop_reasons))),
                "train time (all seeds)": f"{e.train_seconds_total / 60:.1f} min",
                "verdict": head.get("verdict", ""),
                "_link": str(path.parent.relative_to(reports_root)),
            })
    return rows


def _training_compute(folder: Path) -> tuple[float, float | None]:
    """(training seconds, budget seconds) summed over every run saved under a notebook's folder.

    The budget is None when a run had none, or when the notebook trains nothing (the data audit)."""
    train, budget, capped, runs = 0.0, 0.0, True, 0
    for path in visible(folder, "*/experiment.json"):
        e = ExperimentRecord.read(path)
        train += e.train_seconds_total
        per_run = e.train_config.get("budget_seconds")
        capped &= per_run is not None
        budget += (per_run or 0.0) * len(e.epochs.run_per_seed)
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
    for name in sorted(set(log) | {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")} if root.exists() else set(log)):
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
          "Every claim beside what this suite measured. Generated by `fer_lib.reporting.index.build_index` from "
          "the saved runs; do not edit by hand. Accuracy is on the experiment's test split; the 95% CI is "
          "Wilson's; 'seeds mean ± sd' is across training seeds.", ""]
    if rows:
        df = pd.DataFrame([{**{k: r[k] for k in INDEX_COLUMNS}, "experiment": f"[{r['experiment']}]({link(r)}/claims.md)"}
                           for r in rows])
        md.append(markdown_table(df))
    else:
        md.append(f"No experiments of profiles {', '.join(profiles)} yet: run `make reproduce-all`.\n")
    audits = [(path.parent, json.loads(path.read_text())) for profile in profiles
              for path in visible(Path(reports_root, profile, "data_audit"), "*/summary.json")]
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
    write_text(out_dir / "index.md", "\n".join(md) + "\n")

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
    write_text(out_dir / "index.html", page)
    return out_dir / "index.html"
