"""Reader for FER2013 (Goodfellow et al. 2013): one CSV, ``fer2013.csv``.

    emotion,pixels,Usage
    0,70 80 82 ... (2304 values, 48x48 row-major),Training

Usage Training / PublicTest / PrivateTest -> split train / val / test. Labels 0 Angry, 1 Disgust,
2 Fear, 3 Happy, 4 Sad, 5 Surprise, 6 Neutral (no contempt). FER2013 has no subject ids, so
subjects are "" (subject-disjoint splitting is impossible; use the Usage split).

Rows are named ``<file name>:row N`` where N is the line number in the file (header = line 1).
Column names are matched ignoring case and surrounding spaces, in any order (the Kaggle
``icml_face_data.csv`` variant writes ``emotion, Usage, pixels``).
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np

from .ckplus import LayoutError
from .records import RawImages

FER_CODES: dict[int, str] = {
    0: "anger",
    1: "disgust",
    2: "fear",
    3: "happiness",
    4: "sadness",
    5: "surprise",
    6: "neutral",
}
USAGE_SPLITS: dict[str, str] = {"training": "train", "publictest": "val", "privatetest": "test"}
SIDE = 48
N_PIXELS = SIDE * SIDE
COLUMNS = ("emotion", "pixels", "Usage")


def _parse_label(text: str) -> int | None:
    text = text.strip()
    try:
        return int(text)
    except ValueError:
        pass
    try:
        value = float(text)
    except ValueError:
        return None
    return int(value) if value.is_integer() else None


def parse_pixels(text: str) -> tuple[np.ndarray | None, str]:
    """A 48x48 uint8 image from 2304 space-separated 0-255 ints, or (None, reason)."""
    try:
        values = np.fromstring(text, dtype=np.int64, sep=" ")
    except ValueError:
        return None, "pixels are not all integers (expected 2304 space-separated integers 0-255)"
    if values.size != N_PIXELS:
        return None, f"pixels has {values.size} values (expected {N_PIXELS} = 48x48)"
    if values.min() < 0 or values.max() > 255:
        return None, f"pixel values span {values.min()}..{values.max()} (expected 0-255)"
    return values.astype(np.uint8).reshape(SIDE, SIDE), ""


def _rows(reader, path: Path, out: RawImages):
    """The csv rows; a row the csv module cannot parse (a field over its size limit, an unbalanced quote
    that runs to the end of the file) is skipped and listed, not a traceback."""
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            out.skip(f"{path.name}:row {reader.line_num}", f"not a valid csv row ({exc}); check quotes and "
                     "that pixels holds 2304 space-separated numbers")
            continue
        yield row


def read_fer2013(csv_path: str | Path, classes: list[str] | tuple[str, ...]) -> RawImages:
    """Read fer2013.csv into RawImages with split set from Usage and subjects ""."""
    path = Path(csv_path)
    if not path.is_file():
        raise LayoutError(
            f"{path}: no such file; expected the FER2013 csv (fer2013.csv with columns "
            f"emotion,pixels,Usage); check the data root path"
        )
    keep = set(classes)
    out = RawImages(split=[])
    with path.open(newline="", encoding="utf-8", errors="replace") as fh:
        reader = csv.reader(fh)
        header = next(reader, None)
        if header is None:
            raise LayoutError(f"{path}: empty file; expected a csv with header emotion,pixels,Usage")
        found = [h.strip().lstrip("\ufeff").strip() for h in header]
        index = {h.lower(): i for i, h in enumerate(found)}
        missing = [c for c in COLUMNS if c.lower() not in index]
        if missing:
            shown = ",".join(found)[:80]
            raise LayoutError(
                f"{path}: columns are {shown!r}, expected emotion,pixels,Usage (missing "
                f"{', '.join(missing)}); use the original fer2013.csv (or icml_face_data.csv)"
            )
        i_emo, i_pix, i_use = index["emotion"], index["pixels"], index["usage"]
        width = max(i_emo, i_pix, i_use) + 1
        for row in _rows(reader, path, out):
            name = f"{path.name}:row {reader.line_num}"
            if not row or (len(row) == 1 and not row[0].strip()):
                continue  # blank line
            if len(row) < width:
                out.skip(name, f"row has {len(row)} fields (expected {len(found)}: {','.join(found)})")
                continue
            code = _parse_label(row[i_emo])
            if code is None or code not in FER_CODES:
                out.skip(name, f"emotion {row[i_emo].strip()[:20]!r} is not an integer 0-6")
                continue
            label = FER_CODES[code]
            if label not in keep:
                out.skip(name, f"class '{label}' is not in data.classes")
                continue
            usage = row[i_use].strip()
            split = USAGE_SPLITS.get(usage.lower())
            if split is None:
                out.skip(name, f"Usage {usage[:20]!r} is not Training, PublicTest or PrivateTest")
                continue
            image, reason = parse_pixels(row[i_pix])
            if image is None:
                out.skip(name, reason)
                continue
            out.add(image, label, "", name, split)
    if not out.images:
        first = f", first: {out.skips[0][0]}: {out.skips[0][1]}" if out.skips else ""
        raise LayoutError(
            f"{path}: no usable rows ({len(out.skips)} skipped{first}); expected rows of "
            f"emotion 0-6, 2304 pixels 0-255 and a Usage; fix the file or data.classes"
        )
    return out
