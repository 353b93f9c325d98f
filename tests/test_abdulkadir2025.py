"""abdulkadir2025: its claims as data and the checks that found its oddities, the paper's protocols
(validation and test one set, the last epoch evaluated), k-fold runs with a holdout, the deduplicated
test set, loss claims, Eq. (3), the ablation at equal compute, and clear errors for bad input."""
from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from fer_lib.data.splits import folds_description, make_folds, make_split
from fer_lib.errors import FerError
from fer_lib.evaluate import claims as claims_lib
from fer_lib.evaluate.metrics import classification_metrics, recall_beside_specificity
from fer_lib.models import build_model
from fer_lib.papers import get_experiments, get_studies
from fer_lib.papers.abdulkadir2025 import checks
from fer_lib.papers.abdulkadir2025.experiments import PREPROCESS, STUDIES


# ---------------------------------------------------------------------------------------------
# The claims and what a careful reading of them shows


def test_every_table_and_text_claim_is_transcribed_with_its_model():
    claims = claims_lib.load_claims("abdulkadir2025")
    by_id = {c.id: c for c in claims}
    assert by_id["table1_vgg19_validation"].value == 0.6668 and by_id["table1_vgg19_loss"].metric == "loss"
    assert by_id["table3_sequential_val_loss"].value == 0.978 and by_id["table3_sequential_training"].split == "train"
    assert by_id["text_hybrid_training"].value == 0.96 and by_id["text_hybrid_validation"].value == 0.91
    assert by_id["text_vgg19_77"].value == 0.77
    assert by_id["table2_vgg19_recall_disgust"].value == 0.38 and by_id["table4_sequential_f1_neutral"].value == 0.57
    assert all(c.model and c.model.startswith("abdulkadir2025_") for c in claims)
    assert len([c for c in claims if c.class_name]) == 2 * 3 * 7


def test_table2_supports_are_a_10_percent_holdout_of_all_images_and_table4s_are_publictest(fer2013):
    table = checks.support_check(fer2013)
    verdict = table.iloc[-1]
    assert verdict["table2_vgg19"] == "10% hold-out of all images"
    assert verdict["table4_sequential"] == "PublicTest"


def test_table4_weighted_recall_is_not_its_stated_accuracy():
    table4, table2 = checks.weighted_recall("table4_sequential"), checks.weighted_recall("table2_vgg19")
    assert round(table4["weighted_recall"], 3) == 0.655 and table4["stated_accuracy"] == 0.67
    assert abs(table2["weighted_recall"] - table2["stated_accuracy"]) < 0.01
    fig7 = checks.figure7_against_table4().set_index("class")
    assert fig7.loc["neutral", "Fig. 7 correct"] == 418 and fig7.loc["neutral", "Table IV recall x support"] == 310


def test_claims_are_compared_only_with_their_own_models_runs():
    claims = [c for c in claims_lib.load_claims("abdulkadir2025") if c.model in (None, "abdulkadir2025_sequential")]
    assert claims and all("sequential" in c.id for c in claims)


def test_loss_claims_sit_beside_the_final_epochs_logs_without_a_ci():
    claims = [c for c in claims_lib.load_claims("abdulkadir2025") if c.id.startswith("table3_")]
    facts = claims_lib.RunFacts("official", {"validation_is_test": True}, epochs_run=(50,), epochs_planned=50)
    metrics = classification_metrics(np.array([0, 1, 2, 3]), np.array([0, 1, 2, 0]), ["angry", "disgust", "fear", "happy"])
    rows = {r["claim_id"]: r for r in claims_lib.compare(claims, metrics, "fer2013", facts, train_metrics=metrics,
                                                           logs={"loss": 0.9, "val_loss": 1.1})}
    assert rows["table3_sequential_val_loss"]["measured"] == 1.1
    assert rows["table3_sequential_val_loss"]["verdict"] == claims_lib.VERDICT_LOG
    assert rows["table3_sequential_loss"]["measured_on"] == "final epoch's Keras log"
    assert rows["table3_sequential_validation"]["verdict"] == claims_lib.VERDICT_CONSISTENT  # 3 of 4 right: a wide CI
    standard = claims_lib.RunFacts("official", {}, epochs_run=(50,), epochs_planned=50)
    rows = claims_lib.compare(claims, metrics, "fer2013", standard, logs={"loss": 0.9, "val_loss": 1.1})
    assert all(r["verdict"].startswith("different protocol") for r in rows)


# ---------------------------------------------------------------------------------------------
# The protocols


def test_the_papers_protocols_make_validation_and_test_one_set(fer2013):
    holdout = make_split("random_stratified", fer2013, test_fraction=0.1, validation_is_test=True)
    assert holdout.val_is_test and np.array_equal(holdout.val, holdout.test)
    assert len(holdout.test) == 3589 and len(holdout.train) == len(fer2013) - 3589
    public = make_split("official", fer2013, validation_is_test=True)
    assert np.array_equal(public.test, np.flatnonzero(fer2013.split == "PublicTest"))
    assert "no untouched test set" in public.description
    with pytest.raises(FerError, match="validation_is_test must be true or false"):
        make_split("official", fer2013, validation_is_test="yes")
    with pytest.raises(FerError, match="has no option 'folds'.*test_fraction"):
        make_split("random_stratified", fer2013, folds=5)


def test_kfold_within_training_leaves_privatetest_out_of_every_fold(fer2013):
    folds = make_folds("stratified_kfold", fer2013, k=5, within="Training")
    training = np.flatnonzero(fer2013.split == "Training")
    assert np.array_equal(np.sort(np.concatenate([f.test for f in folds])), training)
    private = np.flatnonzero(fer2013.split == "PrivateTest")
    assert not any(np.isin(np.concatenate([f.train, f.val, f.test]), private).any() for f in folds)
    pooled = make_folds("stratified_kfold", fer2013, k=5)
    assert sum(len(f.test) for f in pooled) == len(fer2013)
    with pytest.raises(FerError, match="within='Validation' names no part of fer2013; its parts are: PrivateTest"):
        make_folds("stratified_kfold", fer2013, within="Validation")
    with pytest.raises(FerError, match="unknown k-fold protocol"):
        make_folds("official", fer2013)


def test_every_fold_names_the_whole_cross_validation_beside_its_own_number(fer2013):
    folds = make_folds("stratified_kfold", fer2013, k=5, within="Training")
    assert folds[1].description.startswith("stratified fold 2/5 of Training")
    assert {f.protocol_description for f in folds} == {folds_description("stratified_kfold", k=5, within="Training")}
    assert folds_description("stratified_kfold", k=5, within="Training").startswith("stratified 5-fold cross-validation of Training")
    assert folds_description("stratified_kfold").startswith("stratified 5-fold cross-validation of all images")
    assert folds_description("subject_kfold").startswith("subject-independent 10-fold")  # the fold function's default k
    with pytest.raises(FerError, match="unknown k-fold protocol"):
        folds_description("official")


def test_the_last_epoch_is_evaluated_when_validation_is_the_test_set(run_cache, fer2013, tmp_path):
    """The run selects nothing on the test set: its weights are the last epoch's, not the best one's."""
    from fer_lib.evaluate.runner import train_and_evaluate
    from fer_lib.train import TrainConfig

    small = fer2013.subset(np.concatenate([np.flatnonzero(fer2013.labels == c)[:40] for c in range(7)]))
    split = make_split("random_stratified", small, test_fraction=0.25, validation_is_test=True)
    config = TrainConfig(learning_rate=1e-3, batch_size=32, epochs=2, balance=False, augment="none")
    result = train_and_evaluate("abdulkadir2025_sequential", {}, small, split, config, tmp_path / "run")
    assert result.run.best_epoch is None and result.run.config.restore_best is False
    assert result.run.epochs_run == 2


# ---------------------------------------------------------------------------------------------
# Runs: folds, holdout, deduplicated test, per-class table


def test_a_kfold_experiment_reports_folds_holdout_and_the_deduplicated_test(run_cache, data_root, tmp_path):
    from fer_lib.reporting.experiment_report import rerender
    from fer_lib.studies.experiment_runs import run_experiment

    spec = replace(get_experiments("abdulkadir2025", "hybrid_cv_training")[0], model="abdulkadir2025_sequential")
    result = run_experiment(spec, "smoke", data_root=data_root, reports_root=tmp_path)[0]
    e = json.loads((result.folder / "experiment.json").read_text())
    assert e["unit"] == "fold" and e["seeds"] == [1] and e["holdout"] == "PrivateTest"
    assert {"deduplicated_test", "holdout"} == set(e["extra_scores"])
    assert e["extra_scores"]["holdout"]["n"] == 7 * 24  # the smoke subset's PrivateTest
    assert e["extra_scores"]["deduplicated_test"]["n"] <= e["split_sizes"]["test"]
    # the record names the whole cross-validation, not its first fold, and the images its pooled score covers
    assert e["protocol_description"].startswith("stratified 5-fold cross-validation of Training")
    assert e["split_sizes"]["test_all_folds"] == e["split_sizes"]["test"]  # smoke runs one fold
    for name in ("predictions_fold1.npz", "holdout_predictions_fold1.npz", "history_fold1.csv", "per_class.csv"):
        assert (result.folder / name).exists(), name
    per_class = pd.read_csv(result.folder / "per_class.csv")
    assert "Eq. (3) \"recall\" TN/(TN+FP) = specificity" in per_class.columns
    before = (result.folder / "metrics.json").read_text()
    rerender(result.folder)
    assert (result.folder / "metrics.json").read_text() == before  # recomputed from what the folder saved


def test_eq3_recall_is_specificity_beside_real_recall():
    y_true = np.array([0, 0, 0, 1, 1, 2])
    y_pred = np.array([0, 1, 1, 1, 1, 2])
    table = recall_beside_specificity(classification_metrics(y_true, y_pred, ["a", "b", "c"])).set_index("class")
    assert table.loc["a", "recall TP/(TP+FN)"] == pytest.approx(1 / 3, abs=1e-4)
    assert table.loc["a", "Eq. (3) \"recall\" TN/(TN+FP) = specificity"] == pytest.approx(1.0)
    assert table.loc["b", "Eq. (3) \"recall\" TN/(TN+FP) = specificity"] == pytest.approx(2 / 4, abs=1e-4)
    assert table.loc["macro average", "support"] == 6


# ---------------------------------------------------------------------------------------------
# The ablation


def test_ablation_trains_every_arm_for_the_references_epochs_and_pairs_the_difference(run_cache, data_root, tmp_path):
    from fer_lib.studies.ablation import AblationSpec, rerender_ablation, run_ablation

    base = STUDIES[0]
    spec = AblationSpec(paper="abdulkadir2025", name="sequential_dense", title="test", dataset="fer2013",
                        model="abdulkadir2025_sequential", arms={"full": {}, "small head": {"dense_units": 16}},
                        training=replace(base.training, epochs=2), preprocess=PREPROCESS)
    table = run_ablation(spec, "smoke", data_root=data_root, reports_root=tmp_path)
    assert list(table.arm) == ["full", "small head"]
    assert table.epochs_run.tolist() == ["1/1", "1/1"]  # smoke caps the reference at 1; the arm follows it
    row = table.iloc[1]
    assert row.diff_ci_low <= row.difference_points <= row.diff_ci_high
    # one smoke epoch is too early to call anything an effect of the switch
    # (or, where that one epoch predicted a single class, a collapse)
    assert row.effect in ("not an effect of the switch: 1 epoch trained (fewer than 5, too early to tell)",
                          "not an effect of the switch: the arm collapsed to one class",
                          "not an effect of the switch: the reference collapsed to one class")
    folder = tmp_path / "smoke" / "abdulkadir2025" / "sequential_dense"
    saved = json.loads((folder / "results.json").read_text())
    assert saved["kind"] == "ablation" and saved["runs"][0]["provenance"][0]["git_commit"]
    assert len(list((folder / "predictions").glob("*.npz"))) == 2 and (folder / "report.html").exists()
    before = {name: (folder / name).read_text() for name in ("results.csv", "results.json", "results.md")}
    assert rerender_ablation(folder).equals(pd.read_csv(folder / "results.csv"))
    assert {name: (folder / name).read_text() for name in before} == before  # recomputed from what it saved
    with pytest.raises(FerError, match="holds a report from more evidence"):
        run_ablation(replace(spec, seeds=()), "smoke", data_root=data_root, reports_root=tmp_path)


def test_a_collapsed_or_barely_trained_arm_is_never_read_as_an_effect():
    from fer_lib.studies.ablation import ArmSeed, ablation_table

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)

    def arm(name, proba, epochs):
        return [ArmSeed(name, 0, np.arange(600).astype(str), y, proba, None, pd.DataFrame(), epochs, 10, "x", 1.0,
                        None, [])]

    good = np.eye(3)[np.where(rng.random(600) < 0.8, y, (y + 1) % 3)]
    worse = np.eye(3)[np.where(rng.random(600) < 0.5, y, (y + 1) % 3)]
    one_class = np.eye(3)[np.zeros(600, int)]
    arms = {"full": {}, "switched": {"x": 1}, "collapsed": {"x": 2}}
    table = ablation_table(arms, {"full": arm("full", good, 10), "switched": arm("switched", worse, 10),
                                  "collapsed": arm("collapsed", one_class, 10)}, ["a", "b", "c"],
                           {a: 1 for a in arms}).set_index("arm")
    assert table.loc["switched", "effect"] == "lower (95% CI below zero)"
    assert table.loc["collapsed", "effect"] == "not an effect of the switch: the arm collapsed to one class"
    early = ablation_table({"full": {}, "switched": {"x": 1}}, {"full": arm("full", good, 1),
                                                               "switched": arm("switched", worse, 1)},
                           ["a", "b", "c"], {"full": 1, "switched": 1}).set_index("arm")
    assert early.loc["switched", "effect"].startswith("not an effect of the switch: 1 epoch trained")


def test_an_effect_at_the_evaluated_epoch_that_the_last_epochs_point_against_is_not_settled():
    """One run's last epoch is one draw from its epoch-to-epoch swing: mahdi2025's Kaggle re-split arm
    ended 1.3 points below the reference (CI below zero) after ten epochs 2.2 points above it."""
    from fer_lib.evaluate.metrics import late_epochs
    from fer_lib.studies.ablation import ArmSeed, ablation_table

    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    good = np.eye(3)[np.where(rng.random(600) < 0.8, y, (y + 1) % 3)]
    worse = np.eye(3)[np.where(rng.random(600) < 0.5, y, (y + 1) % 3)]

    def arm(name, proba, late_val):
        history = pd.DataFrame({"epoch": np.arange(1, 51), "val_accuracy": np.r_[np.full(40, 0.3), np.full(10, late_val)]})
        trained_on = [{"backend": "jax", "device": "1 x NVIDIA H200"}] if name == "full" else \
            [{"backend": "tensorflow", "device": "CPU"}, {"backend": "tensorflow", "device": "CPU"}]  # resumed once
        return [ArmSeed(name, 0, np.arange(600).astype(str), y, proba, None, history, 50, 50, "x", 1.0, None, trained_on)]

    arms = {"full": {}, "switched": {"x": 1}}
    names = {"full": 1, "switched": 1}
    against = ablation_table(arms, {"full": arm("full", good, 0.60), "switched": arm("switched", worse, 0.62)},
                             ["a", "b", "c"], names).set_index("arm")
    assert against.loc["switched", "late_val_difference_points"] == 2.0
    assert list(against["trained_on"]) == ["jax, 1 x NVIDIA H200", "tensorflow, CPU"]  # a confound shown
    assert against.loc["switched", "effect"].startswith("not settled: ")
    assert "+2.0 in validation accuracy over the last 10 epochs" in against.loc["switched", "effect"]
    along = ablation_table(arms, {"full": arm("full", good, 0.62), "switched": arm("switched", worse, 0.60)},
                           ["a", "b", "c"], names).set_index("arm")
    assert along.loc["switched", "effect"] == "lower (95% CI below zero)"
    assert [late_epochs(n) for n in (2, 6, 10, 50, 200)] == [2, 3, 3, 10, 10]


def test_the_papers_ablation_and_input_size_studies_switch_real_options():
    for study in STUDIES:
        study.check_arms()
    assert get_studies("abdulkadir2025", "none") == []
    assert [s.name for s in get_studies("abdulkadir2025", "vgg19_input_size")] == ["vgg19_input_size"]
    with pytest.raises(FerError, match="unknown abdulkadir2025 study"):
        get_studies("abdulkadir2025", "dropout")


# ---------------------------------------------------------------------------------------------
# Bad input


def test_bad_model_input_is_a_clear_message():
    from fer_lib.studies.ablation import AblationSpec

    with pytest.raises(FerError, match="too small for VGG19 \\(at least 32x32\\); pass input_size=48"):
        build_model("abdulkadir2025_vgg19", (24, 24, 1))
    with pytest.raises(FerError, match="too small for the Sequential model"):
        build_model("abdulkadir2025_sequential", (16, 16, 1))
    with pytest.raises(FerError, match="branches must be distinct names among resnet50, mobilenetv2, cbam_cnn"):
        build_model("abdulkadir2025_hybrid", branches=("resnet101",))
    with pytest.raises(FerError, match="has no option 'no_dropout'; its options are: .*dropout"):
        build_model("abdulkadir2025_hybrid", no_dropout=True)
    with pytest.raises(FerError, match="weights must be None"):
        build_model("abdulkadir2025_vgg19", weights="imagenet21k")
    bad = AblationSpec(paper="abdulkadir2025", name="x", title="x", dataset="fer2013", model="abdulkadir2025_hybrid",
                       arms={"full": {}, "no attention": {"attention": False}}, training=STUDIES[0].training)
    with pytest.raises(FerError, match="arm 'no attention' switches 'attention', which abdulkadir2025_hybrid does not have"):
        bad.check_arms()
    assert build_model("abdulkadir2025_hybrid", branches=("cbam_cnn",), input_size=None).count_params() < 2_000_000
