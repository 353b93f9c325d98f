"""The suite's reference network: Khaireddin and Chen's VGGNet, narrowed for CPUs.

Khaireddin and Chen (2021) stack four stages of two 3x3 convolutions with batch normalization and
ReLU, each followed by 2x2 max pooling (64, 128, 256 and 512 filters), on 40x40 crops of the 48x48
face, with two 4,096-unit fully connected layers on top. Here:
- the same four two-convolution stages and 40x40 crops (the crop is the model's first layer, a
  fixed centre `Cropping2D`, so a saved or exported model takes the 48x48 face the training
  pipeline makes, and training's random crops come from the pipeline's random shifts before it;
  `CenterCrop`, which the first cpu run was built with, computes the same on 48x48 faces but
  exports to ONNX wrongly through tf2onnx 1.17 when batch normalization follows it);
- `width` filters in the first stage, doubling per stage: 48 by default (48, 96, 192, 384), three
  quarters of theirs, which trains an epoch of FER2013 about 1.7 times faster on 2 CPU cores;
- global average pooling, dropout and one 256-unit layer instead of the two 4,096-unit layers
  (those hold most of their parameters and add little on a 2x2 map).
"""
from __future__ import annotations

import keras
from keras import layers

from ...errors import FerError
from ...models.blocks import classifier, conv_bn_relu, pixels_to_unit
from ...models.registry import register
from . import PAPER


@register("reference_cnn", paper=PAPER, batch_size=64)
def reference_cnn(input_shape: tuple[int, int, int] = (48, 48, 1), num_classes: int = 7, *,
                  classifier_activation: str | None = "softmax", width: int = 48, crop: int = 40,
                  dropout: float = 0.4) -> keras.Model:
    """Four stages of two conv-BN-ReLU layers and max pooling on a centred `crop` x `crop` window,
    then global average pooling, dropout, a 256-unit ReLU layer, dropout, and the classifier."""
    if isinstance(width, bool) or not isinstance(width, int) or width <= 0:
        raise FerError(f"width must be a positive number of filters, got {width!r}")
    if isinstance(crop, bool) or not isinstance(crop, int) or not 16 <= crop <= min(input_shape[:2]):
        raise FerError(f"crop must be a whole number of pixels from 16 to the input's {min(input_shape[:2])}, "
                       f"got {crop!r}")
    inputs = keras.Input(input_shape, name="face")
    rows, cols = input_shape[0] - crop, input_shape[1] - crop
    x = layers.Cropping2D(((rows // 2, rows - rows // 2), (cols // 2, cols - cols // 2)), name="center_crop")(inputs)
    x = pixels_to_unit(x)
    for stage in range(1, 5):
        filters = width * 2 ** (stage - 1)
        x = conv_bn_relu(x, filters, 3, f"stage{stage}_conv1")
        x = conv_bn_relu(x, filters, 3, f"stage{stage}_conv2")
        x = layers.MaxPooling2D(2, name=f"stage{stage}_pool")(x)
    x = layers.GlobalAveragePooling2D(name="avg_pool")(x)
    x = layers.Dropout(dropout, name="pool_dropout")(x)
    x = layers.Dense(256, activation="relu", name="fc1")(x)
    x = layers.Dropout(dropout, name="fc1_dropout")(x)
    return keras.Model(inputs, classifier(x, num_classes, classifier_activation), name="reference_cnn")
