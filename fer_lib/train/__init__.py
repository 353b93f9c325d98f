"""Training: the config, the fit loop, its callbacks, the fast paths, and the backend layer.

- `config.py`: `TrainConfig` (what decides how a model is trained), the stop reasons and a call's deadline;
- `loop.py`: `fit` (checkpointed, budgeted, resumable, on any Keras backend);
- `predict.py`: `predict_proba`, in batches of one shape where the backend compiles per shape;
- `compilation.py`: what JAX compiles, per epoch, and its compilation cache between processes;
- `callbacks.py`: the epoch record, and the collapse, budget and checkpoint rules;
- `checkpoint.py`: a run's checkpoint files, and its state read without Keras;
- `fast_paths.py`: mixed precision, XLA and steps per execution, each switchable;
- `backend.py`: everything specific to TensorFlow, JAX or PyTorch (devices, data parallelism, threads).
"""
import importlib

from .config import DEADLINE_ENV, OPTIMIZERS, STOP_BUDGET, STOP_COLLAPSED, STOP_COMPLETED, TrainConfig

# Keras (and with it TensorFlow, seconds to import) loads with the first of these, not with the package: the settings
# and stop reasons above are read by modules that check a user's input before anything trains (PEP 562).
_FROM_MODULE = {"FastPaths": "fast_paths", "dtype_policy": "fast_paths", "STARTED_FROM": "loop", "TrainResult": "loop",
                "fit": "loop", "predict_proba": "predict"}


def __getattr__(name: str):
    if name in _FROM_MODULE:
        return getattr(importlib.import_module(f".{_FROM_MODULE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["DEADLINE_ENV", "FastPaths", "OPTIMIZERS", "STOP_BUDGET", "STOP_COLLAPSED", "STOP_COMPLETED", "STARTED_FROM", "TrainConfig", "TrainResult",
           "dtype_policy", "fit", "predict_proba"]
