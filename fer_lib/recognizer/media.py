"""Reading what users point the recognizer at: image files, folders, video files and webcams.

Images come back as 8-bit BGR whatever they were stored as: grey, with an alpha channel (composited
on black), or 16 bits a channel (scaled to 8). An image larger than `MAX_SIDE` on its longer side is
scaled down first (faces are found on a 320-pixel copy anyway). Anything OpenCV cannot read is a
`FerError` naming the file.
Video frames are decoded on a reader thread (`prefetched`), a few frames ahead of the frame being
classified: OpenCV releases Python's lock while it decodes, so decoding the next frame overlaps with
finding and classifying the faces of this one.
"""
from __future__ import annotations

import queue
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator, TypeVar

import cv2
import numpy as np

from ..data.images import IMAGE_SUFFIXES as DATASET_IMAGE_SUFFIXES
from ..errors import FerError

T = TypeVar("T")
IMAGE_SUFFIXES = DATASET_IMAGE_SUFFIXES | {".tif", ".tiff", ".webp", ".pgm", ".ppm"}
VIDEO_SUFFIXES = {".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg"}
MAX_SIDE = 4096


def to_bgr8(image: np.ndarray, what: str = "image") -> np.ndarray:
    """`image` as 8-bit, 3-channel BGR: grey repeated, alpha composited on black, 16-bit scaled."""
    image = np.asarray(image)
    if image.dtype == np.uint16:
        image = (image >> 8).astype(np.uint8)
    elif image.dtype in (np.float32, np.float64):
        image = np.clip(image * (255.0 if image.max() <= 1.0 else 1.0), 0, 255).astype(np.uint8)
    elif image.dtype != np.uint8:
        raise FerError(f"{what} has pixels of type {image.dtype}; pass 8- or 16-bit images")
    if image.ndim == 2:
        return cv2.cvtColor(image, cv2.COLOR_GRAY2BGR)
    if image.ndim == 3 and image.shape[2] == 4:
        alpha = image[..., 3:4].astype(np.float32) / 255.0
        return (image[..., :3].astype(np.float32) * alpha).astype(np.uint8)
    if image.ndim == 3 and image.shape[2] == 3:
        return image
    if image.ndim == 3 and image.shape[2] == 1:
        return cv2.cvtColor(image[..., 0], cv2.COLOR_GRAY2BGR)
    raise FerError(f"{what} has shape {image.shape}; pass a grey (H, W), BGR (H, W, 3) or BGRA (H, W, 4) image")


def fit_size(image: np.ndarray, max_side: int = MAX_SIDE) -> np.ndarray:
    """`image` scaled down so its longer side is at most `max_side` (unchanged if it already is)."""
    side = max(image.shape[:2])
    if side <= max_side:
        return image
    scale = max_side / side
    return cv2.resize(image, (round(image.shape[1] * scale), round(image.shape[0] * scale)), interpolation=cv2.INTER_AREA)


def read_image(path: Path | str) -> np.ndarray:
    """An image file as 8-bit BGR (see the module's notes); a FerError if it cannot be decoded."""
    return read_image_scaled(path)[0]


def read_image_scaled(path: Path | str) -> tuple[np.ndarray, float]:
    """`read_image`, and the factor from its pixels back to the file's (1.0 unless it was scaled down to
    `MAX_SIDE`), so boxes found on it can be given in the file's own coordinates."""
    path = Path(path)
    try:
        raw = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        raise FerError(f"cannot read {path} ({exc.strerror or exc})") from None
    image = cv2.imdecode(raw, cv2.IMREAD_UNCHANGED) if raw.size else None
    if image is None:
        raise FerError(f"{path} is not an image OpenCV can decode (empty, damaged, or another kind of file)")
    fitted = fit_size(to_bgr8(image, str(path)))
    return fitted, max(image.shape[:2]) / max(fitted.shape[:2])


@dataclass(frozen=True)
class Source:
    """One thing to run on: an image file, a video file, or a webcam (`path` None, `webcam` its index)."""

    kind: str  # "image", "video" or "webcam"
    path: Path | None = None
    webcam: int | None = None
    # where its annotated copy goes under --annotate: its path inside the folder it was found in (a file
    # named directly: its name), so a/face.jpg and b/face.jpg of one folder never overwrite each other
    relative: Path | None = None

    @property
    def name(self) -> str:
        return f"webcam:{self.webcam}" if self.kind == "webcam" else str(self.path)


def expand_sources(paths: list[str | Path]) -> tuple[list[Source], list[tuple[str, str]]]:
    """The images and videos named by `paths` (folders searched recursively, in name order), and the
    files skipped with why. A path that does not exist is a FerError: nothing would be read from it."""
    sources, skipped = [], []
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise FerError(f"{path} does not exist; pass image files, video files or folders of them")
        files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
        for file in files:
            suffix = file.suffix.lower()
            relative = file.relative_to(path) if path.is_dir() else Path(file.name)
            if suffix in IMAGE_SUFFIXES:
                sources.append(Source("image", file, relative=relative))
            elif suffix in VIDEO_SUFFIXES:
                sources.append(Source("video", file, relative=relative))
            elif path.is_dir():
                skipped.append((str(file), "not an image or video file"))
            else:
                sources.append(Source("image", file, relative=relative))  # named directly: try it, say so if it is not one
    return sources, skipped


def open_video(source: Source) -> tuple[cv2.VideoCapture, float]:
    """An open capture for a video file or webcam and its frame rate (a webcam or a file that states
    none: 30); a FerError if it cannot be opened or yields no frame."""
    if source.kind != "webcam" and not Path(source.path).is_file():
        raise FerError(f"video file {source.path} does not exist; pass the path of a video file")
    capture = cv2.VideoCapture(source.webcam if source.kind == "webcam" else str(source.path))
    if not capture.isOpened():
        capture.release()
        if source.kind == "webcam":
            raise FerError(f"webcam {source.webcam} could not be opened (none there, or in use); try another index")
        raise FerError(f"{source.path} could not be opened as a video (damaged, or a codec OpenCV lacks)")
    fps = capture.get(cv2.CAP_PROP_FPS)
    return capture, fps if fps and 1 <= fps <= 1000 else 30.0


def frames(capture: cv2.VideoCapture) -> Iterator[np.ndarray]:
    """The frames of an open capture, as 8-bit BGR, until it ends."""
    while True:
        ok, frame = capture.read()
        if not ok:
            return
        yield to_bgr8(frame, "video frame")


_END = object()


def prefetched(items: Iterable[T], depth: int = 4) -> Iterator[T]:
    """`items` in order, produced on a background thread up to `depth` ahead of the consumer. An error
    raised while producing is raised here, where the item would have come; closing this generator
    early stops the thread (after the item it is producing) before it returns, so the caller may then
    release what the items came from (a video capture)."""
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 1:
        raise FerError(f"depth must be a whole number of items, at least 1, got {depth!r}")
    buffer: queue.Queue = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(entry) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((item, None)):
                    return
            put((_END, None))
        except BaseException as exc:  # handed to the consumer, which raises it
            put((_END, exc))

    thread = threading.Thread(target=produce, name="fer-lib-reader", daemon=True)
    thread.start()
    try:
        while True:
            item, error = buffer.get()
            if item is _END:
                if error is not None:
                    raise error
                return
            yield item
    finally:
        stop.set()
        thread.join()
