"""abdulkadir2025: "Evaluating Facial Emotional Proportion Based on Computer Vision Technique" (JOIG 2025).

The paper trains three models on 48x48 FER2013 images scaled to [0, 1] and describes none of
them beyond their names; each builder below states the reading we chose (the notebook shows this
text). Every model takes 0-255 pixels and scales them itself:

- `build_vgg19`: VGG19's 16 convolutional layers (keras.applications, from scratch or on ImageNet),
  the grey image repeated to three channels, then Flatten, Dense(256) ReLU, Dropout 0.5, softmax.
  At 48x48 the five poolings leave a 1x1x512 map.
- `build_sequential`: the paper's "Sequential model", read as the widely copied Keras FER2013
  Sequential CNN: Conv32, Conv64, pool, dropout 0.25, Conv128, pool, Conv128, pool, dropout 0.25,
  Dense(1024), dropout 0.5, softmax (3x3 kernels, valid padding).
- `build_hybrid`: the proposed ResNet50 + MobileNetV2 + CBAM-enhanced CNN. Each branch's output is
  flattened, the three are concatenated ("feature-level fusion"), then Dense(256) with batch
  normalization, ReLU and dropout 0.5, then softmax. The CBAM branch is three blocks of
  convolution, batch normalization, ReLU, CBAM and 2x2 max pooling (32, 64, 128 filters).
  The paper's ablation removes dropout and batch normalization: `dropout=0`, `batch_norm=False`;
  `branches` keeps a subset of the three. `batch_norm=False` removes the normalization of the
  layers the paper adds (the CBAM CNN and the dense layer); ResNet50's and MobileNetV2's own stay,
  being part of those networks.

The input size is not stated. The data are 48x48 and the paper says "A 48x48-pixel grayscale
represented all images", so the models take 48x48 as they come; `input_size` (VGG19, hybrid)
upscales inside the model (bilinear), for the input-size comparison and for ImageNet weights,
which were learned at 224x224. keras.applications' backbones need at least 32x32.
"""
from __future__ import annotations

import keras
from keras import layers

from ...errors import FerError
from ...models.blocks import (KERAS_APPLICATIONS_MIN_SIZE, backbone_input, cbam, classifier, dense_head, keras_backbone,
                              pixels_to_unit, upscaled)
from ...models.registry import register

PAPER = "abdulkadir2025"
HYBRID_BRANCHES = ("resnet50", "mobilenetv2", "cbam_cnn")
SEQUENTIAL_MIN_SIZE = 24  # four valid 3x3 convolutions and three 2x2 poolings leave 1x1 at 24x24


@register("abdulkadir2025_sequential", paper=PAPER)
def build_sequential(input_shape: tuple[int, int, int] = (48, 48, 1), num_classes: int = 7, *,
                     include_top: bool = True, classifier_activation: str | None = "softmax",
                     dense_units: int = 1024, input_size: int | None = None) -> keras.Model:
    """The paper's "Sequential model", read as the common Keras FER2013 CNN (see the module docstring).

    `include_top=False` stops at the last pooled feature map; `input_size` upscales inside the model."""
    inputs = keras.Input(shape=input_shape, name="image")
    x = pixels_to_unit(upscaled(inputs, input_size, SEQUENTIAL_MIN_SIZE, "the Sequential model"))
    x = layers.Conv2D(32, 3, activation="relu", name="conv1")(x)
    x = layers.Conv2D(64, 3, activation="relu", name="conv2")(x)
    x = layers.MaxPooling2D(2, name="pool1")(x)
    x = layers.Dropout(0.25, name="dropout1")(x)
    x = layers.Conv2D(128, 3, activation="relu", name="conv3")(x)
    x = layers.MaxPooling2D(2, name="pool2")(x)
    x = layers.Conv2D(128, 3, activation="relu", name="conv4")(x)
    x = layers.MaxPooling2D(2, name="pool3")(x)
    x = layers.Dropout(0.25, name="dropout2")(x)
    if include_top:
        x = dense_head(x, dense_units, 0.5, num_classes, classifier_activation)
    return keras.Model(inputs, x, name="abdulkadir2025_sequential")


@register("abdulkadir2025_vgg19", paper=PAPER)
def build_vgg19(input_shape: tuple[int, int, int] = (48, 48, 1), num_classes: int = 7, *,
                include_top: bool = True, classifier_activation: str | None = "softmax",
                weights: str | None = None, dense_units: int = 256, dropout: float = 0.5,
                input_size: int | None = None) -> keras.Model:
    """VGG19's convolutional layers with a small classifier on top (see the module docstring).

    `include_top=False` stops at VGG19's last pooled feature map; `input_size` upscales inside the model."""
    inputs = keras.Input(shape=input_shape, name="image")
    image = upscaled(inputs, input_size, KERAS_APPLICATIONS_MIN_SIZE, "VGG19")
    x = backbone_input(image, weights)
    backbone = keras_backbone(keras.applications.VGG19, (*image.shape[1:3], 3), weights)
    x = backbone(x)
    if include_top:
        x = dense_head(x, dense_units, dropout, num_classes, classifier_activation)
    return keras.Model(inputs, x, name="abdulkadir2025_vgg19")


@register("abdulkadir2025_hybrid", paper=PAPER)
def build_hybrid(input_shape: tuple[int, int, int] = (48, 48, 1), num_classes: int = 7, *,
                 classifier_activation: str | None = "softmax", weights: str | None = None, cbam_filters: tuple[int, ...] = (32, 64, 128),
                 dense_units: int = 256, dropout: float = 0.5, batch_norm: bool = True,
                 branches: tuple[str, ...] = HYBRID_BRANCHES, input_size: int | None = None) -> keras.Model:
    """ResNet50 + MobileNetV2 + a CBAM CNN, fused by concatenating their flattened features.

    `branches` keeps a subset of `HYBRID_BRANCHES`; `input_size` upscales inside the model."""
    unknown = [b for b in branches if b not in HYBRID_BRANCHES] if not isinstance(branches, str) else [branches]
    if unknown or not branches or len(set(branches)) != len(branches):
        raise FerError(f"branches must be distinct names among {', '.join(HYBRID_BRANCHES)} (at least one), "
                       f"got {branches!r}")
    inputs = keras.Input(shape=input_shape, name="image")
    smallest = KERAS_APPLICATIONS_MIN_SIZE if {"resnet50", "mobilenetv2"} & set(branches) else 2 ** len(cbam_filters)
    image = upscaled(inputs, input_size, smallest, "the hybrid's " + " and ".join(b for b in branches if b != "cbam_cnn")
                     if smallest == KERAS_APPLICATIONS_MIN_SIZE else "the CBAM CNN's poolings")
    rgb_shape = (*image.shape[1:3], 3)
    features = []
    if "resnet50" in branches:
        resnet = keras_backbone(keras.applications.ResNet50, rgb_shape, weights)
        features.append(layers.Flatten(name="resnet50_features")(resnet(backbone_input(image, weights))))
    if "mobilenetv2" in branches:
        mobilenet_input = backbone_input(image, weights, "tf", name="mobilenet")
        mobilenet = keras_backbone(keras.applications.MobileNetV2, rgb_shape, weights)
        features.append(layers.Flatten(name="mobilenetv2_features")(mobilenet(mobilenet_input)))
    if "cbam_cnn" in branches:
        x = pixels_to_unit(image, name="cbam_cnn_rescaling")
        for i, filters in enumerate(cbam_filters, start=1):
            x = layers.Conv2D(filters, 3, padding="same", use_bias=not batch_norm, name=f"cbam_cnn{i}_conv")(x)
            if batch_norm:
                x = layers.BatchNormalization(name=f"cbam_cnn{i}_bn")(x)
            x = layers.Activation("relu", name=f"cbam_cnn{i}_relu")(x)
            x = cbam(x, name=f"cbam_cnn{i}_cbam")
            x = layers.MaxPooling2D(2, name=f"cbam_cnn{i}_pool")(x)
        features.append(layers.Flatten(name="cbam_cnn_features")(x))
    features = layers.Concatenate(name="feature_fusion")(features) if len(features) > 1 else features[0]
    x = layers.Dense(dense_units, use_bias=not batch_norm, name="fc1")(features)
    if batch_norm:
        x = layers.BatchNormalization(name="fc1_bn")(x)
    x = layers.Activation("relu", name="fc1_relu")(x)
    if dropout:
        x = layers.Dropout(dropout, name="fc1_dropout")(x)
    outputs = classifier(x, num_classes, classifier_activation)
    return keras.Model(inputs, outputs, name="abdulkadir2025_hybrid")
