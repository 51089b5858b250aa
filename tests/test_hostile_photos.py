"""Issue 12: photos cannot hang the editor or be read wrong: one decoder for the editor, the page and preparation.

The work bounds are counted in the code's own terms (pixels blurred, pixels decoded), never in seconds.
"""

from __future__ import annotations

import io

import cv2
import numpy as np
import pytest
from PIL import Image, ImageFile


from facevae.data.errors import DataError
from facevae.data.folder import decode_grey
from facevae.edit import load_photo
from facevae.edit import photo as photo_mod
from facevae.edit.photo import MASK_SIDE, paste, soft_mask, square_region

from . import test_edit
from .test_edit import ASTRONAUT

ssvae_ckpt = test_edit.ssvae_ckpt  # the session's smoke β-VAE (trained once, shared)


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, format="PNG")
    return buf.getvalue()


def test_a_huge_photo_is_refused_from_its_header(tmp_path, monkeypatch):
    """12000×12000: one line, and not one pixel decoded (Image.load is never called)."""
    big = tmp_path / "big.png"
    Image.new("L", (12000, 12000)).save(big)  # compresses to ~150 kB
    loads = []
    monkeypatch.setattr(ImageFile.ImageFile, "load", lambda self: loads.append(self.size))
    with pytest.raises(DataError, match=r"big.png: 12000×12000 is 144.0 MP, over the 40 MP limit; downscale it or raise max_pixels"):
        load_photo(big)
    assert loads == []
    ok = decode_grey(big.read_bytes(), "big.png")  # preparation: the same limit, as a listed reason
    assert ok[0] is None and "over the 40 MP limit" in ok[1]


def test_the_paste_works_at_the_faces_scale_not_the_photos(monkeypatch):
    """The soft mask is blurred on at most MASK_SIDE² pixels, and the face is resampled only where it
    lands on the photo, however large the square around it."""
    blurred = []
    real_blur = cv2.GaussianBlur

    def counting_blur(src, *args, **kwargs):
        blurred.append(src.size)
        return real_blur(src, *args, **kwargs)

    monkeypatch.setattr(photo_mod.cv2, "GaussianBlur", counting_blur)
    photo = np.full((600, 800, 3), 120, np.uint8)
    face = np.full((128, 128), 0.8, np.float32)
    region = square_region((-3000, -3000, 7000, 7000), 0.2)  # a 9800-px square: the photo is a corner of it
    out = paste(photo, face, region, 0.2)
    assert out.shape == photo.shape and blurred and max(blurred) <= MASK_SIDE * MASK_SIDE
    small = soft_mask(40, 0.2)
    assert small.shape == (40, 40) and small[20, 20] > 0.99  # small faces keep their own size


def test_16_bit_palette_and_alpha_are_read_as_a_viewer_shows_them(tmp_path):
    grey = np.asarray(Image.open(ASTRONAUT).convert("L"))
    wide = Image.fromarray(grey.astype(np.uint16) * 257)  # 16-bit grey, 0-65535
    wide.save(tmp_path / "wide.png")
    assert Image.open(tmp_path / "wide.png").mode.startswith("I")
    got = load_photo(tmp_path / "wide.png")
    assert np.abs(got.astype(int) - grey).max() <= 1 and (got == 255).mean() < 0.05
    img, _ = decode_grey((tmp_path / "wide.png").read_bytes())
    np.testing.assert_array_equal(img, got)  # preparation reads it the same way
    dark = Image.fromarray((grey.astype(np.uint16) // 4))  # a dark 16-bit photo: still scaled by its mode
    assert load_photo(dark).max() <= 64
    # alpha: the hidden pixels are not what gets edited; half-transparent pixels are composited on white
    rgba = np.dstack([np.zeros((64, 64, 3), np.uint8), np.full((64, 64), 128, np.uint8)])
    assert abs(int(load_photo(Image.fromarray(rgba, "RGBA")).mean()) - 127) <= 1
    clear = np.dstack([np.full((64, 64, 3), 90, np.uint8), np.zeros((64, 64), np.uint8)])
    with pytest.raises(DataError, match="fully transparent"):
        load_photo(Image.fromarray(clear, "RGBA"))
    (tmp_path / "clear.png").write_bytes(_png(Image.fromarray(clear, "RGBA")))
    with pytest.raises(DataError, match="clear.png: the image is fully transparent"):
        load_photo(tmp_path / "clear.png")
    with pytest.raises(ValueError, match="fully transparent"):
        load_photo(clear)
    pal = Image.fromarray(grey).convert("P")
    np.testing.assert_array_equal(load_photo(pal), np.asarray(pal.convert("RGB")))


@pytest.mark.parametrize("array, words", [
    (np.ones((64, 64), bool), "boolean array is a mask"),
    (np.full((64, 64), np.nan, np.float32), "NaN or infinite"),
    (np.full((64, 64, 3), np.inf), "NaN or infinite"),
    (np.array([["a"]]), "not numbers"),
    (np.zeros((0, 5)), "expected an H×W"),
])
def test_arrays_that_are_not_photos_are_refused(array, words):
    with pytest.raises(ValueError, match=words):
        load_photo(array)


def test_the_page_reads_the_uploaded_file_itself(tmp_path, ssvae_ckpt):
    """The web page's upload goes through load_photo: a 16-bit PNG is read right (Gradio's RGB conversion
    put 89 % of its pixels at 255), and the page's image input hands over the file untouched."""
    pytest.importorskip("gradio")
    from gradio import image_utils
    from gradio.data_classes import ImageData

    from facevae.edit import Editor
    from facevae.edit.app import build_app

    grey = np.asarray(Image.open(ASTRONAUT).convert("L"))
    Image.fromarray(grey.astype(np.uint16) * 257).save(tmp_path / "wide.png")
    page = build_app(Editor.from_checkpoint(ssvae_ckpt, judge=False))
    photo = next(b for b in page.blocks.values() if getattr(b, "elem_id", None) == "photo")
    assert photo.type == "filepath" and photo.image_mode is None
    handed = image_utils.preprocess_image(ImageData(path=str(tmp_path / "wide.png"), orig_name="wide.png"),
                                          cache_dir=str(tmp_path), format="png", image_mode=photo.image_mode,
                                          type=photo.type)
    assert handed == str(tmp_path / "wide.png")
    prepare = next(f.fn for f in page.fns.values() if getattr(f.fn, "__name__", "") == "prepare")
    face, pair, pasted, judge, status = prepare(handed, *([0.0] * 7))
    assert face is not None and pasted is not None, status
    crop = face.crop
    assert (crop == 255).mean() < 0.05 and 40 < crop.mean() < 200
    too_big = tmp_path / "big.png"
    Image.new("L", (9000, 9000)).save(too_big)
    out = prepare(str(too_big), *([0.0] * 7))
    assert out[0] is None and "over the 40 MP limit" in out[-1]
