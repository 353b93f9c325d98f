"""mahdi2025's model, built from its abstract: "a novel deep-learning framework that combines
multi-scale feature extraction with a dynamic attention mechanism and improved residual connection".

`build_multiscale_attention_net` reads it as a residual network of stages, each:
`multi_scale_block` (a 1x1 branch and 3x3 branches dilated 1 and 2, receptive fields 1, 3 and 5,
fused), `DynamicAttention` on the result, added to the stage's input through an identity or
projection shortcut (`residual_unit`), then 2x2 max pooling; a stem convolution first, global
average pooling, dropout and softmax last. Three stages of 64, 128 and 256 filters take a 48x48
face to 6x6. Dilated 3x3 branches see as far as a 5x5 at a third of its cost, and one multi-scale
block per stage keeps an epoch of FER2013 within a few minutes on 2 CPU cores (two per stage cost
about five times as much).
`dynamic_attention=False` switches the attention off (the ablation); `multi_scale=False` keeps only
the undilated 3x3 branch.
"""
from __future__ import annotations

import keras
from keras import layers

from ...errors import FerError
from ...models.attention import DynamicAttention
from ...models.blocks import classifier, conv_bn_relu, multi_scale_block, pixels_to_unit, residual_unit
from ...models.registry import register

PAPER = "mahdi2025"


@register("mahdi2025_multiscale_attention_net", paper=PAPER)
def build_multiscale_attention_net(input_shape: tuple[int, int, int] = (48, 48, 1), num_classes: int = 7, *,
                                   classifier_activation: str | None = "softmax",
                                   stage_filters: tuple[int, ...] = (64, 128, 256), stem_filters: int = 32,
                                   multi_scale: bool = True, dynamic_attention: bool = True,
                                   dropout: float = 0.4) -> keras.Model:
    """Stem, then per entry of `stage_filters` a residual multi-scale stage with dynamic attention and
    2x2 pooling, then the pooled softmax head (see the module docstring)."""
    if not stage_filters or any(isinstance(f, bool) or not isinstance(f, int) or f < 1 for f in stage_filters):
        raise FerError(f"stage_filters must be positive integers, got {stage_filters!r}")
    smallest = 2 ** len(stage_filters)
    if min(input_shape[:2]) < smallest:
        raise FerError(f"a {input_shape[0]}x{input_shape[1]} input is too small for {len(stage_filters)} stages of 2x2 "
                       f"pooling (at least {smallest}x{smallest}); use larger images or fewer stage_filters")
    dilations = (0, 1, 2) if multi_scale else (1,)
    inputs = keras.Input(shape=input_shape, name="image")
    x = conv_bn_relu(pixels_to_unit(inputs), stem_filters, 3, "stem")
    for i, filters in enumerate(stage_filters, start=1):
        name = f"stage{i}"
        body = multi_scale_block(x, filters, f"{name}_multiscale", dilations)
        if dynamic_attention:
            body = DynamicAttention(name=f"{name}_attention")(body)
        x = residual_unit(x, body, name)
        x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="head_dropout")(x)
    return keras.Model(inputs, classifier(x, num_classes, classifier_activation), name=PAPER + "_multiscale_attention_net")
