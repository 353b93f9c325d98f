"""`EmotionRecognizer`: find the faces in an image, classify each face's emotion, draw the result.

Each step is a method (detect, crop, classify, draw), as in rmn's `RMN`; `predict(image)` returns
the `fer` package's shape, a list of faces, each a dict:
    {"box": [x, y, w, h], "emotions": {"angry": p, ...}, "top_emotion": "happy"}
with plain Python types (JSON-ready). Every face of a frame is classified in one batch.

Video (`predict_video`): every frame is classified; faces are searched in the whole frame every
`detect_every` frames and, in the frames between, only in a window around each face last found
(twice its size, scaled down to 160 pixels wide, and for the Haar cascade only at sizes near its last
one), which follows a moving face for a fraction of a full search's cost (the recognizer benchmark's
tracking table, `reports/benchmarks/recognizer.md`, measures it; with four faces, four windows cost
about as much as one full search). A face lost in its window is dropped until the next full search.
`detect_every=1` searches every frame. The frames of a video or webcam are decoded on a reader
thread a few frames ahead (`media.prefetched`).
Nothing is loaded at import: the model and detector load when a recognizer is built.
"""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from ..errors import FerError
from .classifiers import Box, Classifier, load_classifier
from .detectors import HaarDetector, get_detector
from .media import Source, frames, open_video, prefetched, to_bgr8

COLOURS = {"angry": (0, 0, 230), "disgust": (0, 140, 0), "fear": (150, 0, 150), "happy": (0, 200, 255),
           "neutral": (200, 200, 200), "sad": (230, 90, 0), "surprise": (0, 230, 230), "contempt": (120, 120, 0)}


@dataclass
class FrameResult:
    """One video frame's faces, its index from 0 and its time in seconds (index / frame rate)."""

    frame_index: int
    time_seconds: float
    faces: list[dict]
    frame: np.ndarray  # the frame as read (BGR)
    full_search: bool  # whether faces were searched in the whole frame
    fps: float  # the source's frame rate (30 where it states none)


class EmotionRecognizer:
    """Faces and their emotions in images and video.

    `model`: None (the suite's reference model), a path to a `.keras`, `.onnx` or `.tflite` model, a
    `keras.Model` or a `Classifier`. `detector`: "haar" (OpenCV's cascade, the default), "mtcnn", or
    an object with `detect(gray) -> [(x, y, w, h)]`.
    """

    # An image whose longer side is at most this is taken as a face already (a FER2013 image, a crop): where
    # the detector finds no face in it, the whole image is classified, and the face says so (`detected`).
    FACE_SIZED = 96

    def __init__(self, model=None, detector="haar") -> None:
        self.classifier: Classifier = load_classifier(model)
        self.detector = get_detector(detector)

    # -- what the public methods accept -----------------------------------------------------------

    @staticmethod
    def check_image(image) -> np.ndarray:
        """`image` as an array of 8- or 16-bit pixels, or a FerError saying what to pass instead."""
        if not isinstance(image, np.ndarray):
            raise FerError(f"image must be a numpy array of pixels, (H, W), (H, W, 3) BGR or (H, W, 4), got "
                           f"{type(image).__name__}; read a file first (cv2.imread, or `fer-lib predict PATH`)")
        if image.size == 0 or image.ndim not in (2, 3):
            raise FerError(f"image has shape {image.shape}; pass a grey (H, W) or colour (H, W, 3|4) image with pixels")
        if image.dtype.kind == "f":
            raise FerError(f"image has {image.dtype} pixels; pass uint8 pixels 0-255 (for an image scaled to [0, 1]: "
                           "(image * 255).round().astype(np.uint8)), so no rule has to guess its range")
        if image.dtype not in (np.uint8, np.uint16):
            raise FerError(f"image has pixels of type {image.dtype}; pass uint8 (0-255) or uint16 pixels")
        return image

    @staticmethod
    def check_boxes(boxes, shape: tuple[int, ...], inside: bool = True) -> list[Box]:
        """`boxes` as a list of (x, y, w, h) whole numbers with w, h >= 1 (and, where `inside`, within an image
        of `shape`)."""
        if isinstance(boxes, np.ndarray):
            boxes = boxes.tolist()
        if not isinstance(boxes, (list, tuple)):
            raise FerError(f"boxes must be a list of (x, y, w, h) boxes, got {type(boxes).__name__}")
        checked = []
        for box in boxes:
            values = list(box) if isinstance(box, (list, tuple, np.ndarray)) else [box]
            if len(values) != 4 or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) or
                                           isinstance(v, (float, np.floating)) and float(v).is_integer() for v in values):
                raise FerError(f"a box must be four whole numbers (x, y, w, h), got {box!r}")
            x, y, w, h = (int(v) for v in values)
            if w < 1 or h < 1 or inside and (x < 0 or y < 0 or x + w > shape[1] or y + h > shape[0]):
                raise FerError(f"box {box!r} is not inside the {shape[1]}x{shape[0]} image with a positive size")
            checked.append((x, y, w, h))
        return checked

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.classifier.class_names

    # -- the steps ------------------------------------------------------------------------------

    @staticmethod
    def gray(image: np.ndarray) -> np.ndarray:
        """Any supported image (grey, BGR, BGRA, 16-bit) as 8-bit grey."""
        image = np.asarray(image)
        if image.ndim == 2 and image.dtype == np.uint8:
            return image
        return cv2.cvtColor(to_bgr8(image), cv2.COLOR_BGR2GRAY)

    def detect(self, image: np.ndarray) -> list[Box]:
        """The faces of `image` as (x, y, w, h), largest first."""
        return self.detector.detect(self.gray(image))

    def crop(self, image: np.ndarray, boxes: list[Box]) -> np.ndarray:
        """The boxes of `image` as the classifier's input faces, (N, size, size) uint8."""
        gray = self.gray(image)
        size = self.classifier.info.face_size
        return np.stack([self.classifier.prepare(gray, box) for box in boxes]) if boxes else \
            np.zeros((0, size, size), np.uint8)

    def classify(self, faces: np.ndarray) -> np.ndarray:
        """Class probabilities for a batch of input faces, (N, classes), in one call."""
        return self.classifier.predict(faces) if len(faces) else np.zeros((0, len(self.class_names)), np.float32)

    def predict(self, image: np.ndarray, boxes: list[Box] | None = None) -> list[dict]:
        """The faces of `image` with their emotions (see the module's notes); an image with no face
        gives an empty list, except a face-sized one (`FACE_SIZED`), which is classified whole and marked
        `"detected": False`. `boxes` skips detection."""
        gray = self.gray(self.check_image(image))
        whole = False
        if boxes is None:
            boxes = self.detector.detect(gray)
            if not boxes and max(gray.shape) <= self.FACE_SIZED:
                boxes, whole = [(0, 0, gray.shape[1], gray.shape[0])], True
        else:
            boxes = self.check_boxes(boxes, gray.shape)
        faces = self._faces(boxes, self.classify(self.crop(gray, boxes)))
        if whole:
            faces[0]["detected"] = False  # no face found: the face-sized image itself was classified
        return faces

    def _faces(self, boxes: list[Box], proba: np.ndarray) -> list[dict]:
        names = self.class_names
        proba = np.asarray(proba, np.float64)
        if len(proba) and (not np.isfinite(proba).all() or (proba < -1e-6).any()
                           or not np.allclose(proba.sum(axis=1), 1.0, atol=1e-3)):
            raise FerError("the model's outputs are not class probabilities (negative, NaN, or rows that do not sum "
                           "to 1: its last layer has no softmax); pass a model whose output is a softmax")
        return [{"box": [int(v) for v in box],
                 "emotions": {name: round(float(p), 4) for name, p in zip(names, row)},
                 "top_emotion": names[int(np.argmax(row))]}
                for box, row in zip(boxes, proba)]

    @staticmethod
    def draw(image: np.ndarray, faces: list[dict]) -> np.ndarray:
        """A BGR copy of `image` with each face's box and top emotion (and its probability) drawn."""
        out = to_bgr8(EmotionRecognizer.check_image(image)).copy()
        for face in faces:
            if not isinstance(face, dict) or "box" not in face or "top_emotion" not in face or "emotions" not in face:
                raise FerError(f"draw takes faces as predict returns them ({{'box', 'emotions', 'top_emotion'}}), "
                               f"got {face!r:.80}")
            x, y, w, h = EmotionRecognizer.check_boxes([face["box"]], out.shape, inside=False)[0]
            top = face["top_emotion"]
            colour = COLOURS.get(top, (255, 255, 255))
            cv2.rectangle(out, (x, y), (x + w, y + h), colour, 2)
            label = f"{top} {face['emotions'][top]:.0%}"
            cv2.putText(out, label, (x, max(12, y - 6)), cv2.FONT_HERSHEY_SIMPLEX, 0.5, colour, 1, cv2.LINE_AA)
        return out

    # -- video ----------------------------------------------------------------------------------

    # pixels: each search window is scaled down to this width, so a face in it is about 80. Narrower
    # windows are faster but lost faces that 160 keeps (the benchmark's `tracking_probe`).
    TRACK_WINDOW = 160

    def track(self, gray: np.ndarray, previous: list[Box]) -> list[Box]:
        """Each previous face searched again in a window twice its size around it, scaled down to
        `TRACK_WINDOW` pixels wide (a small search, whatever the face's size); faces lost are dropped."""
        found = []
        height, width = gray.shape
        for x, y, w, h in previous:
            x0, y0 = max(0, x - w // 2), max(0, y - h // 2)
            x1, y1 = min(width, x + w + w // 2), min(height, y + h + h // 2)
            window = gray[y0:y1, x0:x1]
            scale = min(1.0, self.TRACK_WINDOW / max(1, window.shape[1]))
            if scale < 1.0:
                window = cv2.resize(window, (self.TRACK_WINDOW, max(1, round(window.shape[0] * scale))),
                                    interpolation=cv2.INTER_AREA)
            window = np.ascontiguousarray(window)
            # the Haar cascade can search only near the face's last size; other detectors search all sizes
            inside = self.detector.detect(window, face_side=w * scale) if isinstance(self.detector, HaarDetector) \
                else self.detector.detect(window)
            if inside:
                bx, by, bw, bh = (v / scale for v in inside[0])
                found.append((round(bx) + x0, round(by) + y0, round(bw), round(bh)))
        return found

    def predict_frames(self, frame_iter, fps: float = 30.0, detect_every: int = 1) -> Iterator[FrameResult]:
        """`FrameResult`s for an iterable of frames (see the module's notes on `detect_every`)."""
        if isinstance(detect_every, bool) or not isinstance(detect_every, int) or detect_every < 1:
            raise FerError(f"detect_every must be a whole number of frames, at least 1, got {detect_every!r}")
        boxes: list[Box] = []
        for index, frame in enumerate(frame_iter):
            gray = self.gray(frame)
            full = index % detect_every == 0 or not boxes
            boxes = self.detector.detect(gray) if full else self.track(gray, boxes)
            yield FrameResult(index, index / fps, self.predict(gray, boxes), frame, full, fps)

    def predict_video(self, video: str | int | Source, detect_every: int = 1) -> Iterator[FrameResult]:
        """`FrameResult`s of a video file, or of a webcam given as its index, frame by frame."""
        if not isinstance(video, Source):
            if isinstance(video, bool) or not isinstance(video, (int, str, Path)) or isinstance(video, int) and video < 0:
                raise FerError(f"video must be a video file's path or a webcam's index (0, 1, ...), got {video!r}")
            if isinstance(video, (str, Path)) and not Path(video).is_file():
                raise FerError(f"video file {video} does not exist; pass the path of a video file")
            video = Source("webcam", webcam=video) if isinstance(video, int) else Source("video", Path(video))
        capture, fps = open_video(video)
        # frames are decoded on a reader thread, overlapping with detection and classification
        reader = prefetched(frames(capture))
        try:
            yielded = False
            for result in self.predict_frames(reader, fps, detect_every):
                yielded = True
                yield result
            if not yielded:
                raise FerError(f"{video.name} has no frames that could be read (empty or damaged)")
        finally:
            reader.close()  # stops the reader thread before the capture it reads is released
            capture.release()

