"""Raw dataset -> prepared cache: select samples (§1.1), crop the face, 128x128 grey, manifest."""

from __future__ import annotations

import csv
import logging
from collections import Counter
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from .cache import PreparedData, cache_key, reuse_or_build, source_fingerprint
from .ckplus import Sample, read_landmarks, select_samples
from .errors import DataError
from .face_crop import DetectionStats, crop_face, default_detector
from .folder import decode_grey
from .records import assemble, reason_kind
from ..progress import progress_iter

log = logging.getLogger(__name__)

# Columns of the synthetic factors.csv that identify a frame rather than describe it.
_ID_COLUMNS = {"subject", "sequence", "frame", "path"}


UNREADABLE = "unreadable or corrupt image file"


def _crop_one(args: tuple[str, str | None, tuple[str, ...], int, float, float]
              ) -> tuple[np.ndarray | None, str | None, bool]:
    """Worker: read one frame as grey and crop it by the method chain.

    Returns (crop, method used, landmarks available) or (None, reason, landmarks available);
    an undecodable file comes back with a reason starting with UNREADABLE.
    """
    path, landmarks_path, chain, size, margin, min_face = args
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        return None, f"{UNREADABLE} ({exc.strerror})", False
    # The folder reader's decoder: Pillow rejects truncated files, which OpenCV half-decodes silently.
    image, problem = decode_grey(data)
    if image is None:
        return None, f"{UNREADABLE}: {problem}", False
    points, problem = None, None
    if landmarks_path is not None and "landmarks" in chain:
        try:
            points = read_landmarks(Path(landmarks_path))
        except ValueError as exc:
            problem = str(exc).split(": ", 1)[1]
    detector = default_detector(min_size_frac=min_face) if "haar" in chain else None
    crop, used = crop_face(image, chain, landmarks=points, size=size, margin=margin, detector=detector)
    if crop is None:
        if chain == ("landmarks",):
            return None, problem or "no Landmarks file for this frame (needed by data.crop=landmarks)", False
        return None, f"no face found by {' or '.join(chain)}", points is not None
    return crop, used, points is not None


def read_factors(root: Path) -> tuple[list[str], dict[tuple[str, str, int], list[float]]]:
    """Ground-truth factors per (subject, sequence, frame) from factors.csv, if the source has one."""
    file = root / "factors.csv"
    if not file.is_file():
        return [], {}
    with file.open(newline="") as fh:
        reader = csv.DictReader(fh)
        names = [c for c in reader.fieldnames or [] if c not in _ID_COLUMNS]
        table = {
            (row["subject"], row["sequence"], int(row["frame"])): [float(row[c]) for c in names] for row in reader
        }
    return names, table


def prepare(
    root: str | Path,
    cache_dir: str | Path,
    name: str,
    classes: list[str],
    image_size: int = 128,
    crop_margin: float = 0.2,
    crop: tuple[str, ...] | list[str] | str = ("landmarks",),
    haar_min_face: float = 0.15,
    apex_frames: int = 3,
    neutral_frames: int = 1,
    workers: int = 2,
    progress: bool = True,
    extra_manifest: dict | None = None,
) -> PreparedData:
    """Return the prepared data for `root`, reusing the cache when its inputs are unchanged."""
    root = Path(root)
    selection = select_samples(root, classes, apex_frames, neutral_frames)
    options = {
        "name": name,
        "classes": list(classes),
        "image_size": image_size,
        "crop": [crop] if isinstance(crop, str) else list(crop),
        "crop_margin": crop_margin,
        "haar_min_face": haar_min_face,
        "apex_frames": apex_frames,
        "neutral_frames": neutral_frames,
    }
    inputs = [s.path for s in selection.samples] + [s.landmarks for s in selection.samples if s.landmarks]
    if (root / "factors.csv").is_file():
        inputs.append(root / "factors.csv")
    key = cache_key(options, source_fingerprint(inputs))
    build = lambda: _build(root, selection.samples, selection.skips, options, workers, progress)  # noqa: E731
    return reuse_or_build(Path(cache_dir) / name, key, build, root, extra_manifest)


def _build(
    root: Path, samples: list[Sample], skips: list[tuple[str, str]], options: dict, workers: int, progress: bool
) -> PreparedData:
    chain = tuple(options["crop"])
    log.info("Preparing %d selected frames of %s (crop: %s, %d workers)", len(samples), root, " -> ".join(chain),
             workers)
    jobs = [(str(s.path), str(s.landmarks) if s.landmarks else None, chain, options["image_size"],
             options["crop_margin"], options["haar_min_face"]) for s in samples]
    chunks = max(1, len(jobs) // (workers * 8))
    if workers > 1 and len(jobs) > 64:
        with ProcessPoolExecutor(workers) as pool:
            results = list(progress_iter(pool.map(_crop_one, jobs, chunksize=chunks), len(jobs), "Preparing", progress))
    else:
        results = list(progress_iter(map(_crop_one, jobs), len(jobs), "Preparing", progress))
    factor_names, factor_table = read_factors(root)
    kept, crops = [], []
    skips = list(skips)
    failed_per_class: dict[str, Counter] = {}
    detection = DetectionStats()
    for sample, (crop, reason, had_landmarks) in zip(samples, results):
        readable = crop is not None or not reason.startswith(UNREADABLE)
        if readable:
            detection.record(chain, reason if crop is not None else None, had_landmarks)
        if crop is None:
            skips.append((str(sample.path), reason))
            failed_per_class.setdefault(sample.label, Counter())[reason] += 1
            continue
        kept.append(sample)
        crops.append(crop)
    if not kept:
        failures = Counter(reason_kind(r) for _, r in skips[len(skips) - len(samples):])
        first = skips[len(skips) - len(samples)][0]
        raise DataError(
            f"{root}: no usable image among {len(samples)} selected frames ("
            + ", ".join(f"{n} {reason}" for reason, n in failures.most_common(3))
            + f"; first: {first}); expected readable frames with a face"
        )
    factors = np.zeros((len(kept), len(factor_names)), np.float32)
    missing = 0
    for i, s in enumerate(kept):
        row = factor_table.get((s.subject, s.sequence, s.frame))
        if row is not None:
            factors[i] = row
        elif factor_names:
            missing += 1
    if missing:
        log.warning("%d prepared frames have no row in %s/factors.csv (factors left at 0)", missing, root)
    return assemble(options, crops, [s.label for s in kept], [s.subject for s in kept], [s.sequence for s in kept],
                    skips, Counter(s.label for s in samples), failed_per_class, detection.to_dict(),
                    frames=[s.frame for s in kept], factors=factors, factor_names=factor_names)
