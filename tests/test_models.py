"""The model registry and the yousaf2024 architecture as the paper describes it."""
from __future__ import annotations

import pytest
from keras import layers

from fer_lib.errors import FerError
from fer_lib.models import build_model, model_names, paper_batch_size


def test_yousaf2024_shape_and_parameter_count():
    model = build_model("yousaf2024", (48, 48, 1), 7)
    assert model.output_shape == (None, 7)
    # conv 3x3: 1->32, 32->64, 64->128, 128->256; flatten 3*3*256; Dense 256; Dense 7
    expected = (9 * 1 * 32 + 32) + (9 * 32 * 64 + 64) + (9 * 64 * 128 + 128) + (9 * 128 * 256 + 256) \
        + (3 * 3 * 256 * 256 + 256) + (256 * 7 + 7)
    assert model.count_params() == expected == 979_719


def test_yousaf2024_has_pooling_and_dropout_after_every_convolution_and_two_dense_layers():
    model = build_model("yousaf2024", (48, 48, 1), 7)
    kinds = [type(layer).__name__ for layer in model.layers]
    convs = [i for i, k in enumerate(kinds) if k == "Conv2D"]
    assert len(convs) == 4
    for i in convs:
        assert kinds[i + 1: i + 4] == ["Activation", "MaxPooling2D", "Dropout"]
    dense = [layer for layer in model.layers if isinstance(layer, layers.Dense)]
    assert len(dense) == 2 and dense[-1].activation.__name__ == "softmax"
    assert not any(isinstance(layer, layers.BatchNormalization) for layer in model.layers)


def test_number_of_classes_follows_the_dataset():
    assert build_model("yousaf2024", (48, 48, 1), 8).output_shape == (None, 8)


def test_unknown_model_lists_the_registry():
    with pytest.raises(FerError, match="unknown model 'vgg99'; valid models are: " + ", ".join(sorted(model_names()))):
        build_model("vgg99")


def test_forward_flops_of_yousaf2024_match_a_hand_count():
    from fer_lib.models.complexity import forward_flops

    convs = 2 * 9 * (1 * 32 * 48 * 48 + 32 * 64 * 24 * 24 + 64 * 128 * 12 * 12 + 128 * 256 * 6 * 6)
    dense = 2 * (3 * 3 * 256 * 256 + 256 * 7)
    assert forward_flops(build_model("yousaf2024")) == convs + dense == 66_211_328


def test_vgg19_has_vgg19s_sixteen_convolutions_and_a_small_head():
    model = build_model("abdulkadir2025_vgg19", (48, 48, 1), 7)
    backbone = model.get_layer("vgg19")
    assert sum(isinstance(layer, layers.Conv2D) for layer in backbone.layers) == 16
    assert backbone.output_shape == (None, 1, 1, 512) and model.output_shape == (None, 7)


def test_hybrid_fuses_three_branches_and_its_ablation_drops_dropout_and_batch_norm():
    model = build_model("abdulkadir2025_hybrid", (48, 48, 1), 7)
    fusion = model.get_layer("feature_fusion")
    assert len(fusion.input) == 3
    assert fusion.output.shape[-1] == 2 * 2 * 2048 + 2 * 2 * 1280 + 6 * 6 * 128  # ResNet50, MobileNetV2, CBAM CNN
    ablated = build_model("abdulkadir2025_hybrid", (48, 48, 1), 7, dropout=0.0, batch_norm=False)
    top = [type(layer).__name__ for layer in ablated.layers]
    assert "Dropout" not in top and "BatchNormalization" not in top


def test_cbam_reweights_without_changing_shape():
    import keras
    import numpy as np

    from fer_lib.models.blocks import cbam

    inputs = keras.Input((12, 12, 16))
    model = keras.Model(inputs, cbam(inputs, name="att"))
    x = np.random.default_rng(0).random((2, 12, 12, 16)).astype("float32")
    y = np.asarray(model(x))
    assert y.shape == x.shape
    assert np.all(y <= x + 1e-6) and np.all(y >= 0)  # sigmoid weights in (0, 1) scale non-negative inputs down


def test_imagenet_weights_offline_fail_with_a_clear_message(monkeypatch):
    from keras.src.utils import file_utils

    def offline(*args, **kwargs):
        raise Exception("URL fetch failure on https://example.invalid/vgg19.h5: None -- [Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(file_utils, "get_file", offline)
    with pytest.raises(FerError, match=r"could not download the ImageNet weights of VGG19 .*weights=None"):
        build_model("abdulkadir2025_vgg19", (48, 48, 1), 7, weights="imagenet")
    with pytest.raises(FerError, match="weights must be None .* or 'imagenet'"):
        build_model("abdulkadir2025_vgg19", (48, 48, 1), 7, weights="places365")


@pytest.mark.parametrize("name", ["yousaf2024", "abdulkadir2025_sequential", "abdulkadir2025_vgg19", "abdulkadir2025_hybrid"])
def test_every_model_takes_0_255_pixels_and_scales_them_itself(name):
    import numpy as np

    model = build_model(name, (48, 48, 1), 7)
    rescaling = [layer for layer in model._flatten_layers() if isinstance(layer, layers.Rescaling)]
    assert rescaling and all(layer.scale in (1 / 255, 2 / 255) for layer in rescaling)
    # a saved model carries its scaling: the same pixels give the same output after a round trip
    x = np.random.default_rng(0).integers(0, 256, (2, 48, 48, 1)).astype("float32")
    assert np.asarray(model(x)).shape == (2, 7)


def test_the_registry_is_filled_by_the_builders_and_knows_each_papers_batch():
    names = model_names()
    assert {"yousaf2024", "abdulkadir2025_sequential", "abdulkadir2025_vgg19", "abdulkadir2025_hybrid"} <= set(names)
    assert paper_batch_size("yousaf2024") == 16  # stated by the paper
    assert paper_batch_size("abdulkadir2025_vgg19") == 32  # unstated: Keras's default


def test_include_top_false_gives_the_feature_map():
    assert build_model("yousaf2024", (48, 48, 1), 7, include_top=False).output_shape == (None, 3, 3, 256)
    logits = build_model("yousaf2024", (48, 48, 1), 7, classifier_activation=None)
    assert logits.get_layer("predictions").activation.__name__ == "linear"
