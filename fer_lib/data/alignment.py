"""Eye alignment: a face crop rotated about the midpoint of its eyes so that they are level.

OpenCV's bundled eye cascade (`haarcascade_eye.xml`) searches the upper 60% of the crop, upscaled (the cascade's
smallest window is 20x20, so the eyes of a 48x48 face are otherwise mostly missed), for eyes between an eighth and
a half of the crop's width; the largest detection left of the centre line and the largest right of it are taken as
the two eyes. A crop with no eye on either side, or whose eyes lie more steeply than `max_eye_angle` (most likely a
brow, nostril or frame edge taken for an eye), is kept as it is and counted. The rotation replicates the border, so
no black corners appear for the network to learn from.

The detector's settings (upscale, neighbours) were chosen by `studies.alignment_probe` on FER2013 Training images,
its result saved in `reports/cpu/reference/alignment_probe.md`.
"""
from __future__ import annotations

import math
import os
import threading

import cv2
import numpy as np

EYE_CASCADE = "haarcascade_eye.xml"
EYE_REGION = 0.6  # the upper share of the crop searched for eyes
EYE_SIZE = (1 / 8, 1 / 2)  # smallest and largest eye side, as a share of the crop's width

_local = threading.local()


def eye_detector() -> cv2.CascadeClassifier:
    """OpenCV's bundled eye cascade, one instance per thread."""
    if not hasattr(_local, "eyes"):
        detector = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, EYE_CASCADE))
        if detector.empty():
            raise RuntimeError(f"OpenCV could not load its bundled {EYE_CASCADE}")
        _local.eyes = detector
    return _local.eyes


def detect_eyes(face: np.ndarray, upscale: int, min_neighbors: int
                ) -> tuple[tuple[float, float], tuple[float, float]] | None:
    """The centres of the left and right eye (as seen in the image) of a grey face crop, in its own pixels, or
    None where no eye is found on one side of the centre line."""
    big = cv2.resize(face, None, fx=upscale, fy=upscale, interpolation=cv2.INTER_LINEAR) if upscale > 1 else face
    height, width = big.shape[:2]
    smallest, largest = (max(1, int(width * share)) for share in EYE_SIZE)
    found = eye_detector().detectMultiScale(np.ascontiguousarray(big[: int(height * EYE_REGION)]), scaleFactor=1.1,
                                            minNeighbors=min_neighbors, minSize=(smallest, smallest),
                                            maxSize=(largest, largest))
    centres = [((x + w / 2) / upscale, (y + h / 2) / upscale, w) for x, y, w, h in found]
    middle = face.shape[1] / 2
    left = [c for c in centres if c[0] < middle]
    right = [c for c in centres if c[0] >= middle]
    if not left or not right:
        return None
    (lx, ly, _), (rx, ry, _) = max(left, key=lambda c: c[2]), max(right, key=lambda c: c[2])
    return (lx, ly), (rx, ry)


def eye_angle(eyes: tuple[tuple[float, float], tuple[float, float]]) -> float:
    """Degrees the line from the left eye to the right eye rises clockwise from the horizontal (image y points
    down): the rotation that levels them."""
    (lx, ly), (rx, ry) = eyes
    return math.degrees(math.atan2(ry - ly, rx - lx))


def align_on_eyes(face: np.ndarray, upscale: int, min_neighbors: int,
                  max_eye_angle: float) -> tuple[np.ndarray, bool]:
    """`face` rotated about the midpoint of its eyes so that they are level, and whether it was (see the module)."""
    eyes = detect_eyes(face, upscale, min_neighbors)
    if eyes is None:
        return face, False
    angle = eye_angle(eyes)
    if abs(angle) > max_eye_angle:
        return face, False
    (lx, ly), (rx, ry) = eyes
    rotation = cv2.getRotationMatrix2D(((lx + rx) / 2, (ly + ry) / 2), angle, 1.0)
    height, width = face.shape[:2]
    return cv2.warpAffine(face, rotation, (width, height), flags=cv2.INTER_LINEAR,
                          borderMode=cv2.BORDER_REPLICATE), True
