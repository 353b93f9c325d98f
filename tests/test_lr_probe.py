"""The fallback learning rate is chosen by code, on a split that holds no test image, and its result is saved."""
from __future__ import annotations

import json

import pytest

from fer_lib.config import REPO_ROOT
from fer_lib.studies import lr_probe
from fer_lib.errors import FerError
from fer_lib.papers import get_experiments


def test_choose_takes_the_best_score_and_the_smaller_rate_on_a_tie():
    assert lr_probe.choose({1e-3: 0.25, 3e-4: 0.45, 1e-4: 0.40}) == 3e-4
    assert lr_probe.choose({1e-3: 0.5, 1e-4: 0.5}) == 1e-4


def test_the_probe_split_never_holds_a_test_image(fer2013):
    spec = get_experiments("yousaf2024", "fer2013_official")[0]
    split = lr_probe.probe_split(spec, fer2013)
    assert not len(split.test)
    assert set(fer2013.split[split.train]) == set(fer2013.split[split.val]) == {"Training"}
    split.check_disjoint()
    assert abs(len(split.val) / (len(split.train) + len(split.val)) - 0.2) < 0.01


def test_a_smoke_probe_trains_each_candidate_and_saves_its_choice(tmp_path, data_root, run_cache):
    spec = get_experiments("yousaf2024", "fer2013_official")[0]
    record = lr_probe.run_probe(spec, "smoke", candidates=(1e-3, 3e-4), epochs=1, data_root=data_root,
                                reports_root=tmp_path)
    saved = json.loads(lr_probe.probe_path(spec, "smoke", tmp_path).read_text())
    assert saved["chosen"] == record["chosen"] == lr_probe.choose(lr_probe.probe_scores(saved))
    assert [r["learning_rate"] for r in saved["rows"]] == [1e-3, 3e-4]
    assert saved["rows"][0]["backends"][0]["git_commit"]
    assert "Chosen" in lr_probe.probe_path(spec, "smoke", tmp_path).with_suffix(".md").read_text()
    with pytest.raises(FerError, match="candidates must be learning rates"):
        lr_probe.run_probe(spec, "smoke", candidates=(0.0,), reports_root=tmp_path)


def test_every_fallback_is_the_saved_probes_choice():
    """Where a cpu probe is committed, the experiments' fallback learning rate is what it chose."""
    path = lr_probe.probe_path(get_experiments("yousaf2024", "fer2013_official")[0], "cpu", REPO_ROOT / "reports")
    if not path.exists():
        pytest.skip("no cpu learning-rate probe is committed yet (run fer_lib.studies.lr_probe.run_probe)")
    chosen = json.loads(path.read_text())["chosen"]
    for spec in get_experiments("yousaf2024"):
        assert spec.fallback_lr == pytest.approx(chosen), spec.name
