"""Training: the config, the fit loop, its callbacks, the fast paths, and the backend layer.

- `config.py`: `TrainConfig` (what decides how a model is trained), the stop reasons and a call's deadline;
- `loop.py`: `fit` (checkpointed, budgeted, resumable, on any Keras backend);
- `predict.py`: `predict_proba`, in batches of one shape where the backend compiles per shape;
- `compilation.py`: what JAX compiles, per epoch, and its compilation cache between processes;
- `callbacks.py`: the epoch record, and the collapse, budget and checkpoint rules;
- `fast_paths.py`: mixed precision, XLA and steps per execution, each switchable;
- `backend.py`: everything specific to TensorFlow, JAX or PyTorch (devices, data parallelism, threads).
"""
from .config import DEADLINE_ENV, OPTIMIZERS, STOP_BUDGET, STOP_COLLAPSED, STOP_COMPLETED, TrainConfig
from .fast_paths import FastPaths, dtype_policy
from .loop import STARTED_FROM, TrainResult, fit
from .predict import predict_proba

__all__ = ["DEADLINE_ENV", "FastPaths", "OPTIMIZERS", "STOP_BUDGET", "STOP_COLLAPSED", "STOP_COMPLETED", "STARTED_FROM", "TrainConfig", "TrainResult",
           "dtype_policy", "fit", "predict_proba"]
