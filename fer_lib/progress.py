"""Progress bars for long work (tqdm: in the terminal and, as widgets, in notebooks).

Off when FER_PROGRESS=0 or under CI (the CI variable set), so logs stay readable there.
"""
from __future__ import annotations

import os
from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress_enabled() -> bool:
    """Whether progress bars are shown: not under FER_PROGRESS=0, nor under CI."""
    return os.environ.get("FER_PROGRESS", "1") != "0" and not os.environ.get("CI")


def progress(items: Iterable[T], total: int | None = None, desc: str = "") -> Iterable[T]:
    """`items`, wrapped in a progress bar unless progress is off or the loop is short."""
    quiet = not progress_enabled() or (total is not None and total < 2000)
    return tqdm(items, total=total, desc=desc, disable=quiet, mininterval=2.0)


def bar(total: int, desc: str, initial: int = 0, unit: str = "it") -> tqdm:
    """A manually advanced bar (`.update()`, `.set_postfix_str()`), disabled when progress is off."""
    return tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not progress_enabled(), leave=True)
