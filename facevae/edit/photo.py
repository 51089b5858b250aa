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

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from ..data.decode import MAX_PIXELS, array_to_image, check_pixels, decode_image, pil_to_array, rgb_to_grey

__all__ = ["MAX_PIXELS", "Region", "load_photo", "paste", "soft_mask", "square_region", "rgb_to_grey"]

PHOTO_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".gif")


@dataclass(frozen=True)
class Region:
    """The square a crop was cut from, in photo pixels; it may reach past the photo's edges."""

    left: int
    top: int
    side: int

    def as_list(self) -> list[int]:
        return [self.left, self.top, self.side]


def load_photo(source, name: str | None = None, max_pixels: int = MAX_PIXELS) -> np.ndarray:
    """uint8 photo, H×W (grey) or H×W×3 (RGB), from a path, a numpy array or a PIL image.

    Arrays are read as RGB (the order PIL, matplotlib, scikit-image and Gradio use; convert OpenCV's
    BGR first). Files and PIL images go through facevae's one decoder (:mod:`facevae.data.decode`):
    EXIF rotation applied, 16-bit scaled, alpha composited over white, photos over ``max_pixels``
    refused before decoding.
    """
    if isinstance(source, (str, Path)):
        path = Path(source)
        if not path.is_file():
            raise FileNotFoundError(f"{path}: photo not found; pass image=<photo file or folder>")
        return decode_image(path.read_bytes(), str(path), max_pixels)
    if hasattr(source, "convert") and hasattr(source, "mode"):  # a PIL image
        check_pixels(source.size, name or "image", max_pixels)
        return pil_to_array(source, name or "image")
    if isinstance(source, np.ndarray):
        image = array_to_image(source, name or "array")
        check_pixels(image.shape[1::-1], name or "array", max_pixels)
        return image
    raise TypeError(f"expected a path, a numpy array or a PIL image, got {type(source).__name__}")


def square_region(box, margin: float) -> Region:
    """The square crop_box cuts around ``box`` (x, y, w, h), in photo pixels (same rounding)."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    return Region(int(round(cx - side / 2)), int(round(cy - side / 2)), max(1, int(round(side))))


#: The soft mask is drawn and blurred at most this many pixels a side, then scaled to the face: it is
#: smooth, so nothing is lost, and the work no longer grows with the photo (a 12k photo took minutes).
MASK_SIDE = 256


def soft_mask(side: int, margin: float, feather: float = 0.08) -> np.ndarray:
    """side×side float mask in [0, 1]: 1 on the face, fading to 0 well inside the square's edges.

    The Haar box is the central 1/(1+2·margin) of the square; the ellipse covers it (a little taller,
    for chin and forehead) and a Gaussian blur of ``feather``·side feathers its edge, so no seam shows.
    Drawn at min(side, MASK_SIDE) pixels; :func:`paste` scales it to the part of the photo it covers.
    """
    n = min(int(side), MASK_SIDE)
    mask = np.zeros((n, n), np.float32)
    face = n / (1 + 2 * margin)
    centre = (n / 2, n / 2)
    axes = (0.55 * face, 0.68 * face)
    # The blur spreads the edge outward by about 3σ: shrink the ellipse so the mask is ~0 (< 0.2 %) at
    # the square's edges, else a step would show where the pasted square ends.
    sigma = max(0.5, feather * n / 2)
    axes = tuple(min(a, n / 2 - 3 * sigma) for a in axes)
    if min(axes) > 0:
        cv2.ellipse(mask, (round(centre[0]), round(centre[1])), (round(axes[0]), round(axes[1])), 0, 0, 360, 1.0, -1)
    return cv2.GaussianBlur(mask, (0, 0), sigma)


def _scaled_window(image: np.ndarray, side: int, x0: int, y0: int, w: int, h: int) -> np.ndarray:
    """The w×h window at (x0, y0) of ``image`` scaled to side×side, computed for the window only."""
    n = image.shape[0]
    image = image.astype(np.float32)
    if side <= n:  # shrinking: the whole square is small
        return cv2.resize(image, (side, side), interpolation=cv2.INTER_AREA)[y0 : y0 + h, x0 : x0 + w]
    scale = side / n
    # pixel centres: square coordinate = (source + 0.5)·scale − 0.5, shifted to the window's origin
    m = np.float32([[scale, 0, 0.5 * scale - 0.5 - x0], [0, scale, 0.5 * scale - 0.5 - y0]])
    return cv2.warpAffine(image, m, (w, h), flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE)


def paste(photo: np.ndarray, face: np.ndarray, region: Region, margin: float,
          base: np.ndarray | None = None) -> np.ndarray:
    """``photo`` with ``face`` (float grey in [0, 1], any square size) blended into ``region``.

    With ``base`` (the reconstruction) only the change ``face − base`` is added to the photo's own
    pixels, which keeps the person's detail (paste=residual); without it the face itself goes in.
    Work and memory grow with the part of the square inside the photo, never with the square itself.
    """
    side = region.side
    h, w = photo.shape[:2]
    # The part of the square inside the photo (it may reach past an edge, as the crop's padding did).
    x0, y0 = max(0, region.left), max(0, region.top)
    x1, y1 = min(w, region.left + side), min(h, region.top + side)
    if x0 >= x1 or y0 >= y1:
        return photo.copy()
    win = (x0 - region.left, y0 - region.top, x1 - x0, y1 - y0)
    new = _scaled_window(face, side, *win)
    if base is not None:
        new = new - _scaled_window(base, side, *win)
    alpha = np.clip(_scaled_window(soft_mask(side, margin), side, *win), 0.0, 1.0)
    new = new * 255.0
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
