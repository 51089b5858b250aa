"""Data figures of §1.1: class distribution before/after balancing and augmentation examples."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .style import class_colors, image_grid, plt, save
from ..data.augment import OPERATIONS, A, make_operation, opencv_threads

_OP_TITLES = {
    "rotation": "Rotation (≤15°)",
    "perspective": "Perspective",
    "brightness_contrast": "Brightness / contrast",
}


def _distribution(labels: np.ndarray, classes: list[str], path: Path, title: str) -> Path:
    counts = np.bincount(np.asarray(labels, np.int64), minlength=len(classes))[: len(classes)]
    fig, ax = plt.subplots(figsize=(1.0 * len(classes) + 2.0, 3.6))
    bars = ax.bar(range(len(classes)), counts, color=class_colors(len(classes)), edgecolor="black", linewidth=0.6)
    for bar, n in zip(bars, counts):
        ax.annotate(str(int(n)), (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                    ha="center", va="bottom", fontsize=8, xytext=(0, 2), textcoords="offset points")
    ax.set_xticks(range(len(classes)), [c.capitalize() for c in classes], rotation=30, ha="right")
    ax.set_ylabel("number of images")
    ax.set_xlabel("class")
    ax.set_title(f"{title} (n = {int(counts.sum())})")
    ax.set_ylim(0, max(1, counts.max()) * 1.12)
    ax.spines[["top", "right"]].set_visible(False)
    return save(fig, Path(path))


def fig1_class_distribution(labels: np.ndarray, classes: list[str], path: str | Path) -> Path:
    """Fig. 1: number of images per class in the prepared (un-augmented) data."""
    return _distribution(labels, classes, Path(path), "Fig. 1: images per class, original data")


def fig3_augmented_distribution(labels: np.ndarray, classes: list[str], path: str | Path) -> Path:
    """Number of images per class after the balancing augmentation."""
    return _distribution(labels, classes, Path(path), "Images per class after balancing augmentation")


def fig2_augmentation_examples(images: np.ndarray, seed: int, path: str | Path, n_pairs: int = 3) -> Path:
    """Original → augmented pairs, one row per operation (rotation, perspective, brightness/contrast).

    Each row shows ``n_pairs`` pairs of a (seeded) random image and the same image after that single
    operation (no flip, so the operation itself is visible).
    """
    images = np.asarray(images)
    if images.ndim == 4:
        images = images[..., 0]
    rng = np.random.default_rng(seed)
    rows, labels = [], []
    for k, op in enumerate(OPERATIONS):
        transform = A.Compose([make_operation(op)], seed=seed + k)
        picks = rng.choice(len(images), n_pairs, replace=len(images) < n_pairs)
        row = []
        with opencv_threads(1):
            for i in picks:
                row += [images[i] / 255.0, transform(image=images[i])["image"] / 255.0]
        rows.append(row)
        labels.append(_OP_TITLES[op])
    cols = ["original", "augmented"] * n_pairs
    fig = image_grid(rows, labels, cols, "Augmentation operations: original → augmented")
    return save(fig, Path(path))
