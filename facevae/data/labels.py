"""Emotion label spaces: CK+ codes on disk, the paper's class list in the model (§1.1)."""

from __future__ import annotations

# CK+ Emotion/*.txt codes (Lucey et al. 2010), as written on disk.
CKPLUS_CODES: dict[int, str] = {
    0: "neutral",
    1: "anger",
    2: "contempt",
    3: "disgust",
    4: "fear",
    5: "happiness",
    6: "sadness",
    7: "surprise",
}
CKPLUS_NAME_TO_CODE: dict[str, int] = {v: k for k, v in CKPLUS_CODES.items()}

# §1.1: six emotions in the paper's order, neutral added as label 0 (a seventh category).
PAPER_CLASSES: tuple[str, ...] = (
    "neutral",
    "anger",
    "contempt",
    "disgust",
    "surprise",
    "happiness",
    "sadness",
)
