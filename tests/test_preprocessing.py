"""Haar crop with its no-face policy, equalization, resize, scaling, caching."""
from __future__ import annotations

import numpy as np

from fer_lib.data.preprocessing import PreprocessConfig, detect_face, preprocess_image, preprocess_images


def test_haar_finds_faces_in_ckplus_and_crops_them(ckplus):
    pre = preprocess_images(ckplus.images[:60], use_cache=False)
    assert pre.images.shape == (60, 48, 48) and pre.images.dtype == np.uint8
    assert pre.face_found.mean() > 0.9  # CK+48 frames are frontal faces
    box = detect_face(ckplus.images[0])
    assert box is not None and 0 < box[2] <= 48


def test_no_face_keeps_the_full_frame_and_is_counted():
    blank = np.full((48, 48), 128, np.uint8)
    ramp = np.tile(np.arange(48, dtype=np.uint8) * 5, (48, 1))
    pre = preprocess_images(np.stack([blank, ramp]), use_cache=False)
    assert pre.no_face_count == 2 and not pre.face_found.any()
    # No crop: with equalization off, the image comes back unchanged.
    out, found = preprocess_image(ramp, PreprocessConfig(equalize=False))
    assert not found
    np.testing.assert_array_equal(out, ramp)


def test_equalization_spreads_a_low_contrast_histogram():
    rng = np.random.default_rng(0)
    dull = rng.integers(100, 130, (48, 48)).astype(np.uint8)
    out, _ = preprocess_image(dull, PreprocessConfig(face_crop=False))
    assert out.max() - out.min() > 200 and dull.max() - dull.min() < 30


def test_resize_keeps_uint8_pixels():
    big = np.zeros((96, 80), np.uint8)
    big[10, 10] = 255
    out, _ = preprocess_image(big, PreprocessConfig(face_crop=False, equalize=False))
    assert out.shape == (48, 48) and out.dtype == np.uint8  # scaling to [0, 1] is the models' first layer


def test_preprocessing_is_cached_by_content(ckplus, isolated_cache):
    first = preprocess_images(ckplus.images[:20])
    assert len(list((isolated_cache / "preprocessed").glob("*.npz"))) == 1
    again = preprocess_images(ckplus.images[:20])
    np.testing.assert_array_equal(first.images, again.images)
    preprocess_images(ckplus.images[:20], PreprocessConfig(equalize=False))
    assert len(list((isolated_cache / "preprocessed").glob("*.npz"))) == 2
