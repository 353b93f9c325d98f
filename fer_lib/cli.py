"""Command line: `python -m fer_lib <command>`, behind the Makefile's targets.

  data        download FER2013 and CK+48 with the kaggle package, or explain how to provide them
  check-data  load every dataset, print class counts and where they differ from the public release
  reproduce   execute the papers' notebooks headlessly (papermill), render HTML, rebuild the index
  index       rebuild reports/index.html and reports/index.md from the saved runs
  render      rewrite every experiment report of a profile from its saved predictions (no training)
  train       run named experiments and studies of one paper, or the leakage study, without a notebook
              (what a GPU machine with no papermill or TensorFlow runs: `KERAS_BACKEND=jax`)
  predict     faces and their emotions in images, folders, videos or a webcam (the recognizer)
  export      a trained Keras model as ONNX or TensorFlow Lite, with its sidecar

A user mistake (missing data, unknown name, bad CSV) prints one clear message and exits 2,
without a traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from .config import (DEFAULT_PROFILE, PROFILES, REPO_ROOT, data_dir, get_profile, is_project_reports, notebook_manifest,
                     reports_dir)
from .errors import FerError, unknown_name_error
from .evaluate.train_plan import TrainPlan
from .progress import progress_enabled

KAGGLE_DATASETS = {"fer2013": ("msambare/fer2013", "fer2013"), "ckplus48": ("shawon10/ckplus", "ckplus")}


# ---------------------------------------------------------------------------------------------
# data


def kaggle_credentials_present() -> bool:
    """Whether any of the kaggle package's credential sources is set (without contacting Kaggle)."""
    config = Path(os.environ.get("KAGGLE_CONFIG_DIR", Path.home() / ".kaggle"))
    return bool(os.environ.get("KAGGLE_API_TOKEN")
                or (os.environ.get("KAGGLE_USERNAME") and os.environ.get("KAGGLE_KEY"))
                or (config / "kaggle.json").is_file() or (config / "access_token").is_file())


def download(root: Path | None = None) -> list[Path]:
    """Download and unpack every dataset with the Kaggle API; a FerError says what to do instead."""
    from .data import LAYOUT_HELP

    root = Path(root) if root is not None else data_dir()
    if not kaggle_credentials_present():
        raise FerError(
            "Kaggle credentials not found. Create an API token at kaggle.com (Settings > API) and either "
            "set KAGGLE_API_TOKEN or save it to ~/.kaggle/access_token (legacy: ~/.kaggle/kaggle.json, or "
            f"KAGGLE_USERNAME and KAGGLE_KEY), then run `make data` again.\n{LAYOUT_HELP}")
    try:
        # Importing kaggle authenticates, printing its own long help and exiting when that fails.
        with contextlib.redirect_stdout(io.StringIO()):
            from kaggle.api.kaggle_api_extended import KaggleApi
            api = KaggleApi()
            api.authenticate()
    except ImportError as exc:
        raise FerError(f"the kaggle package is not installed ({exc}); run `make setup`.\n{LAYOUT_HELP}") from None
    except BaseException as exc:  # the kaggle package exits on rejected credentials
        raise FerError(f"Kaggle rejected the credentials found ({type(exc).__name__}: {exc}); check them, "
                       f"then run `make data` again.\n{LAYOUT_HELP}") from None
    written = []
    for slug, folder in KAGGLE_DATASETS.values():
        dest = root / folder
        dest.mkdir(parents=True, exist_ok=True)
        try:
            api.dataset_download_files(slug, path=str(dest), unzip=True, quiet=False)
        except BaseException as exc:
            raise FerError(f"downloading {slug} from Kaggle failed ({type(exc).__name__}: {exc}); check your "
                           f"network and that you accepted the dataset's terms on Kaggle.\n{LAYOUT_HELP}") from None
        written.append(dest)
    return written


def check_data(root: Path | None = None) -> dict:
    """Load every dataset under `root`; returns counts and differences, or raises FerError. FER+'s labels
    are optional: absent, they are reported so; present but not joinable to this copy of FER2013 (a partial
    or other copy), that is a difference."""
    from .data import DATA_SOURCES, count_differences, load_dataset
    from .data.ferplus import find_ferplus

    report = {}
    for name in DATA_SOURCES:
        if name == "ferplus":
            absent, problem = False, None
            try:
                find_ferplus(root)
            except FerError:
                absent = True
            if not absent:
                try:
                    ds = load_dataset(name, root)
                except FerError as exc:
                    problem = f"not joinable: {exc}"
            if absent or problem:
                report[name] = {"source": None, "layout": "FER+ labels", "images": 0, "unreadable_skipped": 0,
                                "unreadable": [], "class_counts": {}, "differences": [problem] if problem else [],
                                "absent": absent}
                continue
        else:
            ds = load_dataset(name, root)
        report[name] = {"source": ds.source, "layout": ds.layout, "images": len(ds),
                        "unreadable_skipped": len(ds.skipped), "unreadable": [path for path, _ in ds.skipped],
                        "class_counts": ds.class_counts(),
                        "differences": count_differences(ds)}
    return report


# ---------------------------------------------------------------------------------------------
# reproduce


def manifest() -> list[dict]:
    """The notebooks `make reproduce-all` runs (`config.notebook_manifest`)."""
    return notebook_manifest()


NOTEBOOK_HASH_META = "fer-notebook-source-sha256"


def notebook_source_hash(notebook: Path | str) -> str:
    """The SHA-256 of a notebook file as committed: what its executed HTML says it ran."""
    from .files import file_sha256

    return file_sha256(notebook)


def with_source_hash(html: str, notebook: Path | str) -> str:
    """The executed notebook's HTML with the hash of the notebook it ran, in a <meta> tag of its head."""
    meta = f'<meta name="{NOTEBOOK_HASH_META}" content="{notebook_source_hash(notebook)}">'
    return html.replace("<head>", "<head>\n" + meta, 1) if "<head>" in html else meta + "\n" + html


def html_source_hash(html: str) -> str | None:
    """The notebook hash an executed notebook's HTML carries (None: executed before the suite recorded it)."""
    import re

    found = re.search(rf'<meta name="{NOTEBOOK_HASH_META}" content="([0-9a-f]{{64}})">', html)
    return found.group(1) if found else None


def reproduce(profile: str, papers: list[str] | None = None, reports_root: Path | str | None = None,
              parameters: dict | None = None) -> list[Path]:
    """Execute each paper's notebook under `profile`, write its HTML beside its reports, rebuild the index."""
    import nbformat
    import papermill
    from nbconvert import HTMLExporter

    from .files import write_text
    from .provenance import git_commit
    from .reporting.index import build_index
    from .reporting.readme import update_readme

    get_profile(profile)
    # read before any notebook runs: a notebook writes tracked files (the shipped model, the README's
    # generated blocks), which are its outputs, not a change to the code it ran
    commit = git_commit()
    entries = manifest()
    valid = [e["paper"] for e in entries]
    for paper in papers or []:
        if paper not in valid:
            raise unknown_name_error("paper", paper, valid)
    reports_root = Path(reports_root or reports_dir()).resolve()
    written = []
    for entry in entries:
        if papers and entry["paper"] not in papers:
            continue
        out_dir = reports_root / profile / entry["paper"]
        out_dir.mkdir(parents=True, exist_ok=True)
        # the notebooks resolve the project's reports/ themselves: no machine path is injected for it
        params = {"profile": profile, **({} if is_project_reports(reports_root) else {"reports_root": str(reports_root)}),
                  **(parameters or {})}
        started = time.monotonic()
        with tempfile.TemporaryDirectory() as tmp:
            executed = Path(tmp) / "executed.ipynb"
            print(f"[reproduce] {entry['paper']}: executing {entry['notebook']} with {params}", flush=True)
            try:
                # a bar of the notebook's cells; each training run inside shows its own bar of epochs
                papermill.execute_notebook(str(REPO_ROOT / entry["notebook"]), str(executed), parameters=params,
                                           cwd=str(REPO_ROOT), kernel_name="python3",
                                           progress_bar=progress_enabled(), log_output=True)
            except papermill.PapermillExecutionError as exc:
                if exc.ename == "FerError":
                    raise FerError(f"{entry['notebook']}: {exc.evalue}") from None
                raise
            body, _ = HTMLExporter().from_notebook_node(nbformat.read(executed, as_version=4))
        write_text(out_dir / "notebook.html", with_source_hash(body, REPO_ROOT / entry["notebook"]))
        written.append(out_dir / "notebook.html")
        record_wall_time(reports_root / profile, entry["paper"], time.monotonic() - started, params, commit)
    if profile == "smoke":
        build_index(reports_root, profiles=("smoke",), out_dir=reports_root / "smoke")
    else:
        build_index(reports_root)
        if is_project_reports(reports_root):
            update_readme()
    return written


def render(profile: str, reports_root: Path | str | None = None) -> list[Path]:
    """Re-render every report folder of `profile` from its saved raw outputs, then the index and the README
    (`studies.render.render_tree`: one renderer per kind of folder)."""
    from .studies.render import render_tree

    return render_tree(profile, reports_root)


LEAKAGE_STUDY = "leakage_study"


def train(paper: str, names: list[str] | None, profile: str, *, seeds: list[int] | None = None,
          data_root: Path | str | None = None, reports_root: Path | str | None = None,
          replace: bool = False, budget_minutes: float | None = None,
          stop_after_minutes: float | None = None) -> list[str]:
    """Run `names` (experiments or studies of `paper`; default: its experiments) under `profile` and
    write their report folders as the notebooks do; return one summary line per result. `paper` may
    be "leakage_study" (no names), the study of protocol flaws. Runs resume from their checkpoints.
    `budget_minutes` caps each seed of an experiment, and each run of an ablation, under any profile (a GPU lent
    for minutes, a CPU session): a run it stops is reported as a lower bound and continues from its checkpoint
    under a larger budget. `stop_after_minutes` stops every run of this call between epochs before that many
    minutes from now, whatever earlier calls used (`train.config.DEADLINE_ENV`), reported the same way."""
    from .papers import get_experiments, get_studies, papers_with_experiments
    from .train.config import deadline_after

    get_profile(profile)
    valid = [*papers_with_experiments(), LEAKAGE_STUDY]
    if paper not in valid:
        raise unknown_name_error("paper", paper, valid)
    if paper == LEAKAGE_STUDY:
        from .studies.leakage import run_study
        if names:
            raise FerError(f"the leakage study takes no experiment names, got {names}; run `train leakage_study`")
        if stop_after_minutes is not None:
            raise FerError("--stop-after-minutes stops experiments and ablations, not the leakage study; leave it out")
        table = run_study(profile, **({"seeds": seeds} if seeds else {}), data_root=data_root,
                          reports_root=reports_root, replace=replace)
        return [f"leakage_study: {len(table)} rows"]
    experiments, studies = get_experiments(paper), get_studies(paper)
    by_name = {**{s.name: s for s in experiments}, **{s.name: s for s in studies}}
    for name in names or []:
        if name not in by_name:
            raise unknown_name_error(f"{paper} experiment or study", name, list(by_name),
                                     kinds=f"{paper} experiments and studies")
    from .studies.fine_tune import FineTuneSpec  # imports Keras: after the names are known good
    for name in names or []:
        if isinstance(by_name[name], FineTuneSpec) and (budget_minutes, stop_after_minutes) != (None, None):
            raise FerError(f"--budget-minutes and --stop-after-minutes stop experiments and ablations, not the "
                           f"fine-tuning study {name!r}; leave them out for it")
    lines = []
    with deadline_after(stop_after_minutes):
        for name in names or [s.name for s in experiments]:
            spec = by_name[name]
            if spec in studies:
                from .studies.fine_tune import run_fine_tuning
                from .studies.ablation import run_ablation
                if isinstance(spec, FineTuneSpec):
                    table = run_fine_tuning(spec, profile, data_root=data_root, reports_root=reports_root,
                                            replace_existing=replace)
                else:
                    table = run_ablation(spec, profile, data_root=data_root, reports_root=reports_root,
                                         replace_existing=replace, budget_minutes=budget_minutes)
                lines.append(f"{paper}/{name}: study of {len(table)} rows")
                continue
            from .studies.experiment_runs import run_experiment
            for result in run_experiment(spec, profile, data_root=data_root, reports_root=reports_root, seeds=seeds,
                                         replace=replace, budget_minutes=budget_minutes):
                lines.append(f"{paper}/{name} ({result.label}): accuracy {result.metrics['accuracy']:.4f}")
    return lines


REPRODUCE_LOG = "reproduce_log.json"


def record_wall_time(profile_root: Path, paper: str, seconds: float, parameters: dict, commit: str) -> None:
    """Add this execution of `paper`'s notebook to `<profile_root>/reproduce_log.json`.

    The log keeps the last execution of every notebook: its wall time, when it finished, the
    parameters, the FER_* switches and `commit`, the code it ran from. A rerun that finds its finished runs in the
    cache takes minutes, so the index shows the runs' training time beside this wall time.
    """
    from .files import write_json

    path = profile_root / REPRODUCE_LOG
    log = json.loads(path.read_text()) if path.exists() else {}
    log[paper] = {"wall_seconds": round(seconds, 1), "finished_utc": time.strftime("%Y-%m-%d %H:%M", time.gmtime()),
                  "parameters": {k: v for k, v in parameters.items() if k != "reports_root"},
                  # switches set in the environment (FER_PRECISION, FER_XLA, ...), not paths
                  "environment": {k: v for k, v in sorted(os.environ.items())
                                  if k.startswith("FER_") and k not in ("FER_DATA_DIR", "FER_CACHE_DIR")},
                  "git_commit": commit}
    write_json(path, dict(sorted(log.items())))


# ---------------------------------------------------------------------------------------------
# entry point


def _reproduce_epilog() -> str:
    """The notebooks (--paper) and each paper's experiments (--experiments), for `reproduce --help`."""
    from .papers import papers_with_experiments

    lines = ["notebooks (--paper): " + ", ".join(e["paper"] for e in manifest()), "experiments (--experiments):"]
    for paper in papers_with_experiments():
        from .papers import get_experiments
        lines.append(f"  {paper}: " + ", ".join(s.name for s in get_experiments(paper)))
    return "\n".join(lines)


def _parse_seeds(text: str | None) -> list[int] | None:
    """`--seeds 0,1,2` as a list (None: the flag was not given); a FerError says what a valid value looks like.
    An empty value is a mistake, not the default seeds."""
    if text is None:
        return None
    from .evaluate.spec import check_seeds
    try:
        return check_seeds([int(s) for s in text.split(",")])
    except (ValueError, FerError):
        raise FerError(f"--seeds must be comma-separated distinct non-negative integers, got {text!r}") from None


def build_parser(argv: list[str] | None = None) -> argparse.ArgumentParser:
    """The command line: one subcommand per handler in `HANDLERS`."""
    parser = argparse.ArgumentParser(prog="python -m fer_lib", description=__doc__.split("\n\n")[0])
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("data", help="download the datasets with Kaggle credentials, or explain the alternatives")
    chk = sub.add_parser("check-data", help="load every dataset and check its class counts against the public release")
    chk.add_argument("--partial-ok", action="store_true", help="a copy that differs from the public release on purpose: exit 0")
    chk.add_argument("--json", action="store_true", help="print the full report as JSON before the verdict")
    args = sys.argv[1:] if argv is None else argv
    wants_help = args[:1] == ["reproduce"] and any(a in ("-h", "--help") for a in args)
    rep = sub.add_parser("reproduce", help="execute notebooks headlessly and rebuild the reports",
                         # listing the experiments imports Keras: only when help is asked for
                         epilog=_reproduce_epilog() if wants_help else None,
                         formatter_class=argparse.RawDescriptionHelpFormatter)
    rep.add_argument("--profile", default=DEFAULT_PROFILE, help=f"one of {', '.join(PROFILES)} (default {DEFAULT_PROFILE})")
    rep.add_argument("--paper", action="append", help="only this paper (repeatable); default: every paper")
    rep.add_argument("--reports-root", help="where the reports go (default: the project's reports/)")
    rep.add_argument("--seeds", help="comma-separated seeds overriding the experiments' own")
    rep.add_argument("--experiments", default="all", help="comma-separated experiment names, default all")
    rep.add_argument("--data-dir", help="the data folder (default: $FER_DATA_DIR, else the project's data/)")
    rep.add_argument("--replace", action="store_true",
                     help="replace reports made from more images, seeds, budget or epochs (refused otherwise)")
    rep.add_argument("--train", default="missing",
                     help="missing (default: train only runs with no saved report, render the rest from their reports), "
                          "none, all, or comma-separated names of the experiments and studies to train")
    sub.add_parser("index", help="rebuild reports/index.html and index.md, the README's generated blocks and the shipped "
                                  "model's card")
    trn = sub.add_parser("train", help="run experiments and studies of one paper (or the leakage study) without a notebook")
    trn.add_argument("paper", help="a paper with experiments, or leakage_study")
    trn.add_argument("names", nargs="*", help="its experiments and studies to run (default: its experiments)")
    trn.add_argument("--profile", default=DEFAULT_PROFILE, help=f"one of {', '.join(PROFILES)} (default {DEFAULT_PROFILE})")
    trn.add_argument("--seeds", help="comma-separated seeds overriding the experiments' own")
    trn.add_argument("--data-dir", help="the data folder (default: $FER_DATA_DIR, else the project's data/)")
    trn.add_argument("--reports-root", help="where the reports go (default: the project's reports/)")
    trn.add_argument("--replace", action="store_true",
                     help="replace reports made from more images, seeds, budget or epochs (refused otherwise)")
    trn.add_argument("--budget-minutes", type=float, metavar="M",
                     help="wall-clock minutes per seed of each experiment, and per run of each ablation, "
                          "counted across restarts, under any profile (default: the profile's)")
    trn.add_argument("--stop-after-minutes", type=float, metavar="M",
                     help="stop every run of this call between epochs before M minutes from now, whatever earlier "
                          "calls used (a stopped run keeps its checkpoint and continues later)")
    ren = sub.add_parser("render", help="rewrite the experiment reports of a profile from their saved predictions")
    ren.add_argument("--profile", default="cpu", help=f"one of {', '.join(PROFILES)}")
    ren.add_argument("--reports-root", help="the reports to re-render (default: the project's reports/)")
    shp = sub.add_parser("ship", help="ship a saved reference-model run to the recognizer, with its sidecar and card")
    shp.add_argument("folder", help="the run's report folder, e.g. reports/cpu/reference/fer2013_standard")
    shp.add_argument("--models-dir", help="where to ship (default: fer_lib/recognizer/models/, what predict runs)")
    shp.add_argument("--data-dir", help="FER2013's folder (default: FER_DATA_DIR or ../shared/data)")
    shp.add_argument("--reports-root", help="the reports the card quotes (default: the project's reports/)")
    shp.add_argument("--replace", action="store_true",
                     help="ship although the model shipped rests on more data or epochs (refused otherwise)")
    pre = sub.add_parser("predict", help="faces and their emotions in images, folders, videos or a webcam")
    pre.add_argument("paths", nargs="*", help="image files, video files or folders of them")
    pre.add_argument("--webcam", type=int, metavar="INDEX", help="also read this webcam (0: the first)")
    pre.add_argument("--model", help="a .keras, .onnx or .tflite model, or ferplus (FER+'s eight classes, where shipped) "
                                     "(default: the suite's reference model)")
    pre.add_argument("--detector", default="haar", help="haar (OpenCV's cascade, default) or mtcnn")
    pre.add_argument("--format", default="jsonl", dest="fmt", help="jsonl (one line per image or frame) or csv (per face)")
    pre.add_argument("--output", help="write the results here instead of stdout")
    pre.add_argument("--annotate", metavar="DIR", help="also write annotated images and videos into DIR")
    pre.add_argument("--detect-every", type=int, default=1, metavar="N",
                     help="video: search the whole frame every N frames, around the last faces between (default 1)")
    pre.add_argument("--max-frames", type=int, help="video and webcam: stop after this many frames")
    exp = sub.add_parser("export", help="a trained Keras model as ONNX or TensorFlow Lite")
    exp.add_argument("--model", help="a .keras model (default: the suite's reference model)")
    exp.add_argument("--format", required=True, dest="fmt", help="onnx or tflite")
    exp.add_argument("--output", help="the file to write (default: the model's name with the format's suffix)")
    cmp = sub.add_parser("campaign", help="run a profile's unfinished experiments several at once until a deadline")
    cmp.add_argument("--profile", default=DEFAULT_PROFILE, help=f"one of {', '.join(PROFILES)} (default {DEFAULT_PROFILE})")
    cmp.add_argument("--minutes", type=float, required=True, help="the deadline, in minutes from now")
    cmp.add_argument("--jobs", type=int, default=2, help="runs at once (default 2)")
    cmp.add_argument("--paper", action="append", help="only this paper (repeatable); default: every paper")
    cmp.add_argument("--experiments", help="comma-separated experiment names (default: all pending)")
    cmp.add_argument("--reports-root", help="where the reports go (default: the project's reports/)")
    cmp.add_argument("--data-dir", help="the data folder (default: $FER_DATA_DIR, else the project's data/)")
    cmp.add_argument("--pack-to", metavar="DIR", help="pack the reports it touched here, at most 8 files of 16 MiB")
    cmp.add_argument("--list", action="store_true", help="only list the pending runs and their estimated seconds")
    cmp.add_argument("--candidates", metavar="NAMES", help="train issue 50's candidates: comma-separated names, or all "
                                                          "(fer-lib candidates train, no test split scored); alone, "
                                                          "only they run, with --paper or --experiments those too")
    cand = sub.add_parser("candidates", help="train issue 50's candidates for the shipped model (no test split scored), "
                                             "choose among them on the selection parts, or ship what the choice "
                                             "picked")
    cand.add_argument("action", choices=("train", "choose", "ship", "probe-alignment"),
                      help="ship: what the saved choice picked: the default (its run scored once on PrivateTest, "
                           "then shipped) and the FER+ model beside it (predict --model ferplus), where it ships them; "
                           "probe-alignment: choose the eye cascade's settings on FER2013 Training images "
                           "(studies/alignment_probe.py) and save the result")
    cand.add_argument("names", nargs="*", help="train: the candidates (default: every trainable one)")
    cand.add_argument("--profile", default=DEFAULT_PROFILE, help=f"one of {', '.join(PROFILES)} (default {DEFAULT_PROFILE})")
    cand.add_argument("--data-dir", help="the data folder (default: $FER_DATA_DIR, else the project's data/)")
    cand.add_argument("--reports-root", help="where the candidates' records go (default: the project's reports/)")
    cand.add_argument("--budget-minutes", type=float, metavar="M",
                      help="train: wall-clock minutes per candidate, counted across restarts (default: the profile's)")
    cand.add_argument("--stop-after-minutes", type=float, metavar="M",
                      help="train: stop each candidate between epochs before M minutes from now, whatever earlier "
                           "calls used")
    cand.add_argument("--restart", action="store_true",
                      help="train: where a candidate's saved run cannot be continued (its checkpoint is not in this "
                           "machine's cache), keep that run in superseded/ and train it afresh from epoch 1")
    lease = sub.add_parser("lease", help="stage one GPU lease's call: leave out what its runs do not read, pack the "
                                          "data and wheels, print the call; --restore afterwards")
    lease.add_argument("--restore", action="store_true", help="put back what the last lease left out of git's index")
    lease.add_argument("--profile", default="paper", help="the profile the campaign trains (default paper)")
    lease.add_argument("--data-dir", help="the data folder (default: $FER_DATA_DIR, else the project's data/)")
    lease.add_argument("--datasets", default="fer2013", help="comma-separated data folders to pack (default fer2013)")
    lease.add_argument("--wheels", metavar="DIR", help="a folder of the wheels the GPU image lacks (Keras, namex, optree, "
                                                       "ImageHash, PyWavelets; ../shared/tools/pack-for-gpu downloads them)")
    lease.add_argument("--minutes", type=float, default=7, help="the campaign's deadline in the call (default 7)")
    lease.add_argument("--jobs", type=int, default=4, help="the campaign's runs at once (default 4)")
    lease.add_argument("--precision", default="float32", help="FER_PRECISION on the device (default float32)")
    lease.add_argument("--paper", action="append", help="the campaign's papers (repeatable; default: all)")
    lease.add_argument("--experiments", help="the campaign's comma-separated experiment names (default: all pending)")
    lease.add_argument("--candidates", metavar="NAMES", help="issue 50's candidates the campaign trains too: "
                                                            "comma-separated names, or all")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser(argv).parse_args(argv)
    interrupted = _InterruptWatch()
    try:
        code = HANDLERS[args.command](args)
    except FerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        return 130
    finally:
        interrupted.restore()
    if interrupted.seen:  # a Ctrl-C that landed where Python could only print "Exception ignored" and go on
        print(INTERRUPTED, file=sys.stderr)
        return 130
    return code or 0


# ---------------------------------------------------------------------------------------------
# One handler per command: what it prints and its exit status (None: 0); the work is in the library


def _cmd_data(args) -> int | None:
    for path in download():
        print(f"downloaded into {path}")


def _cmd_check_data(args) -> int | None:
    report = check_data()
    if args.json:
        print(json.dumps(report, indent=2))
    for name, r in report.items():
        if r.get("absent"):
            print(f"{name}: not present (optional: FER+ labels in ferplus/, for the FER+ notebook and audit)")
            continue
        print(f"{name}: {r['images']} images ({r['layout']}), {r['unreadable_skipped']} unreadable skipped"
              + "".join(f"\n  unreadable: {path}" for path in r["unreadable"][:10])
              + (f"\n  ... and {len(r['unreadable']) - 10} more" if len(r["unreadable"]) > 10 else "")
              + "".join(f"\n  differs: {line}" for line in r["differences"]))
    differing = [name for name, r in report.items() if r["differences"]]
    if not differing:
        print("OK: every dataset matches its public release")
        return None
    print(f"{'PARTIAL (accepted with --partial-ok)' if args.partial_ok else 'MISMATCH'}: "
          f"{', '.join(differing)} differ from the public release (lines above); reports made from this "
          "copy are marked partial")
    return 0 if args.partial_ok else 2


def _cmd_reproduce(args) -> int | None:
    params = {} if args.experiments == "all" else {"experiments": args.experiments}
    if args.data_dir:
        params["data_dir"] = str(Path(args.data_dir).resolve())
    if args.replace:
        params["replace"] = True
    if args.seeds is not None:
        params["seeds"] = _parse_seeds(args.seeds)
    TrainPlan.parse(args.train)  # a malformed value stops here, before any notebook starts
    params["train"] = args.train.strip()
    for path in reproduce(args.profile, args.paper, args.reports_root, params):
        print(f"wrote {path}")


def _cmd_train(args) -> int | None:
    for line in train(args.paper, args.names, args.profile, seeds=_parse_seeds(args.seeds),
                      data_root=args.data_dir, reports_root=args.reports_root, replace=args.replace,
                      budget_minutes=args.budget_minutes, stop_after_minutes=args.stop_after_minutes):
        print(line)


def _cmd_campaign(args) -> int | None:
    from .studies.campaign import main as campaign_main
    forwarded = ["--profile", args.profile, "--minutes", str(args.minutes), "--jobs", str(args.jobs)]
    for flag, value in (("--experiments", args.experiments), ("--reports-root", args.reports_root),
                        ("--data-dir", args.data_dir), ("--pack-to", args.pack_to), ("--candidates", args.candidates)):
        if value:
            forwarded += [flag, value]
    forwarded += [x for paper in args.paper or [] for x in ("--paper", paper)] + (["--list"] if args.list else [])
    return campaign_main(forwarded)


# what each `candidates` action other than train does instead of taking train's names and flags
NOT_TRAINING = {"probe-alignment": "it chooses the eye cascade's settings", "choose": "it scores every trained candidate",
                "ship": "it ships what the saved choice picked"}


def _cmd_candidates(args) -> int | None:
    from .studies.candidates import choose, ship_chosen, train_candidates
    from .train.config import deadline_after
    if args.action in NOT_TRAINING and (args.names or args.budget_minutes is not None
                                        or args.stop_after_minutes is not None or args.restart):
        raise FerError(f"`candidates {args.action}` takes no names, no --budget-minutes, no --stop-after-minutes and "
                       f"no --restart: {NOT_TRAINING[args.action]}")
    if args.action == "probe-alignment":
        from .studies.alignment_probe import run_alignment_probe
        chosen = run_alignment_probe(args.data_dir, args.reports_root)["chosen"]
        print(f"eye cascade: upscale {chosen['eye_upscale']}, {chosen['eye_min_neighbors']} neighbours")
        return None
    if args.action == "choose":
        choice = choose(args.profile, data_root=args.data_dir, reports_root=args.reports_root)
        decision, second = choice["decision"], choice["second_model"]
        print(f"ships: {decision['ships']} ({decision['why']})")
        print(f"second model ({second['name']}): {'ships' if second['ships'] else 'does not ship'} ({second['why']})")
        return None
    if args.action == "ship":
        print("\n".join(ship_chosen(args.profile, data_root=args.data_dir, reports_root=args.reports_root)))
        return None
    with deadline_after(args.stop_after_minutes):
        records = train_candidates(args.names, args.profile, data_root=args.data_dir, reports_root=args.reports_root,
                                   budget_minutes=args.budget_minutes, restart=args.restart)
    for record in records:
        epochs = record["epochs"]
        state = epochs["stop_reason"] if record["finished"] else "paused: the same command continues it"
        print(f"{record['candidate']}: {epochs['run']}/{epochs['planned']} epochs ({state}), "
              f"PublicTest accuracy on its own labels {record['publictest_accuracy_own_labels']}")
        if record["budget_warning"]:
            print(f"  {record['budget_warning']}")


def _cmd_lease(args) -> int | None:
    from .studies.lease import pack_lease, restore_travel
    if args.restore:
        put_back = restore_travel()
        print(f"put back into git's index: {', '.join(put_back)}" if put_back else "no lease was staged")
        return 0
    datasets = tuple(name.strip() for name in args.datasets.split(",") if name.strip())
    if not datasets:
        raise FerError(f"--datasets {args.datasets!r} names no data folder; give e.g. fer2013 or fer2013,ckplus")
    get_profile(args.profile)
    from .train.fast_paths import PRECISIONS
    if args.precision not in PRECISIONS:
        raise FerError(f"--precision {args.precision!r} is not one of {', '.join(PRECISIONS)}")
    if args.candidates:
        from .studies.candidates import candidate_specs
        # FER+'s labels join FER2013's images
        folders = {f for spec in candidate_specs([n.strip() for n in args.candidates.split(",") if n.strip()]) for f in (("fer2013", "ferplus") if spec.dataset.startswith("ferplus")
                                                 else (spec.dataset,))}
        need = sorted(folders - set(datasets))
        if need:
            raise FerError(f"--candidates {args.candidates} train on {', '.join(need)}, which --datasets "
                           f"{args.datasets} leaves out; add it (e.g. --datasets {','.join(datasets + tuple(need))})")
    selection = " ".join([f"--paper {p}" for p in args.paper or []] +
                         ([f"--experiments {args.experiments}"] if args.experiments else []) +
                         ([f"--candidates {args.candidates}"] if args.candidates else []))
    reports = None
    if args.candidates and not args.paper and not args.experiments:  # the candidates alone: only their folder travels
        from .studies.candidate_runs import FOLDER
        reports = (f"reports/{get_profile(args.profile).name}/{FOLDER}",)
    call = pack_lease(profile=args.profile, data_root=args.data_dir, datasets=datasets, wheels=args.wheels,
                      minutes=args.minutes, jobs=args.jobs, precision=args.precision, campaign_args=selection,
                      reports=reports)
    print(call.describe())


def _cmd_render(args) -> int | None:
    for folder in render(args.profile, args.reports_root):
        print(f"re-rendered {folder}")


def _cmd_ship(args) -> int | None:
    from .studies.shipping import ship_run
    path = ship_run(args.folder, models_dir=args.models_dir, data_root=args.data_dir, reports_root=args.reports_root,
                    replace=args.replace)
    print(f"shipped {path} (card: {path.parent / 'MODEL_CARD.md'})")


def _cmd_predict(args) -> int | None:
    from .recognizer.command import run_predict
    return run_predict(args.paths, webcam=args.webcam, model=args.model, detector=args.detector, fmt=args.fmt,
                       output=args.output, annotate=args.annotate, detect_every=args.detect_every,
                       max_frames=args.max_frames)


def _cmd_export(args) -> int | None:
    from .recognizer.command import run_export
    print(f"wrote {run_export(args.model, args.fmt, args.output)}")


def _cmd_index(args) -> int | None:
    from .reporting.index import build_index
    from .reporting.readme import update_readme
    from .studies.model_card import refresh_model_card, shipped_model_profile
    print(f"wrote {build_index(reports_dir())}")
    update_readme()
    print("refreshed the README's generated blocks")
    if shipped_model_profile() is not None:  # the card quotes reports: the comparison, out of domain, the candidates
        print(f"refreshed {refresh_model_card()}")


HANDLERS = {"data": _cmd_data, "check-data": _cmd_check_data, "reproduce": _cmd_reproduce, "train": _cmd_train,
            "campaign": _cmd_campaign, "candidates": _cmd_candidates, "lease": _cmd_lease, "render": _cmd_render, "ship": _cmd_ship,
            "predict": _cmd_predict, "export": _cmd_export, "index": _cmd_index}


INTERRUPTED = "interrupted: training checkpoints every epoch, so re-run the same command to resume"


class _InterruptWatch:
    """Remembers every Ctrl-C while a command runs (in the main thread; elsewhere, or not at all, it does nothing).
    Python raises KeyboardInterrupt wherever the main thread is; when that is inside a finaliser or a callback it
    can only print "Exception ignored ..." and carry on, and the command would exit 0 as if it had finished. The
    flag lets `main` exit 130 all the same."""

    def __init__(self) -> None:
        import signal
        import threading

        self.seen, self.previous = False, None
        if threading.current_thread() is threading.main_thread() and signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            self.previous = signal.signal(signal.SIGINT, self._handle)

    def _handle(self, signum, frame) -> None:
        self.seen = True
        raise KeyboardInterrupt

    def restore(self) -> None:
        import signal

        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)


if __name__ == "__main__":
    sys.exit(main())
