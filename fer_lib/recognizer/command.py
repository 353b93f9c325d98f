"""`fer-lib predict` and `fer-lib export`: the recognizer and the exporter on the command line.

predict writes one JSON line per image or video frame (`{"source", "frame", "time", "faces"}`, each
face as `EmotionRecognizer.predict` gives it), or with `--format csv` one row per face. Results go to
stdout or `--output`; `--annotate DIR` also writes each image, or each video as an `.mp4`, with the
faces drawn. A folder run never stops at a bad file: it is skipped, counted and named on stderr.
The exit status is 2 when nothing could be read (one bad file named alone, an empty folder, a webcam
that is not there), else 0.
"""
from __future__ import annotations

import csv
import json
import sys
from pathlib import Path
from typing import IO

import cv2

from ..errors import FerError
from ..progress import bar
from .media import Source, expand_sources, open_video, read_image


class ResultWriter:
    """JSON Lines (one line per image or frame) or CSV (one row per face) to a text stream."""

    def __init__(self, stream: IO[str], fmt: str, class_names: tuple[str, ...]) -> None:
        if fmt not in ("jsonl", "csv"):
            raise FerError(f"--format must be jsonl or csv, got {fmt!r}")
        self.stream, self.fmt = stream, fmt
        if fmt == "csv":
            self.csv = csv.writer(stream)
            self.csv.writerow(["source", "frame", "time", "face", "x", "y", "w", "h", "top_emotion",
                               *[f"p_{c}" for c in class_names]])
            self.class_names = class_names

    def write(self, source: str, faces: list[dict], frame: int | None = None, time: float | None = None) -> None:
        if self.fmt == "jsonl":
            record = {"source": source, **({} if frame is None else {"frame": frame, "time": round(time, 3)}),
                      "faces": faces}
            self.stream.write(json.dumps(record) + "\n")
            return
        for i, face in enumerate(faces):
            self.csv.writerow([source, "" if frame is None else frame, "" if time is None else round(time, 3), i,
                               *face["box"], face["top_emotion"], *[face["emotions"][c] for c in self.class_names]])


def _annotated_path(folder: Path, source: Source, suffix: str) -> Path:
    name = f"webcam{source.webcam}" if source.kind == "webcam" else source.path.stem
    return folder / f"{name}_emotions{suffix}"


def _video(recognizer, source: Source, writer: ResultWriter, annotate: Path | None, detect_every: int,
           max_frames: int | None) -> int:
    total = 0
    if source.kind == "video":  # a file's length, for the progress bar (a webcam is opened once, below)
        capture, _ = open_video(source)
        total = max(0, int(capture.get(cv2.CAP_PROP_FRAME_COUNT)))
        capture.release()
    out, n = None, 0
    progress = bar(total or (max_frames or 0), f"{source.name}", unit="frame")
    try:
        for result in recognizer.predict_video(source, detect_every=detect_every):
            writer.write(source.name, result.faces, result.frame_index, result.time_seconds)
            if annotate is not None:
                drawn = recognizer.draw(result.frame, result.faces)
                if out is None:
                    path = _annotated_path(annotate, source, ".mp4")
                    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), result.fps,
                                          (drawn.shape[1], drawn.shape[0]))
                out.write(drawn)
            n += 1
            progress.update()
            if max_frames is not None and n >= max_frames:
                break
    finally:
        progress.close()
        if out is not None:
            out.release()
    return n


def run_predict(paths: list[str], *, webcam: int | None = None, model: str | None = None, detector: str = "haar",
                fmt: str = "jsonl", output: str | None = None, annotate: str | None = None, detect_every: int = 1,
                max_frames: int | None = None, stderr: IO[str] = sys.stderr) -> int:
    """The `predict` command; returns the exit status."""
    from .recognizer import EmotionRecognizer

    if not paths and webcam is None:
        raise FerError("nothing to run on: pass image or video files, folders, or --webcam INDEX")
    sources, skipped = expand_sources(paths)
    if webcam is not None:
        sources.append(Source("webcam", webcam=webcam))
    if not sources:
        raise FerError(f"no image or video files under {', '.join(paths)} ({len(skipped)} other files skipped)")
    annotate_dir = Path(annotate) if annotate else None
    if annotate_dir is not None:
        annotate_dir.mkdir(parents=True, exist_ok=True)
    recognizer = EmotionRecognizer(model=model, detector=detector)
    stream = open(output, "w", newline="") if output else sys.stdout
    done = 0
    try:
        writer = ResultWriter(stream, fmt, recognizer.class_names)
        images = [s for s in sources if s.kind == "image"]
        progress = bar(len(images), "images", unit="image") if len(images) > 1 else None
        for source in sources:
            try:
                if source.kind == "image":
                    image = read_image(source.path)
                    faces = recognizer.predict(image)
                    writer.write(source.name, faces)
                    if annotate_dir is not None:
                        cv2.imwrite(str(_annotated_path(annotate_dir, source, ".png")), recognizer.draw(image, faces))
                    if progress is not None:
                        progress.update()
                else:
                    _video(recognizer, source, writer, annotate_dir, detect_every, max_frames)
                done += 1
            except FerError as exc:
                if len(sources) == 1:
                    raise
                skipped.append((source.name, str(exc)))
        if progress is not None:
            progress.close()
    finally:
        if output:
            stream.close()
    for name, why in skipped[:20]:
        print(f"skipped {name}: {why}", file=stderr)
    if skipped:
        print(f"{done} read, {len(skipped)} skipped", file=stderr)
    return 0 if done else 2


def run_export(model: str | None, fmt: str, output: str | None) -> Path:
    """The `export` command: the model (default: the reference model) as ONNX or TFLite, with its sidecar."""
    from .classifiers import KerasClassifier, load_classifier
    from .export import EXPORT_FORMATS, export_model

    classifier = load_classifier(model)
    if not isinstance(classifier, KerasClassifier):
        raise FerError(f"export takes a Keras model (.keras); {model} is already a {classifier.format} model")
    source = Path(model) if model else None
    path = Path(output) if output else (source or Path("reference_cnn.keras")).with_suffix(EXPORT_FORMATS.get(fmt, ""))
    return export_model(classifier.model, fmt, path, classifier.info)

