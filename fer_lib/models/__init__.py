"""The registry of the papers' models: `build_model("yousaf2024", input_shape, num_classes, ...)`.

Every builder has the keras.applications-style signature
`build(input_shape, num_classes, **paper_options) -> keras.Model` and keeps no global state.
"""
from __future__ import annotations

from typing import Any, Callable

import keras

from ..errors import unknown_name_error
from . import abdulkadir2025, yousaf2024

MODELS: dict[str, Callable[..., keras.Model]] = {
    "yousaf2024": yousaf2024.build,
    "abdulkadir2025_sequential": abdulkadir2025.build_sequential,
    "abdulkadir2025_vgg19": abdulkadir2025.build_vgg19,
    "abdulkadir2025_hybrid": abdulkadir2025.build_hybrid,
}


def build_model(name: str, input_shape: tuple[int, int, int] = (48, 48, 1), num_classes: int = 7,
                **options: Any) -> keras.Model:
    """Build the model called `name` (a FerError lists the valid names)."""
    if name not in MODELS:
        raise unknown_name_error("model", name, list(MODELS))
    return MODELS[name](input_shape, num_classes, **options)


__all__ = ["MODELS", "build_model"]
