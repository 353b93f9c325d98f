"""The fast paths of training, each switchable: mixed precision, XLA, steps per execution, threads.

`FastPaths` says what to use; "auto" picks what `make bench` measured to help on the devices
present (see `reports/benchmarks/fast_paths.md` and the README):

- `precision`: on a GPU, "mixed_bfloat16" where it computes natively in bfloat16 (compute
  capability 8.0 and up: A100, H100, H200) and "mixed_float16" on older ones (Keras scales the
  loss); on a CPU, "mixed_bfloat16" with bfloat16 instructions (AVX512-BF16 or AMX), else
  "float32". Under a mixed policy the layers compute in 16 bits and keep float32 weights; every
  builder keeps its output layer in float32, so softmax and the loss stay in full precision.
- `xla`: compile the train step with XLA (`jit_compile`). Under TensorFlow "auto" turns it on
  for GPUs only, since XLA's CPU convolutions do not use oneDNN; under JAX every step is an XLA
  program, so it is always on; under PyTorch it stays off (torch.compile is not XLA).
- `steps_per_execution`: batches run per call into the compiled graph. Small models with the
  papers' small batches (16) spend much of each step in Python and callback overhead; running
  several steps per call removes most of it and changes nothing in the arithmetic. Keras's
  PyTorch trainer runs one step per call only, so it resolves to 1 there.
- Threads: `backend.configure_threads()` sets TensorFlow's intra-op pool to the cores present and
  the inter-op pool to 2, before TensorFlow starts (it cannot be changed afterwards).

The environment variables FER_PRECISION, FER_XLA and FER_STEPS_PER_EXECUTION override the
defaults without code changes, e.g. `FER_PRECISION=float32 make reproduce-all`.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass
from typing import Iterator

import keras

from ..errors import FerError
from . import backend

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
XLA_CHOICES = ("auto", "on", "off")


@dataclass(frozen=True)
class FastPaths:
    """How training runs, as opposed to what it computes (that is `TrainConfig`)."""

    precision: str = "auto"
    xla: str = "auto"
    steps_per_execution: int = 16

    def __post_init__(self) -> None:
        if self.precision not in PRECISIONS:
            raise FerError(f"unknown precision {self.precision!r}; valid precisions are: {', '.join(PRECISIONS)}")
        if self.xla not in XLA_CHOICES:
            raise FerError(f"unknown xla setting {self.xla!r}; use one of: {', '.join(XLA_CHOICES)}")
        if not (isinstance(self.steps_per_execution, int) and self.steps_per_execution >= 1):
            raise FerError(f"steps_per_execution must be a positive integer, got {self.steps_per_execution!r}")

    @classmethod
    def from_env(cls) -> "FastPaths":
        """The defaults, overridden by FER_PRECISION, FER_XLA and FER_STEPS_PER_EXECUTION when set."""
        spe = os.environ.get("FER_STEPS_PER_EXECUTION", str(cls.steps_per_execution))
        try:
            spe_value = int(spe)
        except ValueError:
            raise FerError(f"FER_STEPS_PER_EXECUTION must be a positive integer, got {spe!r}") from None
        return cls(precision=os.environ.get("FER_PRECISION", cls.precision),
                   xla=os.environ.get("FER_XLA", cls.xla), steps_per_execution=spe_value)

    @classmethod
    def naive(cls) -> "FastPaths":
        """Keras's defaults: float32, XLA where Keras turns it on by itself (JAX; TensorFlow on GPUs),
        one step per call."""
        return cls(precision="float32", xla="auto", steps_per_execution=1)

    def resolved(self) -> dict:
        """The concrete settings on the devices present: precision, jit_compile, steps_per_execution."""
        gpus = backend.gpus_present()
        precision = self.precision
        if precision == "auto":
            if gpus:
                precision = "mixed_bfloat16" if (backend.gpu_compute_capability() or 0) >= 8.0 else "mixed_float16"
            else:
                precision = "mixed_bfloat16" if backend.cpu_supports_bfloat16() else "float32"
        if self.xla == "auto":
            xla = {"tensorflow": gpus, "jax": True}.get(backend.name(), False)
        else:
            xla = self.xla == "on"
        steps = 1 if backend.name() == "torch" else self.steps_per_execution
        return {"precision": precision, "jit_compile": xla, "steps_per_execution": steps}

    def as_dict(self) -> dict:
        return asdict(self)


@contextlib.contextmanager
def dtype_policy(name: str) -> Iterator[None]:
    """Build layers under the Keras dtype policy `name`, restoring the previous policy afterwards."""
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy(name)
    try:
        yield
    finally:
        keras.config.set_dtype_policy(previous)

