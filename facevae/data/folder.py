"""Reader for image-folder datasets: ``root/<class folder>/<image files>``.

Covers the widely circulated "CK+48" export (48x48 PNG crops in anger/contempt/.../surprise,
files named like ``S010_004_00000017.png``) and JAFFE sorted into class folders (256x256 TIFF,
files named like ``KA.AN1.39.tiff``; some are palette images). The class folder decides the
label (expression codes inside file names are not used); the subject id comes from the file name
through a regex with a named group ``subject`` (or a preset, see SUBJECT_PRESETS).

Its output is RawImages (records.py), the common output of the in-memory readers (this module and fer2013.py).
Images come back as uint8 greyscale arrays of whatever size is on disk; resizing is the caller's.
"""

from __future__ import annotations

import re
from pathlib import Path

import cv2
import numpy as np

from .ckplus import IMAGE_SUFFIXES, LayoutError
from .errors import DataError
from .labels import CKPLUS_CODES
from .records import RawImages

# Every class name facevae knows (the CK+ label space, which includes all of PAPER_CLASSES).
KNOWN_CLASSES: tuple[str, ...] = tuple(CKPLUS_CODES.values())

# Config key the user edits to map an unknown folder name; named in skip reasons and errors.
ALIAS_OPTION = "data.folder_aliases"

# Folder name (lower case) -> facevae class name.
DEFAULT_ALIASES: dict[str, str] = {
    **{k: "happiness" for k in ("happiness", "happy", "ha", "joy", "smile", "smiling")},
    **{k: "sadness" for k in ("sadness", "sad", "sa")},
    **{k: "anger" for k in ("anger", "angry", "an")},
    **{k: "disgust" for k in ("disgust", "disgusted", "di")},
    **{k: "fear" for k in ("fear", "fearful", "afraid", "scared", "fe")},
    **{k: "surprise" for k in ("surprise", "surprised", "su")},
    **{k: "neutral" for k in ("neutral", "ne", "calm")},
    **{k: "contempt" for k in ("contempt", "co")},
}

SUBJECT_PRESETS: dict[str, str] = {
    # CK+48: S010_004_00000017.png -> S010
    "ckplus": r"^(?P<subject>S\d+)_\d+_\d+",
    # JAFFE: KA.AN1.39.tiff -> KA
    "jaffe": r"^(?P<subject>[A-Z]{2})\.",
}

# Signatures of PNG, JPEG, TIFF (both byte orders), BMP, GIF: formats Pillow reads.
_PIL_MAGIC = (b"\x89PNG", b"\xff\xd8\xff", b"II*\x00", b"MM\x00*", b"BM", b"GIF8")
_IGNORED_NAMES = {"__MACOSX", "Thumbs.db", "desktop.ini"}


def build_aliases(aliases: dict[str, str] | None = None) -> dict[str, str]:
    """DEFAULT_ALIASES plus user aliases (folder name -> class name), keys lower-cased.

    Raises ValueError when a user alias points to a name that is not a facevae class.
    """
    table = dict(DEFAULT_ALIASES)
    for folder, cls in (aliases or {}).items():
        target = str(cls).strip().lower()
        target = DEFAULT_ALIASES.get(target, target)  # allow {"Joy": "happy"} as well
        if target not in KNOWN_CLASSES:
            raise ValueError(
                f"{ALIAS_OPTION}: folder '{folder}' maps to '{cls}', which is not a class name "
                f"(expected one of {', '.join(KNOWN_CLASSES)})"
            )
        table[str(folder).strip().lower()] = target
    return table


def compile_subject_regex(subject_regex: str | None) -> re.Pattern[str] | None:
    """A preset name (ckplus, jaffe) or a regex with a named group 'subject'; None -> no subjects."""
    if subject_regex is None or subject_regex == "":
        return None
    pattern = SUBJECT_PRESETS.get(subject_regex, subject_regex)
    try:
        compiled = re.compile(pattern)
    except re.error as exc:
        raise ValueError(f"subject regex {pattern!r} does not compile ({exc})") from None
    if "subject" not in compiled.groupindex:
        raise ValueError(
            f"subject regex {pattern!r} has no named group 'subject'; write it like "
            f"r'^(?P<subject>S\\d+)_' or use a preset ({', '.join(SUBJECT_PRESETS)})"
        )
    return compiled


def decode_grey(data: bytes, name: str = "image") -> tuple[np.ndarray | None, str]:
    """Decode image bytes to a uint8 greyscale array; (None, reason) when they cannot be decoded.

    facevae's one decoder first (:func:`facevae.data.decode.decode_image`: Pillow, which rejects
    truncated files; 16-bit, palette and alpha read as a viewer shows them), OpenCV as fallback for
    formats Pillow lacks.
    """
    from .decode import decode_image, rgb_to_grey

    if not data:
        return None, "empty file (0 bytes)"
    try:
        return rgb_to_grey(decode_image(data, name)), ""
    except DataError as exc:
        reason = str(exc).split(": ", 1)[-1]
        if "no format Pillow reads" not in reason:
            return None, reason
        if data.startswith(_PIL_MAGIC):  # a format Pillow knows, but broken: no OpenCV noise
            return None, "could not be decoded as an image (broken header)"
    buf = np.frombuffer(data, dtype=np.uint8)
    try:
        img = cv2.imdecode(buf, cv2.IMREAD_GRAYSCALE)
    except cv2.error:
        img = None
    if img is not None and img.size and img.dtype == np.uint8 and img.ndim == 2:
        return img, ""
    return None, "could not be decoded as an image (neither Pillow nor OpenCV reads it)"


def read_folder(
    root: str | Path,
    classes: list[str] | tuple[str, ...],
    aliases: dict[str, str] | None = None,
    subject_regex: str | None = None,
) -> RawImages:
    """Read ``root/<class folder>/<image>`` into RawImages (split=None).

    classes: facevae class names to keep; images of other classes are skipped and listed.
    aliases: extra folder-name -> class-name entries on top of DEFAULT_ALIASES (case-insensitive).
    subject_regex: None (subjects ""), a preset name from SUBJECT_PRESETS, or a regex with a
    named group 'subject' matched against the file name; files it does not match are skipped.
    """
    root = Path(root)
    if not root.is_dir():
        raise LayoutError(
            f"{root}: not a folder; expected an image-folder dataset root/<class>/<image> "
            f"(e.g. root/happy/S010_004_00000017.png); check the data root path"
        )
    table = build_aliases(aliases)
    keep = set(classes)
    regex = compile_subject_regex(subject_regex)
    out = RawImages()
    entries = sorted(p for p in root.iterdir() if not _ignored(p))
    folders = [p for p in entries if p.is_dir()]
    for p in entries:
        if not p.is_dir():
            out.skip(p, "file at the top level; expected it inside a class folder (root/<class>/<image>)")
    if not folders:
        raise LayoutError(
            f"{root}: no class folders; expected root/<class>/<image> with folders like "
            f"anger/, happy/, surprise/ (move the images into one folder per class)"
        )
    mapped = 0
    for folder in folders:
        cls = table.get(folder.name.strip().lower())
        files = sorted(p for p in folder.iterdir() if not _ignored(p))
        if cls is None:
            reason = (
                f"class folder '{folder.name}' is not a known class name or alias; "
                f"add it to {ALIAS_OPTION} (e.g. {{{folder.name}: happiness}})"
            )
            for f in files:
                out.skip(f, reason)
            if not files:
                out.skip(folder, reason)
            continue
        mapped += 1
        for f in files:
            _read_one(f, root, cls, keep, regex, out)
    if mapped == 0:
        names = ", ".join(p.name for p in folders[:8]) + (" ..." if len(folders) > 8 else "")
        raise LayoutError(
            f"{root}: no class folder maps to a class (found {names}); expected folders named like "
            f"{', '.join(KNOWN_CLASSES)} or their aliases; add the names to {ALIAS_OPTION}"
        )
    if not out.images:
        first = f", first: {out.skips[0][0]}: {out.skips[0][1]}" if out.skips else ""
        raise LayoutError(
            f"{root}: no usable images ({len(out.skips)} skipped{first}); expected readable images "
            f"of classes {', '.join(classes)} in root/<class>/<image>; fix the files or data.classes"
        )
    return out


def _ignored(p: Path) -> bool:
    return p.name.startswith(".") or p.name in _IGNORED_NAMES


def _read_one(
    f: Path, root: Path, cls: str, keep: set[str], regex: re.Pattern[str] | None, out: RawImages
) -> None:
    if f.is_dir():
        out.skip(f, "subfolder inside a class folder; expected image files directly in root/<class>/")
        return
    if f.suffix.lower() not in IMAGE_SUFFIXES:
        out.skip(f, f"not an image file (expected one of {', '.join(IMAGE_SUFFIXES)})")
        return
    if cls not in keep:
        out.skip(f, f"class '{cls}' is not in data.classes")
        return
    subject = ""
    if regex is not None:
        m = regex.match(f.name)
        if m is None or not m["subject"]:
            out.skip(f, f"file name does not match the subject regex {regex.pattern!r}")
            return
        subject = m["subject"]
    try:
        data = f.read_bytes()
    except OSError as exc:
        out.skip(f, f"could not be read ({exc.strerror or exc})")
        return
    img, reason = decode_grey(data)
    if img is None:
        out.skip(f, reason)
        return
    out.add(img, cls, subject, f.relative_to(root).as_posix())
