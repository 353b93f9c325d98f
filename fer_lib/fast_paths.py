"""The fast paths of training, each switchable: mixed precision, XLA, steps per execution, threads.

`FastPaths` says what to use; "auto" picks what `make bench` measured to help on the devices
present (see `reports/benchmarks/fast_paths.md` and the README):

- `precision`: "mixed_float16" on a GPU (tensor cores; Keras scales the loss), "mixed_bfloat16"
  on a CPU with bfloat16 instructions (AVX512-BF16 or AMX), else "float32". Under a mixed policy
  the layers compute in 16 bits and keep float32 weights; every builder keeps its output layer
  in float32 (`dtype="float32"`), so softmax and the loss stay in full precision.
- `xla`: compile the train step with XLA (`jit_compile`). Keras leaves it off on CPU-only
  machines and so does "auto" here, since XLA's CPU convolutions do not use oneDNN.
- `steps_per_execution`: batches run per call into the compiled graph. Small models with the
  papers' small batches (16) spend much of each step in Python and callback overhead; running
  several steps per call removes most of it and changes nothing in the arithmetic.
- Threads: `configure_threads()` sets TensorFlow's intra-op pool to the cores present and the
  inter-op pool to 2, before TensorFlow starts (it cannot be changed afterwards).

The environment variables FER_PRECISION, FER_XLA and FER_STEPS_PER_EXECUTION override the
defaults without code changes, e.g. `FER_PRECISION=float32 make reproduce-all`.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterator

import keras
import tensorflow as tf

from .errors import FerError

PRECISIONS = ("auto", "float32", "mixed_bfloat16", "mixed_float16")
XLA_CHOICES = ("auto", "on", "off")


def cpu_supports_bfloat16() -> bool:
    """Whether this CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX-BF16), from /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def gpus_present() -> bool:
    return bool(tf.config.list_physical_devices("GPU"))


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
        """Keras's defaults: float32, no XLA on CPU, one step per call."""
        return cls(precision="float32", xla="off", steps_per_execution=1)

    def resolved(self) -> dict:
        """The concrete settings on the devices present: precision, jit_compile, steps_per_execution."""
        precision = self.precision
        if precision == "auto":
            precision = ("mixed_float16" if gpus_present()
                         else "mixed_bfloat16" if cpu_supports_bfloat16() else "float32")
        xla = gpus_present() if self.xla == "auto" else self.xla == "on"
        return {"precision": precision, "jit_compile": xla, "steps_per_execution": self.steps_per_execution}

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


def configure_threads(intra_op: int | None = None, inter_op: int = 2) -> bool:
    """Size TensorFlow's thread pools: intra-op to the cores present, inter-op to `inter_op`.

    Must run before TensorFlow executes anything; returns False (and changes nothing) when it is
    too late, which is harmless: TensorFlow's own defaults are then in force.
    """
    intra_op = intra_op or os.cpu_count() or 1
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:
        return False
    return True
