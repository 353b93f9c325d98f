"""Forward FLOPs per image of a Keras model, counted from its layers.

Counts the multiply-adds of convolution, depthwise convolution and dense layers (2 FLOPs each),
which are all but a few percent of a CNN's arithmetic; pooling, normalization, activations and
element-wise attention products are left out. Nested models (keras.applications backbones) are
walked into, and a layer called twice (CBAM's shared MLP) is counted twice.
"""
from __future__ import annotations

import math

import keras
from keras import layers


def _node_flops(layer: keras.layers.Layer, node) -> int:
    out_shape = node.outputs[0].shape
    in_shape = node.input_tensors[0].shape
    if isinstance(layer, layers.DepthwiseConv2D):
        kh, kw = layer.kernel_size
        return 2 * kh * kw * in_shape[-1] * layer.depth_multiplier * out_shape[1] * out_shape[2]
    if isinstance(layer, layers.Conv2D):
        kh, kw = layer.kernel_size
        return 2 * kh * kw * (in_shape[-1] // layer.groups) * layer.filters * out_shape[1] * out_shape[2]
    if isinstance(layer, layers.Dense):
        return 2 * in_shape[-1] * layer.units * math.prod(out_shape[1:-1])
    return 0


def forward_flops(model: keras.Model) -> int:
    """FLOPs of one image's forward pass through `model` (see the module docstring for what counts)."""
    total = 0
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            total += forward_flops(layer)
            continue
        for node in layer._inbound_nodes:  # one node per call in this model's graph
            if node.input_tensors:
                total += _node_flops(layer, node)
    return total
