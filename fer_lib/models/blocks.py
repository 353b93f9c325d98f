"""Building blocks shared by the papers' models, written once.

Every model starts with `pixels_to_unit` (0-255 pixels to [0, 1], inside the model, so a saved or
exported model carries its own scaling) and ends with `classifier` (kept in float32 under mixed
precision, so softmax and the loss stay in full precision).
"""
from __future__ import annotations

from typing import Callable

import keras
from keras import layers

from ..errors import FerError


def pixels_to_unit(x: keras.KerasTensor, name: str = "rescaling") -> keras.KerasTensor:
    """0-255 pixels to [0, 1]: every model's first layer."""
    return layers.Rescaling(1.0 / 255, name=name)(x)


def classifier(x: keras.KerasTensor, num_classes: int, activation: str | None = "softmax") -> keras.KerasTensor:
    """The output layer: `num_classes` units in float32 (also under a mixed precision policy)."""
    return layers.Dense(num_classes, activation=activation, dtype="float32", name="predictions")(x)


def dense_head(x: keras.KerasTensor, units: int, dropout: float, num_classes: int,
               activation: str | None = "softmax") -> keras.KerasTensor:
    """Flatten, one hidden ReLU layer of `units` with dropout, then the classifier: the papers' common top."""
    x = layers.Flatten(name="flatten")(x)
    x = layers.Dense(units, activation="relu", name="fc1")(x)
    x = layers.Dropout(dropout, name="fc1_dropout")(x)
    return classifier(x, num_classes, activation)


def conv_pool_dropout(x: keras.KerasTensor, filters: int, dropout: float, name: str,
                      kernel_size: int = 3, batch_norm: bool = False) -> keras.KerasTensor:
    """Convolution (ReLU), then 2x2 max pooling, then dropout: yousaf2024's repeated unit."""
    x = layers.Conv2D(filters, kernel_size, padding="same", use_bias=not batch_norm, name=f"{name}_conv")(x)
    if batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    return layers.Dropout(dropout, name=f"{name}_dropout")(x)


@keras.saving.register_keras_serializable(package="fer_lib")
class ChannelPool(layers.Layer):
    """Mean and max over the channel axis, stacked as two channels: CBAM's spatial descriptor."""

    def call(self, x):
        return keras.ops.concatenate([keras.ops.mean(x, axis=-1, keepdims=True),
                                      keras.ops.max(x, axis=-1, keepdims=True)], axis=-1)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], 2)


def cbam(x: keras.KerasTensor, name: str, reduction: int = 8, spatial_kernel: int = 7) -> keras.KerasTensor:
    """Convolutional Block Attention Module (Woo et al., ECCV 2018): channel, then spatial attention.

    Channel attention: average- and max-pooled descriptors through one shared two-layer MLP
    (reduction `reduction`), summed, sigmoid. Spatial attention: channel-wise mean and max,
    a `spatial_kernel` x `spatial_kernel` convolution, sigmoid.
    """
    channels = x.shape[-1]
    hidden = layers.Dense(max(channels // reduction, 1), activation="relu", name=f"{name}_mlp1")
    out = layers.Dense(channels, name=f"{name}_mlp2")
    avg = out(hidden(layers.GlobalAveragePooling2D(keepdims=True, name=f"{name}_avgpool")(x)))
    mx = out(hidden(layers.GlobalMaxPooling2D(keepdims=True, name=f"{name}_maxpool")(x)))
    channel_weights = layers.Activation("sigmoid", name=f"{name}_channel_sigmoid")(layers.Add(name=f"{name}_channel_sum")([avg, mx]))
    x = layers.Multiply(name=f"{name}_channel_attention")([x, channel_weights])
    descriptor = ChannelPool(name=f"{name}_channel_pool")(x)
    spatial_weights = layers.Conv2D(1, spatial_kernel, padding="same", activation="sigmoid",
                                    name=f"{name}_spatial_conv")(descriptor)
    return layers.Multiply(name=f"{name}_spatial_attention")([x, spatial_weights])


def gray_to_rgb(x: keras.KerasTensor, name: str = "gray_to_rgb") -> keras.KerasTensor:
    """Repeat a one-channel image to three channels, for backbones built for RGB (ImageNet)."""
    return x if x.shape[-1] == 3 else layers.Concatenate(name=name)([x, x, x])


KERAS_APPLICATIONS_MIN_SIZE = 32  # the smallest input keras.applications' VGG, ResNet and MobileNet accept


def upscaled(x: keras.KerasTensor, input_size: int | None, smallest: int, what: str) -> keras.KerasTensor:
    """`x` resized inside the model to `input_size` x `input_size` (bilinear; None: as it comes), after
    checking the size the network sees is at least `smallest`, with a message naming the fix."""
    if input_size is not None and (isinstance(input_size, bool) or not isinstance(input_size, int) or input_size <= 0):
        raise FerError(f"input_size must be a positive number of pixels (or None), got {input_size!r}")
    size = input_size or min(x.shape[1:3])
    if size < smallest:
        raise FerError(f"a {size}x{size} input is too small for {what} (at least {smallest}x{smallest}); "
                       f"pass input_size={max(smallest, 48)} to upscale inside the model, or larger images")
    if input_size is None or tuple(x.shape[1:3]) == (input_size, input_size):
        return x
    return layers.Resizing(input_size, input_size, interpolation="bilinear", name="upscale")(x)


def keras_backbone(constructor: Callable[..., keras.Model], input_shape: tuple[int, int, int],
                   weights: str | None) -> keras.Model:
    """A keras.applications network without its top, from scratch (`weights=None`) or on ImageNet.

    ImageNet weights are downloaded once into ~/.keras/models; offline, that fails with a FerError
    that says how to proceed instead of a network traceback.
    """
    if weights not in (None, "imagenet"):
        raise FerError(f"weights must be None (from scratch) or 'imagenet', got {weights!r}")
    try:
        return constructor(include_top=False, weights=weights, input_shape=input_shape)
    except Exception as exc:  # keras raises a bare Exception on URL fetch failures
        if weights == "imagenet" and ("fetch" in str(exc).lower() or "url" in str(exc).lower()):
            raise FerError(
                f"could not download the ImageNet weights of {constructor.__name__} ({exc}). Connect to the "
                f"internet once (keras caches them in ~/.keras/models), copy the weights file there, or build "
                f"the model with weights=None to train from scratch.") from None
        raise


def conv_bn_relu(x: keras.KerasTensor, filters: int, kernel_size: int, name: str, strides: int = 1,
                 activation: bool = True) -> keras.KerasTensor:
    """Convolution (no bias), batch normalization, then ReLU (`activation=False`: without the ReLU)."""
    x = layers.Conv2D(filters, kernel_size, strides=strides, padding="same", use_bias=False, name=f"{name}_conv")(x)
    x = layers.BatchNormalization(name=f"{name}_bn")(x)
    return layers.Activation("relu", name=f"{name}_relu")(x) if activation else x


def multi_scale_block(x: keras.KerasTensor, filters: int, name: str,
                      dilations: tuple[int, ...] = (0, 1, 2)) -> keras.KerasTensor:
    """Parallel convolution branches of different receptive fields, fused (Inception-style).

    One conv-BN-ReLU branch per entry of `dilations`: 0 is a 1x1 convolution, d >= 1 a 3x3
    convolution dilated by d (receptive field 2d + 1: 3, 5, 7 at the cost of a 3x3). Each branch is
    `filters // len(dilations)` wide (the first takes the remainder); they are concatenated and a
    1x1 conv-BN fuses them to `filters` channels (no ReLU: a residual unit adds its shortcut first)."""
    if not dilations or any(isinstance(d, bool) or not isinstance(d, int) or d < 0 for d in dilations):
        raise FerError(f"dilations must be non-negative integers (0: a 1x1 branch), got {dilations!r}")
    width = filters // len(dilations)
    branches = []
    for i, d in enumerate(dilations):
        units = width + (filters - width * len(dilations) if i == 0 else 0)
        branch = f"{name}_1x1" if d == 0 else f"{name}_3x3_d{d}"
        y = layers.Conv2D(units, 1 if d == 0 else 3, dilation_rate=max(d, 1), padding="same", use_bias=False,
                          name=f"{branch}_conv")(x)
        y = layers.BatchNormalization(name=f"{branch}_bn")(y)
        branches.append(layers.Activation("relu", name=f"{branch}_relu")(y))
    x = layers.Concatenate(name=f"{name}_concat")(branches) if len(branches) > 1 else branches[0]
    return conv_bn_relu(x, filters, 1, f"{name}_fuse", activation=False)


def residual_unit(x: keras.KerasTensor, body: keras.KerasTensor, name: str) -> keras.KerasTensor:
    """`body` (computed from `x`) plus a shortcut, then ReLU. The shortcut is `x` itself where shapes
    match, else a projection (1x1 convolution with the stride that matches the body's size, and
    batch normalization): He et al.'s option B, the "improved" residual connection."""
    if tuple(x.shape[1:]) != tuple(body.shape[1:]):
        stride = x.shape[1] // body.shape[1]
        x = layers.Conv2D(body.shape[-1], 1, strides=stride, use_bias=False, name=f"{name}_projection")(x)
        x = layers.BatchNormalization(name=f"{name}_projection_bn")(x)
    x = layers.Add(name=f"{name}_add")([x, body])
    return layers.Activation("relu", name=f"{name}_out")(x)


def backbone_input(x: keras.KerasTensor, weights: str | None, style: str = "caffe",
                   name: str = "backbone_input") -> keras.KerasTensor:
    """0-255 grey pixels to what a keras.applications backbone expects: 3 channels, then
    - `style="caffe"` (VGG, ResNet50): [0, 1] from scratch, or ImageNet's Caffe centring (0-255
      with the ImageNet channel means subtracted) when the weights come from ImageNet;
    - `style="tf"` (MobileNetV2): [-1, 1] either way."""
    if style == "tf":
        return layers.Rescaling(2.0 / 255, offset=-1.0, name=f"{name}_scaling")(gray_to_rgb(x, f"{name}_rgb"))
    x = gray_to_rgb(x)
    if weights == "imagenet":
        return layers.Normalization(mean=[103.939, 116.779, 123.68], variance=[1.0, 1.0, 1.0], name="imagenet_centring")(x)
    return pixels_to_unit(x)
