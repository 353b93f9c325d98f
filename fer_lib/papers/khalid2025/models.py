"""khalid2025's model, built from its abstract: "a novel CNN-based real-time FER framework [that]
incorporates dynamic region attention and self-attention mechanisms ... fine-tuned ... with
transfer learning".

`build_attention_cnn` reads it as: an ImageNet-style CNN backbone (keras.applications, `weights`
None from scratch or "imagenet"), cut at its stride-16 feature map (for 48x48 faces upscaled to
96x96 inside the model, a 6x6 map, so the attention has regions and positions to weigh); then
`RegionAttention` over a 3x3 grid of facial regions (brows, eyes, mouth by rows), then
`SpatialSelfAttention` over the 36 positions; then global average pooling, dropout and softmax.
`region_attention=False` / `self_attention=False` switch each mechanism off (the ablation).

`BACKBONES` says, per backbone, where it is cut, which layers are its "top blocks" (unfrozen in the
second phase of fine-tuning) and what input scaling its ImageNet weights expect.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import keras
from keras import layers

from ...errors import FerError
from ...models.attention import RegionAttention, SpatialSelfAttention
from ...models.blocks import KERAS_APPLICATIONS_MIN_SIZE, backbone_input, classifier, keras_backbone, upscaled
from ...models.registry import register

PAPER = "khalid2025"


@dataclass(frozen=True)
class Backbone:
    """A keras.applications network as khalid2025's backbone: cut at `feature_layer` (stride 16);
    `top_from` is the first layer of the blocks fine-tuned in the second phase; `input_style` the
    scaling its weights expect (`blocks.backbone_input`)."""

    constructor: Callable[..., keras.Model]
    feature_layer: str
    top_from: str
    input_style: str


BACKBONES = {
    "mobilenetv2": Backbone(keras.applications.MobileNetV2, "block_12_add", "block_10_expand", "tf"),
    "resnet50": Backbone(keras.applications.ResNet50, "conv4_block6_out", "conv4_block5_1_conv", "caffe"),
    "vgg16": Backbone(keras.applications.VGG16, "block5_conv3", "block5_conv1", "caffe"),
}
FEATURE_STRIDE = 16


def backbone_layer_name(backbone: str) -> str:
    """The name of the backbone sub-model inside the built model."""
    return f"{backbone}_backbone"


def top_layers(model: keras.Model, backbone: str) -> list[keras.layers.Layer]:
    """The backbone's layers from its `top_from` layer on: the blocks fine-tuned in the second phase."""
    inner = model.get_layer(backbone_layer_name(backbone))
    names = [layer.name for layer in inner.layers]
    return inner.layers[names.index(BACKBONES[backbone].top_from):]


@register("khalid2025_attention_cnn", paper=PAPER)
def build_attention_cnn(input_shape: tuple[int, int, int] = (48, 48, 1), num_classes: int = 7, *,
                        classifier_activation: str | None = "softmax", backbone: str = "mobilenetv2",
                        weights: str | None = None, input_size: int | None = 96, region_attention: bool = True,
                        region_grid: tuple[int, int] = (3, 3), self_attention: bool = True, num_heads: int = 4,
                        key_dim: int = 32, dropout: float = 0.3, bn_momentum: float | None = None) -> keras.Model:
    """A CNN backbone cut at stride 16, region attention, self-attention, pooled softmax head (see
    the module docstring). `input_size` upscales inside the model (None: as the images come).
    `bn_momentum` sets the momentum of the backbone's batch-normalization moving statistics (None:
    the backbone's own, 0.999 for MobileNetV2, tuned for ImageNet training; a from-scratch run's
    weights move faster than such slow averages follow, so its inference-mode predictions lag)."""
    if backbone not in BACKBONES:
        raise FerError(f"unknown backbone {backbone!r}; valid backbones are: {', '.join(BACKBONES)}")
    if bn_momentum is not None and (isinstance(bn_momentum, bool) or not isinstance(bn_momentum, (int, float))
                                    or not 0 < bn_momentum < 1):
        raise FerError(f"bn_momentum must be a number in (0, 1) or None (the backbone's own), got {bn_momentum!r}")
    spec = BACKBONES[backbone]
    smallest = max(KERAS_APPLICATIONS_MIN_SIZE, FEATURE_STRIDE * max(region_grid if region_attention else (1,)))
    inputs = keras.Input(shape=input_shape, name="image")
    image = upscaled(inputs, input_size, smallest, f"khalid2025's {backbone} backbone"
                     + (f" with a {region_grid[0]}x{region_grid[1]} region grid" if region_attention else ""))
    full = keras_backbone(spec.constructor, (*image.shape[1:3], 3), weights)
    if bn_momentum is not None:
        for layer in full.layers:
            if isinstance(layer, layers.BatchNormalization):
                layer.momentum = float(bn_momentum)  # read at call time and saved in the layer's config
    cut = keras.Model(full.input, full.get_layer(spec.feature_layer).output, name=backbone_layer_name(backbone))
    x = cut(backbone_input(image, weights, spec.input_style))
    if region_attention:
        x = RegionAttention(tuple(region_grid), name="region_attention")(x)
    if self_attention:
        x = SpatialSelfAttention(num_heads, key_dim, name="self_attention")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    return keras.Model(inputs, classifier(x, num_classes, classifier_activation), name="khalid2025_attention_cnn")
