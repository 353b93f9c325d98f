"""Models: the registry of every paper's builders, and the blocks they share.

`build_model("yousaf2024", (48, 48, 1), 7)` builds a registered model; `model_names()` lists them.
Every builder takes pixels in 0-255 (scaling is its first layer) and keeps the keras.applications
signature `build(input_shape, num_classes, *, classifier_activation="softmax", **options)`.
Shared blocks (CBAM, convolution units, ImageNet backbones) are in `blocks.py`; forward FLOPs in
`complexity.py`.
"""
from .registry import RegisteredModel, build_model, get_model, model_names, paper_batch_size, register, registered

__all__ = ["RegisteredModel", "build_model", "get_model", "model_names", "paper_batch_size", "register", "registered"]
