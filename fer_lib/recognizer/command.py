"""`fer-lib predict` and `fer-lib export`: the recognizer and the exporter on the command line.

predict writes one JSON line per image or video frame (`{"source", "frame", "time", "faces"}`, each
face as `EmotionRecognizer.predict` gives it), or with `--format csv` one row per face. Results go to
stdout or `--output`; `--annotate DIR` also writes each image, or each video as an `.mp4`, with the
faces drawn. A folder run never stops at a bad file: it is skipped, counted and named on stderr.
The exit status is 2 when nothing could be read (one bad file named alone, an empty folder, a webcam
that is not there), else 0.
"""
from __future__ import annotations

import contextlib
import csv
import json
import os
import sys
from pathlib import Path
from typing import IO

import cv2

from ..errors import FerError
from ..files import atomic_path
from ..progress import bar
from .media import Source, expand_sources, open_video, read_image_scaled


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
    if source.kind == "webcam":
        return folder / f"webcam{source.webcam}_emotions{suffix}"
    relative = source.relative or Path(source.path.name)
    return folder / relative.parent / f"{relative.stem}_emotions{suffix}"


def _write_image(path: Path, image) -> None:
    """An annotated image, or a FerError naming the path where OpenCV could not write it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), image):
        raise FerError(f"could not write the annotated image {path}; check that its folder is writable")


def check_output_file(output: str) -> Path:
    """`--output` as a path a file can be written to (not a folder; its folder there and writable), or a
    FerError naming it; checked before a model loads or anything is written."""
    target = Path(output)
    if target.is_dir():
        raise FerError(f"--output {output} is a folder; name a file to write")
    if not target.parent.resolve().is_dir():
        raise FerError(f"--output {output}: its folder {target.parent} does not exist; create it first")
    if not os.access(target.parent.resolve(), os.W_OK):
        raise FerError(f"--output {output}: its folder {target.parent} is not writable; choose another place")
    return target


def check_predict_options(paths: list[str], *, webcam: int | None, fmt: str, output: str | None,
                          annotate: str | None, detect_every: int, max_frames: int | None) -> list[Source]:
    """Every flag and path of `predict` checked before a model loads or a file is written: the sources to
    read, or a FerError naming the bad input and the fix."""
    if fmt not in ("jsonl", "csv"):
        raise FerError(f"--format must be jsonl or csv, got {fmt!r}")
    for flag, value, least in (("--detect-every", detect_every, 1), ("--max-frames", max_frames, 1), ("--webcam", webcam, 0)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < least):
            raise FerError(f"{flag} must be a whole number of at least {least}, got {value!r}")
    if not paths and webcam is None:
        raise FerError("nothing to run on: pass image or video files, folders, or --webcam INDEX")
    sources, skipped = expand_sources(paths)
    if webcam is not None:
        sources.append(Source("webcam", webcam=webcam))
    if not sources:
        raise FerError(f"no image or video files under {', '.join(paths)} ({len(skipped)} other files skipped)")
    inputs = {s.path.resolve() for s in sources if s.path is not None}
    if output is not None:
        if check_output_file(output).resolve() in inputs:
            raise FerError(f"--output {output} is one of the inputs; name another file (nothing was written)")
    if annotate is not None:
        folder = Path(annotate)
        if folder.exists() and not folder.is_dir():
            raise FerError(f"--annotate {annotate} is a file; name a folder for the annotated images")
        existing = next((p for p in [folder, *folder.parents] if p.exists()), Path("."))
        if not os.access(existing.resolve(), os.W_OK):
            raise FerError(f"--annotate {annotate}: {existing} is not writable; choose another folder")
        targets: dict[Path, Source] = {}
        for source in sources:
            target = _annotated_path(folder, source, ".png" if source.kind == "image" else ".mp4").resolve()
            if target in targets:
                raise FerError(f"--annotate: {targets[target].name} and {source.name} would both be written to {target}; "
                               "pass their folder instead of the files, or annotate them in two runs")
            if target in inputs:
                raise FerError(f"--annotate would overwrite the input {target}; choose another folder")
            targets[target] = source
    return sources


def _video(recognizer, source: Source, writer: ResultWriter, annotate: Path | None, detect_every: int,
           max_frames: int | None, stderr: IO[str] | None = None) -> int:
    stderr = stderr or sys.stderr  # read when called: a default bound at import outlives a replaced sys.stderr
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
                    path.parent.mkdir(parents=True, exist_ok=True)
                    out = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), result.fps,
                                          (drawn.shape[1], drawn.shape[0]))
                    if not out.isOpened():
                        raise FerError(f"could not write the annotated video {path}; check that its folder is writable")
                out.write(drawn)
            n += 1
            progress.update()
            if max_frames is not None and n >= max_frames:
                break
    finally:
        progress.close()
        if out is not None:
            out.release()
    if source.kind == "video" and total and n < total and (max_frames is None or n < max_frames):
        print(f"warning: {source.name}: read {n} of the {total} frames its header states (the file ends early or "
              "is damaged); results cover those frames", file=stderr)
    return n


def run_predict(paths: list[str], *, webcam: int | None = None, model: str | None = None, detector: str = "haar",
                fmt: str = "jsonl", output: str | None = None, annotate: str | None = None, detect_every: int = 1,
                max_frames: int | None = None, stderr: IO[str] | None = None) -> int:
    """The `predict` command; returns the exit status. Every flag and path is checked before the model
    loads; results go to a temporary file beside `output`, moved into place only when something was read,
    so a run that fails leaves an existing results file as it was."""
    from .recognizer import EmotionRecognizer

    stderr = stderr or sys.stderr  # read when called: a default bound at import outlives a replaced sys.stderr
    sources = check_predict_options(paths, webcam=webcam, fmt=fmt, output=output, annotate=annotate,
                                    detect_every=detect_every, max_frames=max_frames)
    _, skipped = expand_sources(paths)
    annotate_dir = Path(annotate) if annotate else None
    recognizer = EmotionRecognizer(model=model, detector=detector)
    if annotate_dir is not None:
        annotate_dir.mkdir(parents=True, exist_ok=True)
    done = 0
    with contextlib.ExitStack() as stack:
        if output:
            tmp = stack.enter_context(atomic_path(output))
            stream = stack.enter_context(open(tmp, "w", newline=""))
        else:
            stream = sys.stdout
        writer = ResultWriter(stream, fmt, recognizer.class_names)
        images = [s for s in sources if s.kind == "image"]
        progress = bar(len(images), "images", unit="image") if len(images) > 1 else None
        for source in sources:
            try:
                if source.kind == "image":
                    image, scale = read_image_scaled(source.path)
                    faces = recognizer.predict(image)
                    # boxes in the file's own pixels, where a very large image was searched on a smaller copy
                    writer.write(source.name, faces if scale == 1.0 else
                                 [{**f, "box": [round(v * scale) for v in f["box"]]} for f in faces])
                    if annotate_dir is not None:
                        _write_image(_annotated_path(annotate_dir, source, ".png"), recognizer.draw(image, faces))
                    if progress is not None:
                        progress.update()
                else:
                    _video(recognizer, source, writer, annotate_dir, detect_every, max_frames, stderr)
                done += 1
            except FerError as exc:
                if len(sources) == 1:
                    raise
                skipped.append((source.name, str(exc)))
        if progress is not None:
            progress.close()
        if output and not done:
            stream.close()
            raise FerError(f"nothing could be read ({len(skipped)} skipped); {output} was left as it was")
    for name, why in skipped[:20]:
        print(f"skipped {name}: {why}", file=stderr)
    if skipped:
        print(f"{done} read, {len(skipped)} skipped", file=stderr)
    return 0 if done else 2


def run_export(model: str | None, fmt: str, output: str | None) -> Path:
    """The `export` command: the model (default: the reference model) as ONNX or TFLite, with its sidecar."""
    from .classifiers import KerasClassifier, load_classifier
    from .export import EXPORT_FORMATS, export_model

    if fmt not in EXPORT_FORMATS:  # checked before the model loads (10-20 s) and before anything is written
        raise FerError(f"--format must be one of {', '.join(EXPORT_FORMATS)}, got {fmt!r}")
    if output is not None:
        target = check_output_file(output)
        if model and target.resolve() == Path(model).resolve():
            raise FerError(f"--output {output} is the model being exported; name another file")
    classifier = load_classifier(model)
    if not isinstance(classifier, KerasClassifier):
        raise FerError(f"export takes a Keras model (.keras); {model} is already a {classifier.format} model")
    source = Path(model) if model else None
    path = Path(output) if output else (source or Path("reference_cnn.keras")).with_suffix(EXPORT_FORMATS.get(fmt, ""))
    return export_model(classifier.model, fmt, path, classifier.info)

