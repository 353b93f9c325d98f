"""A GPU lease carries what the campaign needs in one call: this checkout's call fits the budget, what the runs do
not read leaves git's index for the call and comes back after it, and the data unpack to the files as they were."""
from __future__ import annotations

import subprocess

import pytest

from fer_lib.config import REPO_ROOT
from fer_lib.errors import FerError
from fer_lib.studies import lease

# what training imports that the GPU image lacks: Keras, namex, optree and ImageHash for Python 3.12 measured 3.1 MiB
# (PyWavelets, which ../shared/tools/pack-for-gpu adds, is imported only by ImageHash's whash, which the suite does
# not use); the bound leaves room for newer versions
WHEELS_BOUND = 4 * lease.MiB


def test_this_checkout_and_the_fer2013_data_fit_one_call(data_root, tmp_path):
    """The bound on the data pack is FER2013 packed by the lease's own packer at xz's fastest preset (the lease packs
    at the strongest, which is smaller: 43.5 MiB against 41.4 when measured). The tree is what travels for the paper
    profile: this checkout less the cpu profile's reports and the shipped model (2.5 MiB when measured), plus the
    checkpoints budget-stopped runs keep (11 MiB: mahdi2025's fer2013_standard at 34 of 50 epochs)."""
    fer = data_root / "fer2013"
    if not fer.is_dir():
        pytest.skip(f"FER2013 not found at {fer}: set FER_DATA_DIR to the data folder (see README)")
    lease.pack_data(data_root, ("fer2013",), tmp_path / "data.tar.xz", preset=1)
    packed = (tmp_path / "data.tar.xz").stat().st_size
    travel, kept = lease.travel_bytes(REPO_ROOT, "paper"), lease.kept_checkpoint_bytes(REPO_ROOT, "paper")
    sizes = f"tree {travel / lease.MiB:.1f} (kept checkpoints {kept / lease.MiB:.1f}) + data {packed / lease.MiB:.1f}"
    assert travel - kept + packed + WHEELS_BOUND <= lease.BUDGET, sizes
    assert travel + packed + WHEELS_BOUND <= lease.HARD_LIMIT < lease.CALL_LIMIT, sizes
    assert len(lease.call_command("0" * 40, campaign_args="--paper abdulkadir2025 --paper mahdi2025 --experiments "
                                  "hybrid_paper,vgg19_paper,fer2013_standard")) <= 2000  # the tool's limit
    # issue 50's candidates alone, under the cpu profile of the model they would replace: their own folder travels,
    # and FER+'s labels beside FER2013
    lease.pack_data(data_root, ("ferplus",), tmp_path / "ferplus.tar.xz", preset=1)
    labels = (tmp_path / "ferplus.tar.xz").stat().st_size
    candidates = lease.travel_bytes(REPO_ROOT, "cpu", ("reports/cpu/out_of_domain_candidates",))
    assert candidates + packed + labels + WHEELS_BOUND <= lease.BUDGET, f"tree {candidates / lease.MiB:.1f}"


def _checkout(path):
    path.mkdir()
    files = {"code.py": 1000, "reports/cpu/a/report.html": 50_000, "reports/paper/b/report.html": 2000,
             "reports/test_looks.csv": 100, "reports/index.md": 300,
             "fer_lib/recognizer/models/reference_cnn.keras": 80_000}
    for name, size in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(b"x" * size)
    run = lambda *args: subprocess.run(["git", *args], cwd=path, check=True, capture_output=True)  # noqa: E731
    run("init", "-q")
    run("add", ".")
    run("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c")
    return path


def _status(root) -> str:
    return subprocess.run(["git", "status", "--porcelain"], cwd=root, capture_output=True, text=True).stdout


def test_a_lease_leaves_out_what_its_runs_do_not_read_and_puts_it_back(tmp_path, data_root):
    ck = data_root / "ckplus"
    if not ck.is_dir():
        pytest.skip(f"CK+48 not found at {ck}: set FER_DATA_DIR to the data folder (see README)")
    root = _checkout(tmp_path / "repo")
    assert lease.left_out(root, "paper") == ["fer_lib/recognizer/models", "reports/cpu", "reports/index.md"]
    assert lease.travel_bytes(root, "paper") == 1000 + 2000 + 100
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    (wheels / "keras-3.0-py3-none-any.whl").write_bytes(b"w" * 300_000)
    call = lease.pack_lease(root=root, data_root=data_root, datasets=("ckplus",), wheels=wheels, jobs=2)
    # what travels: the code, the paper profile's reports and the log; the rest is on disk, out of the index
    assert lease.tree_bytes(root) == call.tree_bytes == 3100 and (root / "reports/cpu/a/report.html").exists()
    assert call.carry == (".device/data.tar.xz", ".device/wheels") and call.payload <= lease.BUDGET
    assert "--profile paper" in call.command and "--jobs 2" in call.command and "FER_PRECISION=float32" in call.command
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=root, capture_output=True, text=True).stdout.strip()
    assert f"FER_GIT_COMMIT={head}" in call.command
    with pytest.raises(FerError, match="already staged"):
        lease.stage_travel(root, "paper")

    # on the device, from the repository's root
    device = tmp_path / "device"
    subprocess.run(["bash", "-c", lease.UNPACK.replace("/tmp/data", str(device))], cwd=root, check=True)
    originals = sorted(p.relative_to(data_root) for p in ck.rglob("*") if p.is_file())
    assert sorted(p.relative_to(device) for p in (device / "ckplus").rglob("*") if p.is_file()) == originals
    assert all((device / p).read_bytes() == (data_root / p).read_bytes() for p in originals[:50])

    assert lease.restore_travel(root) == ["fer_lib/recognizer/models", "reports/cpu", "reports/index.md"]
    assert _status(root) == "" and lease.tree_bytes(root) == 133_400
    assert lease.MARK_BEGIN not in (root / ".git/info/exclude").read_text()
    assert lease.restore_travel(root) == []  # nothing staged: nothing to do


def test_a_lease_of_candidates_alone_carries_only_their_reports(tmp_path):
    root = tmp_path / "repo"
    _checkout(root)
    (root / "reports/cpu/out_of_domain_candidates/eye_aligned").mkdir(parents=True)
    (root / "reports/cpu/out_of_domain_candidates/eye_aligned/record.json").write_bytes(b"r" * 10)
    # a finished candidate's committed weights: the campaign does not train it again, so they stay behind
    (root / "reports/cpu/out_of_domain_candidates/ferplus_votes").mkdir(parents=True)
    for name, size in (("record.json", 20), ("model.keras", 5000), ("model.json", 30)):
        (root / "reports/cpu/out_of_domain_candidates/ferplus_votes" / name).write_bytes(b"m" * size)
    subprocess.run(["git", "add", "-f", "."], cwd=root, check=True)
    subprocess.run(["git", "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q", "-m", "c"], cwd=root, check=True)
    kept = ("reports/cpu/out_of_domain_candidates",)
    weights = ["reports/cpu/out_of_domain_candidates/ferplus_votes/model.json",
               "reports/cpu/out_of_domain_candidates/ferplus_votes/model.keras"]
    assert lease.left_out(root, "cpu", kept) == ["fer_lib/recognizer/models", "reports/cpu/a", *weights,
                                                 "reports/index.md", "reports/paper"]
    assert lease.travel_bytes(root, "cpu", kept) == 1000 + 100 + 10 + 20
    assert lease.left_out(root, "cpu") == ["fer_lib/recognizer/models", *weights, "reports/index.md", "reports/paper"]


def test_a_dirty_tree_or_a_call_over_budget_stages_nothing(tmp_path, data_root):
    ck = data_root / "ckplus"
    if not ck.is_dir():
        pytest.skip(f"CK+48 not found at {ck}: set FER_DATA_DIR to the data folder (see README)")
    root = _checkout(tmp_path / "repo")
    (root / "code.py").write_text("changed")
    with pytest.raises(FerError, match="uncommitted changes"):
        lease.pack_lease(root=root, data_root=data_root, datasets=("ckplus",))
    subprocess.run(["git", "checkout", "code.py"], cwd=root, check=True)
    with pytest.raises(FerError, match="over the lease budget of 0 MiB"):  # 100 kB
        lease.pack_lease(root=root, data_root=data_root, datasets=("ckplus",), budget=100_000)
    assert _status(root) == "" and not (root / ".device" / "data.tar.xz").exists()
    assert not (root / ".device" / lease.STAGED).exists()


def test_the_packer_names_a_missing_data_folder_and_writes_nothing(tmp_path):
    root = _checkout(tmp_path / "repo")
    with pytest.raises(FerError, match="no fer2013 folder in .*set --data-dir"):
        lease.pack_lease(root=root, data_root=tmp_path / "nowhere", datasets=("fer2013",))
    assert not (root / ".device" / "data.tar.xz").exists() and _status(root) == ""


def test_fer_lib_lease_is_a_one_line_error_on_bad_input(capsys, tmp_path):
    from fer_lib import cli

    assert cli.main(["lease", "--datasets", ",", "--data-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0
    assert cli.main(["lease", "--wheels", str(tmp_path), "--data-dir", str(tmp_path)]) == 2
    assert "no .whl file in" in capsys.readouterr().err
    assert cli.main(["lease", "--precision", "float64", "--data-dir", str(tmp_path)]) == 2
    assert "--precision 'float64' is not one of" in capsys.readouterr().err
    assert cli.main(["lease", "--candidates", "all", "--datasets", "fer2013", "--data-dir", str(tmp_path)]) == 2
    assert "train on ferplus, which --datasets fer2013 leaves out; add it" in capsys.readouterr().err
    assert cli.main(["lease", "--candidates", "eye_alignd", "--data-dir", str(tmp_path)]) == 2
    assert "unknown candidate 'eye_alignd'" in capsys.readouterr().err
