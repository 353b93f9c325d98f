"""The command line on bad input: one clear message, exit code 2, no traceback."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from fer_lib import cli
from fer_lib.errors import FerError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run_cli(*args, **env):
    return subprocess.run([sys.executable, "-m", "fer_lib", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env={**os.environ, **env})


def test_missing_data_folder_is_one_clear_message(tmp_path):
    out = run_cli("check-data", FER_DATA_DIR=str(tmp_path / "empty"))
    assert out.returncode == 2
    assert out.stderr.startswith("error: No FER2013 data found") and "make data" in out.stderr
    assert "Traceback" not in out.stderr


def main_in_process(capsys, *args) -> tuple[int, str]:
    """`fer-lib ARGS` in this process: its exit code and stderr (a process per call costs the suite a TensorFlow
    import each; `run_cli` checks the real exit path)."""
    try:
        code = cli.main(list(args))
    except SystemExit as exc:  # argparse's own errors
        code = exc.code
    return code, capsys.readouterr().err


def test_unknown_profile_and_paper_list_the_valid_ones(capsys):
    code, err = main_in_process(capsys, "reproduce", "--profile", "gpu")
    assert code == 2 and "valid profiles are: cpu, paper, smoke" in err and "Traceback" not in err
    code, err = main_in_process(capsys, "reproduce", "--profile", "smoke", "--paper", "nobody2099")
    assert code == 2 and "valid papers are: abdulkadir2025, data_audit, ferplus, khalid2025, leakage_study, mahdi2025, out_of_domain, reference_model, yousaf2024" in err


def test_check_data_reports_counts_and_ends_with_one_verdict(data_root):
    out = run_cli("check-data", FER_DATA_DIR=str(data_root))
    assert out.returncode == 0, out.stderr
    lines = out.stdout.strip().splitlines()
    assert lines[0].startswith("fer2013: 35887 images") and lines[1].startswith("ckplus48: 981 images")
    assert lines[-1] == "OK: every dataset matches its public release"
    out = run_cli("check-data", "--json", FER_DATA_DIR=str(data_root))
    assert '"images": 35887' in out.stdout and '"differences": []' in out.stdout


def test_download_without_credentials_explains_the_three_ways(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / ".kaggle"))
    for var in ("KAGGLE_USERNAME", "KAGGLE_KEY", "KAGGLE_API_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    with pytest.raises(FerError) as info:
        cli.download(tmp_path / "data")
    message = str(info.value)
    assert "make data" in message and "FER_DATA_DIR" in message and "unpack your own download" in message


def test_download_offline_with_credentials_fails_clearly(tmp_path, monkeypatch):
    # Here there is no route to Kaggle: the download must fail with a message, not hang or trace back.
    monkeypatch.setenv("KAGGLE_CONFIG_DIR", str(tmp_path / ".kaggle"))
    monkeypatch.setenv("KAGGLE_USERNAME", "someone")
    monkeypatch.setenv("KAGGLE_KEY", "0" * 32)
    with pytest.raises(FerError, match="msambare/fer2013|credentials"):
        cli.download(tmp_path / "data")


def test_make_data_without_credentials_prints_only_our_message(tmp_path):
    out = run_cli("data", HOME=str(tmp_path), KAGGLE_CONFIG_DIR=str(tmp_path / ".kaggle"), KAGGLE_USERNAME="",
                  KAGGLE_KEY="", KAGGLE_API_TOKEN="", FER_DATA_DIR=str(tmp_path / "data"))
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.startswith("error: Kaggle credentials not found") and "Traceback" not in out.stderr


def test_every_manifest_entry_has_a_make_target():
    import shutil
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    for entry in cli.manifest():
        out = subprocess.run(["make", "-n", f"reproduce-{entry['paper']}", f"PY={sys.executable}"], cwd=ROOT,
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        assert f"--paper {entry['paper']}" in out.stdout


def test_the_manifest_counts_every_recipe_the_reference_notebook_trains_as_its_compute():
    from fer_lib.papers.reference.experiments import FER2013_RECIPES

    entry = next(e for e in cli.manifest() if e["paper"] == "reference_model")
    assert [f"reference/{name}" for name in FER2013_RECIPES] == [r for r in entry["runs"] if "fer2013" in r]


def test_train_names_the_valid_papers_experiments_and_seeds(capsys):
    code, err = main_in_process(capsys, "train", "nobody2099")
    assert code == 2 and "leakage_study" in err and "yousaf2024" in err and "Traceback" not in err
    code, err = main_in_process(capsys, "train", "khalid2025", "fer2013_random75")
    assert code == 2 and "unknown khalid2025 experiment or study" in err
    assert "fer2013_standard" in err and "attention_ablation" in err and "ckplus_fine_tuning" in err
    code, err = main_in_process(capsys, "train", "leakage_study", "clean")
    assert code == 2 and "takes no experiment names" in err
    code, err = main_in_process(capsys, "train", "yousaf2024", "--seeds", "0,0")
    assert code == 2 and "--seeds must be comma-separated" in err and err.strip().count("\n") == 0


def test_train_runs_an_experiment_without_a_notebook_and_writes_its_report(tmp_path, data_root, run_cache):
    out = run_cli("train", "yousaf2024", "ckplus48_subject", "--profile", "smoke", "--reports-root", str(tmp_path),
                  FER_DATA_DIR=str(data_root), FER_CACHE_DIR=str(run_cache), FER_PROGRESS="0")
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip().splitlines()[-1].startswith("yousaf2024/ckplus48_subject")
    folder = tmp_path / "smoke" / "yousaf2024" / "ckplus48_subject"
    assert (folder / "experiment.json").is_file() and (folder / "claims.md").is_file()


def test_a_budget_in_minutes_caps_experiments_under_any_profile_and_is_refused_for_fine_tuning():
    from fer_lib.config import get_profile
    from fer_lib.evaluate.spec import budget_seconds
    from fer_lib.papers import get_experiments
    spec = get_experiments("khalid2025")[0]
    assert budget_seconds(spec, get_profile("paper")) is None  # the paper profile has no budget of its own
    assert budget_seconds(spec, get_profile("paper"), 11) == 660  # a lent GPU's minutes, not scaled
    assert budget_seconds(spec, get_profile("cpu")) == 60 * spec.cpu_budget_minutes
    with pytest.raises(FerError, match="budget_minutes must be a positive number"):
        budget_seconds(spec, get_profile("paper"), -1)
    for limit in ({"budget_minutes": 5}, {"stop_after_minutes": 5}):
        with pytest.raises(FerError, match="stop experiments and ablations, not the fine-tuning study 'ckplus_fine_tuning'"):
            cli.train("khalid2025", ["ckplus_fine_tuning"], "smoke", **limit)
