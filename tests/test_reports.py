"""Reports: atomic experiment folders, figures, and the index generated from saved runs."""
from __future__ import annotations

import json

import pandas as pd
import pytest

from conftest import make_record
from fer_lib.evaluate.metrics import classification_metrics
from fer_lib.evaluate.record import ExperimentRecord
from fer_lib.errors import FerError
from fer_lib.files import atomic_folder
from fer_lib import provenance
from fer_lib.config import REPO_ROOT
from fer_lib.reporting import figures, index, pages, readme as readme_blocks


def test_a_failed_write_leaves_the_previous_report_intact(tmp_path):
    final = tmp_path / "exp"
    with atomic_folder(final) as tmp:
        (tmp / "metrics.json").write_text('{"accuracy": 0.7}')
    with pytest.raises(RuntimeError):
        with atomic_folder(final) as tmp:
            (tmp / "metrics.json").write_text('{"accuracy": 0.1')
            raise RuntimeError("training crashed half way")
    assert json.loads((final / "metrics.json").read_text()) == {"accuracy": 0.7}
    assert [p.name for p in tmp_path.iterdir()] == ["exp"]  # no temporary folder left behind
    with atomic_folder(final) as tmp:
        (tmp / "metrics.json").write_text('{"accuracy": 0.8}')
    assert json.loads((final / "metrics.json").read_text()) == {"accuracy": 0.8}


def test_figures_are_written(tmp_path):
    m = classification_metrics([0, 1, 1, 2], [0, 1, 2, 2], ["a", "b", "c"])
    figures.plot_confusion(m, tmp_path / "cm.png")
    history = pd.DataFrame({"epoch": [1, 2], "accuracy": [0.3, 0.5], "loss": [1.5, 1.2],
                            "val_accuracy": [0.3, 0.4], "val_loss": [1.6, 1.4]})
    figures.plot_learning_curves({0: history}, tmp_path / "lc.png")
    assert (tmp_path / "cm.png").stat().st_size > 10_000 and (tmp_path / "lc.png").stat().st_size > 10_000


def _experiment(folder, **over):
    folder.mkdir(parents=True)
    make_record(**over).write(folder)


def test_index_lists_every_experiment_with_budget_and_ci(tmp_path):
    _experiment(tmp_path / "cpu" / "yousaf2024" / "fer2013_official")
    _experiment(tmp_path / "smoke" / "yousaf2024" / "fer2013_official", profile="smoke")
    index.build_index(tmp_path)
    md = (tmp_path / "index.md").read_text()
    assert "61.0% [59.4%, 62.6%]" in md and "60.0% ± 1.0 (n=3)" in md and "9/100 / 9/100 / 8/100" in md
    assert "stopped by wall-clock budget" in md and "85.4%" in md and "36.0 min" in md
    assert md.count("| yousaf2024 | [fer2013_official]") == 1  # the smoke run stays out of the main index
    html = (tmp_path / "index.html").read_text()
    assert "cpu/yousaf2024/fer2013_official/report.html" in html


def test_the_status_table_counts_each_papers_runs_in_words(tmp_path):
    from fer_lib.evaluate.record import EpochsRecord

    _experiment(tmp_path / "cpu" / "yousaf2024" / "fer2013_official")
    _experiment(tmp_path / "cpu" / "yousaf2024" / "fer2013_random75", experiment="fer2013_random75",
                epochs=EpochsRecord(planned=100, run_per_seed=[100], best_epoch_per_seed=[69],
                                    stop_reasons=["completed"], train_seconds_per_seed=[4000.0]))
    _experiment(tmp_path / "cpu" / "mahdi2025" / "fer2013_official", paper="mahdi2025")
    status = index.status_table(tmp_path, ("cpu",)).set_index("paper").status
    assert status["yousaf2024"].startswith("2 experiment variants reported (cpu); headline verdicts: 2 not reproduced")
    assert status["yousaf2024"].endswith("fewest epochs run of planned: 8/100")
    assert status["mahdi2025"].startswith("1 experiment variant reported (cpu)")


def test_the_index_says_which_commit_backend_and_device_trained_a_run():
    from types import SimpleNamespace
    gpu = {"git_commit": "2fdad8a", "backend": "jax", "device": "1 x NVIDIA H100 80GB HBM3"}
    cpu = {"git_commit": "c6d7a56", "backend": "tensorflow", "device": "CPU: Intel(R) Xeon(R) Processor (2 cores)"}
    assert index.trained_at(SimpleNamespace(backends=[[gpu]])) == "2fdad8a (jax; 1 x NVIDIA H100 80GB HBM3)"
    both = index.trained_at(SimpleNamespace(backends=[[cpu, gpu]]))  # resumed on another machine
    assert both.startswith("2fdad8a, c6d7a56 (jax, tensorflow;") and "H100" in both and "Xeon" in both
    assert index.trained_at(SimpleNamespace(backends=[])).startswith("commit not recorded")


def test_the_index_links_a_leakage_studys_notebook_only_where_it_was_executed(tmp_path):
    from fer_lib.studies.leakage import DESIGN
    study = tmp_path / "cpu" / "leakage_study"
    study.mkdir(parents=True)
    (study / "results.json").write_text(json.dumps({"design": DESIGN, "seeds": [0]}))
    (study / "results.md").write_text("| flaw |\n|---|\n| 2. random re-split |\n")
    pd.DataFrame({"flaw": ["2. random re-split"]}).to_csv(study / "results.csv", index=False)
    (study / "leakage.png").write_bytes(b"png")
    index.build_index(tmp_path)  # written by `fer-lib train leakage_study`: no notebook to link
    md, html = (tmp_path / "index.md").read_text(), (tmp_path / "index.html").read_text()
    assert "one thing: [results](cpu/leakage_study/results.md), [figure](cpu/leakage_study/leakage.png)\n" in md
    assert "notebook.html" not in md and "notebook.html" not in html
    (study / "notebook.html").write_text("<html></html>")
    index.build_index(tmp_path)
    assert "[notebook](cpu/leakage_study/notebook.html)" in (tmp_path / "index.md").read_text()
    assert "cpu/leakage_study/notebook.html" in (tmp_path / "index.html").read_text()


def test_the_leakage_figure_redraws_from_the_saved_table_with_every_label_whole(tmp_path, monkeypatch):
    from fer_lib.studies import leakage
    study = tmp_path / "leakage_study"
    study.mkdir()
    flaws = ["2. random re-split (duplicates straddle train and test)",
             "1. balancing copies drawn before the split (last epoch)"]
    pd.DataFrame({"flaw": flaws, "difference_points": [3.1, -0.5], "ci_low": [2.1, -1.6],
                  "ci_high": [4.2, 0.6]}).to_csv(study / "results.csv", index=False)
    (study / "results.json").write_text(json.dumps({"model": "yousaf2024", "profile": "cpu", "seeds": [0, 1, 2]}))
    drawn = {}
    real_save = figures.save_figure

    def capture(fig, path, title="", title_size=None):
        drawn["labels"] = [t.get_text().replace("\n", " ") for t in fig.axes[0].get_yticklabels()]
        drawn["title"] = title
        real_save(fig, path, title, title_size)
    monkeypatch.setattr(figures, "save_figure", capture)
    path = leakage.rerender_figure(study)
    assert drawn["labels"] == flaws  # wrapped, never cut short
    assert drawn["title"] == "protocol flaws, yousaf2024, cpu profile, 3 seed(s)"
    assert path.read_bytes()[:4] == b"\x89PNG" and sorted(p.name for p in study.iterdir()) == [
        "leakage.png", "results.csv", "results.json"]  # no temporary file left behind
    (study / "results.csv").unlink()
    with pytest.raises(FerError, match="fer-lib train leakage_study"):
        leakage.rerender_figure(study)


def test_empty_index_says_how_to_fill_it(tmp_path):
    index.build_index(tmp_path)
    assert "make reproduce-all" in (tmp_path / "index.md").read_text()


def test_environment_names_versions_commit_backend_and_device():
    env = provenance.environment()
    assert {"keras", "numpy"} <= set(env["packages"]) and env["cpu_count"] >= 1
    assert env["git_commit"] and env["backend"] in ("tensorflow", "jax", "torch")
    assert env["backend_version"] != "unknown" and env["device"]


def test_a_copy_sent_elsewhere_records_the_commit_it_was_given(tmp_path, monkeypatch):
    # a GPU machine gets the working tree without .git, or with a stale one: FER_GIT_COMMIT names it there
    monkeypatch.setattr(provenance, "REPO_ROOT", tmp_path)
    monkeypatch.delenv("FER_GIT_COMMIT", raising=False)
    assert provenance.git_commit() == "unknown"
    monkeypatch.setenv("FER_GIT_COMMIT", "abc1234")
    assert provenance.git_commit() == "abc1234"
    monkeypatch.setattr(provenance, "REPO_ROOT", REPO_ROOT)
    assert provenance.git_commit() == "abc1234"  # named, it wins over a checkout's (possibly stale) git
    monkeypatch.delenv("FER_GIT_COMMIT")
    assert provenance.git_commit() not in ("abc1234", "unknown")


def test_a_process_records_the_commit_it_started_from_not_a_later_one(tmp_path, monkeypatch):
    """A long run whose results are committed between its experiments still ran the code it imported."""
    import subprocess

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", "code.py")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    monkeypatch.setattr(provenance, "REPO_ROOT", tmp_path)
    monkeypatch.delenv("FER_GIT_COMMIT", raising=False)
    first = provenance.git_commit()
    (tmp_path / "code.py").write_text("x = 2\n")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qam", "second")
    assert first != "unknown" and provenance.git_commit() == first


def test_the_experiment_record_round_trips_and_old_records_read_back_unchanged(tmp_path):
    record = make_record(backends=[[{"from_epoch": 1, "backend": "jax", "backend_version": "0.10", "device": "CPU"}]])
    record.write(tmp_path)
    assert ExperimentRecord.read(tmp_path) == record
    old = make_record()  # written before `backends` and `placement` existed: they stay out of the file
    old.write(tmp_path)
    assert "backends" not in json.loads((tmp_path / "experiment.json").read_text())
    assert ExperimentRecord.read(tmp_path / "experiment.json").backends is None



def test_a_records_files_are_named_by_its_kind_of_run():
    assert make_record(seeds=[3, 4]).unit_file("predictions") == "predictions_seed3.npz"
    folds = make_record(unit="fold", seeds=[1, 2, 3])
    assert folds.unit_file("history", 2, "csv") == "history_fold2.csv"
    assert folds.unit_file("predictions") == "predictions_fold1.npz"

def test_a_truncated_or_incomplete_record_is_a_clear_error(tmp_path):
    (tmp_path / "experiment.json").write_text('{"paper": "yousaf20')
    with pytest.raises(FerError, match="cannot read the experiment record .*re-run its experiment"):
        ExperimentRecord.read(tmp_path)
    (tmp_path / "experiment.json").write_text('{"paper": "yousaf2024"}')
    with pytest.raises(FerError, match="not a complete experiment record .*lacks .*accuracy"):
        ExperimentRecord.read(tmp_path)


def test_index_has_a_compute_table_from_the_reproduce_log_and_the_saved_runs(tmp_path, monkeypatch):
    from fer_lib.cli import record_wall_time

    _experiment(tmp_path / "cpu" / "yousaf2024" / "fer2013_official",
                train_config={"budget_seconds": 720.0})  # 3 seeds x 12 min
    study = tmp_path / "cpu" / "leakage_study"
    study.mkdir(parents=True)
    (study / "results.json").write_text(json.dumps({"rows": [
        {"flaw": "none", "train_seconds": 1190.0, "budget_seconds": 1200.0},
        {"flaw": "4. read from the clean run"},  # trained nothing of its own
        {"flaw": "1.", "train_seconds": 1300.0, "budget_seconds": 1200.0}]}))
    (tmp_path / "cpu" / "data_audit").mkdir()  # trains nothing
    record_wall_time(tmp_path / "cpu", "yousaf2024", 2400.0, {"profile": "cpu", "reports_root": "x"}, "aaaaaaa")
    record_wall_time(tmp_path / "cpu", "leakage_study", 90.0, {"profile": "cpu"}, "aaaaaaa")
    monkeypatch.setenv("FER_PRECISION", "float32")
    record_wall_time(tmp_path / "cpu", "leakage_study", 150.0, {"profile": "cpu"}, "bbbbbbb")  # the last one wins
    log = json.loads((tmp_path / "cpu" / "reproduce_log.json").read_text())
    assert log["leakage_study"]["git_commit"] == "bbbbbbb"
    assert log["leakage_study"]["wall_seconds"] == 150.0 and "reports_root" not in log["yousaf2024"]["parameters"]
    assert log["leakage_study"]["environment"]["FER_PRECISION"] == "float32"
    assert "FER_DATA_DIR" not in log["leakage_study"]["environment"]

    table = index.compute_table(tmp_path, "cpu").set_index("notebook")
    assert table.loc["yousaf2024", "last execution, wall time"] == "40.0 min"
    assert table.loc["data_audit", "training budget"] == "-" and table.loc["data_audit", "within budget"] == ""
    assert table.loc["yousaf2024", "training time in its runs"] == "36.0 min"
    assert table.loc["yousaf2024", "training budget"] == "36 min" and table.loc["yousaf2024", "within budget"] == "yes"
    assert table.loc["leakage_study", "training time in its runs"] == "41.5 min"
    assert table.loc["leakage_study", "within budget"] == "NO"  # 2490 s trained against 2400 s allowed
    index.build_index(tmp_path)
    md = (tmp_path / "index.md").read_text()
    assert "## Compute (cpu profile)" in md and "| leakage_study | 2.5 min |" in md
    assert "<h2>Compute (cpu profile)</h2>" in (tmp_path / "index.html").read_text()
    total = table.loc["all notebooks"]
    assert total["last execution, wall time"] == "42.5 min" and total["training time in its runs"] == "77.5 min"
    assert total["training budget"] == "76 min"


def test_compute_table_counts_runs_a_notebook_trains_outside_its_folder_as_its_own(tmp_path):
    # the reference model's notebook trains reference/fer2013_standard, the FER+ notebook reference/ferplus_majority
    _experiment(tmp_path / "cpu" / "reference" / "fer2013_standard", train_config={"budget_seconds": 3600.0})
    _experiment(tmp_path / "cpu" / "reference" / "ferplus_majority", train_config={"budget_seconds": 1800.0})
    (tmp_path / "cpu" / "reference_model").mkdir()
    one_run = ExperimentRecord.read(tmp_path / "cpu" / "reference" / "fer2013_standard").train_seconds_total
    seeds = len(ExperimentRecord.read(tmp_path / "cpu" / "reference" / "fer2013_standard").epochs.run_per_seed)
    notebooks = [{"paper": "reference_model", "runs": ["reference/fer2013_standard"]},
                 {"paper": "ferplus", "runs": ["reference/ferplus_majority"]}]
    table = index.compute_table(tmp_path, "cpu", notebooks).set_index("notebook")
    assert "reference" not in table.index  # every run in it belongs to a notebook's row
    assert table.loc["reference_model", "training time in its runs"] == f"{one_run / 60:.1f} min"
    assert table.loc["reference_model", "training budget"] == f"{3600.0 * seeds / 60:.0f} min"
    assert table.loc["ferplus", "training budget"] == f"{1800.0 * seeds / 60:.0f} min"
    assert table.loc["all notebooks", "training time in its runs"] == f"{2 * one_run / 60:.1f} min"
    # a run no notebook claims keeps its folder's row
    table = index.compute_table(tmp_path, "cpu", notebooks[:1]).set_index("notebook")
    assert table.loc["reference", "training time in its runs"] == f"{one_run / 60:.1f} min"
    assert table.loc["reference", "training budget"] == f"{1800.0 * seeds / 60:.0f} min"


def test_every_run_folder_the_manifest_gives_a_notebook_is_an_experiment_of_that_paper():
    from fer_lib import cli, papers

    claimed = [(e["paper"], run) for e in cli.manifest() for run in e.get("runs", [])]
    assert ("reference_model", "reference/fer2013_standard") in claimed
    for _, run in claimed:
        paper, experiment = run.split("/")
        assert papers.get_experiments(paper, experiment)[0].name == experiment


def test_reproduce_logs_the_commit_read_before_the_notebook_ran(tmp_path, monkeypatch):
    """A notebook writes tracked files (the shipped model, the README's generated blocks); those are its
    outputs, so the log names the commit the notebook started from, not one they made look dirty."""
    import nbformat
    import papermill

    from fer_lib import cli

    executed = []
    monkeypatch.setattr(provenance, "git_commit", lambda: "1234567+dirty" if executed else "1234567")

    def execute_notebook(source, output, **kwargs):
        executed.append(source)  # the notebook has now written its tracked outputs
        nbformat.write(nbformat.v4.new_notebook(), output)

    monkeypatch.setattr(papermill, "execute_notebook", execute_notebook)
    cli.reproduce("smoke", ["data_audit"], reports_root=tmp_path)
    log = json.loads((tmp_path / "smoke" / "reproduce_log.json").read_text())
    assert executed and log["data_audit"]["git_commit"] == "1234567"


def test_index_shows_the_reference_model_comparison_with_its_paired_differences(tmp_path):
    import numpy as np

    from fer_lib.studies.reference_model import Entry, compare_models

    y = np.array([0, 1, 2, 0, 1, 2])
    compare_models([Entry("reference, centre crop", np.eye(3)[y], 900.0, "ours"),
                    Entry("installed model", np.eye(3)[(y + 1) % 3], 800.0, "theirs, 3 of 50 epochs")], y,
                   np.array([f"i{k}" for k in range(6)]), ("a", "b", "c"), None,
                   tmp_path / "cpu" / "reference" / "model_comparison", "six images")
    index.build_index(tmp_path)
    md, page = (tmp_path / "index.md").read_text(), (tmp_path / "index.html").read_text()
    assert "## The reference model beside installed models" in md and "(cpu/reference/model_comparison/comparison.md)" in md
    row = next(line for line in md.splitlines() if line.startswith("| installed model"))
    assert "| -100.0 | [-100.0, -100.0] |" in row and "3 of 50 epochs" in row
    assert "installed model" in page and "model_comparison/comparison.md" in page


def test_compute_table_counts_an_ablations_reused_reference_runs_once(tmp_path):
    # mahdi2025's attention_ablation takes its reference arm from experiment fer2013_standard
    # (reference_runs_of): that experiment's record counts those 60 minutes; the study adds only its other arm
    _experiment(tmp_path / "cpu" / "mahdi2025" / "fer2013_standard", train_config={"budget_seconds": 3600.0})
    study = tmp_path / "cpu" / "mahdi2025" / "attention_ablation"
    study.mkdir(parents=True)
    runs = [{"arm": "with dynamic attention", "train_seconds": 3500.0, "budget_seconds": 3600.0},
            {"arm": "without dynamic attention", "train_seconds": 3400.0, "budget_seconds": 10800.0}]
    (study / "results.json").write_text(json.dumps({"kind": "ablation", "paper": "mahdi2025",
                                                    "name": "attention_ablation", "runs": runs}))
    own = ExperimentRecord.read(tmp_path / "cpu" / "mahdi2025" / "fer2013_standard").train_seconds_total
    table = index.compute_table(tmp_path, "cpu").set_index("notebook")
    assert table.loc["mahdi2025", "training time in its runs"] == f"{(own + 3400.0) / 60:.1f} min"
    # a study the suite no longer defines counts every run it saved
    (study / "results.json").write_text(json.dumps({"kind": "ablation", "paper": "mahdi2025", "name": "gone",
                                                    "runs": runs}))
    table = index.compute_table(tmp_path, "cpu").set_index("notebook")
    assert table.loc["mahdi2025", "training time in its runs"] == f"{(own + 6900.0) / 60:.1f} min"


def test_readme_results_block_keeps_each_index_table_apart(tmp_path):
    _experiment(tmp_path / "cpu" / "yousaf2024" / "fer2013_official", train_config={"budget_seconds": 720.0})
    index.build_index(tmp_path)
    readme = tmp_path / "README.md"
    readme.write_text("intro\n<!-- BEGIN results -->\nold\n<!-- END results -->\ntail\n")
    readme_blocks.update_readme(readme, tmp_path)
    text = readme.read_text()
    assert "old" not in text and text.startswith("intro\n") and text.endswith("tail\n")
    assert "\n\n### Compute (cpu profile)\n" in text  # a heading between tables, not one glued table
    assert "](reports/cpu/yousaf2024/fer2013_official/claims.md)" in text


def test_a_pooled_score_over_seeds_counts_predictions_not_images(tmp_path):
    dedup = {"accuracy": 0.58, "accuracy_ci": [0.568, 0.595], "n": 9147, "n_seeds": 3, "description": "no duplicates"}
    _experiment(tmp_path / "cpu" / "yousaf2024" / "fer2013_official", extra_scores={"deduplicated_test": dedup})
    row = index.index_rows(tmp_path, ("cpu",))[0]
    assert row["other test sets, same runs"] == "deduplicated test 58.0% [56.8%, 59.5%] (n=9147 predictions, 3 seeds pooled)"
    assert pages.pooled_count({"n": 3049, "n_seeds": 1}) == "n=3049"
    assert pages.pooled_count({"n": 30957, "n_seeds": 5}, unit="fold") == "n=30957, 5 folds"
    # the experiment's own page and its notebook's summary say it the same way
    folder = tmp_path / "cpu" / "yousaf2024" / "fer2013_official"
    record = ExperimentRecord.read(folder / "experiment.json")
    assert pages.extra_scores_markdown(record) == ("- deduplicated test: **58.0%** [56.8%, 59.5%], "
                                                   "n=9147 predictions, 3 seeds pooled (no duplicates)")
    (folder / "claims.csv").write_text("claim_id,measured\ntable6_fer2013,0.58\n")
    pages.experiment_page(folder)
    assert "n=9147 predictions, 3 seeds pooled" in (folder / "report.html").read_text()


def test_the_notebooks_lines_for_a_missing_run_its_macro_averages_and_its_latency():
    import pandas as pd

    from fer_lib.config import REPO_ROOT
    from fer_lib.reporting import pages

    assert pages.not_run_yet("mahdi2025", "kaggle_resplit", "cpu") == (
        "Not run yet under the cpu profile: `fer-lib train mahdi2025 kaggle_resplit --profile cpu` runs it.")
    folder = REPO_ROOT / "reports" / "cpu" / "yousaf2024" / "ckplus48_subject"
    if not (folder / "per_class.csv").exists():
        pytest.skip("yousaf2024's committed cpu report is not here")
    per_class = pd.read_csv(folder / "per_class.csv")
    macro = per_class.set_index("class").loc["macro average"]
    assert pages.macro_average_line(per_class).startswith(f"Macro precision {macro['precision']:.3f}, recall ")
    line = pages.latency_line({"cpu": "AMD EPYC", "backend": "tensorflow", "median_ms": 2.5, "p90_ms": 3.1,
                               "faces_per_second": 400.0, "load_average_1min": 1.2})
    assert "median **2.5 ms**" in line and "400.0 faces/s" in line


def test_the_answers_table_gives_a_scored_last_epoch_with_the_swing_of_the_last_epochs():
    """mahdi2025's headline run scores its last epoch on the set that monitored it (committed record): the answers
    table says so and gives that set's range over the last epochs; khalid2025's run selects on PublicTest: no range."""
    from fer_lib.reporting.answers import paper_answers

    table = paper_answers(REPO_ROOT / "reports").set_index("paper")["closest like-for-like measurement (95% CI)"]
    late = ExperimentRecord.read(REPO_ROOT / "reports" / "paper" / "mahdi2025" / "fer2013_kaggle_resplit").late_validation
    assert late["min"] <= late["mean"] <= late["max"]
    assert (f"fer2013_kaggle_resplit [paper], its last epoch; over the last {late['epochs']} epochs "
            f"{100 * late['min']:.1f}%-{100 * late['max']:.1f}%") in table["mahdi2025"]
    assert "its last epoch" not in table["khalid2025"]
