"""FER2013 csv reader: splits, label mapping, every bad-row kind, layout errors (tiny csv in tmp_path)."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest

from facevae.data.ckplus import LayoutError
from facevae.data.fer2013 import read_fer2013
from facevae.data.labels import CKPLUS_CODES, PAPER_CLASSES

ALL = list(CKPLUS_CODES.values())


def _pix(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, size=(48, 48), dtype=np.int64)


def _s(a: np.ndarray) -> str:
    return " ".join(map(str, a.ravel()))


def _write(tmp_path, lines, header="emotion,pixels,Usage"):
    p = tmp_path / "fer2013.csv"
    p.write_text(header + "\n" + "\n".join(lines) + "\n")
    return p


def _good_rows():
    """(emotion, Usage, pixels) for 7 train, 3 val, 2 test rows."""
    rows = [(c, "Training", _pix(c)) for c in range(7)]
    rows += [(3, "PublicTest", _pix(10)), (4, "PublicTest", _pix(11)), (6, "PublicTest", _pix(12))]
    rows += [(0, "PrivateTest", _pix(20)), (5, "PrivateTest", _pix(21))]
    return rows


def test_reads_splits_labels_pixels_and_skips(tmp_path):
    good = _good_rows()
    lines = [f"{e},{_s(p)},{u}" for e, u, p in good]  # file lines 2..13
    bad = [
        f"3,{_s(_pix(30))[:-4]},Training",  # 14: 2303 values
        f"3,{_s(_pix(31)).replace(' ', ' x ', 1)},Training",  # 15: non-integer token
        f"3,{_s(np.full((48, 48), 256))},Training",  # 16: out of range
        f"7,{_s(_pix(32))},Training",  # 17: label out of range
        f"happy,{_s(_pix(33))},Training",  # 18: label not an integer
        f"3,{_s(_pix(34))},Validation",  # 19: unknown Usage
        f"2,{_s(_pix(35))}",  # 20: missing field
        f"3,{_s(np.full((48, 48), -1))},Training",  # 21: negative
        f"3,{_s(_pix(36)).replace(' ', ' 2.5 ', 1)},Training",  # 22: float token
    ]
    path = _write(tmp_path, lines + bad)
    r = read_fer2013(path, ALL)

    assert len(r) == 12 and len(r.labels) == len(r.subjects) == len(r.names) == len(r.split) == 12
    assert Counter(r.split) == {"train": 7, "val": 3, "test": 2}
    assert Counter(r.labels[:7]) == Counter(["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"])
    assert r.labels[:7] == ["anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral"]
    assert r.labels[7:] == ["happiness", "sadness", "neutral", "anger", "surprise"]
    assert set(r.subjects) == {""}
    assert r.names[0] == "fer2013.csv:row 2" and r.names[-1] == "fer2013.csv:row 13"
    for img, (_, _, p) in zip(r.images, good):
        assert img.dtype == np.uint8 and img.shape == (48, 48)
        np.testing.assert_array_equal(img, p)

    assert r.skips == [
        ("fer2013.csv:row 14", "pixels has 2303 values (expected 2304 = 48x48)"),
        ("fer2013.csv:row 15", "pixels are not all integers (expected 2304 space-separated integers 0-255)"),
        ("fer2013.csv:row 16", "pixel values span 256..256 (expected 0-255)"),
        ("fer2013.csv:row 17", "emotion '7' is not an integer 0-6"),
        ("fer2013.csv:row 18", "emotion 'happy' is not an integer 0-6"),
        ("fer2013.csv:row 19", "Usage 'Validation' is not Training, PublicTest or PrivateTest"),
        ("fer2013.csv:row 20", "row has 2 fields (expected 3: emotion,pixels,Usage)"),
        ("fer2013.csv:row 21", "pixel values span -1..-1 (expected 0-255)"),
        ("fer2013.csv:row 22", "pixels are not all integers (expected 2304 space-separated integers 0-255)"),
    ]


def test_classes_filter_skips_with_reason(tmp_path):
    path = _write(tmp_path, [f"{e},{_s(p)},{u}" for e, u, p in _good_rows()])
    classes = ["neutral", "happiness", "sadness"]
    r = read_fer2013(path, classes)
    assert Counter(r.labels) == {"happiness": 2, "sadness": 2, "neutral": 2}
    assert len(r.skips) == 6
    assert ("fer2013.csv:row 2", "class 'anger' is not in data.classes") in r.skips
    assert ("fer2013.csv:row 3", "class 'disgust' is not in data.classes") in r.skips
    # the paper's classes: contempt never appears in FER2013, fear is dropped
    r = read_fer2013(path, list(PAPER_CLASSES))
    assert "contempt" not in r.labels and "fear" not in r.labels and len(r) == 11
    assert r.skips == [("fer2013.csv:row 4", "class 'fear' is not in data.classes")]


def test_column_order_and_spaces_tolerated(tmp_path):
    a = _pix(1)
    path = _write(tmp_path, [f"3, Training ,{_s(a)}"], header="emotion, Usage, pixels")
    r = read_fer2013(path, ALL)
    assert r.labels == ["happiness"] and r.split == ["train"]
    np.testing.assert_array_equal(r.images[0], a)


@pytest.mark.parametrize("header", ["emotion,pixels", "label,pixels,Usage", "a;b;c"])
def test_wrong_columns_raise_layout_error(tmp_path, header):
    path = _write(tmp_path, [f"0,{_s(_pix(0))},Training"], header=header)
    with pytest.raises(LayoutError, match=r"expected emotion,pixels,Usage") as exc:
        read_fer2013(path, ALL)
    assert "fer2013.csv" in str(exc.value) and "\n" not in str(exc.value)
    assert repr(header) in str(exc.value)  # names the columns found


def test_missing_empty_or_unusable_file_raise(tmp_path):
    with pytest.raises(LayoutError, match="no such file"):
        read_fer2013(tmp_path / "nope.csv", ALL)
    empty = tmp_path / "empty.csv"
    empty.write_text("")
    with pytest.raises(LayoutError, match="empty file"):
        read_fer2013(empty, ALL)
    path = _write(tmp_path, [f"1,{_s(_pix(0))},Training"])
    with pytest.raises(LayoutError, match="no usable rows .*class 'disgust' is not in data.classes"):
        read_fer2013(path, ["neutral"])
