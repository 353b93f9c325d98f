"""HTML and Markdown views of one experiment: its page (`report.html`) and the notebooks' summary paragraph."""
from __future__ import annotations

import html
import json
from pathlib import Path

import pandas as pd

from ..evaluate.record import ExperimentRecord
from ..files import write_text


def pct(x: float) -> str:
    """A fraction as a percentage with one decimal."""
    return f"{100 * x:.1f}%"


def pooled_count(scores: dict, unit: str = "seed") -> str:
    """How many predictions a pooled score rests on, in words: over several seeds the same test image
    counts once per seed, so "n=9147" alone would read as three times the images there are (folds
    test disjoint images, so there n counts images)."""
    n_runs = scores.get("n_seeds", 1)
    if n_runs <= 1:
        return f"n={scores['n']}"
    return f"n={scores['n']}, {n_runs} folds" if unit == "fold" else f"n={scores['n']} predictions, {n_runs} seeds pooled"


def extra_scores_markdown(record: ExperimentRecord) -> str:
    """The other test sets scored from the record's runs, a Markdown bullet each ("" where none)."""
    lines = []
    for name, v in (record.extra_scores or {}).items():
        lo, hi = v["accuracy_ci"]
        lines.append(f"- {name.replace('_', ' ')}: **{pct(v['accuracy'])}** [{pct(lo)}, {pct(hi)}], "
                     f"{pooled_count(v, record.unit)} ({v['description']})")
    return "\n".join(lines)


def not_run_yet(paper: str, name: str, profile: str) -> str:
    """What a notebook shows for a run or study with no saved report under `profile`, and the command that runs it."""
    return f"Not run yet under the {profile} profile: `fer-lib train {paper} {name} --profile {profile}` runs it."


def macro_average_line(per_class: pd.DataFrame) -> str:
    """The macro averages of a report's `per_class.csv`, in one sentence."""
    macro = per_class.set_index("class").loc["macro average"]
    return (f"Macro precision {macro['precision']:.3f}, recall {macro['recall TP/(TP+FN)']:.3f}, F1 {macro['F1']:.3f} "
            "(a class never predicted has no precision and is left out of its mean).")


def latency_line(latency: dict) -> str:
    """A record's single-face inference time (`latency.single_face_latency`), in one sentence."""
    return (f"One face at a time (batch 1) on {latency['cpu']} ({latency['backend']}): median "
            f"**{latency['median_ms']} ms**, 90th percentile {latency['p90_ms']} ms, "
            f"{latency['faces_per_second']} faces/s (load average {latency['load_average_1min']}).")


def report_page(path: Path, title: str, heading: str, body_html: str, meta: dict) -> None:
    """Write a small self-contained HTML page: `heading`, then `body_html`, then `meta` as JSON."""
    write_text(path, f"""<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:90%}}
td,th{{border:1px solid #ccc;padding:3px 6px}}</style></head><body>
<h1>{html.escape(heading)}</h1>
{body_html}
<h2>Run metadata</h2><pre>{html.escape(json.dumps(meta, indent=2, default=str))}</pre></body></html>
""")


def late_validation_text(late: dict, sentence: bool = False) -> str:
    """What a record's `late_validation` says: the swing the scored last epoch is one draw from (`sentence`:
    capitalised, with its full stop, for a page)."""
    text = (f"the last epoch is scored (validation is the test set), one draw from where training ended: over the last "
            f"{late['epochs']} epochs the same images scored {pct(late['min'])}-{pct(late['max'])} "
            f"(mean {pct(late['mean'])})")
    return f"{text[0].upper()}{text[1:]}." if sentence else text


def experiment_page(folder: Path) -> None:
    """A small HTML page for one experiment folder: claims table, figures, metadata, notebook link."""
    e = ExperimentRecord.read(folder).to_dict()
    claims = pd.read_csv(folder / "claims.csv")
    meta = {k: e[k] for k in ("profile", "dataset", "protocol_description", "split_sizes", "epochs",
                              "train_config", "wall_seconds", "inference_latency", "preprocessing", "environment",
                              "backends", "placement") if k in e}
    late = f"<p>{html.escape(late_validation_text(e['late_validation'], sentence=True))}</p>\n" if e.get("late_validation") else ""
    report_page(folder / "report.html", e["label"], f"{e['paper']}: {e['label']}", f"""<p>{html.escape(e.get('note', ''))}</p>
{late}<p>Executed notebook: <a href="../notebook.html">notebook.html</a>. Metrics: <a href="metrics.json">metrics.json</a>.</p>
{reading_html(e['paper'])}<h2>Claims beside what we measured</h2>{claims.to_html(index=False, na_rep='')}
{_extra_html(e, folder)}
<h2>Figures</h2><img src="learning_curves.png" width="900"><br><img src="confusion_matrix.png" width="1000">""", meta)


def reading_table(paper: str) -> pd.DataFrame | None:
    """The paper's reading table (what the paper says / what we built / why) from its claims file, for
    a paper known only from its abstract (None: the paper has none)."""
    from ..evaluate.claims import load_paper

    reading = load_paper(paper).get("reading")
    if not reading:
        return None
    return pd.DataFrame(reading).rename(columns={"paper_says": "what the paper says", "we_built": "what we built",
                                                 "why": "why"})


def reading_html(paper: str) -> str:
    """The reading table as an HTML section, or "" for a paper without one."""
    table = reading_table(paper)
    return "" if table is None else ("<h2>What the paper says, what we built, and why</h2>"
                                     + table.to_html(index=False, escape=True))


def _extra_html(e: dict, folder: Path) -> str:
    """The other test sets scored from the same runs, and the per-class table (recall beside specificity)."""
    parts = []
    for name, v in (e.get("extra_scores") or {}).items():
        lo, hi = v["accuracy_ci"]
        parts.append(f"<li>{html.escape(name.replace('_', ' '))}: {pct(v['accuracy'])} [{pct(lo)}, {pct(hi)}], "
                     f"{pooled_count(v, e.get('unit', 'seed'))} ({html.escape(v['description'])})</li>")
    out = f"<h2>Other test sets, same runs</h2><ul>{''.join(parts)}</ul>" if parts else ""
    if (folder / "per_class.csv").exists():
        out += ("<h2>Per class, seeds pooled</h2>"
                + pd.read_csv(folder / "per_class.csv").to_html(index=False, na_rep=""))
    return out


def experiment_summary(e: ExperimentRecord) -> str:
    """A Markdown paragraph saying what one experiment measured, from its record."""
    lo, hi = e.accuracy_ci
    s = e.seed_summary
    ep = e.epochs
    head = e.headline_claim or {}
    if len(e.seeds) == 1:
        tested = f"n={e.split_sizes['test']}, {e.unit} {e.seeds[0]}"
    elif "test_all_folds" in e.split_sizes:  # each fold tests different images
        tested = f"n={e.split_sizes['test_all_folds']}, {len(e.seeds)} folds pooled"
    else:
        tested = f"n={e.split_sizes['test']} per seed, {len(e.seeds)} seeds pooled"
    lines = [
        f"**{e.label}** ({e.profile} profile, lr {e.learning_rate:g}): test accuracy "
        f"**{pct(e.accuracy)}** (95% CI {pct(lo)}-{pct(hi)}, {tested})",
    ]
    if s["n_seeds"] > 1:
        lines.append(f"across {s['n_seeds']} {e.unit}s: mean {pct(s['mean'])}, sd {100 * s['std']:.1f} points")
    lines.append(f"epochs run / planned per {e.unit}: " + ", ".join(f"{r}/{ep.planned}" for r in ep.run_per_seed)
                 + f"; {'; '.join(sorted(set(ep.stop_reasons)))}")
    if head:
        lines.append(f"paper's headline claim {head['claimed']} ({head['where']}): {head['verdict']}")
    if e.late_validation:
        lines.append(late_validation_text(e.late_validation))
    if not e.trained:
        lines.append("this learning rate did not train; the run is reported as it is")
    return " — ".join(lines[:1]) + "\n\n" + "\n".join(f"- {line}" for line in lines[1:])
