"""One image decoder for preparation, the editor and the web page: bytes or PIL images -> uint8 arrays.

Every mode a user's file can have is read the way a viewer shows it: 16-bit grey scaled from
0-65535 by its mode (not by its brightest pixel), palette and alpha images composited over white
(the pixels a viewer hides are never edited or trained on), EXIF rotation applied. The size is
checked from the header, before any pixel is decoded, so a huge or decompression-bomb file costs
nothing but a one-line message.
"""

from __future__ import annotations

import io
import warnings

import numpy as np

from .errors import DataError

#: Largest photo facevae decodes, in pixels (width × height). 40 MP is a full-frame camera photo; the
#: face crop is 128 px, so nothing larger is needed. Editor(max_pixels=...) / edit.py max_pixels=...
MAX_PIXELS = 40_000_000

_WIDE_MODES = ("I;16", "I;16B", "I;16L", "I;16N")


def decode_image(data: bytes, name: str, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """uint8 H×W (grey) or H×W×3 (RGB) from image file bytes; DataError with one line when unreadable."""
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise DataError(f"{name}: empty file (0 bytes); pass an image file (PNG, JPEG, ...)")
    try:
        with warnings.catch_warnings():
            # "Corrupt EXIF data" and friends: the pixels are still fine. Pillow's own bomb warning is
            # replaced by the explicit limit below.
            warnings.simplefilter("ignore")
            with Image.open(io.BytesIO(data)) as im:
                check_pixels(im.size, name, max_pixels)
                im.load()
                return pil_to_array(im, name)
    except DataError:
        raise
    except Image.DecompressionBombError:  # above twice Pillow's own limit: refused before decoding
        raise DataError(f"{name}: over Pillow's decompression-bomb limit of {2 * Image.MAX_IMAGE_PIXELS / 1e6:.0f} MP; "
                        "downscale it") from None
    except UnidentifiedImageError:
        raise DataError(f"{name}: not an image (no format Pillow reads); pass a PNG or JPEG file") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure means "this file is not an image"
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:120]
        raise DataError(f"{name}: could not be decoded as an image ({reason}); pass a PNG or JPEG file") from None


def check_pixels(size: tuple[int, int], name: str, max_pixels: int = MAX_PIXELS) -> None:
    """DataError when a (width, height) image is larger than max_pixels."""
    w, h = (int(v) for v in size)
    if max_pixels and w * h > max_pixels:
        raise DataError(f"{name}: {w}×{h} is {w * h / 1e6:.1f} MP, over the {max_pixels / 1e6:.0f} MP limit; "
                        f"downscale it or raise max_pixels")


def pil_to_array(im, name: str = "image") -> np.ndarray:
    """A PIL image as uint8 grey (H×W) or RGB (H×W×3), as a viewer shows it (alpha over white)."""
    from PIL import ImageOps

    im = ImageOps.exif_transpose(im)
    if im.mode in ("1", "L"):
        return np.ascontiguousarray(np.asarray(im.convert("L"), dtype=np.uint8))
    if im.mode in _WIDE_MODES or im.mode in ("I", "F"):
        a = np.asarray(im, dtype=np.float64)
        if not np.isfinite(a).all():
            raise DataError(f"{name}: the image holds NaN or infinite pixel values; save it as 8- or 16-bit")
        # 16-bit modes span 0-65535 whatever their content; 32-bit int/float: 0-255 unless they exceed it.
        wide = im.mode in _WIDE_MODES or (a.size and a.max() > 255)
        return np.clip(a * (255.0 / 65535.0 if wide else 1.0) + 0.5, 0, 255).astype(np.uint8)
    if im.mode in ("RGBA", "LA", "PA", "La", "RGBa") or (im.mode == "P" and "transparency" in im.info):
        rgba = np.asarray(im.convert("RGBA"), dtype=np.float32)
        return composite_over_white(rgba, name)
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def composite_over_white(rgba: np.ndarray, name: str) -> np.ndarray:
    """H×W×4 (0-255) -> uint8 RGB over a white background; DataError when every pixel is transparent."""
    alpha = rgba[:, :, 3:4] / 255.0
    if rgba.size and float(alpha.max()) == 0.0:
        raise DataError(f"{name}: the image is fully transparent (alpha 0 everywhere); save it without "
                        "an alpha channel or with the face visible")
    rgb = rgba[:, :, :3] * alpha + 255.0 * (1.0 - alpha)
    return np.clip(np.rint(rgb), 0, 255).astype(np.uint8)


def array_to_image(a: np.ndarray, name: str = "array") -> np.ndarray:
    """An array a caller hands in (RGB order) as uint8 H×W or H×W×3; ValueError for what is no image.

    uint8 as it is; other integers clipped to 0-255; floats in [0, 1] scaled to 0-255 (matplotlib,
    skimage.img_as_float), floats above 1 read as 0-255. Booleans, NaN, infinities and empty or
    oddly shaped arrays are refused: edited as pixels they would silently give a black face.
    """
    a = np.asarray(a)
    if a.dtype == bool:
        raise ValueError(f"{name}: a boolean array is a mask, not a photo; pass uint8 0-255 or float 0-1 pixels")
    if not (np.issubdtype(a.dtype, np.integer) or np.issubdtype(a.dtype, np.floating)):
        raise ValueError(f"{name}: pixels of dtype {a.dtype} are not numbers; pass uint8 0-255 or float 0-1 pixels")
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] in (3, 4))) or min(a.shape[:2], default=0) < 1:
        raise ValueError(f"{name}: expected an H×W, H×W×3 or H×W×4 image, got shape {a.shape}")
    if np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ValueError(f"{name}: the array holds NaN or infinite values; pass finite pixel values")
        if a.size and a.max() <= 1.0:
            a = a * 255.0
    if a.dtype != np.uint8:
        a = np.clip(np.rint(a.astype(np.float64)), 0, 255)
    if a.ndim == 3 and a.shape[2] == 4:
        try:
            return composite_over_white(a.astype(np.float32), name)
        except DataError as exc:
            raise ValueError(str(exc)) from None
    return np.ascontiguousarray(a.astype(np.uint8))


def rgb_to_grey(image: np.ndarray) -> np.ndarray:
    """uint8 grey of an RGB (or already grey) image: luma, ITU-R 601 (Pillow's convert('L'))."""
    import cv2

    return image if image.ndim == 2 else cv2.cvtColor(image, cv2.COLOR_RGB2GRAY)
