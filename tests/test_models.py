"""The model registry and the yousaf2024 architecture as the paper describes it."""
from __future__ import annotations

import pytest
from keras import layers

from fer_lib.errors import FerError
from fer_lib.models import MODELS, build_model


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
    with pytest.raises(FerError, match="unknown model 'vgg99'; valid models are: " + ", ".join(sorted(MODELS))):
        build_model("vgg99")
