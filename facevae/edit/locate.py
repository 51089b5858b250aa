"""Where the faces of a photo are, cropped exactly as the model's training data was, and the way back.

Crop methods (tried in order, as data.crop's fallback chain):
- ``aligned``: dlib's 68 points, then the similarity transform that puts the eyes at the training
  data's ``align_eyes`` (facevae.data.dlib_faces.aligned_crop); pasted back through the inverse warp.
- ``dlib``: the square around dlib's 68 points (the crop data.crop=landmarks makes of CK+ frames and of
  the synthetic CK+, so a photo is framed like the training data of the default models).
- ``haar``: OpenCV's Haar box widened by the margin (the paper's crop, §1.1).
- ``none``: the whole photo, centre-cropped.

``crop="auto"`` (edit.py and serve.py default) follows the checkpoint's own data.crop: landmarks become
dlib (same 68-point scheme); dlib's methods drop out with one note when dlib is not installed; Haar is
always the last detector tried (a Haar-trained model keeps Haar alone); ``none`` only when asked for.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from ..data.face_crop import DLIB_METHODS, crop_box, crop_by_landmarks, crop_center
from .photo import Region, soft_mask, square_region

CROP_METHODS = ("aligned", "dlib", "haar", "none")


@dataclass
class Located:
    box: tuple[int, int, int, int]  # the detection (x, y, w, h); the whole square for "none"
    crop: np.ndarray  # size×size uint8 grey
    region: Region  # the square the crop covers (its bounding square for "aligned")
    transform: np.ndarray | None  # "aligned": 2x3 photo -> crop pixels; None for the square crops


def auto_chain(train_crop) -> tuple[list[str], str]:
    """(the photo chain for a checkpoint's data.crop, a note: '' or why dlib was left out)."""
    from ..data.dlib_faces import HINT, dlib_available

    train = [train_crop] if isinstance(train_crop, str) else list(train_crop or [])
    chain = []
    for m in train:
        m = "dlib" if m == "landmarks" else m
        if m in ("aligned", "dlib", "haar") and m not in chain:
            chain.append(m)
    note = ""
    if not dlib_available():
        note = f"dlib not installed, Haar crop used ({HINT})"
        chain = [m for m in chain if m not in DLIB_METHODS]
    if "haar" not in chain:
        chain.append("haar")
    return chain, note


def landmark_region(points: np.ndarray, margin: float) -> Region:
    """The square crop_by_landmarks cuts around 68 points (the same arithmetic and rounding)."""
    x0, y0 = points.min(axis=0)
    x1, y1 = points.max(axis=0)
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2 - 0.08 * side
    return Region(int(round(cx - side / 2)), int(round(cy - side / 2)), int(round(side)))


def locate(grey: np.ndarray, chain: list[str], size: int, margin: float, haar_min_face: float,
           eyes=None, dlib_detector: str = "hog") -> tuple[list[Located], str | None]:
    """Every face the first working method of `chain` finds, largest first, and that method (None: no face)."""
    from ..data.face_crop import default_detector

    for method in chain:
        if method in DLIB_METHODS:
            from ..data.dlib_faces import ALIGN_EYES, aligned_crop, default_landmarker

            lm = default_landmarker(dlib_detector)
            boxes = lm.detect(grey)
            out = []
            for box in boxes:
                points = lm.landmarks(grey, box)
                if method == "dlib":
                    out.append(Located(box, crop_by_landmarks(grey, points, size, margin),
                                       landmark_region(points, margin), None))
                else:
                    crop, m = aligned_crop(grey, points, size, eyes or ALIGN_EYES)
                    out.append(Located(box, crop, _bounding_region(m, size), m))
            if out:
                return out, method
        elif method == "haar":
            boxes = default_detector(min_size_frac=haar_min_face).detect(grey)
            if boxes:
                return [Located(tuple(int(v) for v in b), crop_box(grey, b, size, margin),
                                square_region(b, margin), None) for b in boxes], method
        elif method == "none" and grey.size:
            h, w = grey.shape
            side = min(h, w)
            box = ((w - side) // 2, (h - side) // 2, side, side)
            return [Located(box, crop_center(grey, size), square_region(box, 0.0), None)], method
    return [], None


def _bounding_region(m: np.ndarray, size: int) -> Region:
    """The axis-aligned square (in photo pixels) around the aligned crop's rotated square."""
    inv = cv2.invertAffineTransform(m)
    corners = np.array([[0, 0], [size, 0], [0, size], [size, size]], np.float64) @ inv[:, :2].T + inv[:, 2]
    (x0, y0), (x1, y1) = corners.min(0), corners.max(0)
    side = max(x1 - x0, y1 - y0)
    return Region(int(round(x0)), int(round(y0)), int(round(side)))


def paste_warped(photo: np.ndarray, face: np.ndarray, m: np.ndarray, margin: float,
                 base: np.ndarray | None = None) -> np.ndarray:
    """``photo`` with ``face`` (float grey in [0, 1], the aligned crop's frame) warped back by the inverse of
    ``m`` and blended in under the feathered ellipse (as facevae.edit.photo.paste: luminance only for
    colour photos; with ``base`` only the change face − base)."""
    h, w = photo.shape[:2]
    size = face.shape[0]
    new = face.astype(np.float32) - (base.astype(np.float32) if base is not None else 0)
    scale = 1.0  # warp from an upsampled crop when the face is larger in the photo: a smoother paste
    s = float(np.hypot(*m[0, :2]))
    if s < 1:
        scale = min(4.0, 1.0 / s)
        new = cv2.resize(new, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    mm = m * scale  # photo -> upsampled crop pixels (up to pixel-centre half pixels, below the mask's blur)
    side = new.shape[0]
    alpha = cv2.resize(soft_mask(size, margin), (side, side), interpolation=cv2.INTER_LINEAR)
    flags = cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP
    new = cv2.warpAffine(new, mm, (w, h), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    alpha = cv2.warpAffine(alpha, mm, (w, h), flags=flags, borderMode=cv2.BORDER_CONSTANT, borderValue=0)
    new = new * 255.0
    out = photo.copy()
    if photo.ndim == 2:
        old = out.astype(np.float32)
        target = old + new if base is not None else new
        return np.clip(np.rint(old + alpha * (target - old)), 0, 255).astype(np.uint8)
    ycc = cv2.cvtColor(out, cv2.COLOR_RGB2YCrCb).astype(np.float32)
    old = ycc[:, :, 0]
    target = old + new if base is not None else new
    ycc[:, :, 0] = old + alpha * (target - old)
    return cv2.cvtColor(np.clip(np.rint(ycc), 0, 255).astype(np.uint8), cv2.COLOR_YCrCb2RGB)
