"""Bad input, as a suite of its own: every case is a user mistake that must end in one clear line
naming the input and the fix, with exit code 2 from the command line, no traceback, and nothing
committed or previously written changed.

Three tables: broken data trees and CSVs (through the loaders and `fer-lib check-data`), bad names
and numbers for the public parameters (through the Python API), and bad commands, outputs and
interruptions (through the command line).
"""
from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import cv2
import numpy as np
import pytest

from conftest import make_record, tree_digest as _tree_digest
from fer_lib import cli
from fer_lib.errors import FerError

ROOT = Path(__file__).resolve().parent.parent




# nothing in this file may touch the committed reports (conftest's fixture checks them before and after)
pytestmark = pytest.mark.usefixtures("committed_reports_unchanged")


def one_line_error(capsys, code: int, *needles: str) -> str:
    """Assert a command's outcome: exit `code`, one `error:` line on stderr containing every needle."""
    err = capsys.readouterr().err
    lines = [line for line in err.strip().splitlines() if line.strip()]
    assert code == 2, err
    assert "Traceback" not in err and lines and lines[0].startswith("error: "), err
    for needle in needles:
        assert needle in err, (needle, err)
    return err


# ---------------------------------------------------------------------------------------------
# Broken data trees and CSVs


def _image(path: Path, pixels: np.ndarray | None = None) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    cv2.imwrite(str(path), pixels if pixels is not None else np.full((48, 48), 128, np.uint8))


def _fer_tree(root: Path) -> Path:
    """A well-formed miniature FER2013 folder tree: one image per class and split."""
    for cls in ("angry", "disgust", "fear", "happy", "neutral", "sad", "surprise"):
        _image(root / "fer2013" / "train" / cls / f"Training_{cls}.jpg")
        _image(root / "fer2013" / "test" / cls / f"PublicTest_{cls}.jpg")
        _image(root / "fer2013" / "test" / cls / f"PrivateTest_{cls}.jpg")
    return root


def _break_empty(root):
    (root / "fer2013").mkdir()


def _break_wrong_class(root):
    _fer_tree(root)
    (root / "fer2013" / "train" / "angry").rename(root / "fer2013" / "train" / "anger")


def _break_extra_class(root):
    _fer_tree(root)
    _image(root / "fer2013" / "train" / "contempt" / "Training_x.jpg")


def _break_file_name(root):
    _fer_tree(root)
    _image(root / "fer2013" / "train" / "happy" / "IMG_0001.jpg")


def _break_dangling_link(root):
    _fer_tree(root)
    (root / "fer2013" / "train" / "happy" / "Training_gone.jpg").symlink_to(root / "nowhere.jpg")


def _break_link_loop(root):
    _fer_tree(root)
    (root / "fer2013" / "train" / "loop").symlink_to(root / "fer2013" / "train" / "loop")


def _csv(root: Path, text: str, encoding: str = "utf-8") -> None:
    (root / "fer2013").mkdir(parents=True, exist_ok=True)
    (root / "fer2013" / "fer2013.csv").write_text(text, encoding=encoding)


PIXELS = " ".join(["128"] * 2304)
BROKEN_DATA = {
    "empty data folder": (_break_empty, "No FER2013 data found"),
    "wrong class folder": (_break_wrong_class, "class folders ['anger']"),
    "extra class folder": (_break_extra_class, "class folders ['contempt']"),
    "file name without its split": (_break_file_name, "found prefixes ['IMG']"),
    "dangling link": (_break_dangling_link, "lead nowhere or back to themselves, e.g. Training_gone.jpg"),
    "link loop": (_break_link_loop, "lead nowhere or back to themselves, e.g. loop"),
    "CSV without pixels column": (lambda r: _csv(r, "emotion,Usage\n0,Training\n"), "needs 'emotion' and 'pixels'"),
    "CSV row missing its Usage field": (lambda r: _csv(r, f"emotion,pixels,Usage\n0,{PIXELS}\n"), "row 2: 2 fields where the header has 3"),
    "CSV emotion out of range": (lambda r: _csv(r, f"emotion,pixels,Usage\n9,{PIXELS},Training\n"), "emotion 9 is not one of 0-6"),
    "CSV emotion not a number": (lambda r: _csv(r, f"emotion,pixels,Usage\nhappy,{PIXELS},Training\n"), "row 2: cannot parse"),
    "CSV pixel value 300": (lambda r: _csv(r, "emotion,pixels,Usage\n0," + " ".join(["300"] + ["1"] * 2303) + ",Training\n"),
                            "pixel values must be in 0-255, found 300"),
    "CSV too few pixels": (lambda r: _csv(r, "emotion,pixels,Usage\n0,1 2 3,Training\n"), "found 3 values"),
    "CSV header only": (lambda r: _csv(r, "emotion,pixels,Usage\n"), "has a header but no rows"),
    "CSV unknown Usage": (lambda r: _csv(r, f"emotion,pixels,Usage\n0,{PIXELS},Validation\n"), "Usage values ['Validation']"),
}


@pytest.mark.parametrize("case", list(BROKEN_DATA))
def test_broken_data_is_one_clear_line(case, tmp_path, capsys, monkeypatch, isolated_cache):
    build, message = BROKEN_DATA[case]
    build(tmp_path)
    monkeypatch.setenv("FER_DATA_DIR", str(tmp_path))
    from fer_lib.data import load_fer2013
    with pytest.raises(FerError, match=message.replace("[", r"\[").replace("]", r"\]").replace("(", r"\(")):
        load_fer2013(tmp_path)
    one_line_error(capsys, cli.main(["check-data"]), message)


@pytest.mark.parametrize("case", ["zero-byte file", "text saved as .jpg", "truncated jpeg"])
def test_unreadable_images_are_skipped_counted_and_named(case, tmp_path, capsys, monkeypatch, isolated_cache):
    _fer_tree(tmp_path)
    bad = tmp_path / "fer2013" / "train" / "happy" / "Training_bad.jpg"
    good = (tmp_path / "fer2013" / "train" / "sad" / "Training_sad.jpg").read_bytes()
    bad.write_bytes({"zero-byte file": b"", "text saved as .jpg": b"not an image at all",
                     "truncated jpeg": good[:20]}[case])
    from fer_lib.data import load_fer2013
    ds = load_fer2013(tmp_path)
    assert len(ds) == 21 and [Path(p).name for p, _ in ds.skipped] == ["Training_bad.jpg"]
    monkeypatch.setenv("FER_DATA_DIR", str(tmp_path))
    code = cli.main(["check-data", "--partial-ok"])  # CK+48 is absent from this tree: an error first
    err = capsys.readouterr()
    assert code == 2 and "No CK+48 data found" in err.err


@pytest.mark.parametrize("case", ["RGBA png", "16-bit png", "colour jpeg", "wrong size 64x64", "huge 4000x3000"])
def test_unusual_but_valid_images_load_as_48x48_grey(case, tmp_path, isolated_cache):
    _fer_tree(tmp_path)
    path = tmp_path / "fer2013" / "train" / "happy" / ("Training_odd.png" if "png" in case else "Training_odd.jpg")
    rng = np.random.default_rng(0)
    pixels = {"RGBA png": rng.integers(0, 256, (48, 48, 4)).astype(np.uint8),
              "16-bit png": rng.integers(0, 65536, (48, 48)).astype(np.uint16),
              "colour jpeg": rng.integers(0, 256, (48, 48, 3)).astype(np.uint8),
              "wrong size 64x64": rng.integers(0, 256, (64, 64)).astype(np.uint8),
              "huge 4000x3000": rng.integers(0, 256, (3000, 4000)).astype(np.uint8)}[case]
    _image(path, pixels)
    from fer_lib.data import load_fer2013
    ds = load_fer2013(tmp_path)
    assert len(ds) == 22 and ds.images.shape == (22, 48, 48) and ds.images.dtype == np.uint8 and not ds.skipped


def test_a_bom_and_a_trailing_blank_line_in_the_csv_are_read(tmp_path, isolated_cache):
    _csv(tmp_path, f"emotion,pixels,Usage\n3,{PIXELS},Training\n4,{PIXELS},PrivateTest\n\n", encoding="utf-8-sig")
    from fer_lib.data import load_fer2013
    ds = load_fer2013(tmp_path)
    assert len(ds) == 2 and list(ds.split) == ["Training", "PrivateTest"]


def test_a_csv_without_usage_under_the_official_protocol_says_why(tmp_path, isolated_cache):
    _csv(tmp_path, f"emotion,pixels\n3,{PIXELS}\n")
    from fer_lib.data import load_fer2013
    from fer_lib.data.splits import make_split
    with pytest.raises(FerError, match="has none in PublicTest, PrivateTest .*Usage column"):
        make_split("official", load_fer2013(tmp_path))


def test_check_data_ends_with_a_verdict_and_fails_on_a_partial_copy(tmp_path, capsys, monkeypatch, data_root, isolated_cache):
    partial = tmp_path / "data"
    _fer_tree(partial)
    shutil.copytree(data_root / "ckplus", partial / "ckplus")
    shutil.copytree(data_root / "ferplus", partial / "ferplus")  # FER+ labels of the full release
    monkeypatch.setenv("FER_DATA_DIR", str(partial))
    assert cli.main(["check-data"]) == 2
    out = capsys.readouterr().out.strip().splitlines()
    assert out[-1].startswith("MISMATCH: fer2013, ferplus differ from the public release") and "Traceback" not in "".join(out)
    assert any(line.strip().startswith("differs: not joinable:") and "fer2013_folders_to_ferplus.csv" in line for line in out)
    assert cli.main(["check-data", "--partial-ok"]) == 0
    assert capsys.readouterr().out.strip().splitlines()[-1].startswith("PARTIAL (accepted with --partial-ok)")


# ---------------------------------------------------------------------------------------------
# Bad names and numbers for the public parameters


def _train_config(**kw):
    from fer_lib.train import TrainConfig
    return TrainConfig(**kw)


def _fast(**kw):
    from fer_lib.train import FastPaths
    return FastPaths(**kw)


def _model(name, **kw):
    from fer_lib.models import build_model
    return build_model(name, (48, 48, 1), 7, **kw)


def _dataset(name):
    from fer_lib.data import load_dataset
    return load_dataset(name)


def _split(protocol, **options):
    from fer_lib.data import FaceDataset
    from fer_lib.data.splits import make_split
    n = 40
    ds = FaceDataset("ckplus48", np.zeros((n, 48, 48), np.uint8), np.arange(n) % 2, ("a", "b"), np.arange(n).astype(str),
                     "test", "test", subjects=np.repeat(np.arange(10), 4).astype(str))
    return make_split(protocol, ds, **options)


def _subset(per_class):
    from fer_lib.data import FaceDataset, stratified_subset
    ds = FaceDataset("x", np.zeros((4, 48, 48), np.uint8), np.array([0, 0, 1, 1]), ("a", "b"), np.arange(4).astype(str), "t", "t")
    return stratified_subset(ds, per_class)


def _metrics(y_true, y_pred):
    from fer_lib.evaluate.metrics import classification_metrics
    return classification_metrics(np.array(y_true), np.array(y_pred), ["a", "b"])


def _preprocess(images):
    from fer_lib.data import preprocess_images
    return preprocess_images(images, use_cache=False)


def _budget(minutes):
    from fer_lib.config import get_profile
    return get_profile("cpu").budget_seconds(minutes)


def _seeds(seeds):
    from fer_lib.evaluate.spec import check_seeds
    return check_seeds(seeds)


def _experiments(paper, names="all"):
    from fer_lib.papers import get_experiments
    return get_experiments(paper, names)


def _profile(name):
    from fer_lib.config import get_profile
    return get_profile(name)


BAD_PARAMETERS = {
    "unknown model": (lambda: _model("vgg99"), "unknown model 'vgg99'; valid models are"),
    "unknown dataset": (lambda: _dataset("affectnet"), "unknown dataset 'affectnet'; valid datasets are: ckplus48, fer2013"),
    "unknown protocol": (lambda: _split("leave_one_out"), "unknown protocol 'leave_one_out'"),
    "unknown profile": (lambda: _profile("gpu"), "unknown profile 'gpu'; valid profiles are: cpu, paper, smoke"),
    "unknown paper": (lambda: _experiments("smith2023"), "unknown paper 'smith2023'"),
    "unknown experiment": (lambda: _experiments("yousaf2024", "fer2013_everything"), "valid experiments are: fer2013_random75"),
    "unknown optimizer": (lambda: _train_config(optimizer="adamw2"), "valid optimizers are: adam, sgd, rmsprop"),
    "unknown augment mode": (lambda: _train_config(augment="mixup"), "augment must be 'copies', 'all' or 'none'"),
    "unknown precision": (lambda: _fast(precision="fp8"), "valid precisions are: auto, float32"),
    "unknown xla setting": (lambda: _fast(xla="yes"), "use one of: auto, on, off"),
    "unknown ImageNet weights": (lambda: _model("abdulkadir2025_vgg19", weights="places365"), "weights must be None"),
    "yousaf2024 with three convolutions": (lambda: _model("yousaf2024", filters=(32, 64, 128)), "four convolutional layers"),
    "learning rate 0": (lambda: _train_config(learning_rate=0), "learning_rate must be a positive number, got 0"),
    "learning rate negative": (lambda: _train_config(learning_rate=-0.01), "learning_rate must be a positive number, got -0.01"),
    "learning rate NaN": (lambda: _train_config(learning_rate=math.nan), "learning_rate must be a positive number, got nan"),
    "learning rate as text": (lambda: _train_config(learning_rate="0.01"), "learning_rate must be a positive number, got '0.01'"),
    "batch size 0": (lambda: _train_config(batch_size=0), "batch_size must be a positive number, got 0"),
    "epochs negative": (lambda: _train_config(epochs=-5), "epochs must be a positive number, got -5"),
    "epochs True": (lambda: _train_config(epochs=True), "epochs must be a positive number, got True"),
    "budget seconds negative": (lambda: _train_config(budget_seconds=-1), "budget_seconds must be positive"),
    "budget minutes -1": (lambda: _budget(-1), "budget_minutes must be a positive number of minutes, got -1"),
    "budget minutes 0": (lambda: _budget(0), "budget_minutes must be a positive number of minutes, got 0"),
    "budget minutes NaN": (lambda: _budget(math.nan), "budget_minutes must be a positive number of minutes, got nan"),
    "budget minutes as text": (lambda: _budget("20"), "budget_minutes must be a positive number of minutes, got '20'"),
    "steps per execution 0": (lambda: _fast(steps_per_execution=0), "steps_per_execution must be a positive integer"),
    "seeds negative": (lambda: _seeds([-1]), "seeds must be a non-empty list of distinct non-negative integers, got [-1]"),
    "seeds empty": (lambda: _seeds([]), "got []"),
    "seeds repeated": (lambda: _seeds([0, 0]), "got [0, 0]"),
    "seeds as text": (lambda: _seeds("0"), "seeds must be a list of non-negative integers, got '0'"),
    "seeds as floats": (lambda: _seeds([0.5]), "got [0.5]"),
    "per_class -1": (lambda: _subset(-1), "per_class must be a positive whole number of images, got -1"),
    "per_class 0": (lambda: _subset(0), "got 0"),
    "per_class 1.5": (lambda: _subset(1.5), "got 1.5"),
    "test_fraction 0": (lambda: _split("random_stratified", test_fraction=0), "test_fraction must be a fraction in (0, 1), got 0"),
    "test_fraction 1": (lambda: _split("random_stratified", test_fraction=1.0), "in (0, 1), got 1.0"),
    "val_fraction negative": (lambda: _split("random_stratified", val_fraction=-0.1), "val_fraction must be a fraction in [0, 1)"),
    "subject test_fraction 0.99": (lambda: _split("subject_independent", test_fraction=0.99),
                                   r"test_fraction of a subject-independent split must be in (0, 0.5]"),
    "subject val_fraction 0.7": (lambda: _split("subject_independent", val_fraction=0.7), "val_fraction of a subject-independent"),
    "label outside the classes": (lambda: _metrics([0, 5], [0, 1]), "y_true holds labels [5] outside the 2 classes (valid labels are 0-1"),
    "negative prediction": (lambda: _metrics([0, 1], [0, -1]), "y_pred holds labels [-1]"),
    "labels of different lengths": (lambda: _metrics([0, 1, 1], [0, 1]), "the same length"),
    "one 2-D image to preprocess": (lambda: _preprocess(np.zeros((48, 48), np.uint8)), r"shape \(N, H, W\); got uint8 of shape \(48, 48\)"),
    "float images to preprocess": (lambda: _preprocess(np.zeros((2, 48, 48), np.float32)), "got float32"),
}


def _regex_finds(pattern: str, text: str) -> bool:
    import re
    try:
        return re.search(pattern, text) is not None
    except re.error:  # a plain message with brackets, already compared literally
        return False


@pytest.mark.parametrize("case", list(BAD_PARAMETERS))
def test_bad_parameters_name_the_argument_and_the_valid_range(case):
    call, message = BAD_PARAMETERS[case]
    with pytest.raises(FerError) as info:
        call()
    text = str(info.value)
    assert message in text or _regex_finds(message, text), text
    assert "\n" not in str(info.value).split("Expected, under")[0].strip()  # one line (layout help may follow)


# ---------------------------------------------------------------------------------------------
# Bad commands, outputs and interruptions


@pytest.mark.parametrize("argv, needles", [
    (["reproduce", "--seeds=-1"], ["--seeds", "'-1'"]),
    (["reproduce", "--seeds", "a,b"], ["--seeds", "'a,b'"]),
    (["reproduce", "--seeds", "0,0"], ["distinct"]),
    (["reproduce", "--profile", "gpu"], ["unknown profile 'gpu'"]),
    (["reproduce", "--paper", "smith2023"], ["unknown paper 'smith2023'"]),
    (["render", "--profile", "nope"], ["unknown profile 'nope'"]),
])
def test_bad_command_lines_are_one_line(argv, needles, capsys):
    one_line_error(capsys, cli.main(argv), *needles)


def test_a_mistyped_paper_or_profile_and_top_level_help_are_answered_without_loading_keras():
    """Loading TensorFlow takes seconds: the names a user mistypes most (a paper, a profile, an experiment) are checked
    before anything imports it, and so is `--help`, whose `reproduce` epilog (the experiments) loads Keras only for `reproduce --help`."""
    import subprocess
    import sys

    code = ("import contextlib, io, sys\nfrom fer_lib import cli\nerr = io.StringIO()\n"
            "for argv in (['train', 'smith2023'], ['train', 'yousaf2024', '--profile', 'gpu'], "
            "['train', 'yousaf2024', 'nope'], ['reproduce', '--profile', 'gpu'], ['--help']):\n"
            "    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):\n"
            "        try:\n            code = cli.main(argv)\n"
            "        except SystemExit as exc:\n            code = exc.code\n"
            "    print(code, 'keras' in sys.modules, 'tensorflow' in sys.modules)\n"
            "print(err.getvalue().count('error:'))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split("\n")
    assert out[:6] == ["2 False False", "2 False False", "2 False False", "2 False False", "0 False False", "4"], out


def test_make_reproduce_of_an_unknown_notebook_lists_the_valid_ones():
    import subprocess
    out = subprocess.run(["make", "-s", "reproduce-nope"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and "no notebook called 'nope'; valid: reproduce-yousaf2024" in out.stderr


def test_ctrl_c_is_one_line_that_says_how_to_resume(capsys, monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt
    monkeypatch.setattr(cli, "reproduce", interrupted)
    assert cli.main(["reproduce"]) == 130
    err = capsys.readouterr().err
    assert err.strip() == "interrupted: training checkpoints every epoch, so re-run the same command to resume"


@pytest.mark.parametrize("case", ["a file", "under a file"])
def test_an_unwritable_reports_root_is_found_before_training(case, tmp_path, data_root, monkeypatch):
    from fer_lib.evaluate import runner
    from fer_lib.papers import get_experiments
    from fer_lib.studies.experiment_runs import run_experiment
    blocker = tmp_path / "reports"
    blocker.write_text("not a folder")
    root = blocker if case == "a file" else blocker / "sub"
    monkeypatch.setattr(runner, "prepare", lambda *a, **k: pytest.fail("loaded data before checking the output"))
    with pytest.raises(FerError, match="(reports root .* is a file, not a folder|cannot write into the reports root)"):
        run_experiment(get_experiments("yousaf2024", "ckplus48_subject")[0], "smoke", data_root=data_root,
                       reports_root=root)


def test_a_cache_folder_that_is_a_file_is_a_clear_error(tmp_path, monkeypatch):
    from fer_lib.config import cache_dir
    (tmp_path / "cache").write_text("")
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(FerError, match="cache folder .* cannot be created .*set FER_CACHE_DIR"):
        cache_dir()


def test_a_truncated_record_in_the_index_is_one_line(tmp_path, capsys, monkeypatch):
    from fer_lib.reporting import index
    folder = tmp_path / "cpu" / "yousaf2024" / "fer2013_official"
    folder.mkdir(parents=True)
    (folder / "experiment.json").write_text('{"paper": "yousa')
    with pytest.raises(FerError, match="cannot read the experiment record .*fer2013_official/experiment.json"):
        index.build_index(tmp_path)


def test_a_leftover_temporary_folder_is_not_a_second_row(tmp_path):
    from fer_lib.reporting import index
    for name in ("fer2013_official", ".tmp-fer2013_official-1a2b3c4d"):
        (tmp_path / "cpu" / "yousaf2024" / name).mkdir(parents=True)
        make_record().write(tmp_path / "cpu" / "yousaf2024" / name)
    rows = index.index_rows(tmp_path, ("cpu",))
    assert [r["_link"] for r in rows] == ["cpu/yousaf2024/fer2013_official"]


def test_a_weaker_run_never_replaces_a_stronger_report(tmp_path, data_root, run_cache):
    """The issue's case: a cpu run on an 84-image copy with one seed against a three-seed report."""
    from fer_lib.papers import get_experiments
    from fer_lib.studies.experiment_runs import run_experiment
    spec = get_experiments("yousaf2024", "ckplus48_random80")[0]
    reports = tmp_path / "reports"
    folder = reports / "cpu" / "yousaf2024" / "ckplus48_random80__lr0.0003"
    folder.mkdir(parents=True)
    make_record(n_images=981, seeds=[0, 1, 2], train_config={"budget_seconds": 240.0}).write(folder)
    (folder / "history_seed1.csv").write_text("epoch\n1\n")
    before = _tree_digest(reports)
    small = tmp_path / "data" / "ckplus" / "CK+48"
    for cls in sorted((data_root / "ckplus" / "CK+48").iterdir()):
        (small / cls.name).mkdir(parents=True)
        for f in sorted(cls.iterdir())[:12]:
            shutil.copy(f, small / cls.name / f.name)
    with pytest.raises(FerError) as info:
        run_experiment(spec, "cpu", data_root=tmp_path / "data", reports_root=reports, seeds=[0])
    message = str(info.value)
    assert "84 images instead of 981" in message and "seeds [0] instead of [0, 1, 2]" in message
    assert "--reports-root" in message and "--replace" in message and "nothing was trained or written" in message
    assert _tree_digest(reports) == before
    assert not (run_cache / "runs").exists()  # refused before any training


def test_a_leakage_study_at_a_smaller_budget_does_not_replace_the_saved_one(tmp_path, data_root, run_cache):
    import json

    from fer_lib.studies import leakage
    data = _fer_tree(tmp_path / "data")
    shutil.copytree(data_root / "ckplus", data / "ckplus")
    folder = tmp_path / "reports" / "cpu" / "leakage_study"
    folder.mkdir(parents=True)
    (folder / "results.json").write_text(json.dumps({"design": leakage.DESIGN, "profile": "cpu", "n_images": 10,
                                                     "budget_seconds_per_run": 1200, "seeds": [0], "epochs": 30}))
    with pytest.raises(FerError, match="a 8-minute budget per seed instead of a 20-minute budget per seed.*--replace"):
        leakage.run_study("cpu", data_root=data, reports_root=tmp_path / "reports", budget_minutes=8, seeds=[0, 1])
    assert not (run_cache / "runs").exists()


def test_an_audit_of_fewer_images_does_not_replace_the_saved_one(tmp_path):
    import json

    from fer_lib.data import FaceDataset
    from fer_lib.studies import audit
    folder = tmp_path / "cpu" / "data_audit" / "fer2013"
    folder.mkdir(parents=True)
    (folder / "summary.json").write_text(json.dumps({"images": 35887}))
    small = FaceDataset("fer2013", np.zeros((84, 48, 48), np.uint8), np.zeros(84, int), ("a",), np.arange(84).astype(str), "t", "t")
    with pytest.raises(FerError, match="84 images instead of 35887"):
        audit.write_audit_report(small, None, folder, "cpu")
    assert json.loads((folder / "summary.json").read_text()) == {"images": 35887}


# ---------------------------------------------------------------------------------------------
# The recognizer and the exporter on the command line: every flag and path checked before the model
# loads, and nothing the user had is changed by a run that fails


@pytest.fixture
def user_files(tmp_path):
    """A photo, a video file name, a results file and a folder the user already has, with their bytes."""
    photo = tmp_path / "photo.jpg"
    _image(photo, np.full((64, 64, 3), 90, np.uint8))
    results = tmp_path / "results.jsonl"
    results.write_text('{"source": "earlier run"}\n')
    keep = tmp_path / "keep.jsonl"
    keep.write_text('{"source": "kept"}\n')
    (tmp_path / "video.mp4").write_bytes(b"not really a video")
    (tmp_path / "a_folder").mkdir()
    (tmp_path / "a_file.txt").write_text("x")
    return tmp_path


@pytest.fixture
def no_model_load(monkeypatch):
    """Fail the test if a command loads the model before its flags and paths are checked."""
    from fer_lib.recognizer import classifiers, recognizer
    monkeypatch.setattr(recognizer.EmotionRecognizer, "__init__",
                        lambda *a, **k: pytest.fail("the model loaded before the input was checked"))
    monkeypatch.setattr(classifiers, "load_classifier",
                        lambda *a, **k: pytest.fail("the model loaded before the input was checked"))


PREDICT_CASES = {
    "output is the input photo": (["photo.jpg", "--output", "photo.jpg"], ["is one of the inputs"]),
    "unknown format over an existing results file": (["photo.jpg", "--format", "xml", "--output", "results.jsonl"],
                                                      ["--format must be jsonl or csv", "'xml'"]),
    "detect-every 0 over an existing results file": (["video.mp4", "--detect-every", "0", "--output", "keep.jsonl"],
                                                     ["--detect-every must be a whole number of at least 1", "0"]),
    "detect-every negative": (["video.mp4", "--detect-every", "-3"], ["--detect-every", "-3"]),
    "max-frames 0": (["video.mp4", "--max-frames", "0"], ["--max-frames must be a whole number of at least 1"]),
    "max-frames -1": (["video.mp4", "--max-frames", "-1"], ["--max-frames", "-1"]),
    "webcam -1 (a segfault inside OpenCV before)": (["--webcam", "-1"], ["--webcam must be a whole number of at least 0"]),
    "output into a missing folder": (["photo.jpg", "--output", "missing/out.jsonl"], ["does not exist; create it first"]),
    "output onto a folder": (["photo.jpg", "--output", "a_folder"], ["is a folder; name a file"]),
    "annotate onto a file": (["photo.jpg", "--annotate", "a_file.txt"], ["--annotate a_file.txt is a file"]),
    "nothing to run on": ([], ["nothing to run on"]),
    "a path that is not there": (["nope.jpg"], ["nope.jpg does not exist"]),
}


@pytest.mark.parametrize("case", list(PREDICT_CASES))
def test_bad_predict_input_is_one_line_before_the_model_loads_and_changes_no_file(case, user_files, capsys,
                                                                                    monkeypatch, no_model_load):
    argv, needles = PREDICT_CASES[case]
    monkeypatch.chdir(user_files)
    before = _tree_digest(user_files)
    one_line_error(capsys, cli.main(["predict", *argv]), *needles)
    assert _tree_digest(user_files) == before


def test_two_files_of_one_name_never_overwrite_each_others_annotation(tmp_path, capsys, monkeypatch, no_model_load):
    for sub in ("a", "b"):
        _image(tmp_path / sub / "face.jpg")
    monkeypatch.chdir(tmp_path)
    one_line_error(capsys, cli.main(["predict", "a/face.jpg", "b/face.jpg", "--annotate", "out"]),
                   "a/face.jpg and b/face.jpg would both be written to")
    assert not (tmp_path / "out").exists()


def test_a_folder_keeps_its_relative_paths_under_annotate():
    from fer_lib.recognizer.command import _annotated_path
    from fer_lib.recognizer.media import Source
    a = _annotated_path(Path("out"), Source("image", Path("in/a/face.jpg"), relative=Path("a/face.jpg")), ".png")
    b = _annotated_path(Path("out"), Source("image", Path("in/b/face.jpg"), relative=Path("b/face.jpg")), ".png")
    assert (a, b) == (Path("out/a/face_emotions.png"), Path("out/b/face_emotions.png"))


@pytest.mark.parametrize("argv, needles", [
    (["--format", "onnx", "--output", "a_folder"], ["--output a_folder is a folder"]),
    (["--format", "pdf"], ["--format must be one of onnx, tflite", "'pdf'"]),
    (["--format", "onnx", "--output", "missing/model.onnx"], ["does not exist; create it first"]),
])
def test_bad_export_input_is_one_line_before_the_model_loads(argv, needles, user_files, capsys, monkeypatch,
                                                             no_model_load):
    monkeypatch.chdir(user_files)
    before = _tree_digest(user_files)
    one_line_error(capsys, cli.main(["export", *argv]), *needles)
    assert _tree_digest(user_files) == before


def test_a_run_that_reads_nothing_leaves_an_existing_results_file_as_it_was(user_files, capsys, monkeypatch):
    (user_files / "broken.jpg").write_text("not an image")
    (user_files / "broken2.png").write_bytes(b"")
    monkeypatch.chdir(user_files)
    before = (user_files / "results.jsonl").read_text()
    one_line_error(capsys, cli.main(["predict", "broken.jpg", "broken2.png", "--output", "results.jsonl"]),
                   "nothing could be read", "results.jsonl was left as it was")
    assert (user_files / "results.jsonl").read_text() == before
    assert not list(user_files.glob(".tmp-*"))  # no temporary file left behind
    # a run that reads something replaces it, whole
    assert cli.main(["predict", "photo.jpg", "--output", "results.jsonl"]) == 0
    assert '"source": "photo.jpg"' in (user_files / "results.jsonl").read_text()


# ---------------------------------------------------------------------------------------------
# Render: every saved file checked against its record before anything is rewritten


def _copied_reports(tmp_path) -> Path:
    """A copy of one committed experiment report (three seeds) under a reports root of its own."""
    source = ROOT / "reports" / "cpu" / "yousaf2024" / "fer2013_official__lr0.0003"
    root = tmp_path / "reports"
    shutil.copytree(source, root / "cpu" / "yousaf2024" / source.name)
    return root


def _cut_npz(path: Path) -> None:
    with np.load(path) as z:
        data = {k: z[k] for k in z.files}
    np.savez_compressed(path, **{k: (v[:100] if v.ndim and len(v) == len(data["y_true"]) else v) for k, v in data.items()})


RENDER_BREAKS = {
    "predictions cut to 100 rows (still a valid npz)": (lambda f: _cut_npz(f / "predictions_seed0.npz"),
                                                        ["predictions_seed0.npz holds 100 test predictions where the record says 3589"]),
    "predictions truncated mid-file": (lambda f: (f / "predictions_seed1.npz").write_bytes(
        (f / "predictions_seed1.npz").read_bytes()[:500]), ["predictions_seed1.npz cannot be read as saved predictions"]),
    "predictions missing": (lambda f: (f / "predictions_seed2.npz").unlink(), ["predictions_seed2.npz is missing"]),
    "history missing": (lambda f: (f / "history_seed0.csv").unlink(), ["history_seed0.csv is missing"]),
    "history truncated mid-line": (lambda f: (f / "history_seed1.csv").write_text(
        (f / "history_seed1.csv").read_text()[:200]), ["history_seed1.csv"]),
}


@pytest.mark.parametrize("case", list(RENDER_BREAKS))
def test_render_refuses_a_damaged_saved_file_naming_it_and_rewrites_nothing(case, tmp_path, capsys):
    root = _copied_reports(tmp_path)
    folder = root / "cpu" / "yousaf2024" / "fer2013_official__lr0.0003"
    breaks, needles = RENDER_BREAKS[case]
    breaks(folder)
    before = _tree_digest(root)
    one_line_error(capsys, cli.main(["render", "--profile", "cpu", "--reports-root", str(root)]), *needles)
    assert _tree_digest(root) == before


@pytest.mark.parametrize("damage", ["truncated", "missing"])
def test_render_regenerates_a_damaged_derived_file_from_the_raw_ones(damage, tmp_path):
    """metrics.json is derived from the saved predictions: render writes it again, the same bytes as before."""
    root = _copied_reports(tmp_path)
    metrics = root / "cpu" / "yousaf2024" / "fer2013_official__lr0.0003" / "metrics.json"
    original = metrics.read_bytes()
    metrics.write_text('{"primary') if damage == "truncated" else metrics.unlink()
    assert cli.main(["render", "--profile", "cpu", "--reports-root", str(root)]) == 0
    assert metrics.read_bytes() == original


def test_render_keeps_digests_and_refuses_a_file_changed_since(tmp_path, capsys):
    from fer_lib.evaluate.record import ExperimentRecord
    root = _copied_reports(tmp_path)
    folder = root / "cpu" / "yousaf2024" / "fer2013_official__lr0.0003"
    assert cli.main(["render", "--profile", "cpu", "--reports-root", str(root)]) == 0
    record = ExperimentRecord.read(folder)
    assert set(record.files) >= {"predictions_seed0.npz", "history_seed2.csv"}
    capsys.readouterr()
    history = folder / "history_seed1.csv"
    history.write_text(history.read_text().replace("0.", "0.9", 1))  # still a valid CSV, but not the run's
    one_line_error(capsys, cli.main(["render", "--profile", "cpu", "--reports-root", str(root)]),
                   "history_seed1.csv changed since its run wrote it")


def test_render_with_nothing_to_render_says_so(tmp_path, capsys):
    one_line_error(capsys, cli.main(["render", "--profile", "smoke", "--reports-root", str(tmp_path / "none")]),
                   "nothing to render")


def test_an_empty_seeds_value_is_a_mistake_not_the_default_seeds(capsys):
    one_line_error(capsys, cli.main(["train", "yousaf2024", "--seeds", ""]), "--seeds", "''")


@pytest.mark.parametrize("command", ["reproduce", "index"])
def test_a_truncated_manifest_is_one_line(command, tmp_path, capsys, monkeypatch):
    from fer_lib import config
    broken = tmp_path / "manifest.json"
    broken.write_text('[{"paper": "yousaf2024", "note')
    monkeypatch.setattr(config, "NOTEBOOK_MANIFEST", broken)
    one_line_error(capsys, cli.main([command]), "cannot read the notebook manifest", "git checkout")


# ---------------------------------------------------------------------------------------------
# The recognizer's Python API: what it is given is checked, and it never answers wrongly in silence


@pytest.fixture(scope="module")
def recognizer():
    from fer_lib.recognizer import EmotionRecognizer
    return EmotionRecognizer()


GREY = np.full((120, 120), 128, np.uint8)
API_CASES = {
    "predict(None)": (lambda r: r.predict(None), "image must be a numpy array of pixels, .* got NoneType"),
    "predict(a list)": (lambda r: r.predict([[1, 2], [3, 4]]), "got list"),
    "predict(a path string)": (lambda r: r.predict("photo.jpg"), "got str; read a file first"),
    "predict on a 0x0 image": (lambda r: r.predict(np.zeros((0, 0), np.uint8)), "has shape \\(0, 0\\)"),
    "a float image in [0, 1]": (lambda r: r.predict(np.full((64, 64), 0.5)), "float64 pixels; pass uint8"),
    "a normalised image": (lambda r: r.predict(np.full((64, 64, 3), -0.3, np.float32)), "float32 pixels"),
    "NaN pixels": (lambda r: r.predict(np.full((64, 64), np.nan)), "float64 pixels"),
    "a float box": (lambda r: r.predict(GREY, boxes=[(10.5, 10, 40, 40)]), "four whole numbers"),
    "a three-number box": (lambda r: r.predict(GREY, boxes=[(10, 10, 40)]), "four whole numbers"),
    "a box outside the image": (lambda r: r.predict(GREY, boxes=[(100, 100, 40, 40)]), "not inside the 120x120"),
    "boxes as one number": (lambda r: r.predict(GREY, boxes=5), "boxes must be a list"),
    "predict_video(True)": (lambda r: next(r.predict_video(True)), "a webcam's index"),
    "predict_video(-1)": (lambda r: next(r.predict_video(-1)), "a webcam's index"),
    "predict_video of a missing file": (lambda r: next(r.predict_video("missing.mp4")), "does not exist"),
    "draw with a box of two numbers": (lambda r: r.draw(GREY, [{"box": [1, 2], "emotions": {"happy": 1.0},
                                                                "top_emotion": "happy"}]), "four whole numbers"),
    "draw with something not a face": (lambda r: r.draw(GREY, ["happy"]), "draw takes faces as predict returns them"),
}


@pytest.mark.parametrize("case", list(API_CASES))
def test_bad_recognizer_input_is_a_clear_error(case, recognizer):
    call, message = API_CASES[case]
    with pytest.raises(FerError, match=message):
        call(recognizer)


def test_the_recognizer_refuses_a_model_that_is_not_one():
    from fer_lib.recognizer import EmotionRecognizer
    with pytest.raises(FerError, match="model must be None .* got int 123"):
        EmotionRecognizer(model=123)


def test_a_face_sized_image_is_classified_whole_and_says_so(recognizer, fer2013):
    face = fer2013.images[fer2013.split == "PrivateTest"][0]  # a FER2013 image: a 48x48 face crop itself
    faces = recognizer.predict(face)
    assert len(faces) == 1 and faces[0]["box"] == [0, 0, 48, 48] and faces[0]["detected"] is False
    assert recognizer.predict(np.zeros((400, 400), np.uint8)) == []  # a large image with no face: none


def test_a_model_that_outputs_logits_is_refused_rather_than_printing_negative_probabilities(recognizer):
    import keras
    from fer_lib.recognizer import EmotionRecognizer
    from fer_lib.recognizer.classifiers import KerasClassifier
    inner = recognizer.classifier.model
    logits = keras.Model(inner.inputs, keras.layers.Dense(7, name="logits")(inner.layers[-2].output))
    with pytest.raises(FerError, match="not class probabilities .* no softmax"):
        EmotionRecognizer(model=KerasClassifier(logits, recognizer.classifier.info)).predict(GREY, boxes=[(10, 10, 60, 60)])


def test_boxes_of_a_very_large_image_are_in_its_own_pixels(tmp_path, monkeypatch, capsys, fer2013):
    import json
    from fer_lib.recognizer import media
    big = np.full((6000, 6000), 128, np.uint8)
    path = tmp_path / "big.png"
    cv2.imwrite(str(path), big)
    image, scale = media.read_image_scaled(path)
    assert max(image.shape[:2]) == media.MAX_SIDE and scale == pytest.approx(6000 / media.MAX_SIDE)
    from fer_lib.recognizer import recognizer as recognizer_module
    monkeypatch.setattr(recognizer_module.EmotionRecognizer, "predict", lambda self, img, boxes=None: [
        {"box": [100, 200, 300, 300], "emotions": {"happy": 1.0}, "top_emotion": "happy"}])
    assert cli.main(["predict", str(path)]) == 0
    row = json.loads(capsys.readouterr().out.strip())
    assert row["faces"][0]["box"] == [round(v * 6000 / media.MAX_SIDE) for v in (100, 200, 300, 300)]


def test_a_budget_stopped_run_never_replaces_a_report_that_completed_its_epochs(tmp_path):
    from types import SimpleNamespace
    from fer_lib.evaluate.run_store import refuse_fewer_epochs
    folder = tmp_path / "ckplus48_random80__lr0.0003"
    folder.mkdir()
    from fer_lib.evaluate.record import EpochsRecord
    make_record(n_images=981, seeds=[0, 1, 2], epochs=EpochsRecord(
        planned=100, run_per_seed=[100] * 3, best_epoch_per_seed=[70, 35, 92],
        stop_reasons=["completed all planned epochs"] * 3, train_seconds_per_seed=[222.0] * 3)).write(folder)
    saved = folder.joinpath("experiment.json").read_text()
    short = [SimpleNamespace(seed=s, run=SimpleNamespace(epochs_run=e, stopped_by_budget=True)) for s, e in ((0, 71), (1, 49))]
    with pytest.raises(FerError, match="completed all .* planned epochs; this run's budget stopped it short \\(epochs "
                                       "by seed 0: 71, 1: 49\\).*--budget-minutes"):
        refuse_fewer_epochs(folder, short)
    assert folder.joinpath("experiment.json").read_text() == saved
    done = [SimpleNamespace(seed=0, run=SimpleNamespace(epochs_run=100, stopped_by_budget=False))]
    refuse_fewer_epochs(folder, done)  # a completed run may replace it


def test_a_keras_file_that_is_not_a_model_is_called_that_not_missing(tmp_path, capsys, no_model_load, monkeypatch):
    from fer_lib.recognizer.classifiers import KerasClassifier
    bad = tmp_path / "model.keras"
    bad.write_text("garbage")
    with pytest.raises(FerError, match="exists but is not a Keras model"):
        KerasClassifier(bad)


def test_a_named_model_that_is_not_shipped_and_a_second_model_with_no_choice_are_one_line(user_files, tmp_path, capsys,
                                                                                          monkeypatch):
    from fer_lib.recognizer import classifiers
    monkeypatch.setitem(classifiers.NAMED_MODELS, "ferplus", tmp_path / "models" / "ferplus_cnn.keras")
    monkeypatch.chdir(user_files)
    before = _tree_digest(user_files)
    one_line_error(capsys, cli.main(["predict", "photo.jpg", "--model", "ferplus"]),
                   "the ferplus model is not shipped in this checkout", "fer-lib candidates choose")
    assert _tree_digest(user_files) == before
    one_line_error(capsys, cli.main(["candidates", "ship", "--profile", "smoke", "--reports-root", str(tmp_path)]),
                   "no choice between the candidates", "fer-lib candidates choose --profile smoke")
    one_line_error(capsys, cli.main(["candidates", "ship", "ferplus_votes"]), "`candidates ship` takes no names")
    assert not (tmp_path / "models").exists()


def test_a_sidecar_with_face_size_0_blames_the_sidecar(tmp_path):
    import json
    from fer_lib.recognizer.classifiers import ModelInfo
    (tmp_path / "m.json").write_text(json.dumps({"class_names": ["a", "b"], "face_size": 0,
                                                 "preprocess": {"face_crop": False, "equalize": False}}))
    with pytest.raises(FerError, match="m.json \\(the model's sidecar\\) gives face_size 0 .* fix the sidecar, not the model"):
        ModelInfo.read(tmp_path / "m.keras")


def test_make_with_a_path_for_a_target_lists_the_valid_names():
    import subprocess
    out = subprocess.run(["make", "-s", "reproduce-../../etc/passwd"], cwd=ROOT, capture_output=True, text=True)
    assert out.returncode == 2 and "no make target 'reproduce-../../etc/passwd'" in out.stderr
    assert "reproduce-yousaf2024" in out.stderr


# ---------------------------------------------------------------------------------------------
# check-data and load_dataset("ferplus") on bad FER+ files: a named difference or one clear error, never a
# traceback, NaN labels or an empty dataset


def _ferplus_root(tmp_path, data_root) -> Path:
    """A data folder whose FER2013 is a four-row challenge CSV, with CK+48 and a well-formed FER+ votes file."""
    import csv
    root = tmp_path / "data"
    (root / "fer2013").mkdir(parents=True)
    usage = ["Training", "Training", "PublicTest", "PrivateTest"]
    with (root / "fer2013" / "fer2013.csv").open("w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(("emotion", "pixels", "Usage"))
        for label, part in zip((0, 3, 4, 6), usage):
            writer.writerow((label, " ".join(["128"] * 48 * 48), part))
    shutil.copytree(data_root / "ckplus", root / "ckplus")
    (root / "ferplus").mkdir()
    return root


def _votes_csv(root: Path, cells: dict | None = None, text: str | None = None) -> None:
    from fer_lib.data.ferplus import VOTE_COLUMNS, VOTES_FILE
    path = root / "ferplus" / VOTES_FILE
    if text is not None:
        path.write_text(text)
        return
    rows = [[0] * 10 for _ in range(4)]
    rows[0][4], rows[1][1], rows[2][9], rows[3][2] = 10, 10, 10, 10
    lines = [",".join(("Usage", "Image name", *VOTE_COLUMNS))]
    for i, (part, row) in enumerate(zip(["Training", "Training", "PublicTest", "PrivateTest"], rows)):
        values = [str(v) for v in row]
        for (r, c), v in (cells or {}).items():
            if r == i:
                values[c] = v
        lines.append(",".join((part, f"fer000000{i}.png", *values)))
    path.write_text("\n".join(lines) + "\n")


FERPLUS_CHECK_CASES = {
    "an empty votes file": ({"text": ""}, "is empty"),
    "a header-only votes file": ({"text": "Usage,Image name\n"}, "a header and no rows"),
    "a blank vote": ({"cells": {(0, 4): ""}}, "blank vote for anger"),
    "a negative vote": ({"cells": {(1, 1): "-2"}}, "-2.0 vote for happiness"),
    "a fractional vote": ({"cells": {(3, 2): "9.5"}}, "9.5 vote for surprise"),
    "a 1e308 vote": ({"cells": {(0, 0): "1e308"}}, "vote for neutral"),
    "a word for a vote": ({"cells": {(1, 3): "lots"}}, "blank vote for sadness"),
    "no usable votes at all": ({"cells": {(0, 4): "0", (1, 1): "0", (3, 2): "0"}}, "has a FER+ majority label"),
}


@pytest.mark.parametrize("case", list(FERPLUS_CHECK_CASES))
def test_check_data_names_a_bad_ferplus_file_as_a_difference(case, tmp_path, data_root, capsys, monkeypatch,
                                                              isolated_cache):
    from fer_lib.data import load_dataset
    root = _ferplus_root(tmp_path, data_root)
    how, needle = FERPLUS_CHECK_CASES[case]
    _votes_csv(root, **how)
    monkeypatch.setenv("FER_DATA_DIR", str(root))
    assert cli.main(["check-data", "--partial-ok"]) in (0, 2)
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out and needle in out.out, out.out[-800:]
    with pytest.raises(FerError, match=needle.replace("+", "\\+").replace("(", "\\(").replace(")", "\\)")):
        load_dataset("ferplus", root)


def test_a_ctrl_c_that_python_could_only_report_as_ignored_still_exits_130(capsys, monkeypatch):
    import signal

    def swallowed(*args, **kwargs):
        # the interrupt lands inside a finaliser: Python prints "Exception ignored" and the command carries on
        try:
            signal.getsignal(signal.SIGINT)(signal.SIGINT, None)
        except KeyboardInterrupt:
            pass
        return []

    monkeypatch.setattr(cli, "reproduce", swallowed)
    # a process started in the background (CI) may begin with SIGINT ignored: this test is about Python's default
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        assert cli.main(["reproduce"]) == 130
        assert capsys.readouterr().err.strip() == cli.INTERRUPTED
        assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # restored afterwards
    finally:
        signal.signal(signal.SIGINT, previous)


# ---------------------------------------------------------------------------------------------
# The recognizer on the command line where OpenCV fails quietly: a cut video, an annotation it cannot write


def _video(path: Path, frames: int = 20) -> None:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10, (64, 64))
    rng = np.random.default_rng(0)
    for _ in range(frames):
        writer.write(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8))
    writer.release()


def test_a_video_that_ends_early_says_how_much_was_read(tmp_path, capsys):
    whole = tmp_path / "whole.avi"
    _video(whole)
    cut = tmp_path / "cut.avi"
    cut.write_bytes(whole.read_bytes()[:whole.stat().st_size // 2])  # its header still states 20 frames
    assert cli.main(["predict", str(cut), "--output", str(tmp_path / "out.jsonl")]) == 0
    err = capsys.readouterr().err
    read = len((tmp_path / "out.jsonl").read_text().splitlines())
    assert 0 < read < 20 and f"read {read} of the 20 frames its header states" in err, err


@pytest.mark.parametrize("name, make_input", [("photo_emotions.png", lambda p: _image(p / "photo.jpg")),
                                              ("clip_emotions.mp4", lambda p: _video(p / "clip.avi", 3))])
def test_an_annotation_opencv_cannot_write_is_an_error_not_silence(name, make_input, tmp_path, capsys):
    make_input(tmp_path)
    source = next(p for p in tmp_path.iterdir() if p.is_file())
    (tmp_path / "out" / name).mkdir(parents=True)  # a folder where the annotated file would go: OpenCV writes nothing
    one_line_error(capsys, cli.main(["predict", str(source), "--annotate", str(tmp_path / "out")]),
                   "could not write the annotated", name)


def test_check_data_names_an_empty_ferplus_mapping_as_a_difference(small_fer_folder, data_root, capsys, monkeypatch,
                                                                    isolated_cache):
    from fer_lib.data.ferplus import MAPPING_FILE, VOTES_FILE
    root = small_fer_folder.parent
    shutil.copytree(data_root / "ckplus", root / "ckplus")
    (root / "ferplus").mkdir()
    shutil.copy(data_root / "ferplus" / VOTES_FILE, root / "ferplus" / VOTES_FILE)
    header = (data_root / "ferplus" / MAPPING_FILE).read_text().splitlines()[0]
    (root / "ferplus" / MAPPING_FILE).write_text(header + "\n")  # the mapping's header and no rows
    monkeypatch.setenv("FER_DATA_DIR", str(root))
    assert cli.main(["check-data", "--partial-ok"]) in (0, 2)
    out = capsys.readouterr()
    assert "Traceback" not in out.err + out.out
    assert "ferplus" in out.out and "differs:" in out.out.split("ferplus", 1)[1], out.out[-800:]


@pytest.mark.parametrize("argv", [["train", "yousaf2024", "ckplus48_subject", "--stop-after-minutes", "0"],
                                  ["train", "yousaf2024", "ckplus48_subject", "--stop-after-minutes", "-5"],
                                  ["candidates", "train", "eye_aligned", "--stop-after-minutes", "inf"]])
def test_a_deadline_that_is_no_time_at_all_is_one_line_before_anything_trains(argv, capsys, tmp_path, monkeypatch):
    from fer_lib.train import DEADLINE_ENV

    monkeypatch.delenv(DEADLINE_ENV, raising=False)
    one_line_error(capsys, cli.main([*argv, "--reports-root", str(tmp_path)]),
                   "--stop-after-minutes must be a positive number of minutes")
    assert not any(tmp_path.iterdir()) and DEADLINE_ENV not in __import__("os").environ


def test_a_candidate_whose_checkpoint_is_lost_is_refused_before_anything_moves(capsys, tmp_path, monkeypatch):
    """A fresh checkout holds a paused candidate's record but not its checkpoint (over the size a report keeps):
    training it again would start at epoch 1 and write over the record. One line saying so and what to pass; the
    record untouched, nothing set aside; `--restart` belongs to `train` alone."""
    from fer_lib.studies.candidates import SUPERSEDED, candidate_folder

    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path / "cache"))  # an empty cache: no checkpoint anywhere
    folder = candidate_folder("ferplus_votes", "cpu", tmp_path)
    folder.mkdir(parents=True)
    saved = json.dumps({"finished": False, "epochs": {"run": 39, "planned": 50}})
    (folder / "record.json").write_text(saved)
    for argv in (["ferplus_votes"], ["strong_augment", "ferplus_votes"]):  # every name is checked before any trains
        one_line_error(capsys, cli.main(["candidates", "train", *argv, "--profile", "cpu", "--reports-root",
                                         str(tmp_path)]),
                       "ferplus_votes (epoch 39 of 50)", "--restart")
    assert (folder / "record.json").read_text() == saved and not (folder.parent / SUPERSEDED).exists()
    assert not (folder.parent / "strong_augment").exists()
    one_line_error(capsys, cli.main(["candidates", "choose", "--restart"]), "no --restart")
