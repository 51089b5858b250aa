"""Image sources that are not sequences (FER2013 csv, class folders) -> the same prepared cache."""

from __future__ import annotations

import logging
import os
from collections import Counter
from pathlib import Path

import cv2
import numpy as np

from .cache import PreparedData, cache_key, reuse_or_build, source_fingerprint
from .folder import RawImages

log = logging.getLogger(__name__)


def resize_square(image: np.ndarray, size: int) -> np.ndarray:
    """Centre-crop to a square and resize to size×size (area filter down, cubic up: 48² crops grow)."""
    h, w = image.shape
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    square = image[top : top + side, left : left + side]
    interp = cv2.INTER_AREA if side >= size else cv2.INTER_CUBIC
    return cv2.resize(square, (size, size), interpolation=interp)


def source_files(path: Path) -> list[Path]:
    """The files whose sizes and times fingerprint a source: the csv itself, or every file of a folder."""
    if path.is_file():
        return [path]
    return [Path(d) / f for d, _, files in os.walk(path) for f in files if not f.startswith(".")]


def prepare_images(
    source: Path,
    read,
    cache_dir: str | Path,
    name: str,
    classes: list[str],
    image_size: int = 128,
    extra_options: dict | None = None,
) -> PreparedData:
    """Prepared data for an image source read by `read() -> RawImages`, reusing the cache when unchanged."""
    options = {"name": name, "classes": list(classes), "image_size": image_size, "crop": "none",
               **(extra_options or {})}
    key = cache_key(options, source_fingerprint(source_files(Path(source))))
    return reuse_or_build(Path(cache_dir) / name, key, lambda: from_raw(read(), options), Path(source))


def from_raw(raw: RawImages, options: dict) -> PreparedData:
    """Resize every image, index labels and subjects, and write the manifest the CK+ path writes."""
    classes, size = options["classes"], options["image_size"]
    labels = np.array([classes.index(c) for c in raw.labels], np.int64)
    subjects = sorted(set(raw.subjects))
    subject_index = {s: i for i, s in enumerate(subjects)}
    counts = {c: int(n) for c, n in zip(classes, np.bincount(labels, minlength=len(classes)))}
    manifest = {
        **options,
        "n_images": len(labels),
        "n_subjects": len([s for s in subjects if s]),
        "subjects": subjects,
        "per_class": counts,
        "found_per_class": counts,
        "skipped_per_class": {},
        "per_subject": dict(Counter(raw.subjects)),
        "factor_names": [],
        "n_skipped": len(raw.skips),
        "skips_by_reason": dict(Counter(r.split(" (")[0] for _, r in raw.skips)),
        "skips": [{"file": f, "reason": r} for f, r in raw.skips],
    }
    if raw.split is not None:
        manifest["per_split"] = dict(Counter(raw.split))
    return PreparedData(
        images=np.stack([resize_square(im, size) for im in raw.images]),
        labels=labels,
        subjects=np.array([subject_index[s] for s in raw.subjects], np.int64),
        sequences=np.array(raw.names),
        frames=np.zeros(len(labels), np.int64),
        factors=np.zeros((len(labels), 0), np.float32),
        manifest=manifest,
        usage=np.array(raw.split if raw.split is not None else [""] * len(labels)),
    )
