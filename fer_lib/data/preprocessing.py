"""Face preprocessing: Haar-cascade detection and crop, histogram equalization, resize.

Policy for the Haar crop (yousaf2024 detects and crops faces with OpenCV's Haar cascade):
the 48x48 image is upscaled 2x (the cascade's smallest window is 24x24, so faces that fill a
48x48 frame are otherwise mostly missed), the largest detection is cropped, and the crop is
resized back to 48x48. When no face is found the full frame is kept: FER2013 and CK+48 images are
already face crops, so dropping them would change the test set. The count of images with no face
found is returned and reported. On FER2013 the cascade finds a face in about half the images;
on CK+48 in about 98%.

Eye alignment (`align_eyes`, off by default) resizes each crop to the model's size, then rotates it so that its eyes
are level (`alignment`), before equalization; the count of crops left as they were (no pair of eyes found) is returned and reported.

Results are cached by a hash of the input pixels and the settings, so the full FER2013 pass
runs once per machine.
"""
from __future__ import annotations

import hashlib
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import cv2
import numpy as np

from ..config import cache_dir, settings_identity
from ..errors import FerError
from ..files import atomic_path
from ..progress import progress
from .alignment import align_on_eyes

HAAR_CASCADE = "haarcascade_frontalface_default.xml"
# added after the first runs were checkpointed: in a config's identity only when not at their default, so the runs
# and preprocessing caches keyed on it before still match
LATER_FIELDS = ("align_eyes", "eye_upscale", "eye_min_neighbors", "max_eye_angle")


@dataclass(frozen=True)
class PreprocessConfig:
    """Which preprocessing steps run, and the Haar detector's settings."""

    face_crop: bool = True
    equalize: bool = True
    size: int = 48
    upscale: int = 2
    scale_factor: float = 1.1
    min_neighbors: int = 5
    min_face_fraction: float = 0.4  # smallest face side, as a fraction of the frame side
    align_eyes: bool = False  # rotate each crop so its eyes are level (`alignment.align_on_eyes`)
    eye_upscale: int = 4  # the eye cascade's upscale and neighbours: `studies.alignment_probe` chose them
    eye_min_neighbors: int = 3
    max_eye_angle: float = 30.0  # degrees: a steeper pair of "eyes" is taken as a false detection

    def __post_init__(self):
        if not isinstance(self.align_eyes, bool):
            raise FerError(f"align_eyes must be True or False, got {self.align_eyes!r}")
        for name in ("eye_upscale", "eye_min_neighbors"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise FerError(f"{name} must be a whole number of at least 1, got {value!r}")
        if not 0 < self.max_eye_angle <= 90:
            raise FerError(f"max_eye_angle must be in (0, 90] degrees, got {self.max_eye_angle!r}")

    def identity(self) -> dict:
        """The settings as runs and caches are keyed on them: those added later (`LATER_FIELDS`) only when they differ
        from their defaults, so what was keyed before they existed keeps its key."""
        return settings_identity(self, LATER_FIELDS)


@dataclass
class Preprocessed:
    """Preprocessed uint8 images and, per image, whether the Haar cascade found a face and whether its eyes were
    levelled (all False unless `config.align_eyes`)."""

    images: np.ndarray
    face_found: np.ndarray
    config: PreprocessConfig
    aligned: np.ndarray | None = None

    @property
    def no_face_count(self) -> int:
        return int(np.sum(~self.face_found)) if self.config.face_crop else 0

    @property
    def not_aligned_count(self) -> int:
        return int(np.sum(~self.aligned)) if self.config.align_eyes and self.aligned is not None else 0


_local = threading.local()


def haar_detector() -> cv2.CascadeClassifier:
    """OpenCV's bundled frontal-face cascade, one instance per thread."""
    if not hasattr(_local, "detector"):
        if not hasattr(cv2, "CascadeClassifier"):
            raise RuntimeError("this OpenCV has no CascadeClassifier (dropped in 5.x): install opencv-python<5")
        detector = cv2.CascadeClassifier(os.path.join(cv2.data.haarcascades, HAAR_CASCADE))
        if detector.empty():
            raise RuntimeError(f"OpenCV could not load its bundled {HAAR_CASCADE}")
        _local.detector = detector
    return _local.detector


def detect_face(image: np.ndarray, config: PreprocessConfig = PreprocessConfig()) -> tuple[int, int, int, int] | None:
    """The largest face in a grayscale image as (x, y, w, h) in its own pixels, or None."""
    up = config.upscale
    big = cv2.resize(image, None, fx=up, fy=up, interpolation=cv2.INTER_LINEAR) if up > 1 else image
    side = int(min(image.shape[:2]) * config.min_face_fraction * up)
    faces = haar_detector().detectMultiScale(
        big, scaleFactor=config.scale_factor, minNeighbors=config.min_neighbors, minSize=(side, side))
    if len(faces) == 0:
        return None
    x, y, w, h = max(faces, key=lambda b: b[2] * b[3])
    return int(x // up), int(y // up), max(1, int(w // up)), max(1, int(h // up))


def preprocess_image(image: np.ndarray, config: PreprocessConfig = PreprocessConfig()) -> tuple[np.ndarray, bool]:
    """One grayscale uint8 image through crop, eye alignment, equalization and resize; returns (image, face found)."""
    image, found, _ = _preprocess(image, config)
    return image, found


def _preprocess(image: np.ndarray, config: PreprocessConfig) -> tuple[np.ndarray, bool, bool]:
    found = aligned = False
    if config.face_crop:
        box = detect_face(image, config)
        if box is not None:
            x, y, w, h = box
            image = image[y:y + h, x:x + w]
            found = True
    if config.align_eyes:
        # at the model's size, where the probe chose the cascade's settings (and as fast on a large crop as on 48x48)
        if image.shape[:2] != (config.size, config.size):
            image = cv2.resize(image, (config.size, config.size), interpolation=cv2.INTER_AREA)
        image, aligned = align_on_eyes(np.ascontiguousarray(image), config.eye_upscale, config.eye_min_neighbors,
                                       config.max_eye_angle)
    if config.equalize:
        image = cv2.equalizeHist(np.ascontiguousarray(image))
    if image.shape[:2] != (config.size, config.size):
        image = cv2.resize(image, (config.size, config.size), interpolation=cv2.INTER_AREA)
    return image, found, aligned


def preprocess_images(images: np.ndarray, config: PreprocessConfig = PreprocessConfig(),
                      use_cache: bool = True) -> Preprocessed:
    """Preprocess a batch of uint8 images (N, H, W) on all cores, with a progress bar and a cache."""
    images = np.asarray(images)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise FerError(f"images must be a batch of grey uint8 images, shape (N, H, W); got {images.dtype} of shape "
                       f"{images.shape} (for one image pass image[None]; convert colour with cv2.cvtColor first)")
    key = hashlib.sha1(np.ascontiguousarray(images).tobytes())
    key.update(repr(sorted(config.identity().items())).encode())
    path = cache_dir() / "preprocessed" / f"{key.hexdigest()[:24]}.npz"
    if use_cache and path.exists():
        with np.load(path) as z:
            return Preprocessed(z["images"], z["face_found"], config,
                                z["aligned"] if "aligned" in z.files else np.zeros(len(z["images"]), bool))
    with ThreadPoolExecutor(max_workers=os.cpu_count() or 2) as pool:
        results = list(progress(pool.map(lambda im: _preprocess(im, config), images, chunksize=64),
                                total=len(images), desc="Haar crop + equalize"))
    out = np.stack([r[0] for r in results]) if results else np.zeros((0, config.size, config.size), np.uint8)
    found = np.array([r[1] for r in results], bool)
    aligned = np.array([r[2] for r in results], bool)
    if use_cache:
        with atomic_path(path) as tmp:
            np.savez(tmp, images=out, face_found=found, aligned=aligned)
    return Preprocessed(out, found, config, aligned)

