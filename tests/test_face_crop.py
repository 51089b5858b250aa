"""Tests for facevae.data.face_crop: Haar detection on a real photo and on synthetic CK+ frames."""

from __future__ import annotations

import pickle
from importlib.resources import files
from pathlib import Path

import cv2
import numpy as np
import pytest

from facevae.data.augment import opencv_threads

from facevae.data.ckplus import IMAGE_DIR, annotation_path, read_landmarks
from facevae.data.face_crop import DetectionStats, HaarFaceDetector, crop_face


@pytest.fixture(scope="module", autouse=True)
def _single_thread_opencv():
    """Keep OpenCV's thread pool unstarted: later tests fork pools (synthetic CK+ generation)."""
    with opencv_threads(1):
        yield


@pytest.fixture(scope="module")
def detector() -> HaarFaceDetector:
    return HaarFaceDetector()


@pytest.fixture(scope="module")
def astronaut() -> np.ndarray:
    path = files("skimage") / "data" / "astronaut.png"  # a real photograph shipped in the wheel
    image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
    assert image is not None, f"cannot read {path}"
    return image


def test_haar_finds_the_astronaut(detector, astronaut):
    boxes = detector.detect(astronaut)
    assert len(boxes) == 1
    np.testing.assert_allclose(boxes[0], [177, 66, 95, 95], atol=8)
    crop, method = crop_face(astronaut, ("haar",), detector=detector, size=96)
    assert method == "haar" and crop.shape == (96, 96) and crop.dtype == np.uint8


def test_colour_input_and_sizes(detector, astronaut):
    bgr = cv2.cvtColor(astronaut, cv2.COLOR_GRAY2BGR)
    for size in (32, 64, 128):
        crop, method = crop_face(bgr, ("haar",), detector=detector, size=size)
        assert method == "haar" and crop.shape == (size, size) and crop.dtype == np.uint8


def test_detector_pickles(detector, astronaut):
    clone = pickle.loads(pickle.dumps(detector))
    assert clone.detect(astronaut) == detector.detect(astronaut)


def test_missing_cascade_error_is_clear():
    with pytest.raises(RuntimeError, match="opencv-python-headless>=4.9,<5"):
        HaarFaceDetector("no_such_cascade.xml")


def test_blank_image_and_fallbacks(detector):
    blank = np.full((490, 640), 128, np.uint8)
    stats = DetectionStats()
    assert crop_face(blank, ("haar",), detector=detector, stats=stats) == (None, None)
    assert crop_face(blank, detector=detector, stats=stats) == (None, None)  # haar, then no landmarks
    points = np.stack(np.meshgrid(np.linspace(250, 390, 17), np.linspace(180, 340, 4)), -1).reshape(-1, 2)
    crop, method = crop_face(blank, landmarks=points[:68], detector=detector, size=64, stats=stats)
    assert method == "landmarks" and crop.shape == (64, 64)
    crop, method = crop_face(blank, ("haar", "none"), detector=detector, size=50, stats=stats)
    assert method == "none" and crop.shape == (50, 50)
    assert stats.tried == {"haar": 4, "landmarks": 1, "none": 1}
    assert stats.rate("haar") == 0 and stats.rate("landmarks") == 1
    assert stats.to_dict()["n_failed"] == 2 and stats.to_dict()["n_images"] == 4
    with pytest.raises(ValueError, match="unknown"):
        crop_face(blank, ("dlib",))


def test_none_method_centre_crops():
    image = np.zeros((100, 200), np.uint8)
    image[:, 50:150] = 255  # the centre square is white, the sides black
    crop, method = crop_face(image, ("none",), size=40)
    assert method == "none" and crop.shape == (40, 40) and crop.min() == 255


def test_stats_record_and_merge():
    a, b = DetectionStats(), DetectionStats()
    a.record(("haar", "landmarks"), "haar")
    b.record(("haar", "landmarks"), "landmarks")
    b.record(("haar", "landmarks"), None, landmarks_available=False)
    a.merge(b)
    assert a.tried == {"haar": 3, "landmarks": 1} and a.succeeded == {"haar": 1, "landmarks": 1}
    assert a.n_failed == 1 and a.n_images == 3


def test_synthetic_ckplus_detection_rate(smoke_tree: Path, detector):
    frames = sorted((smoke_tree / IMAGE_DIR).rglob("*.png"))
    frames = [frames[i] for i in np.random.default_rng(0).choice(len(frames), min(40, len(frames)), replace=False)]
    stats = DetectionStats()
    for path in frames:
        image = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        points = read_landmarks(annotation_path(smoke_tree, "Landmarks", path, "landmarks"))
        crop, method = crop_face(image, landmarks=points, detector=detector, size=64, stats=stats)
        assert crop is not None and crop.shape == (64, 64)  # landmarks catch every Haar miss
    assert stats.rate("haar") >= 0.8, stats.to_dict()  # measured ≈0.96 on 100 frames
    assert stats.n_failed == 0
