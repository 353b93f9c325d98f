"""Face detectors for the recognizer: each `detect(gray)` returns the faces of a grayscale frame as
(x, y, w, h) boxes in its own pixels, largest first.

- `HaarDetector`: OpenCV's bundled frontal-face cascade, the papers' detector (no download). It
  detects on a copy of the frame scaled down to `detect_width` pixels wide (a 640x480 frame at 320
  is four times fewer pixels, and faces a webcam sees are large), then scales the boxes back.
- `MtcnnDetector`: MTCNN (Zhang et al. 2016) from the `mtcnn` package, whose wheel holds its
  weights (nothing is downloaded). Slower, but finds turned and partly hidden faces the cascade
  misses. Optional: `pip install mtcnn`.
`get_detector(name)` builds either by name; nothing is loaded until a detector is built.
"""
from __future__ import annotations

import cv2
import numpy as np

from ..data.preprocessing import haar_detector
from ..errors import FerError, unknown_name_error

Box = tuple[int, int, int, int]


class HaarDetector:
    """OpenCV's frontal-face Haar cascade, run on a frame scaled to `detect_width` (None: as it is).

    `min_face` is the smallest face side to report, in the full frame's pixels."""

    name = "haar"

    def __init__(self, detect_width: int | None = 320, scale_factor: float = 1.1, min_neighbors: int = 5,
                 min_face: int = 40) -> None:
        if detect_width is not None and (isinstance(detect_width, bool) or not isinstance(detect_width, int)
                                         or detect_width < 64):
            raise FerError(f"detect_width must be a whole number of pixels of at least 64 (or None), got {detect_width!r}")
        if not scale_factor > 1:
            raise FerError(f"scale_factor must be above 1 (the cascade's step between scales), got {scale_factor!r}")
        self.detect_width, self.scale_factor, self.min_neighbors, self.min_face = \
            detect_width, scale_factor, min_neighbors, min_face

    # A tracked face may be searched for only within this factor of its last size (None: every size).
    # The cascade's cost is mostly the number of scales it tries, so a limit makes the search between
    # full detections cheaper; the benchmark's tracking probe decides whether it costs faces.
    TRACK_SIZE_FACTOR: float | None = 1.4

    def detect(self, gray: np.ndarray, face_side: float | None = None) -> list[Box]:
        """Faces as (x, y, w, h), largest first; `face_side` (pixels of `gray`), where the face's size is
        known from the last frame, limits the search to sizes within `TRACK_SIZE_FACTOR` of it (unless
        that is None)."""
        scale = 1.0
        if self.detect_width is not None and gray.shape[1] > self.detect_width:
            scale = self.detect_width / gray.shape[1]
            gray = cv2.resize(gray, (self.detect_width, max(1, round(gray.shape[0] * scale))),
                              interpolation=cv2.INTER_AREA)
        side = max(12, round(self.min_face * scale))
        largest = (0, 0)
        if face_side is not None and self.TRACK_SIZE_FACTOR is not None:
            side = max(side, round(face_side * scale / self.TRACK_SIZE_FACTOR))
            largest = (round(face_side * scale * self.TRACK_SIZE_FACTOR),) * 2
        found = haar_detector().detectMultiScale(gray, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors,
                                                 minSize=(side, side), maxSize=largest)
        boxes = [tuple(int(round(v / scale)) for v in box) for box in found]
        return sorted(boxes, key=lambda b: -b[2] * b[3])


class MtcnnDetector:
    """MTCNN from the `mtcnn` package (its weights ship in its wheel); faces below `min_confidence`
    are dropped. It takes colour; a grey frame is repeated to three channels."""

    name = "mtcnn"

    def __init__(self, min_confidence: float = 0.9, min_face: int = 40) -> None:
        try:
            from mtcnn import MTCNN
        except ImportError as exc:
            raise FerError(f"the mtcnn detector needs the mtcnn package ({exc}); run `pip install mtcnn`, "
                           "or use --detector haar") from None
        self._mtcnn = MTCNN(device="CPU:0")
        self.min_confidence, self.min_face = min_confidence, min_face

    def detect(self, gray: np.ndarray) -> list[Box]:
        rgb = np.repeat(gray[..., None], 3, axis=2)
        # mtcnn 1.0's own min_face_size fails on some frames ("Incompatible shapes"): filter after instead
        found = self._mtcnn.detect_faces(rgb)
        boxes = [tuple(int(v) for v in f["box"]) for f in found
                 if f["confidence"] >= self.min_confidence and min(f["box"][2:]) >= self.min_face]
        return sorted(((max(0, x), max(0, y), w, h) for x, y, w, h in boxes), key=lambda b: -b[2] * b[3])


DETECTORS = {"haar": HaarDetector, "mtcnn": MtcnnDetector}


def get_detector(detector: str | object = "haar") -> HaarDetector | MtcnnDetector:
    """A detector by name ("haar" or "mtcnn"), or any object with a `detect(gray) -> boxes` method."""
    if isinstance(detector, str):
        if detector not in DETECTORS:
            raise unknown_name_error("detector", detector, list(DETECTORS))
        return DETECTORS[detector]()
    if not callable(getattr(detector, "detect", None)):
        raise FerError(f"a detector is 'haar', 'mtcnn' or an object with a detect(gray) method, got {detector!r}")
    return detector
