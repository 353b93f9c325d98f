"""The registry of every model the suite can build, filled by the builders themselves.

A builder registers itself with `@register("name", paper=..., batch_size=...)`; the registry never
lists builders by hand. Papers' builders live in `fer_lib/papers/<paper>/models.py`, which are
imported the first time the registry is read, so importing the registry builds nothing.
"""
from __future__ import annotations

import importlib
import inspect
import pkgutil
from dataclasses import dataclass
from typing import Any, Callable

import keras

from ..errors import FerError, unknown_name_error


@dataclass(frozen=True)
class RegisteredModel:
    """A builder with the keras.applications-style signature
    `build(input_shape, num_classes, *, classifier_activation="softmax", **options) -> keras.Model`,
    and what its paper states about training it (`batch_size` None: unstated)."""

    name: str
    build: Callable[..., keras.Model]
    paper: str
    batch_size: int | None = None


_MODELS: dict[str, RegisteredModel] = {}
DEFAULT_BATCH = 32  # Keras's own default, for a paper that states no batch size


def register(name: str, *, paper: str, batch_size: int | None = None) -> Callable[[Callable[..., keras.Model]], Callable[..., keras.Model]]:
    """Decorator: add a builder to the registry under `name`."""
    def decorate(build: Callable[..., keras.Model]) -> Callable[..., keras.Model]:
        if name in _MODELS and _MODELS[name].build is not build:
            raise ValueError(f"two builders registered as {name!r}")
        _MODELS[name] = RegisteredModel(name, build, paper, batch_size)
        return build
    return decorate


def _import_paper_models() -> None:
    """Import every `fer_lib/papers/<paper>/models.py`, whose builders register themselves."""
    from .. import papers

    for module in pkgutil.iter_modules(papers.__path__):
        if module.ispkg:
            try:
                importlib.import_module(f"{papers.__name__}.{module.name}.models")
            except ModuleNotFoundError as exc:
                if exc.name != f"{papers.__name__}.{module.name}.models":
                    raise


def registered() -> dict[str, RegisteredModel]:
    """Every registered model, by name, in registration order."""
    _import_paper_models()
    return dict(_MODELS)


def model_names() -> list[str]:
    return list(registered())


def get_model(name: str) -> RegisteredModel:
    """The registered model called `name`, or a FerError listing the valid names."""
    models = registered()
    if name not in models:
        raise unknown_name_error("model", name, list(models))
    return models[name]


def model_options(name: str) -> list[str]:
    """The keyword options the builder of `name` takes (besides input shape and class count)."""
    parameters = inspect.signature(get_model(name).build).parameters
    return [p for p, v in parameters.items() if v.kind == v.KEYWORD_ONLY]


def option_defaults(name: str) -> dict[str, Any]:
    """Each keyword option of the builder of `name` with its default value."""
    parameters = inspect.signature(get_model(name).build).parameters
    return {p: v.default for p, v in parameters.items() if v.kind == v.KEYWORD_ONLY}


def unknown_options(name: str, options: dict) -> list[str]:
    """The keys of `options` that the builder of `name` does not take, sorted."""
    return sorted(set(options) - set(model_options(name)))


def build_model(name: str, input_shape: tuple[int, int, int] = (48, 48, 1), num_classes: int = 7,
                **options: Any) -> keras.Model:
    """Build the model called `name` for uint8-range (0-255) images of `input_shape`; an option the
    builder does not take is a FerError listing those it does."""
    unknown = unknown_options(name, options)
    if unknown:
        raise FerError(f"model {name} has no option {', '.join(map(repr, unknown))}; its options are: "
                       f"{', '.join(model_options(name))}")
    return get_model(name).build(input_shape, num_classes, **options)


def paper_batch_size(name: str) -> int:
    """The batch size the model's paper trains with, or Keras's default 32 where it states none."""
    return get_model(name).batch_size or DEFAULT_BATCH
