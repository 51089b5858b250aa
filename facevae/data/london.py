"""data=london: the Face Research Lab London Set, shipped inside facevae (facevae/data/london_set/).

102 people photographed once neutral and once smiling (CC BY 4.0; attribution in london_set/README.md).
The tree is a class-folder dataset (images/neutral/<id>.jpg, images/smiling/<id>.jpg), so it goes through
data=folder's reader and cache unchanged: "smiling" is already an alias of happiness, and the file stem
is the subject id, so both photos of a person always fall into the same fold.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

LONDON_DIR = Path(__file__).resolve().parent / "london_set"
LONDON_SUBJECTS = r"^(?P<subject>\d{3})\.jpg$"


def london_images() -> Path:
    """The shipped class-folder tree (images/neutral, images/smiling)."""
    return LONDON_DIR / "images"


def london_photos() -> list[tuple[str, Path, Path]]:
    """(face id, neutral photo, smiling photo) for every person, sorted by id."""
    root = london_images()
    return [(p.stem, p, root / "smiling" / p.name) for p in sorted((root / "neutral").glob("*.jpg"))]


def london_pupils() -> dict[str, np.ndarray]:
    """face id -> (2, 2) pupil centres (image-left, image-right) of the neutral photo, in its pixels."""
    with open(LONDON_DIR / "pupils.csv", newline="") as f:
        return {r["face_id"]: np.array([[float(r["left_x"]), float(r["left_y"])],
                                        [float(r["right_x"]), float(r["right_y"])]]) for r in csv.DictReader(f)}
