"""yousaf2024: "Modified Convolutional Neural Networks for Facial Emotion Classification" (IJIST 2024).

What the paper fixes: four convolutional layers and two fully connected layers; a max-pooling
layer and a dropout layer after every convolutional layer; ReLU throughout; softmax over the
classes; 48x48 grayscale input.

What it leaves unstated, and our choices:
- filters 32, 64, 128, 256 (doubling per block, the common choice for 48x48 FER CNNs), 3x3
  kernels, "same" padding, 2x2 pooling, so 48 -> 24 -> 12 -> 6 -> 3;
- dropout 0.25 after each convolution and 0.5 before the classifier;
- "two fully connected layers" read as one hidden Dense layer of 256 units plus the softmax
  output layer (the paper's Figure 7 is not in our copy);
- no batch normalization (the paper names none).
The model takes 0-255 pixels with one channel and scales them to [0, 1] itself.
"""
from __future__ import annotations

import keras

from ...errors import FerError
from ...models.blocks import conv_pool_dropout, dense_head, pixels_to_unit
from ...models.registry import register

PAPER = "yousaf2024"


@register("yousaf2024", paper=PAPER, batch_size=16)
def build(input_shape: tuple[int, int, int] = (48, 48, 1), num_classes: int = 7, *, include_top: bool = True,
          classifier_activation: str | None = "softmax", filters: tuple[int, ...] = (32, 64, 128, 256),
          conv_dropout: float = 0.25, dense_units: int = 256, dense_dropout: float = 0.5,
          batch_norm: bool = False) -> keras.Model:
    """The yousaf2024 CNN: 4 x (conv, max-pool, dropout), flatten, Dense(256), Dense(softmax).

    `include_top=False` stops after the fourth block (the 3x3x256 feature map at 48x48)."""
    if len(filters) != 4:
        raise FerError(f"yousaf2024 has four convolutional layers; got filters={filters}")
    inputs = keras.Input(shape=input_shape, name="image")
    x = pixels_to_unit(inputs)
    for i, n in enumerate(filters, start=1):
        x = conv_pool_dropout(x, n, conv_dropout, name=f"block{i}", batch_norm=batch_norm)
    if include_top:
        x = dense_head(x, dense_units, dense_dropout, num_classes, classifier_activation)
    return keras.Model(inputs, x, name="yousaf2024")
