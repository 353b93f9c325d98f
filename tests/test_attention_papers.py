"""khalid2025 and mahdi2025, reproduced from their abstracts: the attention layers and blocks they are
built from (shapes, weights summing to one or bounded, save/load round trips, the JAX backend), the
models with each mechanism switchable off, the train/validation folder layout of mahdi2025's
dataset, the claims with their reading tables, the ablation that reuses the experiment's runs, and
clear errors for bad input."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import keras
import numpy as np
import pandas as pd
import pytest

from fer_lib.errors import FerError
from fer_lib.models import build_model
from fer_lib.models.attention import DynamicAttention, RegionAttention, SpatialSelfAttention
from fer_lib.models.blocks import multi_scale_block, residual_unit
from fer_lib.train import TrainConfig

ROOT = Path(__file__).resolve().parent.parent


def _feature_maps(n: int = 4, shape: tuple[int, int, int] = (6, 6, 16), seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, *shape)).astype("float32")


def _attention_model(shape: tuple[int, int, int] = (6, 6, 16)) -> keras.Model:
    inputs = keras.Input(shape)
    x = RegionAttention((3, 3), hidden_units=8, name="region")(inputs)
    x = SpatialSelfAttention(2, 8, name="self")(x)
    x = DynamicAttention(reduction=4, num_kernels=3, name="dynamic")(x)
    return keras.Model(inputs, keras.layers.Dense(3)(keras.layers.GlobalAveragePooling2D()(x)))


# ---------------------------------------------------------------------------------------------
# The layers


def test_region_attention_weights_each_region_by_input_and_sum_to_one():
    model = _attention_model()
    layer, maps = model.get_layer("region"), _feature_maps()
    assert tuple(layer(maps).shape) == maps.shape
    weights = np.asarray(layer.region_weights(maps))
    assert weights.shape == (4, 3, 3) and np.allclose(weights.sum(axis=(1, 2)), 1, atol=1e-5) and (weights > 0).all()
    assert np.abs(weights[0] - weights[1]).max() > 1e-4  # dynamic: each image its own weights
    # equal weights (a zero scoring layer) leave the map unchanged: each region x (1/9) x 9
    layer.score.set_weights([np.zeros_like(w) for w in layer.score.get_weights()])
    assert np.allclose(np.asarray(layer(maps)), maps, atol=1e-5)
    assert np.allclose(np.asarray(layer.region_weights(maps)), 1 / 9, atol=1e-6)


def test_self_attention_rows_sum_to_one_and_positions_matter():
    model = _attention_model()
    layer, maps = model.get_layer("self"), _feature_maps()
    scores = np.asarray(layer.attention_weights(maps))
    assert scores.shape == (4, 2, 36, 36) and np.allclose(scores.sum(-1), 1, atol=1e-5)
    out = np.asarray(layer(maps))
    assert out.shape == maps.shape
    # the position embedding makes the layer tell positions apart: with it zeroed, permuting the
    # positions permutes the output; with it, not
    flipped = maps[:, ::-1, ::-1, :]
    layer.position_embedding.assign(np.zeros(layer.position_embedding.shape, "float32"))
    assert np.allclose(np.asarray(layer(flipped)), np.asarray(layer(maps))[:, ::-1, ::-1, :], atol=1e-4)
    layer.position_embedding.assign(np.random.default_rng(1).normal(size=layer.position_embedding.shape).astype("float32"))
    assert not np.allclose(np.asarray(layer(flipped)), np.asarray(layer(maps))[:, ::-1, ::-1, :], atol=1e-3)


def test_dynamic_attention_gates_are_bounded_and_its_kernel_mixing_sums_to_one():
    model = _attention_model()
    layer, maps = model.get_layer("dynamic"), _feature_maps()
    channel, spatial, mixing = (np.asarray(t) for t in layer.gates(maps))
    assert channel.shape == (4, 1, 1, 16) and spatial.shape == (4, 6, 6, 1) and mixing.shape == (4, 3)
    # sigmoids: in (0, 1), which float32 may round to a closed end
    assert ((channel >= 0) & (channel <= 1)).all() and ((spatial >= 0) & (spatial <= 1)).all()
    assert 0 < channel.std() and 0 < spatial.std()
    assert np.allclose(mixing.sum(-1), 1, atol=1e-5) and np.abs(mixing[0] - mixing[1]).max() > 1e-5
    out = np.asarray(layer(maps))
    assert out.shape == maps.shape and (np.abs(out) <= np.abs(maps) + 1e-4).all()  # gates only attenuate


def test_attention_layers_survive_a_save_and_load_round_trip(tmp_path):
    model, maps = _attention_model(), _feature_maps()
    path = tmp_path / "attention.keras"
    model.save(path)
    loaded = keras.models.load_model(path)
    assert np.allclose(loaded.predict(maps, verbose=0), model.predict(maps, verbose=0), atol=1e-6)
    assert loaded.get_layer("region").grid == (3, 3) and loaded.get_layer("dynamic").num_kernels == 3


def test_attention_layers_load_under_mixed_precision_as_saved(tmp_path):
    """Sublayers take the layer's dtype policy: a mixed-precision model loaded outside any policy
    scope (as a resumed checkpoint is) computes as it did."""
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        model = _attention_model()
    finally:
        keras.config.set_dtype_policy("float32")
    maps = _feature_maps()
    model.save(tmp_path / "mixed.keras")
    loaded = keras.models.load_model(tmp_path / "mixed.keras")
    assert loaded.get_layer("self").attention.dtype_policy.name == "mixed_bfloat16"
    assert np.allclose(loaded.predict(maps, verbose=0), model.predict(maps, verbose=0), atol=1e-6)


JAX_ROUND_TRIP = """
import json, sys
import numpy as np, keras
sys.path.insert(0, "tests")
from test_attention_papers import _attention_model, _feature_maps
from fer_lib.models import build_model
maps = _feature_maps()
saved = keras.models.load_model(sys.argv[1])  # saved under TensorFlow
model = _attention_model()
model.save(sys.argv[2]); again = keras.models.load_model(sys.argv[2])
region = np.asarray(model.get_layer("region").region_weights(maps))
scores = np.asarray(model.get_layer("self").attention_weights(maps))
built = {name: build_model(name).count_params() for name in ("khalid2025_attention_cnn", "mahdi2025_multiscale_attention_net")}
print(json.dumps({"backend": keras.backend.backend(), "tf_saved": np.asarray(saved.predict(maps, verbose=0)).tolist(),
                  "round_trip": float(np.abs(again.predict(maps, verbose=0) - model.predict(maps, verbose=0)).max()),
                  "region_sums": region.sum(axis=(1, 2)).tolist(), "score_sums": scores.sum(-1).ravel().tolist(),
                  "params": built}))
"""


# imports nothing of the paper's models: a fresh process must find the custom layers registered by the runner
TRAIN_SMALL_MAHDI2025 = """
from fer_lib.data import prepare
from fer_lib.data.splits import official
from fer_lib.evaluate.runner import train_and_evaluate
from fer_lib.train import TrainConfig


def train_small_mahdi2025(run_dir, data_root, budget_seconds):
    ds = prepare("fer2013", data_root, per_class=4).dataset
    config = TrainConfig(learning_rate=1e-3, batch_size=16, epochs=2, collapse_patience=None,
                         budget_seconds=budget_seconds)
    return train_and_evaluate("mahdi2025_multiscale_attention_net", {"stage_filters": (8, 8, 8), "stem_filters": 8},
                              ds, official(ds), config, run_dir).run
"""
RESUME_IN_A_FRESH_PROCESS = TRAIN_SMALL_MAHDI2025 + """
import json, sys
run = train_small_mahdi2025(sys.argv[1], sys.argv[2], None)
print(json.dumps({"epochs": run.epochs_run, "resumed_from": run.resumed_from_epoch}))
"""


def test_a_checkpoint_with_custom_layers_resumes_in_a_fresh_process(tmp_path, data_root):
    """`fer-lib train` in a new session loads the last checkpoint before it builds anything: the paper's custom
    layers (mahdi2025's DynamicAttention) must be registered by then (it once failed: "Could not locate class")."""
    here: dict = {}
    exec(TRAIN_SMALL_MAHDI2025, here)  # a narrow network on four images a class, two planned epochs
    first = here["train_small_mahdi2025"](tmp_path / "run", data_root, 1.0)  # the budget stops it after epoch 1
    assert (first.epochs_run, first.resumed_from_epoch) == (1, 0)
    out = subprocess.run([sys.executable, "-c", RESUME_IN_A_FRESH_PROCESS, str(tmp_path / "run"), str(data_root)],
                         cwd=ROOT, capture_output=True, text=True, timeout=600, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == {"epochs": 2, "resumed_from": 1}


def test_the_layers_and_both_models_work_under_jax(tmp_path):
    pytest.importorskip("jax")
    model, maps = _attention_model(), _feature_maps()
    model.save(tmp_path / "tf.keras")
    out = subprocess.run([sys.executable, "-c", JAX_ROUND_TRIP, str(tmp_path / "tf.keras"), str(tmp_path / "jax.keras")],
                         cwd=ROOT, capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "jax"})
    assert out.returncode == 0, out.stderr[-3000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert result["backend"] == "jax" and result["round_trip"] < 1e-5
    assert np.allclose(result["tf_saved"], model.predict(maps, verbose=0), atol=1e-4)  # a TF file, same outputs
    assert np.allclose(result["region_sums"], 1, atol=1e-5) and np.allclose(result["score_sums"], 1, atol=1e-5)
    assert result["params"] == {"khalid2025_attention_cnn": build_model("khalid2025_attention_cnn").count_params(),
                                "mahdi2025_multiscale_attention_net": build_model("mahdi2025_multiscale_attention_net").count_params()}


def test_multi_scale_block_and_residual_projection():
    inputs = keras.Input((12, 12, 8))
    x = multi_scale_block(inputs, 20, "ms", dilations=(0, 1, 2))
    model = keras.Model(inputs, residual_unit(inputs, x, "res"))
    names = [layer.name for layer in model.layers]
    assert {"ms_1x1_conv", "ms_3x3_d1_conv", "ms_3x3_d2_conv", "res_projection"} <= set(names)
    assert model.get_layer("ms_3x3_d2_conv").dilation_rate == (2, 2)
    assert sum(model.get_layer(n).filters for n in ("ms_1x1_conv", "ms_3x3_d1_conv", "ms_3x3_d2_conv")) == 20
    assert model.output.shape[1:] == (12, 12, 20)
    same = keras.Input((12, 12, 20))
    identity = keras.Model(same, residual_unit(same, multi_scale_block(same, 20, "ms2"), "res2"))
    assert not any("projection" in layer.name for layer in identity.layers)  # shapes match: identity shortcut
    with pytest.raises(FerError, match="dilations"):
        multi_scale_block(inputs, 8, "bad", dilations=(1, -1))


# ---------------------------------------------------------------------------------------------
# The models, their switches and bad input


def test_khalid2025_model_switches_each_attention_off():
    full = build_model("khalid2025_attention_cnn")
    names = {layer.name for layer in full.layers}
    assert {"region_attention", "self_attention", "mobilenetv2_backbone", "upscale"} <= names
    assert full.get_layer("mobilenetv2_backbone").output.shape[1:3] == (6, 6)
    neither = build_model("khalid2025_attention_cnn", region_attention=False, self_attention=False)
    assert not {"region_attention", "self_attention"} & {layer.name for layer in neither.layers}
    assert neither.count_params() < full.count_params()
    images = np.random.default_rng(0).integers(0, 256, (2, 48, 48, 1)).astype("float32")
    assert np.allclose(full.predict(images, verbose=0).sum(1), 1, atol=1e-5)



def test_khalid2025_bn_momentum_sets_every_backbone_batch_norm_and_survives_a_save(tmp_path):
    def momenta(model):
        return {float(layer.momentum) for layer in model._flatten_layers()
                if isinstance(layer, keras.layers.BatchNormalization)}

    assert momenta(build_model("khalid2025_attention_cnn")) == {0.999}  # MobileNetV2's own
    model = build_model("khalid2025_attention_cnn", bn_momentum=0.99, self_attention=False)
    assert momenta(model) == {0.99}
    model.save(tmp_path / "m.keras")
    assert momenta(keras.models.load_model(tmp_path / "m.keras")) == {0.99}
    with pytest.raises(FerError, match=r"bn_momentum must be a number in \(0, 1\) or None"):
        build_model("khalid2025_attention_cnn", bn_momentum=1.5)

def test_mahdi2025_model_switches_its_attention_off():
    full = build_model("mahdi2025_multiscale_attention_net")
    assert sum(isinstance(layer, DynamicAttention) for layer in full.layers) == 3
    assert full.get_layer("stage3_pool").output.shape[1:3] == (6, 6)
    off = build_model("mahdi2025_multiscale_attention_net", dynamic_attention=False)
    assert not any(isinstance(layer, DynamicAttention) for layer in off.layers)
    single = build_model("mahdi2025_multiscale_attention_net", multi_scale=False)
    assert not any("_1x1_conv" in layer.name and "multiscale" in layer.name for layer in single.layers)


def test_bad_backbone_grid_and_input_size_are_clear_errors():
    with pytest.raises(FerError, match="unknown backbone 'resnet18'; valid backbones are: mobilenetv2, resnet50, vgg16"):
        build_model("khalid2025_attention_cnn", backbone="resnet18")
    with pytest.raises(FerError, match=r"region grid 4x4 does not fit the 6x6 feature map.*grids that fit: .*3x3"):
        build_model("khalid2025_attention_cnn", region_grid=(4, 4), self_attention=False)
    with pytest.raises(FerError, match=r"too small for khalid2025's mobilenetv2 backbone with a 3x3 region grid"):
        build_model("khalid2025_attention_cnn", input_size=32)
    with pytest.raises(FerError, match=r"a 4x4 input is too small for 3 stages of 2x2 pooling \(at least 8x8\)"):
        build_model("mahdi2025_multiscale_attention_net", (4, 4, 1))
    with pytest.raises(FerError, match="region grid must be two positive integers"):
        RegionAttention((0, 3))
    with pytest.raises(FerError, match="needs a feature map of known shape"):
        RegionAttention()(keras.Input((16,)))


def test_augmentation_settings_change_a_checkpoint_only_when_set():
    """Runs checkpointed before `flip` and `rotation_degrees` existed keep their identity (they resume)."""
    default = TrainConfig()
    assert "flip" not in default.identity() and "rotation_degrees" not in default.identity()
    changed = TrainConfig(flip="horizontal", rotation_degrees=10.0)
    assert changed.identity()["flip"] == "horizontal" and changed.identity() != default.identity()
    with pytest.raises(FerError, match="flip must be one of"):
        TrainConfig(flip="diagonal")


# ---------------------------------------------------------------------------------------------
# mahdi2025's dataset layout: FER2013's images in train/ and validation/ folders


@pytest.fixture
def train_validation_tree(tmp_path, data_root) -> tuple[Path, dict[str, set[str]]]:
    """The Kaggle face-expression-recognition-dataset layout, written from real FER2013 images with
    numbered names: train/ holds Training images, validation/ PublicTest and PrivateTest ones."""
    root = tmp_path / "face-expression-recognition-dataset" / "images"
    origin: dict[str, set[str]] = {"train": set(), "validation": set()}
    number = 0
    for part, prefixes, source in (("train", ("Training",), "train"), ("validation", ("PublicTest", "PrivateTest"), "test")):
        for cls_dir in sorted((data_root / "fer2013" / source).iterdir()):
            (root / part / cls_dir.name).mkdir(parents=True)
            for prefix in prefixes:
                for f in sorted(cls_dir.glob(f"{prefix}_*.jpg"))[:3]:
                    number += 1
                    shutil.copy(f, root / part / cls_dir.name / f"{number}.jpg")
                    origin[part].add(prefix)
    return tmp_path, origin


def test_the_train_validation_layout_loads_with_its_own_split(train_validation_tree, fer2013, isolated_cache):
    from fer_lib.data import count_differences, load_fer2013
    from fer_lib.data.fer2013 import FOLDER_LAYOUT, match_official_split
    from fer_lib.data.splits import make_split

    root, _ = train_validation_tree
    data = load_fer2013(root)
    assert data.layout == FOLDER_LAYOUT and len(data) == 7 * 3 + 7 * 6
    assert set(data.split) == {"train", "validation"} and data.ids[0].startswith("train/angry/")
    assert count_differences(data)[0] == "all/angry: 9 images, the public release has 4953 (-4944)"  # totals only
    split = make_split("train_validation_folders", data)
    assert split.val_is_test and len(split.train) == 21 and np.array_equal(split.val, split.test)
    with pytest.raises(FerError, match="has none in Training, PublicTest, PrivateTest"):
        make_split("official", data)
    with pytest.raises(FerError, match="needs the face-expression-recognition-dataset layout"):
        make_split("train_validation_folders", fer2013)
    table = match_official_split(data, fer2013).set_index("folder")
    assert table.loc["train", "images"] == 21 and table.loc["validation", "images"] == 42
    # every copied image is found in the part it came from (or, for FER2013's own duplicates, several)
    assert table.loc["train", "Training"] + table.loc["train", "ambiguous"] == 21
    assert table.loc["validation", ["PublicTest", "PrivateTest", "ambiguous"]].sum() == 42
    assert table.loc["validation", "Training"] == 0 and table.loc[:, "unmatched"].sum() == 0


# ---------------------------------------------------------------------------------------------
# Claims, reading tables, runs


def test_claims_and_reading_tables():
    from fer_lib.evaluate import claims as claims_lib
    from fer_lib.reporting.pages import reading_table

    khalid = {c.id: c for c in claims_lib.load_claims("khalid2025")}
    mahdi = {c.id: c for c in claims_lib.load_claims("mahdi2025")}
    assert khalid["abstract_fer2013"].value == 0.83 and mahdi["abstract_accuracy"].value == 0.961
    facts = claims_lib.RunFacts(protocol="official", protocol_description="FER2013 Training / PublicTest / PrivateTest")
    assert claims_lib.verdict(mahdi["abstract_accuracy"], 0.6, (0.58, 0.62), facts, ["angry"]).startswith("different protocol")
    assert claims_lib.verdict(khalid["abstract_fer2013"], 0.6, (0.58, 0.62), facts, ["angry"]).startswith("not reproduced")
    for paper in ("khalid2025", "mahdi2025"):
        table = reading_table(paper)
        assert list(table.columns) == ["what the paper says", "what we built", "why"] and len(table) >= 5
    assert reading_table("yousaf2024") is None


def test_an_ablation_reuses_its_experiments_run_and_a_budget_stopped_arm_continues_in_a_fresh_checkout(
        run_cache, data_root, tmp_path, monkeypatch):
    """The reference arm is the experiment's own run, read from its report and never trained again.
    `budget_minutes` caps the other arm: stopped short of the reference's epochs it is not compared yet, its look
    is logged and its checkpoint kept with the report (a re-render keeps it); from an empty cache a larger budget
    continues it to the reference's epochs. (One test: the experiment's run is the slow part of both.)"""
    from fer_lib import config
    from fer_lib.evaluate import test_looks
    from fer_lib.papers import get_experiments
    from fer_lib.papers.mahdi2025.experiments import STUDIES
    from fer_lib.studies.ablation import rerender_ablation, run_ablation
    from fer_lib.studies.experiment_runs import run_experiment

    monkeypatch.setitem(config.PROFILES, "smoke", replace(config.PROFILES["smoke"], max_epochs=2))
    small = {"stage_filters": (8, 16, 16), "stem_filters": 8}
    spec = replace(get_experiments("mahdi2025", "fer2013_standard")[0], model_options=small)
    study = replace(STUDIES[0], arms={"with dynamic attention": small,
                                      "without dynamic attention": {**small, "dynamic_attention": False}})
    monkeypatch.setattr("fer_lib.papers.mahdi2025.experiments.EXPERIMENTS", [spec])
    reports = tmp_path / "reports"
    result = run_experiment(spec, "smoke", data_root=data_root, reports_root=reports)[0]
    reference_dir = tmp_path / "cache" / "runs" / "smoke" / "mahdi2025" / "fer2013_standard" / "lr0.001" / "seed0"
    state = json.loads((reference_dir / "state.json").read_text())
    stopped = run_ablation(study, "smoke", data_root=data_root, reports_root=reports, budget_minutes=1e-4)
    # the reference: the experiment's run, not retrained
    assert json.loads((reference_dir / "state.json").read_text())["elapsed_seconds"] == state["elapsed_seconds"]
    assert not (tmp_path / "cache" / "runs" / "smoke" / "mahdi2025" / "attention_ablation" / "with_dynamic_attention").exists()
    assert stopped.loc[0, "accuracy"] == round(result.metrics["accuracy"], 4)
    folder = reports / "smoke" / "mahdi2025" / "attention_ablation"
    assert "What the paper says, what we built, and why" in (folder / "report.html").read_text()
    experiment_page = (result.folder / "report.html").read_text()
    assert "What the paper says, what we built, and why" in experiment_page and "dynamic convolution" in experiment_page
    # the arm, stopped by its budget after one of the reference's two epochs
    kept = folder / "checkpoint_without_dynamic_attention_seed0"
    assert list(stopped["epochs_run"]) == ["2/2", "1/2"]
    assert stopped.loc[1, "effect"].startswith("not yet comparable: the arm trained 1 of the reference's 2 epochs")
    assert pd.isna(stopped.loc[1, "late_val_difference_points"])  # its last epochs are not the reference's
    assert (kept / "state.json").exists() and (kept / "last.keras").exists()
    looks = [r for r in test_looks.read_log(reports) if r["experiment"].startswith("attention_ablation")]
    assert [(r["experiment"], r["epochs"]) for r in looks] == [("attention_ablation: without dynamic attention", "1/2")]
    rerender_ablation(folder)
    assert (kept / "state.json").exists()  # a re-render keeps what continues the run

    shutil.rmtree(tmp_path / "cache" / "runs")  # a fresh checkout: only the reports travel
    first_epoch = (folder / "histories" / "without_dynamic_attention_seed0.csv").read_text().splitlines()[1]
    done = run_ablation(study, "smoke", data_root=data_root, reports_root=reports, budget_minutes=30)
    assert list(done["epochs_run"]) == ["2/2", "2/2"] and not done.loc[1, "effect"].startswith("not yet")
    history = (folder / "histories" / "without_dynamic_attention_seed0.csv").read_text().splitlines()
    assert len(history) == 3 and history[1] == first_epoch  # continued, not trained afresh
    assert not kept.exists()
    with pytest.raises(FerError, match="weaker|fewer|replace"):
        run_ablation(study, "smoke", data_root=data_root, reports_root=reports, budget_minutes=1e-4)
    with pytest.raises(FerError, match="its reference arm is not experiment fer2013_standard .*differ in training"):
        run_ablation(replace(study, training=replace(study.training, epochs=3)), "smoke", data_root=data_root,
                     reports_root=reports)


def test_fine_tuning_starts_from_the_fer2013_model_and_unfreezes_only_the_top_blocks(run_cache, data_root, tmp_path,
                                                                                      small_khalid2025_backbone):
    """The frozen phase leaves every backbone weight as pretrained; the second phase changes only the
    top blocks (batch normalization kept frozen); the scratch arm shares nothing with the source."""
    from fer_lib.studies.experiment_runs import run_experiment
    from fer_lib.papers import get_experiments
    from fer_lib.papers.khalid2025.experiments import STUDIES
    from fer_lib.papers.khalid2025.models import top_layers
    from fer_lib.studies.fine_tune import pretrained_model, run_fine_tuning

    # the freezing is tested, on the small backbone
    study = STUDIES[1]
    with pytest.raises(FerError, match="has no checkpoint at .* run that experiment first"):
        run_fine_tuning(study, "smoke", data_root=data_root, reports_root=tmp_path / "reports")
    run_experiment(get_experiments("khalid2025", "fer2013_standard")[0], "smoke", data_root=data_root,
                   reports_root=tmp_path / "reports")
    table = run_fine_tuning(study, "smoke", data_root=data_root, reports_root=tmp_path / "reports")
    assert list(table.arm) == ["fine-tuned from the pretrained model", "from scratch"] and "diff_ci_low" in table
    source = pretrained_model(study, "smoke").get_layer("mobilenetv2_backbone")
    runs = tmp_path / "cache" / "runs" / "smoke" / "khalid2025" / "ckplus_fine_tuning"
    frozen = keras.models.load_model(runs / "fine_tuned_frozen" / "seed0" / "last.keras").get_layer("mobilenetv2_backbone")
    assert all(np.array_equal(a, b) for a, b in zip(frozen.get_weights(), source.get_weights()))
    tuned_model = keras.models.load_model(runs / "fine_tuned_top" / "seed0" / "last.keras")
    tuned = tuned_model.get_layer("mobilenetv2_backbone")
    top = {layer.name for layer in top_layers(tuned_model, "mobilenetv2")}
    for layer, before in ((a, b) for a, b in zip(tuned.layers, source.layers) if a.weights):
        trainable_top = layer.name in top and not isinstance(layer, keras.layers.BatchNormalization)
        assert layer.trainable == trainable_top, layer.name
        same = all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), before.get_weights()))
        assert same or trainable_top, layer.name
    assert any(not all(np.array_equal(a, b) for a, b in zip(layer.get_weights(), before.get_weights()))
               for layer, before in zip(tuned.layers, source.layers) if layer.name in top)
    scratch = keras.models.load_model(runs / "scratch" / "seed0" / "last.keras").get_layer("mobilenetv2_backbone")
    assert not np.array_equal(scratch.get_weights()[0], source.get_weights()[0])
    results = json.loads((tmp_path / "reports" / "smoke" / "khalid2025" / "ckplus_fine_tuning" / "results.json").read_text())
    assert results["kind"] == "fine_tuning" and results["source_experiment"] == "fer2013_standard"
    # how far the pretrained model got, from its report, beside the fine-tuning
    source_record = json.loads((tmp_path / "reports" / "smoke" / "khalid2025" / "fer2013_standard"
                                / "experiment.json").read_text())
    assert results["source_model"]["epochs_run"] == source_record["epochs"]["run_per_seed"][0]
    assert results["source_model"]["accuracy"] == pytest.approx(source_record["accuracy"])
    assert f"{100 * source_record['accuracy']:.1f}% on its test split" in results["note"]


def test_a_last_epoch_score_stands_beside_the_swing_of_its_last_epochs(tmp_path):
    """Where validation is the test set the last epoch is scored: the record and the summary give the same images'
    scores over the last epochs (mahdi2025's committed Kaggle re-split run, re-rendered from its saved files); a run
    that selects its epoch on another set has none."""

    from fer_lib.config import REPO_ROOT
    from fer_lib.reporting.experiment_report import rerender
    from fer_lib.reporting.pages import experiment_summary

    copies = {}
    for name in ("fer2013_kaggle_resplit", "fer2013_standard"):
        copies[name] = tmp_path / "paper" / "mahdi2025" / name
        shutil.copytree(REPO_ROOT / "reports" / "paper" / "mahdi2025" / name, copies[name])
    resplit = rerender(copies["fer2013_kaggle_resplit"])
    val = pd.read_csv(copies["fer2013_kaggle_resplit"] / "history_seed0.csv")["val_accuracy"]
    assert resplit.accuracy == pytest.approx(val.iloc[-1], abs=1e-4)  # the last epoch, as scored
    assert resplit.late_validation == {"epochs": 10, "mean": pytest.approx(val.iloc[-10:].mean()),
                                       "min": pytest.approx(val.iloc[-10:].min()), "max": pytest.approx(val.iloc[-10:].max())}
    assert (f"over the last 10 epochs the same images scored {100 * val.iloc[-10:].min():.1f}%-"
            f"{100 * val.iloc[-10:].max():.1f}%") in experiment_summary(resplit)
    assert "The last epoch is scored (validation is the test set)" in (copies["fer2013_kaggle_resplit"] / "report.html").read_text()
    standard = rerender(copies["fer2013_standard"])
    assert standard.late_validation is None and "last epoch is scored" not in experiment_summary(standard)
    assert "last epoch is scored" not in (copies["fer2013_standard"] / "report.html").read_text()


def test_the_kaggle_resplit_has_the_downloads_counts_and_its_claim_is_compared_like_for_like(fer2013):
    from fer_lib.data.splits import KAGGLE_VALIDATION_COUNTS, make_split
    from fer_lib.evaluate import claims

    split = make_split("kaggle_resplit", fer2013, seed=0)
    counts = dict(zip(fer2013.class_names, np.bincount(fer2013.labels[split.test]).tolist()))
    assert counts == KAGGLE_VALIDATION_COUNTS and len(split.train) == 28821 and split.val_is_test
    assert not set(split.train) & set(split.test)
    other = make_split("kaggle_resplit", fer2013, seed=1)
    assert not np.array_equal(other.test, split.test)  # seeded: another seed, another draw
    held = make_split("kaggle_resplit", fer2013, seed=0, validation_is_test=False)
    np.testing.assert_array_equal(held.test, split.test)
    assert not set(held.val) & set(held.test) and len(held.train) + len(held.val) == 28821
    facts = claims.RunFacts("kaggle_resplit", {}, split.protocol_description, (50,), 50, optimizer="adam",
                            learning_rate=1e-3)
    rows = claims.compare(claims.load_claims("mahdi2025"), {"accuracy": 0.6, "accuracy_ci": (0.59, 0.61), "per_class": {},
                                                             "class_names": list(fer2013.class_names)}, "fer2013", facts)
    assert rows[0]["verdict"].startswith(claims.VERDICT_BELOW)  # like for like, at our reading, which it names
    assert "at our reading of a protocol the paper does not state" in rows[0]["verdict"]
