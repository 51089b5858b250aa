"""Data-side sub-benchmarks: synthetic CK+ generation, CK+-sized preparation with Haar, balancing.

    python -m bench.data_speed [--subjects 90]     (also run by `make bench`)
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path

import numpy as np

from facevae.data.augment import balance
from facevae.data.ckplus import select_samples
from facevae.data.labels import CKPLUS_CODES, PAPER_CLASSES
from facevae.data.prepare import prepare
from facevae.data.synth import SynthSpec, generate_synth

ALL_CLASSES = list(CKPLUS_CODES.values())


def bench_generate(root: Path, n_subjects: int, workers: int = 2) -> dict:
    """Frames/s of the synthetic CK+ generator (writes the full 640x490 tree)."""
    summary = generate_synth(root, SynthSpec(n_subjects=n_subjects, seed=0), workers=workers, progress=False)
    return {"frames": summary["n_frames"], "frames_per_s": round(summary["frames_per_s"], 1)}


def bench_prepare(root: Path, cache: Path, workers: int = 2, haar_min_face: float = 0.25) -> dict:
    """Frames/s of preparation as data=ckplus does it (Haar, then landmarks; CK+ face size), all classes."""
    selected = len(select_samples(root, ALL_CLASSES).samples)
    start = time.perf_counter()
    data = prepare(root, cache, "bench", ALL_CLASSES, crop=["haar", "landmarks"],
                   haar_min_face=haar_min_face, workers=workers, progress=False)
    seconds = time.perf_counter() - start
    detection = data.manifest["face_detection"]
    return {"selected_frames": selected, "seconds": round(seconds, 2), "frames_per_s": round(selected / seconds, 1),
            "haar_rate": detection["rate"].get("haar"), "n_failed": detection["n_failed"], "workers": workers}


def bench_balance(images: np.ndarray, labels: np.ndarray, classes: list[str], n_per_class: int = 1000) -> dict:
    """Images/s of the §1.1 balancing augmentation (transformed images per second)."""
    start = time.perf_counter()
    *_, augmented = balance(images, labels, classes, n_per_class, seed=0, return_augmented=True)
    seconds = time.perf_counter() - start
    added = int(augmented.sum())
    return {"added": int(added), "seconds": round(seconds, 2), "images_per_s": round(added / seconds, 1)}


def run(n_subjects: int = 90, workers: int = 2) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "tree"
        results = {"generate": bench_generate(root, n_subjects, workers)}
        results["prepare"] = bench_prepare(root, Path(tmp) / "cache", workers)
        data = prepare(root, Path(tmp) / "cache", "paper", list(PAPER_CLASSES), crop=["landmarks"], progress=False)
        results["balance"] = bench_balance(data.images, data.labels, list(PAPER_CLASSES))
    return results


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--subjects", type=int, default=90, help="90 synthetic subjects give ~1.6k selected frames")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    print(json.dumps(run(args.subjects, args.workers), indent=2))
