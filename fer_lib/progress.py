"""A progress bar for long loops (tqdm), silenced with FER_PROGRESS=0."""
from __future__ import annotations

import os
from typing import Iterable, TypeVar

from tqdm.auto import tqdm

T = TypeVar("T")


def progress(items: Iterable[T], total: int | None = None, desc: str = "") -> Iterable[T]:
    """`items`, wrapped in a progress bar unless FER_PROGRESS=0 or the loop is short."""
    quiet = os.environ.get("FER_PROGRESS", "1") == "0" or (total is not None and total < 2000)
    return tqdm(items, total=total, desc=desc, disable=quiet, mininterval=2.0)
