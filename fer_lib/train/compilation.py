"""What JAX compiles while a model trains, and a compilation cache kept between processes.

Under JAX every jitted step compiles once per input shape; on a GPU a compile of a training step can take
minutes while the step itself takes milliseconds. `CompileLog` counts every XLA compilation in this process
(from JAX's monitoring events, with the compiled function's name and seconds), `CompileRecord` writes each
epoch's count and seconds into its history row, and `use_persistent_cache` keeps compiled programs on disk
so that a resumed run (another process) loads rather than recompiles them. Nothing here runs under other
backends.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import keras

COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"


@dataclass
class CompileLog:
    """Every XLA compilation this process has made since the log was registered: (function name, seconds)."""

    events: list[tuple[str, float]] = field(default_factory=list)

    def listen(self, event: str, duration: float, **kwargs) -> None:
        if event == COMPILE_EVENT:
            self.events.append((str(kwargs.get("fun_name", "?")), float(duration)))

    def since(self, start: int) -> list[tuple[str, float]]:
        return self.events[start:]


_LOG: CompileLog | None = None


def compile_log() -> CompileLog | None:
    """The process's compile log, registered with JAX on first use (None under other backends)."""
    global _LOG  # one listener per process: JAX keeps every listener registered for good
    if keras.backend.backend() != "jax":
        return None
    if _LOG is None:
        import jax

        _LOG = CompileLog()
        jax.monitoring.register_event_duration_secs_listener(_LOG.listen)
    return _LOG


def use_persistent_cache(folder: Path | str, min_compile_seconds: float = 0.5) -> bool:
    """Keep JAX's compiled programs (those that took at least `min_compile_seconds`) in `folder` across
    processes; a no-op under other backends or where a cache folder is already set. Returns whether it is on."""
    if keras.backend.backend() != "jax":
        return False
    import jax

    if not jax.config.jax_compilation_cache_dir:
        Path(folder).mkdir(parents=True, exist_ok=True)
        jax.config.update("jax_compilation_cache_dir", str(folder))
        jax.config.update("jax_persistent_cache_min_compile_time_secs", min_compile_seconds)
    return True


class CompileRecord(keras.callbacks.Callback):
    """Each epoch's XLA compilations (`compilations`, `compile_seconds`, and the compiled functions' names in
    `compiled`) into its history row; after `EpochRecord`, which appends the row."""

    def __init__(self, run, log: CompileLog):
        super().__init__()
        self.run, self.log, self.start = run, log, len(log.events)

    def on_epoch_end(self, epoch, logs=None):
        new = self.log.since(self.start)
        self.start = len(self.log.events)
        row = self.run.state["history"][-1]
        row["compilations"] = len(new)
        row["compile_seconds"] = round(sum(seconds for _, seconds in new), 3)
        row["compiled"] = ", ".join(name for name, _ in new)
        self.run.state["compile_seconds"] = round(self.run.state.get("compile_seconds", 0.0) + row["compile_seconds"], 3)
