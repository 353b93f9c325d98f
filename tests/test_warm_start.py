"""Warm restarts: where a run's starting weights come from, what is refused, and what the record says."""
import json

import keras
import numpy as np
import pytest

from fer_lib.errors import FerError
from fer_lib.evaluate import warm_start
from fer_lib.models import build_model
from fer_lib.train.checkpoint import WEIGHTS_FILE


def _narrow(seed: int) -> keras.Model:
    keras.utils.set_random_seed(seed)
    return build_model("reference_cnn", width=4)


def _same_weights(a: keras.Model, b: keras.Model) -> bool:
    return all(np.array_equal(x, y) for x, y in zip(a.get_weights(), b.get_weights()))


_LEGACY = object()  # a state.json from before it recorded where its run started


def _checkpoint(run_dir, model, stop_reason="completed all planned epochs", epochs=3, best=2, started_from=None):
    run_dir.mkdir(parents=True)
    model.save_weights(run_dir / WEIGHTS_FILE)
    state = {"stop_reason": stop_reason, "epochs_done": epochs, "best_epoch": best}
    if started_from is not _LEGACY:
        state["started_from"] = started_from
    (run_dir / "state.json").write_text(json.dumps(state))
    return run_dir


def _start_record(experiment, epochs):
    return {"experiment": experiment, "where": "checkpoint", "path": "p", "sha256": "0" * 64, "epochs": epochs,
            "best_epoch": 1}


def test_the_source_runs_checkpoint_is_used_only_when_it_completed(tmp_path):
    source = _narrow(0)
    start = warm_start.from_checkpoint("fer2013_standard", _checkpoint(tmp_path / "done", source))
    assert (start.where, start.epochs, start.best_epoch) == ("checkpoint", 3, 2) and len(start.sha256) == 64
    fresh = _narrow(1)
    assert not _same_weights(fresh, source)
    assert _same_weights(warm_start.load_start_weights(fresh, start), source)
    # a run its budget stopped has not annealed: it is no starting point
    assert warm_start.from_checkpoint("x", _checkpoint(tmp_path / "cut", source, "stopped by wall-clock budget")) is None
    assert warm_start.from_checkpoint("x", tmp_path / "absent") is None


def test_a_restarted_checkpoint_counts_the_epochs_before_it_from_its_own_state(tmp_path):
    source = _narrow(0)
    restarted = warm_start.from_checkpoint("fer2013_restart", _checkpoint(
        tmp_path / "restart", source, epochs=40, started_from=_start_record("fer2013_standard", 100)))
    assert (restarted.epochs, restarted.counts_earlier_runs) == (140, True)
    assert "counts_earlier_runs" not in restarted.as_record()
    legacy = warm_start.from_checkpoint("fer2013_restart", _checkpoint(tmp_path / "legacy", source, epochs=40,
                                                                         started_from=_LEGACY))
    assert (legacy.epochs, legacy.counts_earlier_runs) == (40, False)


def test_a_shipped_model_is_used_only_when_its_sidecar_names_the_complete_source_run(tmp_path):
    source = _narrow(0)
    source.save(tmp_path / "model.keras")
    sidecar = {"paper": "reference", "experiment": "fer2013_standard", "profile": "cpu", "n_images": 100,
               "epochs": 100, "epochs_planned": 100, "best_epoch": 74}
    (tmp_path / "model.json").write_text(json.dumps({"source": sidecar}))
    start = warm_start.from_shipped("reference", "fer2013_standard", "cpu", 100, tmp_path)
    assert (start.where, start.epochs, start.best_epoch) == ("shipped model", 100, 74)
    assert _same_weights(warm_start.load_start_weights(_narrow(1), start), source)
    for wrong in [("reference", "fer2013_light_reg", "cpu", 100), ("reference", "fer2013_standard", "paper", 100),
                  ("reference", "fer2013_standard", "cpu", 99)]:
        assert warm_start.from_shipped(*wrong, tmp_path) is None
    (tmp_path / "model.json").write_text(json.dumps({"source": {**sidecar, "epochs": 69}}))  # budget-stopped
    assert warm_start.from_shipped("reference", "fer2013_standard", "cpu", 100, tmp_path) is None
    # a restarted source's sidecar counts the runs before it (`epochs_total`); one from before that does not
    (tmp_path / "model.json").write_text(json.dumps({"source": {**sidecar, "epochs_total": 180}}))
    chained = warm_start.from_shipped("reference", "fer2013_standard", "cpu", 100, tmp_path)
    assert (chained.epochs, chained.counts_earlier_runs) == (180, True)
    (tmp_path / "model.json").write_text(json.dumps({"source": sidecar}))
    assert not warm_start.from_shipped("reference", "fer2013_standard", "cpu", 100, tmp_path).counts_earlier_runs
    with pytest.raises(FerError, match="not the source run's network"):
        warm_start.load_start_weights(keras.Sequential([keras.Input((48, 48, 1)), keras.layers.Flatten(),
                                                        keras.layers.Dense(7)]), start)


def test_a_restart_without_its_source_run_names_the_run_to_train_first(isolated_cache):
    from fer_lib.evaluate.run_store import start_weights
    from fer_lib.papers import get_experiments

    restart = get_experiments("reference", "fer2013_restart")[0]
    assert restart.start_from == "fer2013_standard"
    with pytest.raises(FerError, match="python -m fer_lib train reference fer2013_standard --profile smoke"):
        start_weights(restart, "smoke", 0, 123)
    assert start_weights(get_experiments("reference", "fer2013_standard")[0], "smoke", 0, 123) is None
    second = get_experiments("reference", "fer2013_restart2")[0]
    with pytest.raises(FerError, match="python -m fer_lib train reference fer2013_restart --profile smoke"):
        start_weights(second, "smoke", 0, 123)


def _restart_checkpoint(started_from):
    from fer_lib.evaluate.run_store import unit_run_dir
    from fer_lib.papers import get_experiments

    restart = get_experiments("reference", "fer2013_restart")[0]
    _checkpoint(unit_run_dir(restart, "smoke", restart.training.learning_rate, 0), _narrow(0), epochs=40,
                started_from=started_from)


def test_a_second_restart_needs_only_its_direct_sources_weights(isolated_cache, tmp_path):
    from fer_lib.evaluate.run_store import start_weights
    from fer_lib.papers import get_experiments

    second = get_experiments("reference", "fer2013_restart2")[0]
    # fer2013_standard's weights are nowhere: the restart's checkpoint says the 100 epochs before it
    _restart_checkpoint(_start_record("fer2013_standard", 100))
    start = start_weights(second, "smoke", 0, 123, reports_root=tmp_path / "no reports")
    assert (start.experiment, start.where, start.epochs) == ("fer2013_restart", "checkpoint", 140)


def test_an_older_restart_checkpoint_counts_the_epochs_before_it_from_its_report(isolated_cache, tmp_path):
    from conftest import make_record
    from fer_lib.evaluate.run_store import start_weights
    from fer_lib.papers import get_experiments

    second = get_experiments("reference", "fer2013_restart2")[0]
    _restart_checkpoint(_LEGACY)
    # neither the first run's weights nor the restart's report: the run to train first is named
    with pytest.raises(FerError, match="train reference fer2013_standard --profile smoke"):
        start_weights(second, "smoke", 0, 123, reports_root=tmp_path)
    folder = tmp_path / "smoke" / "reference" / "fer2013_restart"
    folder.mkdir(parents=True)
    make_record(n_images=123, seeds=[0], started_from=[_start_record("fer2013_standard", 100)]).write(folder)
    assert start_weights(second, "smoke", 0, 123, reports_root=tmp_path).epochs == 140
    # a report of another dataset size is not this run's
    with pytest.raises(FerError, match="train reference fer2013_standard"):
        start_weights(second, "smoke", 0, 124, reports_root=tmp_path)


def test_the_snapshot_chain_is_a_chain_of_warm_restarts_among_the_recipes():
    from fer_lib.papers import get_experiments
    from fer_lib.papers.reference.experiments import FER2013_RECIPES, SNAPSHOT_CHAIN

    chain = [get_experiments("reference", name)[0] for name in SNAPSHOT_CHAIN]
    assert set(SNAPSHOT_CHAIN) <= set(FER2013_RECIPES) and chain[0].start_from is None
    assert [spec.start_from for spec in chain[1:]] == list(SNAPSHOT_CHAIN[:-1])
    # a restart comes after the run it starts from, so the notebook trains them in order
    assert all(FER2013_RECIPES.index(spec.start_from) < FER2013_RECIPES.index(spec.name) for spec in chain[1:])


def test_the_record_counts_the_source_runs_epochs_with_its_own():
    from conftest import make_record
    from fer_lib.evaluate.record import EpochsRecord, ExperimentRecord

    epochs = EpochsRecord(planned=40, run_per_seed=[40], best_epoch_per_seed=[31],
                          stop_reasons=["completed all planned epochs"], train_seconds_per_seed=[1.0])
    plain = make_record(epochs=epochs)
    assert plain.total_epochs == 40 and "started_from" not in plain.to_dict()
    restart = make_record(epochs=epochs, started_from=[{"experiment": "fer2013_standard", "where": "checkpoint",
                                                        "path": "p", "sha256": "0" * 64, "epochs": 100,
                                                        "best_epoch": 74}])
    assert restart.total_epochs == 140
    assert ExperimentRecord.from_dict(json.loads(json.dumps(restart.to_dict()))).started_from == restart.started_from
