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

from ..config import notebook_manifest
from ..evaluate.record import ExperimentRecord
from ..files import visible, write_text
from .answers import paper_answers
from .pages import pct, pooled_count
from .tables import markdown_table


INDEX_COLUMNS = ["paper", "experiment", "dataset", "protocol", "profile", "claim", "measured, seeds pooled (95% CI)",
                 "seeds mean ± sd", "n test", "other test sets, same runs", "epochs run/planned", "stopped", "train time (all seeds)", "trained at",
                 "verdict"]
FIGURES = "figures"  # reports/figures/claims_<paper>.png


def trained_at(e: ExperimentRecord) -> str:
    """The commits, backends and devices a record's runs trained under, or why they are not known."""
    segments = [seg for per_seed in (e.backends or []) for seg in per_seed]
    commits = sorted({seg["git_commit"] for seg in segments if seg.get("git_commit")})
    if not commits:
        return "commit not recorded (trained before runs recorded it)"
    backends = sorted({seg["backend"] for seg in segments})
    devices = sorted({seg["device"] for seg in segments if seg.get("device")})
    return f"{', '.join(commits)} ({'; '.join([', '.join(backends), *devices])})"


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
                "measured, seeds pooled (95% CI)": f"{pct(e.accuracy)} [{pct(e.accuracy_ci[0])}, {pct(e.accuracy_ci[1])}]",
                "seeds mean ± sd": f"{pct(s['mean'])} ± {100 * s['std']:.1f} (n={s['n_seeds']}{' folds' if e.unit == 'fold' else ''})"
                if s["n_seeds"] > 1 else f"1 {e.unit}",
                "n test": (f"{e.split_sizes['test_all_folds']} ({len(e.seeds)} folds)" if "test_all_folds" in e.split_sizes
                           else e.split_sizes["test"]),
                "other test sets, same runs": "; ".join(
                    f"{name.replace('_', ' ')} {pct(v['accuracy'])} [{pct(v['accuracy_ci'][0])}, {pct(v['accuracy_ci'][1])}] "
                    f"({pooled_count(v, e.unit)})" for name, v in (e.extra_scores or {}).items()),
                "epochs run/planned": " / ".join(f"{r}/{epochs.planned}" for r in epochs.run_per_seed),
                "stopped": "; ".join(sorted(set(epochs.stop_reasons))),
                "train time (all seeds)": f"{e.train_seconds_total / 60:.1f} min",
                "trained at": trained_at(e),
                "verdict": head.get("verdict", ""),
                "_link": str(path.parent.relative_to(reports_root)),
            })
    return rows


def _training_compute(folder: Path, only: set[str] | None = None,
                      skip: frozenset[str] = frozenset()) -> tuple[float, float | None]:
    """(training seconds, budget seconds) summed over every run saved under a notebook's folder, or over
    its experiments named in `only`, leaving out those in `skip` (another notebook's).

    The budget is None when a run had none, or when the notebook trains nothing (the data audit)."""
    from ..papers.reference.experiments import CHOSEN_DEFAULTS

    train, budget, capped, runs = 0.0, 0.0, True, 0
    for path in visible(folder, "*/experiment.json"):
        if path.parent.name in skip or (only is not None and path.parent.name not in only):
            continue
        if folder.name == "reference" and path.parent.name in CHOSEN_DEFAULTS:
            continue  # the report of a default issue 50 chose resumed its candidate's run: counted with the candidates
        e = ExperimentRecord.read(path)
        train += e.train_seconds_total
        per_run = e.train_config.get("budget_seconds")
        capped &= per_run is not None
        budget += (per_run or 0.0) * len(e.epochs.run_per_seed)
        runs += 1
    for results in [folder / "results.json", *visible(folder, "*/results.json")]:
        name = "" if results.parent == folder else results.parent.name
        if not results.exists() or name in skip or (only is not None and name not in only):
            continue
        saved = json.loads(results.read_text())
        reused = _reused_arms(saved)
        for row in saved.get("runs", saved.get("rows", [])):  # design 2 lists its runs; design 1 its rows
            if "train_seconds" in row and row.get("arm") not in reused:  # rows that trained a model of their own
                train += row["train_seconds"]
                capped &= row.get("budget_seconds") is not None
                budget += row.get("budget_seconds") or 0.0
                runs += 1
    # issue 50's candidates (`candidate_runs`): a record each, those set aside one level down, all counted
    for path in [*visible(folder, "*/record.json"), *visible(folder, "*/*/record.json")]:
        saved = json.loads(path.read_text())
        name = path.parent.name if path.parent.parent == folder else path.parent.parent.name
        if saved.get("kind") != "candidate" or name in skip or (only is not None and name not in only):
            continue
        train += saved.get("train_seconds", 0.0)
        capped &= saved.get("budget_minutes") is not None
        budget += 60 * (saved.get("budget_minutes") or 0.0)
        runs += 1
    return train, (budget if capped and runs else None)


def _reused_arms(saved: dict) -> set[str]:
    """The arms of a saved ablation whose runs are another experiment's (`AblationSpec.reference_runs_of`):
    that experiment's record already counts their training, so the study must not count it again."""
    if saved.get("kind") != "ablation":
        return set()
    from ..papers import get_studies
    from ..errors import FerError

    try:
        spec = get_studies(saved["paper"], saved["name"])[0]
    except (FerError, KeyError, IndexError):
        return set()  # a study no longer in the suite: count what it saved
    return {next(iter(spec.arms))} if getattr(spec, "reference_runs_of", None) else set()


def compute_table(reports_root: Path | str, profile: str, notebooks: list[dict] | None = None) -> pd.DataFrame:
    """Per notebook: the wall time of its last execution (from `reproduce_log.json`), the training time
    its saved runs took across restarts, and the budget that capped it.

    A notebook's runs are those in its own folder and the folders its manifest entry lists under `runs`
    (`notebooks`, by default `notebooks/manifest.json`); a folder of runs no notebook claims is a row of its own."""
    root = Path(reports_root, profile)
    log_path = root / "reproduce_log.json"
    log = json.loads(log_path.read_text()) if log_path.exists() else {}
    claimed: dict[str, dict[str, set[str]]] = {}  # notebook -> runs folder -> experiments it trains there
    for entry in notebook_manifest() if notebooks is None else notebooks:
        for run in entry.get("runs", []):
            folder, _, experiment = run.partition("/")
            claimed.setdefault(entry["paper"], {}).setdefault(folder, set()).add(experiment)
    claimed_elsewhere: dict[str, frozenset[str]] = {}  # runs folder -> its experiments that a notebook claims
    for folders in claimed.values():
        for folder, experiments in folders.items():
            claimed_elsewhere[folder] = claimed_elsewhere.get(folder, frozenset()) | experiments

    def notebook_compute(name: str) -> tuple[float, float | None]:
        parts = [_training_compute(root / name, skip=claimed_elsewhere.get(name, frozenset()))]
        parts += [_training_compute(root / folder, only=experiments)
                  for folder, experiments in claimed.get(name, {}).items()]
        budgets = [b for t, b in parts if t or b is not None]
        return (sum(t for t, _ in parts),
                None if not budgets or any(b is None for b in budgets) else sum(budgets))

    def left_over(name: str) -> bool:
        """A folder with a row: a notebook's, or one holding runs no notebook claims."""
        if name in log or name in claimed or name not in claimed_elsewhere:
            return True
        return any(p.parent.name not in claimed_elsewhere[name]
                   for p in [*visible(root / name, "*/experiment.json"), *visible(root / name, "*/results.json")])
    def row(name: str, wall: float | None, train: float, budget: float | None, **extra) -> dict:
        return {"notebook": name, "last execution, wall time": "not logged" if wall is None else f"{wall / 60:.1f} min",
                **extra, "training time in its runs": f"{train / 60:.1f} min",
                "training budget": ("none" if train else "-") if budget is None else f"{budget / 60:.0f} min",
                "within budget": "" if budget is None else ("yes" if train <= budget else "NO")}

    rows, totals = [], {"wall": 0.0, "train": 0.0, "budget": 0.0, "capped": True}
    folders = {p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")} if root.exists() else set()
    for name in sorted(n for n in set(log) | folders | {n for n, runs in claimed.items() if set(runs) & folders}
                     if left_over(n)):
        train, budget = notebook_compute(name)
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


def claims_figures(reports_root: Path | str, profiles: tuple[str, ...], out_dir: Path) -> dict[str, Path]:
    """Per paper with reports: one figure of every accuracy claim beside our measurement, coloured by
    verdict (`figures.plot_claims_overview`), written to `out_dir/figures/claims_<paper>.png`."""
    from ..evaluate.claims import load_claims, verdict_category
    from .figures import plot_claims_overview

    by_paper: dict[str, list[dict]] = {}
    claims_of: dict[str, dict] = {}
    for profile in profiles:
        for path in visible(Path(reports_root, profile), "*/*/claims.csv"):
            e = ExperimentRecord.read(path.parent)
            claims = claims_of.setdefault(e.paper, {c.id: c for c in load_claims(e.paper)})
            for row in pd.read_csv(path).itertuples():
                if row.metric != "accuracy" or pd.isna(row.measured) or pd.isna(row.ci_low):
                    continue
                claim = claims[row.claim_id]
                by_paper.setdefault(e.paper, []).append({
                    "label": f"{path.parent.name} [{profile}]: {row.claim_id}",
                    "claimed": claim.range if claim.range is not None else claim.value, "measured": row.measured,
                    "ci_low": row.ci_low, "ci_high": row.ci_high, "category": verdict_category(row.verdict)})
    written = {}
    for paper, rows in sorted(by_paper.items()):
        path = out_dir / FIGURES / f"claims_{paper}.png"
        path.parent.mkdir(parents=True, exist_ok=True)
        plot_claims_overview(rows, path, f"{paper}: each accuracy claim beside our measurement")
        written[paper] = path
    return written


def status_table(reports_root: Path | str, profiles: tuple[str, ...] = ("cpu", "paper")) -> pd.DataFrame:
    """Per paper and study: what the suite has run, from the reports and the registry (the README's table)."""
    from ..evaluate.claims import verdict_category
    from ..models import registered
    from ..papers import paper_names, papers_with_experiments

    rows = []
    records = [ExperimentRecord.read(p) for profile in profiles for p in visible(Path(reports_root, profile), "*/*/experiment.json")]
    with_experiments = set(papers_with_experiments())
    for paper in paper_names():
        mine = [e for e in records if e.paper == paper]
        models = sorted(name for name, entry in registered().items() if entry.paper == paper)
        if mine:
            counts = pd.Series([verdict_category((e.headline_claim or {}).get("verdict", "")) for e in mine]).value_counts()
            epochs = [f"{min(e.epochs.run_per_seed)}/{e.epochs.planned}" for e in mine]
            status = (f"{len(mine)} experiment variant{'' if len(mine) == 1 else 's'} reported ({', '.join(sorted({e.profile for e in mine}))}); headline "
                      f"verdicts: {', '.join(f'{n} {c}' for c, n in counts.items())}; fewest epochs run of planned: "
                      f"{min(epochs, key=lambda t: int(t.split('/')[0]) / int(t.split('/')[1]))}")
        elif paper in with_experiments:
            status = "experiments defined; none reported yet"
        else:
            status = f"models in the registry ({', '.join(models) or 'none'}); no experiments yet"
        rows.append({"paper": paper, "status": status})
    for profile in profiles:
        study = Path(reports_root, profile, "leakage_study", "results.json")
        if study.exists():
            saved = json.loads(study.read_text())
            rows.append({"paper": f"leakage study ({profile})",
                         "status": f"design {saved.get('design', 1)}, {len(saved.get('seeds', [saved.get('seed', 0)]))} seed(s)"})
        audits = visible(Path(reports_root, profile, "data_audit"), "*/summary.json")
        if audits:
            rows.append({"paper": f"data audit ({profile})", "status": ", ".join(p.parent.name for p in audits)})
    return pd.DataFrame(rows)


COMPARISON_COLUMNS = ["model", "accuracy", "accuracy_ci", "macro_f1", "deduplicated_accuracy", "minus_first_points",
                      "minus_first_ci", "images_per_second", "what"]  # `what` says how far each paper's run trained


def model_comparisons(reports_root: Path | str, profiles: tuple[str, ...]) -> list[tuple[Path, dict, pd.DataFrame]]:
    """The reference model's comparison folders (`studies.reference_model.compare_models`) of `profiles`:
    (folder, comparison.json, its table with the index's columns)."""
    found = []
    for profile in profiles:
        for path in visible(Path(reports_root, profile), "*/model_comparison/comparison.json"):
            saved = json.loads(path.read_text())
            table = pd.DataFrame(saved["rows"])
            found.append((path.parent, saved, table[[c for c in COMPARISON_COLUMNS if c in table.columns]]))
    return found


def ablation_folders(reports_root: Path | str, profiles: tuple[str, ...]) -> list[tuple[Path, dict]]:
    """Every ablation study's folder and its results.json (`studies.ablation`), by profile and paper."""
    found = []
    for profile in profiles:
        for path in visible(Path(reports_root, profile), "*/*/results.json"):
            saved = json.loads(path.read_text())
            if saved.get("kind") == "ablation":
                found.append((path.parent, saved))
    return found


def study_caveat(saved: dict) -> list[str]:
    """A warning line (and a blank one) for a leakage study (its results.json) of a design other than the current
    one; none for the current one. Earlier designs' tables are kept in the study's `superseded/` folder, each with
    what it found and why it was replaced."""
    from ..studies.leakage import DESIGN

    if saved["design"] == DESIGN:
        return []
    return [f"SUPERSEDED DESIGN: this table is from design {saved['design']} of the study; the current design is "
            f"{DESIGN} (`fer_lib/studies/leakage.py` says what changed), and `fer-lib train leakage_study` replaces it, "
            "reading every arm the designs share from its saved runs.", ""]


def study_headline(folder: Path) -> str:
    """The study's generated one-paragraph reading (`leakage.headline`), where its tables are there."""
    from ..studies.leakage import headline

    return headline(folder) if (folder / "baseline.csv").exists() and (folder / "results.csv").exists() else ""


def study_links(folder: Path) -> list[tuple[str, str]]:
    """(label, file name) of what a leakage study's folder holds to link to: the notebook only where it was
    executed (`fer-lib train leakage_study` writes the study without one)."""
    return [(label, name) for label, name in (("results", "results.md"), ("figure", "leakage.png"),
                                              ("notebook", "notebook.html")) if (folder / name).exists()]


VERDICT_RULES = (
    "Verdicts: a claim made under another split protocol says \"different protocol\"; one over another label set "
    "\"not comparable\" (unless the paper itself shows the label is a misprint, which the verdict quotes); one made "
    "under another setup (a pretrained network we train from scratch, a wider network tested on ten crops) "
    "\"different setup\", with what the numbers alone would say beside it. A run that collapsed to one class is "
    "\"not reproduced at the paper's stated settings\" only where the paper states its optimizer and learning rate "
    "(quoted), and \"collapsed at our reading\" where they are our choice. Otherwise the claim is set against our "
    "95% CI over all seeds pooled (seeds resampled, then test images), and a claim above it reads \"not reproduced\" "
    "only when every seed completed the paper's training, else \"not reached within the budget (lower bound, k of n "
    "epochs)\". Claims a paper captions as training results are compared with our training split. The rules are in "
    "`fer_lib/evaluate/claims.py`; every setting is stated (quoted) or read (our reason) in each paper's claims file.")
ANSWERS_INTRO = (
    "One row per paper: its headline claim, our closest like-for-like measurement, the verdict, what is left and "
    "what it would cost, and every quantity the suite measured on that model whose 95% CI holds the claimed number "
    "(consistency, not proof). The rules: `fer_lib/reporting/answers.py`.")


CANDIDATES_INTRO = ("Issue 50's candidates to replace the shipped model, each fixed before it trained "
                    "(`fer_lib/studies/out_of_domain.py`, `CANDIDATES`), and how far each has trained: no test split "
                    "is scored while they train, and only finished ones are chosen among, on held-out data "
                    "(`fer-lib candidates choose`). The accuracy is on PublicTest with each candidate's own labels "
                    "(FER+'s for the FER+ candidates), the split that selected its epoch: not a test score. A run set "
                    "aside stays listed with why.")


def candidate_tables(reports_root: Path | str, profiles: tuple[str, ...]) -> list[tuple[str, pd.DataFrame, str | None]]:
    """(profile, `candidate_runs.candidates_status`, the saved choice's `selection_summary` or None) for each of
    `profiles` with a candidate run saved."""
    from ..studies.candidate_runs import candidates_status, saved_selection, selection_summary

    return [(profile, table, None if choice is None else selection_summary(choice)) for profile in profiles
            for table in [candidates_status(profile, reports_root)] if len(table)
            for choice in [saved_selection(profile, reports_root)]]


def build_index(reports_root: Path | str = "reports", profiles: tuple[str, ...] = ("cpu", "paper"),
                out_dir: Path | str | None = None) -> Path:
    """Write index.html and index.md listing every experiment of `profiles`, a claims figure per paper,
    the leakage study with its caveats, the compute table and the README's status table; returns the
    HTML path. Every link is relative."""
    from ..evaluate.claims import VERDICT_CATEGORIES, verdict_category

    reports_root = Path(reports_root)
    out_dir = Path(out_dir) if out_dir is not None else reports_root
    rows = index_rows(reports_root, profiles)
    rel = os.path.relpath(reports_root, out_dir)
    link = lambda r: f"{rel}/{r['_link']}".removeprefix("./")  # noqa: E731
    under = lambda folder: link({"_link": str(Path(folder).relative_to(reports_root))})  # noqa: E731
    figures = {paper: os.path.relpath(path, out_dir) for paper, path in claims_figures(reports_root, profiles, out_dir).items()}
    md = ["# Results index", "",
          "Every claim beside what this suite measured. Generated by `fer_lib.reporting.index.build_index` from "
          "the saved runs; do not edit by hand. Accuracy is on the experiment's test split, all seeds' predictions "
          "pooled, with a 95% CI from a two-level bootstrap (seeds, then test images); 'seeds mean ± sd' is across "
          "training seeds. " + VERDICT_RULES, ""]
    answers = paper_answers(reports_root, profiles)
    if len(answers):
        md += ["## One answer per paper", "", ANSWERS_INTRO, "", markdown_table(answers), "",
               "## Every experiment", ""]
    if figures:
        md += [f"![{paper}: claims beside our measurements]({path})" for paper, path in figures.items()] + [""]
    if rows:
        df = pd.DataFrame([{**{k: r[k] for k in INDEX_COLUMNS}, "experiment": f"[{r['experiment']}]({link(r)}/claims.md)"}
                           for r in rows])
        md.append(markdown_table(df))
    else:
        md.append(f"No experiments of profiles {', '.join(profiles)} yet: run `make reproduce-all`.\n")
    summaries = [(path.parent, json.loads(path.read_text())) for profile in profiles
                 for path in visible(Path(reports_root, profile, "data_audit"), "*/summary.json")]
    audits = [(folder, a) for folder, a in summaries if "dataset" in a]
    if audits:
        md += ["", "## Data audits", ""]
        md += [f"- [{a['dataset']} ({a['profile']})]({under(folder)}/report.html): "
               f"{a['images']} images, {a.get('exact_duplicate', 0)} exact and {a.get('near_duplicate', 0)} near "
               f"duplicates flagged; every flagged id in flags.csv" for folder, a in audits]
    noise = [(folder, a) for folder, a in summaries if "consensus_as_prediction" in a]
    for folder, a in noise:
        md += ["", f"## Label noise: FER2013 against FER+ ({a['profile']} profile)", "",
               f"{a['summary']} [Report]({under(folder)}/report.html)."]
    computes = [(profile, table) for profile in profiles for table in [compute_table(reports_root, profile)] if len(table)]
    for profile, table in computes:
        md += ["", f"## Compute ({profile} profile)", "",
               "What each notebook cost on the machine that ran it. A notebook whose runs were already in the "
               "checkpoint cache re-executes in minutes, so the training time of its saved runs (summed over seeds "
               "and restarts) is shown beside the wall time of its last execution.", "",
               markdown_table(table)]
    studies = {path: json.loads(path.with_name("results.json").read_text()) for profile in profiles
               for path in [Path(reports_root, profile, "leakage_study", "results.md")] if path.exists()}
    for path, saved in studies.items():
        md += ["", f"## Leakage study ({path.parent.parent.name} profile)", "", *study_caveat(saved),
               "How much each protocol flaw inflates accuracy, each against an arm meant to differ from it in that one "
               "thing: " + ", ".join(f"[{label}]({under(path.parent)}/{name})" for label, name in study_links(path.parent)),
               "", study_headline(path.parent), "", path.read_text()]
        signs = path.with_name("paper_signs.md")
        if signs.exists():
            md += ["", "Which of these flaws each paper's text shows signs of (quoted from the paper):", "", signs.read_text()]
    comparisons = model_comparisons(reports_root, profiles)
    for folder, saved, table in comparisons:
        md += ["", f"## The reference model beside installed models and the papers' runs ({folder.parent.parent.name} "
               "profile)", "", f"{saved['description']}. [Full table]({under(folder)}/comparison.md), "
               f"[notebook]({under(folder.parent.parent / 'reference_model')}/notebook.html), "
               "model card: `fer_lib/recognizer/models/MODEL_CARD.md`.", "", markdown_table(table)]
    out_of_domain = [path for profile in profiles for path in [Path(reports_root, profile, "out_of_domain", "summary.md")]
                     if path.exists()]
    for path in out_of_domain:
        md += ["", f"## Out of domain: faces no model here trained on ({path.parent.parent.name} profile)", "",
               f"[Full table]({under(path.parent)}/results.md).", "", path.read_text()]
    candidates = candidate_tables(reports_root, profiles)
    for profile, table, choice in candidates:
        md += ["", f"## Candidates for the shipped model ({profile} profile)", "", CANDIDATES_INTRO, "",
               markdown_table(table)] + (["", choice] if choice else [])
    ablations = ablation_folders(reports_root, profiles)
    for folder, saved in ablations:
        md += ["", f"## {saved['paper']}: {saved['title']} ({saved['profile']} profile)", "",
               f"[report]({under(folder)}/report.html), [figure]({under(folder)}/ablation.png)", "",
               (folder / "results.md").read_text()]
    write_text(out_dir / "index.md", "\n".join(md) + "\n")
    write_text(out_dir / "status.md", markdown_table(status_table(reports_root, profiles)) + "\n")
    write_text(out_dir / "answers.md", (ANSWERS_INTRO + "\n\n" + markdown_table(answers) + "\n") if len(answers)
               else "_No paper's headline claim has a saved run yet: run `make reproduce-all`._\n")

    colour = {name: c.removeprefix("tab:") for name, (_, c) in VERDICT_CATEGORIES.items()}
    tint = {"green": "#d9f2d9", "blue": "#d9e6f7", "red": "#f7d9d9", "orange": "#fbe7cc", "gray": "#eeeeee",
            "purple": "#eadcf2", "olive": "#ecefd0", "cyan": "#d6f1f4"}

    def cell(r: dict, c: str) -> str:
        text = html.escape(str(r[c]))
        if c == "experiment":
            return f"<td><a href='{html.escape(link(r))}/report.html'>{text}</a></td>"
        if c == "verdict" and r[c]:
            return f"<td style='background:{tint[colour[verdict_category(r[c])]]}'>{text}</td>"
        return f"<td>{text}</td>"

    cells = "".join("<tr>" + "".join(cell(r, c) for c in INDEX_COLUMNS) + "</tr>\n" for r in rows)

    def study_html(p: Path, saved: dict) -> str:
        folder = p.parent
        parts = [f"<h2>Leakage study ({html.escape(folder.parent.name)} profile)</h2>",
                 *(f"<p><b>{html.escape(line)}</b></p>" for line in study_caveat(saved) if line),
                 f"<p>{html.escape(study_headline(folder))}</p>",
                 "<p>" + ", ".join(f"<a href='{html.escape(under(folder))}/{name}'>{label}</a>"
                                   for label, name in study_links(folder)) + "</p>"]
        if (folder / "baseline.csv").exists():
            parts.append(pd.read_csv(folder / "baseline.csv").to_html(index=False, na_rep=""))
        parts.append(pd.read_csv(folder / "results.csv").to_html(index=False, na_rep=""))
        if (folder / "metric.csv").exists():
            parts.append(pd.read_csv(folder / "metric.csv").to_html(index=False, na_rep=""))
        if saved.get("caveats"):
            parts.append("<h3>Caveats</h3><ul>" + "".join(f"<li>{html.escape(c)}</li>" for c in saved["caveats"]) + "</ul>")
        parts.append(f"<img src='{html.escape(under(folder))}/leakage.png' alt='leakage study figure'>")
        return "".join(parts)

    page = f"""<!doctype html><html><head><meta charset="utf-8"><title>FER reproduction suite: results</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;font-size:90%}}
td,th{{border:1px solid #ccc;padding:4px 8px;vertical-align:top}}th{{background:#eee}}img{{max-width:100%}}</style></head><body>
<h1>Results index</h1>
<p>Every claim beside what this suite measured, generated from the saved runs. Accuracy is on each
experiment's test split, all seeds pooled, with a 95% CI from a two-level bootstrap (seeds, then test images);
"seeds mean ± sd" is across training seeds. {html.escape(VERDICT_RULES)}</p>
{"<h2>One answer per paper</h2><p>" + html.escape(ANSWERS_INTRO) + "</p>" + answers.to_html(index=False) if len(answers) else ""}
{"".join(f"<h2>{html.escape(paper)}</h2><img src='{html.escape(path)}' alt='{html.escape(paper)}: claims beside our measurements'>"
         for paper, path in figures.items())}
<h2>Every experiment</h2>
<table><tr>{''.join(f'<th>{html.escape(c)}</th>' for c in INDEX_COLUMNS)}</tr>
{cells}</table>
{"".join(study_html(p, saved) for p, saved in studies.items())}
{"".join(f"<h2>The reference model beside installed models and the papers' runs ({html.escape(folder.parent.parent.name)} "
         f"profile)</h2><p>{html.escape(saved['description'])}. <a href='{html.escape(under(folder))}/comparison.md'>full "
         "table</a></p>" + table.to_html(index=False, na_rep="") for folder, saved, table in comparisons)}
{"".join(f"<h2>{html.escape(saved['paper'])}: {html.escape(saved['title'])} ({html.escape(saved['profile'])} profile)</h2>"
         f"<p>{html.escape(saved['note'])} <a href='{html.escape(under(folder))}/report.html'>report</a></p>"
         + pd.read_csv(folder / "results.csv").to_html(index=False, na_rep="") for folder, saved in ablations)}
{"".join(f"<h2>Out of domain: faces no model here trained on ({html.escape(p.parent.parent.name)} profile)</h2>"
         f"<p><a href='{html.escape(under(p.parent))}/results.md'>full table</a></p><pre>{html.escape(p.read_text())}</pre>"
         for p in out_of_domain)}
{"".join(f"<h2>Candidates for the shipped model ({html.escape(profile)} profile)</h2><p>{html.escape(CANDIDATES_INTRO)}</p>"
         + table.to_html(index=False, na_rep="") + (f"<pre>{html.escape(choice)}</pre>" if choice else "")
         for profile, table, choice in candidates)}
{"".join(f"<h2>Compute ({html.escape(profile)} profile)</h2>" + table.to_html(index=False) for profile, table in computes)}
{"<h2>Data audits</h2><ul>" + "".join(
        f"<li><a href='{html.escape(under(folder))}/report.html'>"
        f"{html.escape(a['dataset'])} ({html.escape(a['profile'])})</a></li>" for folder, a in audits) + "</ul>" if audits else ""}
</body></html>
"""
    write_text(out_dir / "index.html", page)
    return out_dir / "index.html"
