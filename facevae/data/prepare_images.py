"""Image sources that are not sequences (FER2013 csv, class folders) -> the same prepared cache."""

from __future__ import annotations

import logging
import os
import time
from collections import Counter
from pathlib import Path

import cv2

from .cache import PreparedData, cache_key, reuse_or_build, source_fingerprint
from .errors import DataError
from .dlib_faces import ALIGN_EYES, default_landmarker
from .face_crop import DLIB_METHODS, DetectionStats, crop_center, crop_face, default_detector, usable_chain
from .records import RawImages, assemble
from ..progress import progress_iter

log = logging.getLogger(__name__)


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
    crop: list[str] | tuple[str, ...] = ("none",),
    crop_margin: float = 0.2,
    haar_min_face: float = 0.15,
    progress: bool = False,
    dlib_detector: str = "hog",
    align_eyes: list | None = None,
) -> PreparedData:
    """Prepared data for an image source read by `read() -> RawImages`, reusing the cache when unchanged."""
    chain = usable_chain(crop)  # without dlib installed, its methods drop out (one warning), so does the key
    # "none" alone keeps the key of caches written before photos could be Haar-cropped.
    options = {"name": name, "classes": list(classes), "image_size": image_size,
               "crop": "none" if chain == ["none"] else chain, **(extra_options or {})}
    if chain != ["none"]:
        options["crop_margin"] = crop_margin
        options["haar_min_face"] = haar_min_face
    if set(chain) & set(DLIB_METHODS):  # only then: older caches keep their keys
        options["dlib_detector"] = dlib_detector
    if "aligned" in chain:
        options["align_eyes"] = [list(map(float, e)) for e in (align_eyes or ALIGN_EYES)]
    key = cache_key(options, source_fingerprint(source_files(Path(source))))
    build = lambda: from_raw(read(), options, progress, Path(source))  # noqa: E731
    return reuse_or_build(Path(cache_dir) / name, key, build, Path(source))


def crop_raw(raw: RawImages, chain: list[str], size: int, margin: float, progress: bool,
             source: Path | None = None, min_face: float = 0.15, dlib_detector: str = "hog",
             eyes=None) -> DetectionStats:
    """Crop every image's face in place by the method chain (photos: haar, then none = whole image).

    Images where no method found a face are removed from `raw` and listed in its skips.
    """
    stats = DetectionStats()
    detector = default_detector(min_size_frac=min_face) if "haar" in chain else None
    landmarker = default_landmarker(dlib_detector) if set(chain) & set(DLIB_METHODS) else None
    keep = []
    for i in progress_iter(range(len(raw)), len(raw), "Cropping faces", progress):
        crop, _ = crop_face(raw.images[i], chain, size=size, margin=margin, stats=stats, detector=detector,
                            landmarker=landmarker, eyes=eyes)
        if crop is None:
            where = source / raw.names[i] if source and source.is_dir() else f"{source}: {raw.names[i]}"
            raw.skip(where, f"no face found by {' or '.join(chain)} (add 'none' to data.crop to keep "
                                   "the whole image)")
        else:
            raw.images[i] = crop
            keep.append(i)
    for attr in ("images", "labels", "subjects", "names"):
        setattr(raw, attr, [getattr(raw, attr)[i] for i in keep])
    if raw.split is not None:
        raw.split = [raw.split[i] for i in keep]
    return stats


def from_raw(raw: RawImages, options: dict, progress: bool = False, source: Path | None = None) -> PreparedData:
    """Crop or resize every image, then the one builder of arrays and manifest (records.assemble)."""
    classes, size = options["classes"], options["image_size"]
    found = Counter(raw.labels)
    detection = None
    if options["crop"] != "none":
        started = time.perf_counter()
        detection = crop_raw(raw, options["crop"], size, options["crop_margin"], progress, source,
                             options["haar_min_face"], options.get("dlib_detector", "hog"), options.get("align_eyes"))
        seconds = time.perf_counter() - started
        if not raw.images:
            raise DataError(f"no face found in any of {sum(found.values())} images by {options['crop']}; "
                             "for already-cropped faces use data.crop=none")
    kept = Counter(raw.labels)
    failed = {c: Counter({"no face found": found[c] - kept[c]}) for c in classes if found.get(c, 0) > kept[c]}
    if detection is not None:
        detection = {**detection.to_dict(), "seconds_per_image": round(seconds / max(1, detection.n_images), 4)}
    # cubic when enlarging: FER2013's 48² crops grow to the model's size
    crops = raw.images if detection is not None else [crop_center(im, size, enlarge=cv2.INTER_CUBIC) for im in raw.images]
    return assemble(options, crops, raw.labels, raw.subjects, raw.names, raw.skips, found, failed, detection,
                    usage=raw.split if raw.split is not None else [""] * len(raw.labels))
