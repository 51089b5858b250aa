"""What every reader hands to preparation (§1.1), and the one builder of the prepared arrays and manifest.

The sources differ only in how they find their faces: CK+ layouts (ckplus.py; the synthetic CK+) select
frames on disk and crop them by landmarks or Haar in worker processes (prepare.py), FER2013 and class
folders (fer2013.py, folder.py, london.py) decode into RawImages and crop in memory (prepare_images.py).
What is kept, what is skipped and why, and how it is counted is written once, here.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .cache import PreparedData


@dataclass
class RawImages:
    """The common output of the in-memory readers (fer2013.py, folder.py): decoded faces and their labels."""

    images: list[np.ndarray] = field(default_factory=list)  # uint8 grey HxW, any size
    labels: list[str] = field(default_factory=list)  # facevae class names
    subjects: list[str] = field(default_factory=list)  # subject id per image ("" when unknown)
    names: list[str] = field(default_factory=list)  # source file / row id per image
    split: list[str] | None = None  # "train"/"val"/"test" per image when the source defines it
    skips: list[tuple[str, str]] = field(default_factory=list)  # (file or row, reason)

    def __len__(self) -> int:
        return len(self.images)

    def add(self, image: np.ndarray, label: str, subject: str, name: str, split: str | None = None) -> None:
        self.images.append(image)
        self.labels.append(label)
        self.subjects.append(subject)
        self.names.append(name)
        if split is not None:
            if self.split is None:
                self.split = []
            self.split.append(split)

    def skip(self, what: Path | str, reason: str) -> None:
        self.skips.append((str(what), reason))


def reason_kind(reason: str) -> str:
    """Group reasons that differ only by a parenthesised detail (e.g. the fix) for the summary counts."""
    return reason.split(" (")[0]


def assemble(options: dict, crops: list[np.ndarray], labels: list[str], subjects: list[str], names: list[str],
             skips: list[tuple[str, str]], found: Counter, failed_per_class: dict[str, Counter],
             detection: dict | None = None, frames: list[int] | None = None,
             factors: np.ndarray | None = None, factor_names: list[str] | None = None,
             usage: list[str] | None = None) -> PreparedData:
    """The prepared arrays and their manifest from the kept faces (label names, subject ids, the sequence or
    row each came from) and everything that was skipped; the same for every source."""
    classes = list(options["classes"])
    label_index = np.array([classes.index(c) for c in labels], np.int64)
    subject_names = sorted(set(subjects))
    subject_index = {s: i for i, s in enumerate(subject_names)}
    n = len(labels)
    manifest = {
        **options,
        "classes": classes,
        "n_images": n,
        "n_subjects": len([s for s in subject_names if s]),  # "" = a source without subject ids
        "subjects": subject_names,
        "per_class": {c: int(k) for c, k in zip(classes, np.bincount(label_index, minlength=len(classes)))},
        "found_per_class": {c: int(found.get(c, 0)) for c in classes},
        "skipped_per_class": {c: dict(r) for c, r in failed_per_class.items() if r},
        "per_subject": dict(Counter(subjects)),
        "factor_names": list(factor_names or []),
        "n_skipped": len(skips),
        "skips_by_reason": dict(Counter(reason_kind(r) for _, r in skips)),
        "skips": [{"file": f, "reason": r} for f, r in skips],
    }
    if detection is not None:
        manifest["face_detection"] = detection
    if usage is not None and any(usage):
        manifest["per_split"] = dict(Counter(usage))
    return PreparedData(
        images=np.stack(crops),
        labels=label_index,
        subjects=np.array([subject_index[s] for s in subjects], np.int64),
        sequences=np.array(names),
        frames=np.array(frames if frames is not None else [0] * n, np.int64),
        factors=factors if factors is not None else np.zeros((n, 0), np.float32),
        manifest=manifest,
        usage=None if usage is None else np.array(usage),
    )
