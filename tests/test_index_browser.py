"""The results index as a reader opens it: headless Chromium renders it, and every image and link it holds
resolves to a file beside it (relative links only)."""
from __future__ import annotations

import os
import shutil
import subprocess
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np
import pytest

from fer_lib.config import REPO_ROOT

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
REQUIRED = os.environ.get("FER_REQUIRE_CHROMIUM") == "1"  # .ci/run installs Chromium and sets it
needs_chromium = pytest.mark.skipif(
    not CHROMIUM and not REQUIRED,
    reason="headless Chromium is not installed (Debian: apt-get install chromium); .ci/run installs it")


class _Targets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.targets: list[tuple[str, str]] = []

    def handle_starttag(self, tag, attrs):
        for name, value in attrs:
            if (tag, name) in (("a", "href"), ("img", "src")) and value:
                self.targets.append((tag, value))


def _chromium(*args: str, timeout: int = 120) -> subprocess.CompletedProcess:
    assert CHROMIUM, "FER_REQUIRE_CHROMIUM=1 but no chromium on PATH"
    return subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", *args],
                          capture_output=True, text=True, timeout=timeout)


def broken_targets(page: Path) -> list[str]:
    """Every image or link of `page`, as Chromium rendered it, that is absolute or names no file."""
    dom = _chromium("--dump-dom", page.resolve().as_uri()).stdout
    assert "<body" in dom, "Chromium rendered nothing"
    parser = _Targets()
    parser.feed(dom)
    broken = []
    for tag, target in parser.targets:
        parts = urlsplit(target)
        if parts.scheme or target.startswith("/"):
            broken.append(f"{tag} {target}: not a relative link")
            continue
        if not parts.path:  # an anchor within the page
            continue
        path = (page.parent / unquote(parts.path)).resolve()
        if not path.is_file():
            broken.append(f"{tag} {target}: no such file")
        elif tag == "img":
            import matplotlib.image as mpimg
            try:
                mpimg.imread(path)
            except Exception as exc:  # noqa: BLE001 (any decoding failure is a broken image)
                broken.append(f"{tag} {target}: not a readable image ({exc})")
    return broken


@needs_chromium
def test_the_checker_finds_a_missing_image_and_an_absolute_link(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<html><body><img src='missing.png'><a href='/etc/passwd'>x</a><a href='#top'>y</a></body></html>")
    assert broken_targets(page) == ["img missing.png: no such file", "a /etc/passwd: not a relative link"]


@needs_chromium
def test_the_committed_index_renders_with_every_figure_and_link(tmp_path):
    index = REPO_ROOT / "reports" / "index.html"
    assert broken_targets(index) == []
    shot = tmp_path / "index.png"
    _chromium(f"--screenshot={shot}", "--window-size=1400,1800", index.resolve().as_uri())
    import matplotlib.image as mpimg
    pixels = mpimg.imread(shot)
    assert pixels.shape[0] >= 1000 and np.std(pixels) > 0.05  # a page with content, not a blank one
