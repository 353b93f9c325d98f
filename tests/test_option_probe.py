"""A model option the paper leaves open is chosen by code, on held-out training images, and saved."""
from __future__ import annotations

import json

import pytest

from fer_lib.config import REPO_ROOT
from fer_lib.errors import FerError
from fer_lib.studies import option_probe
from fer_lib.papers import get_experiments


def test_choose_takes_the_best_score_and_the_first_listed_on_a_tie():
    assert option_probe.choose([(None, 0.25), (0.99, 0.30), (0.9, 0.28)]) == 0.99
    assert option_probe.choose([(None, 0.3), (0.99, 0.3)]) is None


def test_a_smoke_probe_trains_each_candidate_on_training_images_only(tmp_path, data_root, run_cache):
    spec = get_experiments("yousaf2024", "fer2013_official")[0]
    record = option_probe.run_probe(spec, "dense_dropout", (0.5, 0.2), "smoke", steps=2, val_images=40,
                                    data_root=data_root, reports_root=tmp_path)
    saved = json.loads(option_probe.probe_path(spec, "dense_dropout", "smoke", tmp_path).read_text())
    assert saved["chosen"] == record["chosen"] == option_probe.choose([(r["value"], r["val_accuracy"]) for r in saved["rows"]])
    assert [r["value"] for r in saved["rows"]] == [0.5, 0.2]
    assert saved["split_sizes"]["test"] == 0 and saved["split_sizes"]["val"] <= 40
    assert saved["rows"][0]["backends"][0]["git_commit"]
    assert option_probe.saved_choice(spec, "dense_dropout", "smoke", tmp_path) == record["chosen"]


def test_bad_probe_requests_are_clear_errors(tmp_path):
    spec = get_experiments("yousaf2024", "fer2013_official")[0]
    with pytest.raises(FerError, match="has no option 'momentum'; its options are: .*dense_dropout"):
        option_probe.run_probe(spec, "momentum", (0.9, 0.99), reports_root=tmp_path)
    with pytest.raises(FerError, match="at least two candidate values"):
        option_probe.run_probe(spec, "dense_dropout", (0.5,), reports_root=tmp_path)
    with pytest.raises(FerError, match="no smoke probe of yousaf2024 fer2013_official's 'dense_dropout' is saved"):
        option_probe.saved_choice(spec, "dense_dropout", "smoke", tmp_path)


def test_khalid2025_uses_the_bn_momentum_its_cpu_probe_chose():
    spec = get_experiments("khalid2025", "fer2013_standard")[0]
    chosen = option_probe.saved_choice(spec, "bn_momentum", "cpu", REPO_ROOT / "reports")
    for experiment in get_experiments("khalid2025"):
        assert experiment.model_options.get("bn_momentum") == chosen, experiment.name
