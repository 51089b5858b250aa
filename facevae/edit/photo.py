"""Photos in and out of the editor: reading, face boxes, the training crop, and pasting the edit back.

The crop is the one preparation makes (:func:`facevae.data.face_crop.crop_box`): a square around the
Haar box widened by ``margin`` of its side on each side, edge-replicated where it leaves the photo,
resized to the model's input size. :func:`square_region` gives that square in photo coordinates, so
the edited face can go back where it came from.

Colour: models see grey faces (CK+ is grey). A colour photo keeps its colour: the edited face
replaces the *luminance* (Y of YCrCb, the same 0.299/0.587/0.114 weights as the grey conversion)
inside a feathered ellipse, and the chroma of the photo stays. A grey photo gets a grey paste.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..data.errors import DataError

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")


@dataclass(frozen=True)
class Region:
    """The square a crop was cut from, in photo pixels; it may reach past the photo's edges."""

    left: int
    top: int
    side: int

    def as_list(self) -> list[int]:
        return [self.left, self.top, self.side]


def load_photo(source, name: str | None = None) -> np.ndarray:
    """uint8 photo, H×W (grey) or H×W×3 (RGB), from a path, a numpy array or a PIL image.

    Arrays are read as RGB (the order PIL, matplotlib, scikit-image and Gradio use; convert OpenCV's
    BGR first); an alpha channel is dropped. Files go through Pillow with their EXIF rotation applied.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: photo not found; pass image=<photo file or folder>")
        return _decode(path.read_bytes(), str(path))
    if hasattr(source, "convert") and hasattr(source, "mode"):  # a PIL image
        return _from_pil(source)
    if isinstance(source, np.ndarray):
        return _from_array(source, name or "array")
    raise TypeError(f"expected a path, a numpy array or a PIL image, got {type(source).__name__}")


def _decode(data: bytes, name: str) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    if not data:
        raise DataError(f"{name}: empty file (0 bytes); pass a photo (PNG, JPEG, ...)")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. "Corrupt EXIF data": the pixels are still fine
            with Image.open(io.BytesIO(data)) as im:
                im.load()
                return _from_pil(im)
    except UnidentifiedImageError:
        raise DataError(f"{name}: not an image (no format Pillow reads); pass a PNG or JPEG photo") from None
    except Exception as exc:  # noqa: BLE001 - any decoder failure is "this file is not a photo"
        reason = f"{type(exc).__name__}: {exc}".splitlines()[0][:120]
        raise DataError(f"{name}: could not be read as an image ({reason}); pass a PNG or JPEG photo") from None


def _from_pil(im) -> np.ndarray:
    from PIL import ImageOps

    im = ImageOps.exif_transpose(im)
    if im.mode in ("1", "L"):
        return np.ascontiguousarray(np.asarray(im.convert("L"), dtype=np.uint8))
    if im.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit/int/float grey
        a = np.asarray(im.convert("F"), dtype=np.float64)
        if a.size and a.max() > 255:  # 0-65535: scale down
            a = a * 255.0 / 65535.0
        return np.clip(a + 0.5, 0, 255).astype(np.uint8)
    if im.mode in ("LA", "PA") or (im.mode == "P" and "transparency" in im.info) or im.mode == "RGBA":
        im = im.convert("RGBA")
    return np.ascontiguousarray(np.asarray(im.convert("RGB"), dtype=np.uint8))


def _from_array(a: np.ndarray, name: str) -> np.ndarray:
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 3 and a.shape[2] == 4:
        a = a[:, :, :3]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[2] == 3)) or min(a.shape[:2]) < 1:
        raise ValueError(f"{name}: expected an H×W or H×W×3 image, got shape {a.shape}")
    if a.dtype != np.uint8:
        if np.issubdtype(a.dtype, np.floating) and a.size and a.max() <= 1.0:
            a = a * 255.0  # float images in [0, 1] (matplotlib, skimage.img_as_float)
        a = np.clip(np.rint(a), 0, 255).astype(np.uint8)
    return np.ascontiguousarray(a)


def to_grey(photo: np.ndarray) -> np.ndarray:
    """uint8 grey (luma, ITU-R 601: what Pillow's convert('L') gives for the folder datasets)."""
    return photo if photo.ndim == 2 else cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY)


def square_region(box, margin: float) -> Region:
    """The square crop_box cuts around ``box`` (x, y, w, h), in photo pixels (same rounding)."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    return Region(int(round(cx - side / 2)), int(round(cy - side / 2)), max(1, int(round(side))))


def soft_mask(side: int, margin: float, feather: float = 0.08) -> np.ndarray:
    """side×side float mask in [0, 1]: 1 on the face, fading to 0 well inside the square's edges.

    The Haar box is the central 1/(1+2·margin) of the square; the ellipse covers it (a little taller,
    for chin and forehead) and a Gaussian blur of ``feather``·side feathers its edge, so no seam shows.
    """
    mask = np.zeros((side, side), np.float32)
    face = side / (1 + 2 * margin)
    centre = (side / 2, side / 2)
    axes = (0.55 * face, 0.68 * face)
    # The blur spreads the edge outward by about 3σ: shrink the ellipse so the mask is ~0 (< 0.2 %) at
    # the square's edges, else a step would show where the pasted square ends.
    sigma = max(0.5, feather * side / 2)
    axes = tuple(min(a, side / 2 - 3 * sigma) for a in axes)
    if min(axes) > 0:
        cv2.ellipse(mask, (round(centre[0]), round(centre[1])), (round(axes[0]), round(axes[1])), 0, 0, 360, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), sigma)


def paste(photo: np.ndarray, face: np.ndarray, region: Region, margin: float,
          base: np.ndarray | None = None) -> np.ndarray:
    """``photo`` with ``face`` (float grey in [0, 1], any square size) blended into ``region``.

    With ``base`` (the reconstruction) only the change ``face − base`` is added to the photo's own
    pixels, which keeps the person's detail (paste=residual); without it the face itself goes in.
    """
    side = region.side
    interp = cv2.INTER_CUBIC if side > face.shape[0] else cv2.INTER_AREA
    new = cv2.resize(face.astype(np.float32), (side, side), interpolation=interp)
    if base is not None:
        new = new - cv2.resize(base.astype(np.float32), (side, side), interpolation=interp)
    alpha = soft_mask(side, margin)
    h, w = photo.shape[:2]
    # The part of the square inside the photo (it may reach past an edge, as the crop's padding did).
    x0, y0 = max(0, region.left), max(0, region.top)
    x1, y1 = min(w, region.left + side), min(h, region.top + side)
    if x0 >= x1 or y0 >= y1:
        return photo.copy()
    sl = np.s_[y0 - region.top : y1 - region.top, x0 - region.left : x1 - region.left]
    new, alpha = new[sl] * 255.0, alpha[sl]
    out = photo.copy()
    if photo.ndim == 2:
        old = out[y0:y1, x0:x1].astype(np.float32)
        target = old + new if base is not None else new
        out[y0:y1, x0:x1] = np.clip(np.rint(old + alpha * (target - old)), 0, 255).astype(np.uint8)
        return out
    ycc = cv2.cvtColor(out[y0:y1, x0:x1], cv2.COLOR_RGB2YCrCb).astype(np.float32)
    old = ycc[:, :, 0]
    target = old + new if base is not None else new
    ycc[:, :, 0] = old + alpha * (target - old)
    ycc = np.clip(np.rint(ycc), 0, 255).astype(np.uint8)
    out[y0:y1, x0:x1] = cv2.cvtColor(ycc, cv2.COLOR_YCrCb2RGB)
    return out
