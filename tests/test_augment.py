"""Tests for the balancing augmentation (facevae.data.augment) and the data figures."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from facevae.data.augment import balance, opencv_threads
from facevae.figures.data import fig1_class_distribution, fig2_augmentation_examples, fig3_augmented_distribution

CLASSES = ["neutral", "anger", "contempt", "happy", "sadness"]


@pytest.fixture(scope="module", autouse=True)
def _single_thread_opencv():
    """Keep OpenCV's thread pool unstarted: later tests fork pools (synthetic CK+ generation)."""
    with opencv_threads(1):
        yield


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    """Smooth, asymmetric 64×64 images (each distinct) with unbalanced labels."""
    rng = np.random.default_rng(0)
    labels = np.array([0] * 30 + [1] * 5 + [2] * 2 + [3] * 20 + [4] * 9)
    noise = rng.integers(0, 256, (len(labels), 64, 64), dtype=np.uint8)
    images = np.stack([cv2.GaussianBlur(n, (0, 0), 3) for n in noise])
    images[:, 8:20, 5:30] = 230  # an off-centre bright patch: flips and rotations change pixels
    return images, labels


def test_counts_shapes_and_sources(data):
    images, labels = data
    out, out_labels, src, augmented = balance(images, labels, CLASSES, seed=0, return_augmented=True)
    assert np.bincount(out_labels, minlength=len(CLASSES)).tolist() == [20] * 5  # N = largest emotion
    assert out.dtype == np.uint8 and out.shape[1:] == images.shape[1:] and len(out) == len(out_labels) == len(src)
    assert (labels[src] == out_labels).all()  # every output derives from an image of its class
    assert augmented.sum() == (20 - 5) + (20 - 2) + 0 + (20 - 9)
    assert not augmented[out_labels == 0].any()  # neutral is never augmented
    for i in np.flatnonzero(~augmented):
        assert np.array_equal(out[i], images[src[i]])
    for i in np.flatnonzero(augmented):
        assert np.abs(out[i].astype(int) - images[src[i]]).mean() >= 1.0
    neutral_src = src[out_labels == 0]
    assert len(set(neutral_src.tolist())) == 20  # 30 neutral originals: 20 distinct are kept


def test_explicit_n_and_small_neutral(data):
    images, labels = data
    out, out_labels, src = balance(images[30:], labels[30:], CLASSES, n_per_class=12, seed=1)
    counts = np.bincount(out_labels, minlength=len(CLASSES))
    assert counts.tolist() == [0, 12, 12, 20, 12]  # no neutral image; happy (20 > 12) keeps its originals
    out, out_labels, src = balance(images[25:], labels[25:], CLASSES, seed=1)  # 5 neutral < N = 20
    assert np.bincount(out_labels).tolist() == [20] * 5
    assert set(src[out_labels == 0].tolist()) == set(range(5))


def test_seeded_reproducibility(data):
    images, labels = data
    a = balance(images, labels, CLASSES, seed=3)
    b = balance(images, labels, CLASSES, seed=3)
    c = balance(images, labels, CLASSES, seed=4)
    for x, y in zip(a, b):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[0], c[0])


def test_channel_axis_is_kept(data):
    images, labels = data
    out, _, _ = balance(images[..., None], labels, CLASSES, seed=0)
    assert out.shape[1:] == (64, 64, 1) and out.dtype == np.uint8


def test_figures_are_written(data, tmp_path):
    images, labels = data
    _, out_labels, _ = balance(images, labels, CLASSES, seed=0)
    paths = [
        fig1_class_distribution(labels, CLASSES, tmp_path / "fig1.png"),
        fig2_augmentation_examples(images, 0, tmp_path / "fig2.png"),
        fig3_augmented_distribution(out_labels, CLASSES, tmp_path / "fig3.png"),
    ]
    for p in paths:
        assert p.is_file() and p.stat().st_size > 5000
