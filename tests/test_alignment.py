"""Eye alignment (data/alignment.py), its settings' probe (studies/alignment_probe.py) and the eye_aligned candidate,
on real FER2013 Training faces."""
from __future__ import annotations

import json
from dataclasses import asdict

import cv2
import numpy as np
import pytest

from fer_lib.data.alignment import align_on_eyes, detect_eyes, eye_angle
from fer_lib.data.preprocessing import PreprocessConfig, preprocess_images
from fer_lib.errors import FerError

SETTINGS = PreprocessConfig()
EYES = (SETTINGS.eye_upscale, SETTINGS.eye_min_neighbors)


@pytest.fixture(scope="module")
def training_faces(fer2013):
    """The first 300 FER2013 Training faces (a fixed slice: no test split is read here)."""
    return fer2013.images[np.flatnonzero(fer2013.split.astype(str) == "Training")[:300]]


def test_aligned_faces_have_level_eyes(training_faces):
    tilted = [(face, eye_angle(eyes)) for face in training_faces
              if (eyes := detect_eyes(face, *EYES)) is not None and 6 <= abs(eye_angle(eyes)) <= SETTINGS.max_eye_angle]
    assert len(tilted) >= 20, len(tilted)
    after = []
    for face, before in tilted:
        aligned, levelled = align_on_eyes(face, *EYES, SETTINGS.max_eye_angle)
        assert levelled and aligned.shape == face.shape and aligned.dtype == np.uint8
        eyes = detect_eyes(aligned, *EYES)
        if eyes is not None:
            after.append((abs(before), abs(eye_angle(eyes))))
    before_abs, after_abs = np.array(after).T
    assert len(after) >= 0.7 * len(tilted)
    assert np.median(after_abs) < 0.5 * np.median(before_abs)  # tilted by 6 to 30 degrees, mostly level after


def test_a_face_turned_by_hand_is_turned_back(training_faces):
    # a face whose eyes the cascade finds level, rotated 15 degrees (counter-clockwise): its eyes now rise to the
    # right, and aligning turns it back
    level = next(face for face in training_faces
                 if (eyes := detect_eyes(face, *EYES)) is not None and abs(eye_angle(eyes)) < 2)
    turn = cv2.getRotationMatrix2D((24, 24), 15, 1.0)
    turned = cv2.warpAffine(level, turn, (48, 48), borderMode=cv2.BORDER_REPLICATE)
    eyes = detect_eyes(turned, *EYES)
    assert eyes is not None and -22 < eye_angle(eyes) < -8
    back, levelled = align_on_eyes(turned, *EYES, SETTINGS.max_eye_angle)
    assert levelled and abs(eye_angle(detect_eyes(back, *EYES))) < 5


def test_a_face_with_no_eyes_found_or_too_steep_is_kept_as_it_is(training_faces):
    blank = np.full((48, 48), 128, np.uint8)
    kept, levelled = align_on_eyes(blank, *EYES, 30.0)
    assert levelled is False and np.array_equal(kept, blank)
    face = next(f for f in training_faces if (e := detect_eyes(f, *EYES)) is not None and abs(eye_angle(e)) > 3)
    kept, levelled = align_on_eyes(face, *EYES, 1.0)  # any pair steeper than 1 degree is turned away
    assert not levelled and np.array_equal(kept, face)


def test_the_new_settings_leave_earlier_keys_unchanged_and_are_validated():
    earlier = {"face_crop": True, "equalize": True, "size": 48, "upscale": 2, "scale_factor": 1.1,
               "min_neighbors": 5, "min_face_fraction": 0.4}  # PreprocessConfig's fields before eye alignment
    assert PreprocessConfig().identity() == earlier
    assert PreprocessConfig(face_crop=False, equalize=False).identity() == {**earlier, "face_crop": False,
                                                                           "equalize": False}
    assert PreprocessConfig(align_eyes=True).identity() == {**earlier, "align_eyes": True}
    assert set(asdict(PreprocessConfig())) > set(earlier)
    for bad, needle in (({"align_eyes": "yes"}, "align_eyes"), ({"eye_upscale": 0}, "eye_upscale"),
                        ({"eye_min_neighbors": 2.5}, "eye_min_neighbors"), ({"max_eye_angle": 0}, "max_eye_angle")):
        with pytest.raises(FerError, match=needle):
            PreprocessConfig(**bad)


def test_preprocessing_counts_the_faces_it_could_not_align_and_caches_them(training_faces, tmp_path, monkeypatch):
    monkeypatch.setenv("FER_CACHE_DIR", str(tmp_path))
    faces = training_faces[:60]
    config = PreprocessConfig(face_crop=False, equalize=False, align_eyes=True)
    first = preprocess_images(faces, config)
    found = [detect_eyes(f, *EYES) for f in faces]
    expected = sum(e is None or abs(eye_angle(e)) > config.max_eye_angle for e in found)
    assert first.not_aligned_count == expected and 0 < expected < len(faces)
    cached = preprocess_images(faces, config)
    assert np.array_equal(cached.images, first.images) and np.array_equal(cached.aligned, first.aligned)
    plain = preprocess_images(faces, PreprocessConfig(face_crop=False, equalize=False))
    assert plain.not_aligned_count == 0 and np.array_equal(plain.images, faces)
    changed = np.any(first.images != faces, axis=(1, 2))
    assert np.array_equal(changed[~first.aligned], np.zeros((~first.aligned).sum(), bool))  # kept as they were


def test_the_recognizer_aligns_a_crop_when_its_model_was_trained_on_aligned_faces(training_faces):
    from fer_lib.recognizer.classifiers import face_input

    face = next(f for f in training_faces if (e := detect_eyes(f, *EYES)) is not None and 6 < abs(eye_angle(e)) < 30)
    frame = np.full((200, 200), 90, np.uint8)
    frame[40:136, 60:156] = cv2.resize(face, (96, 96), interpolation=cv2.INTER_CUBIC)
    config = PreprocessConfig(face_crop=False, equalize=False, align_eyes=True)
    seen = face_input(frame, (60, 40, 96, 96), 48, config)
    expected = align_on_eyes(cv2.resize(frame[40:136, 60:156], (48, 48), interpolation=cv2.INTER_AREA), *EYES,
                             config.max_eye_angle)
    assert expected[1] and np.array_equal(seen, expected[0])
    unaligned = face_input(frame, (60, 40, 96, 96), 48, PreprocessConfig(face_crop=False, equalize=False))
    assert not np.array_equal(seen, unaligned)


def test_the_probe_rule_and_the_defaults_it_chose():
    from fer_lib.config import REPO_ROOT
    from fer_lib.studies.alignment_probe import choose, probe_path

    rows = [{"upscale": 2, "min_neighbors": 5, "levelled_share": 0.47}, {"upscale": 4, "min_neighbors": 3,
                                                                        "levelled_share": 0.69},
            {"upscale": 4, "min_neighbors": 5, "levelled_share": 0.675}, {"upscale": 3, "min_neighbors": 5,
                                                                          "levelled_share": 0.68}]
    assert choose(rows) == rows[3]  # within 2 points of the best: the most neighbours, then the smaller upscale
    assert choose(rows, tolerance=0.005) == rows[1]
    saved = json.loads(probe_path(REPO_ROOT / "reports").read_text())
    assert saved["chosen"] == {"eye_upscale": SETTINGS.eye_upscale, "eye_min_neighbors": SETTINGS.eye_min_neighbors}
    assert "Training" in saved["data"] and choose(saved["rows"]) == next(
        r for r in saved["rows"] if (r["upscale"], r["min_neighbors"]) == EYES)


def test_the_eye_aligned_candidate_differs_from_the_shipped_recipe_in_its_preprocessing_alone():
    from dataclasses import replace

    from fer_lib.papers.reference.experiments import EXPERIMENTS
    from fer_lib.studies.candidates import candidate_spec

    candidate = candidate_spec("eye_aligned")
    shipped = next(spec for spec in EXPERIMENTS if spec.name == "fer2013_light_reg")
    assert candidate.preprocess.align_eyes and not shipped.preprocess.align_eyes
    assert replace(candidate, name=shipped.name, title=shipped.title, selection_rule=shipped.selection_rule,
                   preprocess=shipped.preprocess) == shipped
