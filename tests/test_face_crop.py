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
        crop_face(blank, ("sift",))


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


def test_photo_folder_is_haar_cropped_and_faceless_photos_listed(astronaut, tmp_path):
    """data=folder data.crop=haar on uncropped photos (JAFFE-like): the face is cut out, a faceless photo
    is skipped by name; data.crop=[haar, none] keeps it whole instead."""
    from facevae.data.folder import read_folder
    from facevae.data.prepare_images import prepare_images

    root = tmp_path / "photos"
    (root / "happy").mkdir(parents=True)
    (root / "sad").mkdir()
    cv2.imwrite(str(root / "happy" / "KA.HA1.1.png"), astronaut)
    cv2.imwrite(str(root / "sad" / "KA.SA1.2.png"), cv2.flip(astronaut, 1))
    cv2.imwrite(str(root / "sad" / "KA.SA2.3.png"), np.full((300, 300), 90, np.uint8))  # no face
    read = lambda: read_folder(root, ["happiness", "sadness"], subject_regex="jaffe")  # noqa: E731
    haar = prepare_images(root, read, tmp_path / "cache", "haar", ["happiness", "sadness"], crop=["haar"])
    assert haar.images.shape == (2, 128, 128)
    assert haar.manifest["face_detection"]["rate"] == {"haar": round(2 / 3, 4)}
    assert haar.manifest["skips"] == [{"file": str(root / "sad" / "KA.SA2.3.png"), "reason":
                                       "no face found by haar (add 'none' to data.crop to keep the whole image)"}]
    assert haar.manifest["found_per_class"] == {"happiness": 1, "sadness": 2}
    assert haar.manifest["skipped_per_class"] == {"sadness": {"no face found": 1}}
    # The crop is the face: it matches cropping the Haar box directly, not the whole 512x512 photo.
    box = HaarFaceDetector().detect(astronaut)[0]
    x, y, w, h = box
    assert x > 100 and w < 200  # the face is a small part of the photo
    whole = cv2.resize(astronaut, (128, 128), interpolation=cv2.INTER_AREA)
    assert np.abs(haar.images[0].astype(int) - whole).mean() > 20
    kept = prepare_images(root, read, tmp_path / "cache", "kept", ["happiness", "sadness"], crop=["haar", "none"])
    assert len(kept.labels) == 3 and kept.manifest["n_skipped"] == 0
    assert kept.manifest["face_detection"]["succeeded"] == {"haar": 2, "none": 1}
