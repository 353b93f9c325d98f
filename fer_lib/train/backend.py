"""Everything that depends on the Keras backend (TensorFlow, JAX or PyTorch), in one place.

The rest of the suite speaks Keras 3 only. What differs per backend, and is decided here:
- which accelerators are present (`accelerators`), and whether they compute in bfloat16;
- where a model trains (`placement`): one device, or data parallelism over several GPUs with
  `tf.distribute.MirroredStrategy` on TensorFlow and `keras.distribution.DataParallel` on JAX
  (PyTorch trains on one device here);
- TensorFlow's thread pools (`configure_threads`), which the other backends do not have.
Importing this module imports no backend library; each function imports what it asks about.

Data parallelism keeps the suite's semantics: `batch_size` is the *global* batch, split across
replicas, and the learning rate is the paper's for that global batch, unchanged, so a run on two
GPUs takes the same optimizer steps as on one device. Checkpoints are plain Keras files, so a run
started on several devices resumes on one, and a run started under one backend resumes under another.
"""
from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, ContextManager

import keras

BACKENDS = ("tensorflow", "jax", "torch")


def name() -> str:
    """The Keras backend in use (set by KERAS_BACKEND before keras is imported)."""
    return keras.backend.backend()


def cpu_supports_bfloat16() -> bool:
    """Whether this CPU has native bfloat16 arithmetic (AVX512-BF16 or AMX-BF16), from /proc/cpuinfo."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


@dataclass(frozen=True)
class Gpu:
    """One GPU as the current backend sees it."""

    name: str  # how the backend names it (e.g. "/physical_device:GPU:0", "cuda:0")
    kind: str  # the product (e.g. "NVIDIA H100 80GB HBM3")
    compute_capability: float | None  # CUDA's; 8.0 and up compute natively in bfloat16


def gpus() -> list[Gpu]:
    """The GPUs the current backend can use (empty on a CPU-only machine): the one place that asks."""
    backend = name()
    found: list[Gpu] = []
    try:
        if backend == "tensorflow":
            import tensorflow as tf
            for device in tf.config.list_physical_devices("GPU"):
                details = tf.config.experimental.get_device_details(device)
                capability = details.get("compute_capability")
                found.append(Gpu(device.name, details.get("device_name", "GPU"),
                                 _capability(capability and "{}.{}".format(*capability))))
        elif backend == "jax":
            import jax
            found = [Gpu(str(d), d.device_kind, _capability(getattr(d, "compute_capability", None)))
                     for d in jax.devices() if d.platform == "gpu"]
        elif backend == "torch":
            import torch
            found = [Gpu(f"cuda:{i}", torch.cuda.get_device_name(i),
                         _capability("{}.{}".format(*torch.cuda.get_device_capability(i))))
                     for i in range(torch.cuda.device_count())]
    except RuntimeError:  # a driver that is present but unusable: train on the CPU
        return []
    return found


def _capability(value: object) -> float | None:
    """A compute capability such as "9.0" as a number, or None where the backend does not say."""
    try:
        return float(value) if value else None
    except (TypeError, ValueError):
        return None


def accelerators() -> list[str]:
    """The names of the GPUs the current backend can use."""
    return [gpu.name for gpu in gpus()]


def gpus_present() -> bool:
    return bool(gpus())


def gpu_compute_capability() -> float | None:
    """The first GPU's CUDA compute capability, or None."""
    found = gpus()
    return found[0].compute_capability if found else None


def device_description() -> str:
    """What trains: the GPUs' names, or the CPU's model and core count."""
    found = gpus()
    if found:
        return f"{len(found)} x {found[0].kind}"
    return f"CPU: {cpu_model()} ({os.cpu_count()} cores)"


def cpu_model() -> str:
    """The CPU's model name and its widest matrix arithmetic, e.g. "Intel(R) Xeon(R) Processor, AMX-BF16".

    The same model name covers CPUs with and without AMX, whose training speeds differ about fourfold, so
    every timing names which one it ran on."""
    try:
        return cpu_model_from(Path("/proc/cpuinfo").read_text())
    except OSError:
        import platform
        return platform.processor() or platform.machine()


# the first of these a CPU has names its fastest matrix arithmetic
_MATRIX_EXTENSIONS = (("amx_bf16", "AMX-BF16"), ("avx512_bf16", "AVX512-BF16"),
                      ("avx512f", "AVX-512, no native bfloat16"), ("avx2", "AVX2, no native bfloat16"))


def cpu_model_from(cpuinfo: str) -> str:
    """`cpu_model` from the text of /proc/cpuinfo."""
    lines = cpuinfo.splitlines()
    name = next((line.split(":", 1)[1].strip() for line in lines if line.startswith("model name")), "unknown CPU")
    flags = set(next((line.split(":", 1)[1].split() for line in lines if line.startswith("flags")), []))
    extension = next((label for flag, label in _MATRIX_EXTENSIONS if flag in flags), None)
    return f"{name}, {extension}" if extension else name


# ---------------------------------------------------------------------------------------------
# Placement: one device or data parallelism


@dataclass
class Placement:
    """Where a model is built, compiled and trained. Use as `with placement.scope(): ...`."""

    description: str
    replicas: int = 1
    _scope: Callable[[], ContextManager] = field(default=contextlib.nullcontext, repr=False)

    def scope(self) -> ContextManager:
        return self._scope()


def single_device() -> Placement:
    return Placement("one device")


def mirrored(device_names: list[str]) -> Placement:
    """TensorFlow: `tf.distribute.MirroredStrategy` over `device_names` (e.g. two logical CPUs in tests)."""
    import tensorflow as tf

    strategy = tf.distribute.MirroredStrategy(device_names)
    return Placement(f"tf.distribute.MirroredStrategy over {len(device_names)} devices",
                     strategy.num_replicas_in_sync, strategy.scope)


def data_parallel(devices: list | None = None) -> Placement:
    """JAX: `keras.distribution.DataParallel` over `devices` (all of them by default)."""
    distribution = keras.distribution.DataParallel(devices=devices)
    count = len(devices) if devices is not None else len(keras.distribution.list_devices())
    return Placement(f"keras.distribution.DataParallel over {count} devices", count, distribution.scope)


def placement() -> Placement:
    """Data parallelism when the backend sees several GPUs, else one device."""
    if len(gpus()) > 1:
        backend = name()
        if backend == "tensorflow":
            import tensorflow as tf
            return mirrored([d.name for d in tf.config.list_logical_devices("GPU")])
        if backend == "jax":
            return data_parallel(keras.distribution.list_devices("gpu"))
    return single_device()


# ---------------------------------------------------------------------------------------------
# Threads


def configure_threads(intra_op: int | None = None, inter_op: int = 2) -> bool:
    """Size TensorFlow's thread pools: intra-op to the cores present, inter-op to `inter_op`.

    Must run before TensorFlow executes anything; returns False (and changes nothing) when it is
    too late, or when the backend is not TensorFlow (JAX and PyTorch size their own pools).
    """
    if name() != "tensorflow":
        return False
    import tensorflow as tf

    intra_op = intra_op or os.cpu_count() or 1
    try:
        tf.config.threading.set_intra_op_parallelism_threads(intra_op)
        tf.config.threading.set_inter_op_parallelism_threads(inter_op)
    except RuntimeError:
        return False
    return True


def versions() -> dict[str, str]:
    """The backend library's version, and the device it sees, for run records."""
    backend = name()
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend, backend)
    try:
        version = __import__(module).__version__
    except ImportError:
        version = "unknown"
    return {"backend": backend, "backend_version": version, "device": device_description()}
