"""Building blocks shared by the papers' models, written once."""
from __future__ import annotations

import keras
from keras import layers


def conv_pool_dropout(x: keras.KerasTensor, filters: int, dropout: float, name: str,
                      kernel_size: int = 3, batch_norm: bool = False) -> keras.KerasTensor:
    """Convolution (ReLU), then 2x2 max pooling, then dropout: yousaf2024's repeated unit."""
    x = layers.Conv2D(filters, kernel_size, padding="same", use_bias=not batch_norm, name=f"{name}_conv")(x)
    if batch_norm:
        x = layers.BatchNormalization(name=f"{name}_bn")(x)
    x = layers.Activation("relu", name=f"{name}_relu")(x)
    x = layers.MaxPooling2D(2, name=f"{name}_pool")(x)
    return layers.Dropout(dropout, name=f"{name}_dropout")(x)
