"""Reader for the CK+ on-disk layout (Lucey et al. 2010), shared by real CK+ and the synthetic CK+.

    cohn-kanade-images/S005/001/S005_001_00000011.png
    Emotion/S005/001/S005_001_00000011_emotion.txt      (last frame of labelled sequences only)
    Landmarks/S005/001/S005_001_00000011_landmarks.txt  (68 "x y" lines, every frame)
    FACS/S005/001/S005_001_00000011_facs.txt            (AU and intensity, last frame)

Sample selection follows §1.1: the last `apex_frames` frames of each labelled sequence carry the
sequence's emotion; the first frame of every sequence is a neutral sample.
"""

from __future__ import annotations

import math

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .errors import LayoutError
from .labels import CKPLUS_CODES

IMAGE_DIR = "cohn-kanade-images"
_FRAME_NAME = re.compile(r"^(?P<subject>[^_]+)_(?P<sequence>[^_]+)_(?P<frame>\d+)$")
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


@dataclass
class Sequence:
    subject: str
    sequence: str
    frames: list[Path]  # sorted by frame number
    emotion: int | None = None  # CK+ code, None when the sequence has no Emotion file
    emotion_file: Path | None = None


@dataclass
class Sample:
    path: Path
    label: str  # class name
    subject: str
    sequence: str
    frame: int
    landmarks: Path | None


@dataclass
class Selection:
    samples: list[Sample] = field(default_factory=list)
    skips: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)

    def skip(self, path: Path | str, reason: str) -> None:
        self.skips.append((str(path), reason))


def frame_number(path: Path) -> int:
    """Frame index parsed from a CK+ file name like S005_001_00000011.png."""
    m = _FRAME_NAME.match(path.stem)
    if m is None:
        raise ValueError(f"{path}: file name is not SUBJECT_SEQUENCE_FRAME (like S005_001_00000011.png)")
    return int(m["frame"])


def read_emotion(path: Path) -> int:
    """Read a CK+ emotion file (one number like '   3.0000000e+00'); raises ValueError naming the file."""
    try:
        text = path.read_text(errors="replace").strip()
    except OSError as exc:  # a dangling or looping symlink, a folder named like the file
        raise ValueError(f"{path}: could not be read ({exc.strerror or exc})") from None
    try:
        value = float(text.split()[0])
    except (ValueError, IndexError):
        raise ValueError(f"{path}: expected one number (a CK+ emotion code 0-7), found {text[:40]!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"{path}: emotion code {value} is not a number 0-7")
    code = int(value)
    if code != value or code not in CKPLUS_CODES:
        raise ValueError(f"{path}: emotion code {value:g} is outside CK+'s 0-7")
    return code


def read_landmarks(path: Path) -> np.ndarray:
    """Read a CK+ landmark file: 68 lines of 'x y' -> float32 array (68, 2)."""
    try:
        points = np.loadtxt(path, dtype=np.float32, ndmin=2)
    except ValueError as exc:
        raise ValueError(f"{path}: expected 68 lines of two numbers ({exc})") from None
    if points.shape != (68, 2):
        raise ValueError(f"{path}: expected 68 lines of two numbers, found shape {points.shape}")
    return points


def annotation_path(root: Path, kind: str, image: Path, suffix: str) -> Path:
    """Emotion/Landmarks/FACS file that belongs to an image file."""
    rel = image.relative_to(root / IMAGE_DIR)
    return root / kind / rel.parent / f"{image.stem}_{suffix}.txt"


def scan_sequences(root: str | Path) -> tuple[list[Sequence], list[tuple[str, str]]]:
    """All sequences under `root` with their frames and emotion codes, plus skipped files and reasons."""
    root = Path(root)
    image_root = root / IMAGE_DIR
    if not image_root.is_dir():
        raise LayoutError(
            f"{root}: no '{IMAGE_DIR}/' folder; expected the CK+ layout "
            f"{IMAGE_DIR}/S005/001/S005_001_00000001.png with Emotion/ and Landmarks/ beside it"
        )
    if not (root / "Emotion").is_dir():
        raise LayoutError(
            f"{root}: no 'Emotion/' folder beside '{IMAGE_DIR}/'; CK+ labels live in "
            "Emotion/S005/001/S005_001_00000011_emotion.txt (for unlabelled crops use data=folder)"
        )
    sequences: list[Sequence] = []
    skips: list[tuple[str, str]] = []
    for subject_dir in sorted(p for p in image_root.iterdir() if p.is_dir()):
        for seq_dir in sorted(p for p in subject_dir.iterdir() if p.is_dir()):
            frames = []
            for f in sorted(seq_dir.iterdir()):
                if f.suffix.lower() not in IMAGE_SUFFIXES:
                    if not f.name.startswith("."):
                        skips.append((str(f), "not an image file"))
                    continue
                try:
                    frame_number(f)
                except ValueError as exc:
                    skips.append((str(f), str(exc).split(": ", 1)[1]))
                    continue
                frames.append(f)
            if not frames:
                skips.append((str(seq_dir), "sequence folder has no frames"))
                continue
            frames.sort(key=frame_number)
            seq = Sequence(subject_dir.name, seq_dir.name, frames)
            _attach_emotion(root, seq, skips)
            sequences.append(seq)
    if not sequences:
        raise LayoutError(f"{image_root}: no image sequences found (expected SUBJECT/SEQUENCE/*.png)")
    return sequences, skips


def _attach_emotion(root: Path, seq: Sequence, skips: list[tuple[str, str]]) -> None:
    """Find the sequence's Emotion file (CK+ puts it beside the last frame) and read its code."""
    emotion_dir = root / "Emotion" / seq.subject / seq.sequence
    files = sorted(emotion_dir.glob("*_emotion.txt")) if emotion_dir.is_dir() else []
    if not files:
        return
    file = files[-1]
    stems = {f.stem for f in seq.frames}
    frame_stem = file.name[: -len("_emotion.txt")]
    if frame_stem not in stems:
        skips.append((str(file), f"emotion file names frame {frame_stem}, which is not in the sequence"))
        return
    try:
        seq.emotion = read_emotion(file)
        seq.emotion_file = file
    except ValueError as exc:
        skips.append((str(file), str(exc).split(": ", 1)[1]))


def select_samples(
    root: str | Path,
    classes: list[str] | tuple[str, ...],
    apex_frames: int = 3,
    neutral_frames: int = 1,
) -> Selection:
    """Pick the paper's samples (§1.1): apex frames of labelled sequences, first frames as neutral."""
    root = Path(root)
    sequences, skips = scan_sequences(root)
    sel = Selection(skips=list(skips))
    wanted = set(classes)
    for seq in sequences:
        neutral = seq.frames[:neutral_frames]
        if "neutral" in wanted:
            for f in neutral:
                sel.samples.append(_sample(root, f, "neutral", seq))
        if seq.emotion is None:
            sel.skip(seq.frames[-1].parent, "unlabelled sequence: only its neutral frame is used")
            continue
        name = CKPLUS_CODES[seq.emotion]
        apex = [f for f in seq.frames[-apex_frames:] if f not in neutral]
        if name not in wanted:
            for f in apex:
                sel.skip(f, f"class '{name}' is not in data.classes")
            continue
        for f in apex:
            sel.samples.append(_sample(root, f, name, seq))
    return sel


def _sample(root: Path, image: Path, label: str, seq: Sequence) -> Sample:
    landmarks = annotation_path(root, "Landmarks", image, "landmarks")
    return Sample(
        path=image,
        label=label,
        subject=seq.subject,
        sequence=seq.sequence,
        frame=frame_number(image),
        landmarks=landmarks if landmarks.is_file() else None,
    )
