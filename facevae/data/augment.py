"""The paper's balancing augmentation (§1.1), with albumentations, seeded.

For each emotion e (not neutral), ``N - |e|`` images are added: a random image of e, flipped
horizontally with p = 0.5, then ONE of random brightness/contrast, random perspective or random
rotation. The neutral class is made of ``N`` images drawn from the original neutral images, without
augmentation. Only the training split should be balanced: :func:`balance` is a pure function.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Iterator

import cv2
import numpy as np

with warnings.catch_warnings():  # albumentations may warn about its version check on import
    warnings.simplefilter("ignore")
    import albumentations as A

log = logging.getLogger(__name__)

ROTATION_LIMIT = 15.0  # degrees
PERSPECTIVE_SCALE = (0.05, 0.1)
BRIGHTNESS_LIMIT = 0.2
CONTRAST_LIMIT = 0.2
# An added image must differ from its source by at least this mean absolute grey level; a draw
# that changes (almost) nothing (e.g. a 0.3° rotation) is redrawn, at most _MAX_REDRAWS times.
MIN_MEAN_ABS_CHANGE = 1.0
_MAX_REDRAWS = 8

OPERATIONS = ("rotation", "perspective", "brightness_contrast")


@contextlib.contextmanager
def opencv_threads(n: int = 1) -> Iterator[None]:
    """Run OpenCV with ``n`` threads inside the block, then restore the previous setting.

    Why: once OpenCV has run a multi-threaded call, a process forked afterwards (a fork-based
    process pool, DataLoader workers) deadlocks in its first OpenCV call. Single-threaded use never
    starts OpenCV's thread pool, and on small (128×128) images it is as fast.
    """
    previous = cv2.getNumThreads()
    cv2.setNumThreads(n)
    try:
        yield
    finally:
        cv2.setNumThreads(previous)


def make_operation(name: str) -> A.BasicTransform:
    """One of the three augmentation operations of the paper, always applied (p = 1)."""
    if name == "rotation":
        return A.Rotate(limit=ROTATION_LIMIT, border_mode=cv2.BORDER_REPLICATE, p=1.0)
    if name == "perspective":
        return A.Perspective(scale=PERSPECTIVE_SCALE, border_mode=cv2.BORDER_REPLICATE, p=1.0)
    if name == "brightness_contrast":
        return A.RandomBrightnessContrast(brightness_limit=BRIGHTNESS_LIMIT, contrast_limit=CONTRAST_LIMIT, p=1.0)
    raise ValueError(f"unknown augmentation {name!r}; choose from {list(OPERATIONS)}")


def make_transform(seed: int | None = 0) -> A.Compose:
    """HorizontalFlip(p=0.5) then OneOf(rotation, perspective, brightness/contrast), seeded.

    The same seed gives the same sequence of augmentations over successive calls.
    """
    return A.Compose(
        [
            A.HorizontalFlip(p=0.5),
            A.OneOf([make_operation("brightness_contrast"), make_operation("perspective"),
                     make_operation("rotation")], p=1.0),
        ],
        seed=seed,
    )


def augment_one(transform: A.Compose, image: np.ndarray) -> np.ndarray:
    """Apply ``transform`` to one uint8 image, redrawing when the result barely differs from it."""
    out = image
    for _ in range(_MAX_REDRAWS):
        out = transform(image=image)["image"]
        if np.abs(out.astype(np.int16) - image).mean() >= MIN_MEAN_ABS_CHANGE:
            break
    return out


def target_count(labels: np.ndarray, classes: list[str], neutral: str = "neutral") -> int:
    """The paper's N by default: the size of the largest emotion (non-neutral) class."""
    counts = np.bincount(labels, minlength=len(classes))
    emotions = [i for i, c in enumerate(classes) if c != neutral]
    return int(counts[emotions].max()) if emotions else int(counts.max())


def balance(
    images: np.ndarray,
    labels: np.ndarray,
    classes: list[str],
    n_per_class: int | None = None,
    seed: int = 0,
    neutral: str = "neutral",
    return_augmented: bool = False,
) -> tuple[np.ndarray, np.ndarray, np.ndarray] | tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Balance a (training) set so that every class has ``N`` images (paper §1.1).

    ``images``: uint8 (n, S, S) or (n, S, S, 1); ``labels``: int (n,) indexing ``classes``.
    ``N = n_per_class`` or, by default, the size of the largest emotion (non-neutral) class.

    - Emotion class e with ``|e| <= N``: all its originals are kept and ``N - |e|`` augmented
      images are added, each from a uniformly drawn original of e: horizontal flip with p = 0.5,
      then one of brightness/contrast, perspective, rotation (≤ 15°), see :func:`make_transform`.
      Draws that change the image by < 1 grey level on average are redrawn.
    - Emotion class with ``|e| > N`` (only if ``n_per_class`` is set below it): all originals are
      kept, nothing is added (that class ends with ``|e|`` images).
    - Neutral (paper: "for i in 1..N: D.append(sampleImageByEmotion('Neutral'))"): the neutral class
      ends with exactly ``N`` images drawn from the original neutral images, without augmentation:
      a random subset of ``N`` distinct originals when there are at least ``N`` of them, otherwise
      all originals plus ``N - |neutral|`` duplicates drawn with replacement.
    - A class with no image at all stays empty (a warning is logged).

    Returns ``(aug_images, aug_labels, source_index)``: the whole balanced set, ordered as the kept
    originals (in input order), then the added images class by class. ``source_index[i]`` is the
    index in ``images`` that output ``i`` comes from (use it to carry subject ids, sequences...).
    With ``return_augmented=True`` a fourth bool array marks the outputs that were transformed.
    Deterministic for a given ``seed`` (numpy draws and albumentations' own seed).
    """
    images = np.asarray(images)
    labels = np.asarray(labels, dtype=np.int64)
    if images.dtype != np.uint8:
        raise TypeError(f"balance expects uint8 images, got {images.dtype}")
    if len(images) != len(labels):
        raise ValueError(f"{len(images)} images but {len(labels)} labels")
    if len(labels) and (labels.min() < 0 or labels.max() >= len(classes)):
        raise ValueError(f"labels must be in [0, {len(classes)}), got [{labels.min()}, {labels.max()}]")
    n_target = target_count(labels, classes, neutral) if n_per_class is None else int(n_per_class)
    if n_target < 0:
        raise ValueError(f"n_per_class must be >= 0, got {n_target}")
    rng = np.random.default_rng(seed)
    transform = make_transform(int(rng.integers(2**31 - 1)))

    keep = np.ones(len(labels), bool)
    added_src: list[np.ndarray] = []
    added_aug: list[np.ndarray] = []
    for c, name in enumerate(classes):
        members = np.flatnonzero(labels == c)
        if len(members) == 0:
            if n_target > 0:
                log.warning("balance: class %r has no image; it stays empty", name)
            continue
        if name == neutral:
            if len(members) >= n_target:
                chosen = rng.choice(members, n_target, replace=False)
                drop = np.setdiff1d(members, chosen)
                keep[drop] = False
            else:
                extra = rng.choice(members, n_target - len(members), replace=True)
                added_src.append(extra)
                added_aug.append(np.zeros(len(extra), bool))
            continue
        missing = n_target - len(members)
        if missing > 0:
            added_src.append(rng.choice(members, missing, replace=True))
            added_aug.append(np.ones(missing, bool))

    kept = np.flatnonzero(keep)
    src_added = np.concatenate(added_src) if added_src else np.zeros(0, np.int64)
    aug_added = np.concatenate(added_aug) if added_aug else np.zeros(0, bool)
    new = np.empty((len(src_added), *images.shape[1:]), np.uint8)
    with opencv_threads(1):
        for j, (i, aug) in enumerate(zip(src_added, aug_added)):
            new[j] = augment_one(transform, images[i]) if aug else images[i]

    out_images = np.concatenate([images[kept], new])
    source_index = np.concatenate([kept, src_added]).astype(np.int64)
    out_labels = labels[source_index]
    if return_augmented:
        augmented = np.concatenate([np.zeros(len(kept), bool), aug_added])
        return out_images, out_labels, source_index, augmented
    return out_images, out_labels, source_index
