"""Image-folder reader: CK+48-like and JAFFE-like trees built in tmp_path (never real face data)."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

from facevae.data.ckplus import LayoutError
from facevae.data.folder import ALIAS_OPTION, read_folder
from facevae.data.records import RawImages
from facevae.data.labels import CKPLUS_CODES, PAPER_CLASSES

ALL = list(CKPLUS_CODES.values())
RNG = np.random.default_rng(0)


def _grey(h: int, w: int) -> np.ndarray:
    return RNG.integers(0, 256, size=(h, w), dtype=np.uint8)


def _png(path: Path, img: np.ndarray) -> np.ndarray:
    path.parent.mkdir(parents=True, exist_ok=True)
    assert cv2.imwrite(str(path), img)
    return img


def _unknown_reason(folder: str) -> str:
    return f"class folder '{folder}' is not a known class name or alias; add it to {ALIAS_OPTION} (e.g. {{{folder}: happiness}})"


@pytest.fixture
def ckplus48(tmp_path) -> tuple[Path, dict[str, np.ndarray]]:
    """CK+48-like tree: 48x48 PNGs in anger/contempt/happy plus one of every bad kind."""
    root = tmp_path / "ck48"
    want = {}
    for rel in (
        "anger/S010_004_00000017.png",
        "anger/S010_004_00000018.png",
        "anger/S011_002_00000020.png",
        "contempt/S012_001_00000009.png",
        "contempt/S013_003_00000010.png",
        "happy/S010_006_00000015.png",
    ):
        want[rel] = _png(root / rel, _grey(48, 48))
    # a colour PNG: must come back grey with OpenCV's/ITU-R 601 weights
    bgr = RNG.integers(0, 256, size=(48, 48, 3), dtype=np.uint8)
    _png(root / "happy/S014_001_00000011.png", bgr)
    want["happy/S014_001_00000011.png"] = cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY)
    _png(root / "bored/S015_001_00000001.png", _grey(48, 48))  # unknown class folder
    (root / "anger/S016_001_00000001.png").write_bytes(b"\x89PNG\r\n\x1a\n not really a png")  # corrupt
    good = (root / "anger/S010_004_00000017.png").read_bytes()
    (root / "anger/S017_001_00000001.png").write_bytes(good[: len(good) // 2])  # truncated
    (root / "anger/S018_001_00000001.png").write_bytes(b"")  # empty
    _png(root / "happy/IMG_0001.png", _grey(48, 48))  # regex does not match
    (root / "happy/notes.txt").write_text("not an image")  # non-image
    (root / "happy/.DS_Store").write_bytes(b"\0\0")  # hidden: ignored
    (root / ".cache").mkdir()  # hidden folder: ignored
    (root / "README.md").write_text("top-level file")
    return root, want


def test_ckplus48_tree(ckplus48):
    root, want = ckplus48
    r = read_folder(root, ALL, subject_regex="ckplus")
    assert isinstance(r, RawImages) and r.split is None
    assert len(r) == 7
    assert Counter(r.labels) == {"anger": 3, "contempt": 2, "happiness": 2}
    assert r.subjects == ["S010", "S010", "S011", "S012", "S013", "S010", "S014"]
    assert r.names == sorted(want)
    for name, img in zip(r.names, r.images):
        assert img.dtype == np.uint8 and img.ndim == 2 and img.shape == (48, 48)
        if name == "happy/S014_001_00000011.png":  # colour: Pillow and OpenCV round differently
            np.testing.assert_allclose(img, want[name], atol=1)
        else:
            np.testing.assert_array_equal(img, want[name])

    skips = {Path(f).relative_to(root).as_posix(): reason for f, reason in r.skips}
    assert len(r.skips) == 7
    assert skips["README.md"] == "file at the top level; expected it inside a class folder (root/<class>/<image>)"
    assert skips["bored/S015_001_00000001.png"] == _unknown_reason("bored")
    assert skips["anger/S016_001_00000001.png"] == "could not be decoded as an image (broken header)"
    assert skips["anger/S017_001_00000001.png"].startswith("could not be decoded as an image (")
    assert skips["anger/S018_001_00000001.png"] == "empty file (0 bytes)"
    assert skips["happy/IMG_0001.png"] == (
        "file name does not match the subject regex '^(?P<subject>S\\\\d+)_\\\\d+_\\\\d+'"
    )
    assert skips["happy/notes.txt"].startswith("not an image file (expected one of .png, ")


def test_classes_filter_aliases_and_no_regex(ckplus48):
    root, _ = ckplus48
    r = read_folder(root, list(PAPER_CLASSES), aliases={"Bored": "neutral"})
    # no regex: IMG_0001.png is kept and every subject is ""
    assert Counter(r.labels) == {"anger": 3, "contempt": 2, "happiness": 3, "neutral": 1}
    assert set(r.subjects) == {""}
    r = read_folder(root, ["anger", "happiness"], subject_regex="ckplus")
    assert Counter(r.labels) == {"anger": 3, "happiness": 2}
    reasons = Counter(reason for _, reason in r.skips)
    assert reasons["class 'contempt' is not in data.classes"] == 2
    with pytest.raises(ValueError, match="not a class name"):
        read_folder(root, ALL, aliases={"bored": "boredom"})
    with pytest.raises(ValueError, match="no named group 'subject'"):
        read_folder(root, ALL, subject_regex=r"^S\d+")


def _tiff(path: Path, im: Image.Image) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, format="TIFF")


def _luma(rgb: np.ndarray) -> np.ndarray:
    r, g, b = (rgb[..., i].astype(np.float64) for i in range(3))
    return r * 0.299 + g * 0.587 + b * 0.114


def test_jaffe_tree_palette_rgb_tiffs(tmp_path):
    root = tmp_path / "jaffe"
    grey = _grey(256, 256)
    _tiff(root / "AN/KA.AN1.39.tiff", Image.fromarray(grey, mode="L"))
    # the folder decides the label, not the code in the file name
    _tiff(root / "AN/KL.HA2.30.tiff", Image.fromarray(_grey(256, 256), mode="L"))
    palette = RNG.integers(0, 256, size=(256, 3), dtype=np.uint8)
    idx = RNG.integers(0, 256, size=(256, 256), dtype=np.uint8)
    pim = Image.fromarray(idx, mode="L").convert("P")
    pim.putpalette(palette.ravel().tolist())
    assert pim.mode == "P"
    _tiff(root / "HA/KM.HA2.5.tiff", pim)
    rgb = RNG.integers(0, 256, size=(256, 256, 3), dtype=np.uint8)
    _tiff(root / "Sadness/NA.SA1.20.tiff", Image.fromarray(rgb, mode="RGB"))
    _tiff(root / "NE/YM.NE1.1.tiff", Image.fromarray(_grey(256, 256), mode="L"))
    _tiff(root / "NE/ym.ne2.tiff", Image.fromarray(_grey(256, 256), mode="L"))  # regex mismatch
    (root / "SU").mkdir()
    (root / "SU/TM.SU1.tiff").write_bytes(b"II*\x00garbage")  # corrupt TIFF
    assert Image.open(root / "HA/KM.HA2.5.tiff").mode == "P"

    r = read_folder(root, ALL, subject_regex="jaffe")
    assert r.names == ["AN/KA.AN1.39.tiff", "AN/KL.HA2.30.tiff", "HA/KM.HA2.5.tiff", "NE/YM.NE1.1.tiff", "Sadness/NA.SA1.20.tiff"]
    assert r.labels == ["anger", "anger", "happiness", "neutral", "sadness"]
    assert r.subjects == ["KA", "KL", "KM", "YM", "NA"]
    for img in r.images:
        assert img.dtype == np.uint8 and img.shape == (256, 256)
    np.testing.assert_array_equal(r.images[0], grey)
    np.testing.assert_allclose(r.images[2], _luma(palette[idx]), atol=1.0)
    np.testing.assert_allclose(r.images[4], _luma(rgb), atol=1.0)
    assert len(r.skips) == 2
    skips = {Path(f).relative_to(root).as_posix(): reason for f, reason in r.skips}
    assert skips["NE/ym.ne2.tiff"] == "file name does not match the subject regex '^(?P<subject>[A-Z]{2})\\\\.'"
    assert skips["SU/TM.SU1.tiff"].startswith("could not be decoded as an image (")


def test_layout_errors(tmp_path):
    with pytest.raises(LayoutError, match="not a folder"):
        read_folder(tmp_path / "missing", ALL)
    flat = tmp_path / "flat"
    _png(flat / "S010_001_00000001.png", _grey(8, 8))
    with pytest.raises(LayoutError, match="no class folders"):
        read_folder(flat, ALL)
    nomap = tmp_path / "nomap"
    _png(nomap / "foo/a.png", _grey(8, 8))
    _png(nomap / "bar/b.png", _grey(8, 8))
    with pytest.raises(LayoutError, match=rf"no class folder maps to a class \(found bar, foo\).*{ALIAS_OPTION}") as exc:
        read_folder(nomap, ALL)
    assert "\n" not in str(exc.value)
    # the same tree is fine once the aliases name the folders
    r = read_folder(nomap, ALL, aliases={"foo": "fear", "BAR": "surprise"})
    assert r.labels == ["surprise", "fear"] and r.images[0].shape == (8, 8)
    # folders map but every image is filtered out -> nothing usable
    with pytest.raises(LayoutError, match="no usable images .*class 'surprise' is not in data.classes"):
        read_folder(nomap, ["neutral"], aliases={"foo": "fear", "bar": "surprise"})
