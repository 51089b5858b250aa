"""Face cropping as in the paper (§1.1): OpenCV Haar cascade (frontal face), with fallbacks.

``crop_face`` tries the methods of ``method_chain`` in order:

- ``"haar"``: largest frontal-face detection, a square box widened by ``margin`` of its side on each
  side, resized to ``size``×``size`` (edge-replicate padding where the box leaves the image);
- ``"landmarks"``: :func:`crop_by_landmarks` around the 68 CK+ landmarks;
- ``"dlib"``: the same crop around the 68 points dlib finds in the photo (facevae.data.dlib_faces);
- ``"aligned"``: dlib's points, then a similarity transform putting the eyes at ``eyes`` (dlib_faces);
- ``"none"``: the whole image, centre-cropped to a square and resized.

It returns ``(crop, method)`` or ``(None, None)`` when no method worked. :class:`DetectionStats`
counts attempts and successes per method for the prepared-data manifest.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path

import cv2
import numpy as np


METHODS = ("haar", "landmarks", "dlib", "aligned", "none")
DLIB_METHODS = ("dlib", "aligned")
_OPENCV_HINT = "install `opencv-python-headless>=4.9,<5` (OpenCV 5.x ships no Haar cascades)"


def crop_by_landmarks(image: np.ndarray, landmarks: np.ndarray, size: int, margin: float) -> np.ndarray:
    """Square crop around the 68-point box, widened by `margin` of its side on each side, resized."""
    x0, y0 = landmarks.min(axis=0)
    x1, y1 = landmarks.max(axis=0)
    side = max(x1 - x0, y1 - y0) * (1 + 2 * margin)
    cx, cy = (x0 + x1) / 2, (y0 + y1) / 2
    # The 68 points stop at the brows: shift the box up a little so the forehead is in the crop.
    cy -= 0.08 * side
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    side_px = int(round(side))
    h, w = image.shape
    pad = max(0, -left, -top, left + side_px - w, top + side_px - h)
    if pad:
        image = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        left, top = left + pad, top + pad
    crop = image[top : top + side_px, left : left + side_px]
    return cv2.resize(crop, (size, size), interpolation=cv2.INTER_AREA)


def _cascade_dir() -> Path | None:
    data = getattr(cv2, "data", None)
    folder = getattr(data, "haarcascades", None)
    return Path(folder) if folder else None


def bgr_to_grey(image: np.ndarray) -> np.ndarray:
    """uint8 grey view of a grey (H×W or H×W×1), BGR or BGRA image."""
    if image.ndim == 3 and image.shape[2] == 1:
        image = image[:, :, 0]
    elif image.ndim == 3:
        code = cv2.COLOR_BGRA2GRAY if image.shape[2] == 4 else cv2.COLOR_BGR2GRAY
        image = cv2.cvtColor(image, code)
    if image.ndim != 2:
        raise ValueError(f"expected a grey or BGR image, got shape {image.shape}")
    if image.dtype != np.uint8:
        image = np.clip(image, 0, 255).astype(np.uint8)
    return image


class HaarFaceDetector:
    """OpenCV Haar-cascade face detector (the paper's pre-trained frontal face model by default).

    Picklable: the OpenCV classifier is not pickled but re-loaded (≈10 ms) in the receiving process,
    so an instance can be passed to process-pool workers.
    """

    def __init__(
        self,
        cascade: str = "haarcascade_frontalface_default.xml",
        scale_factor: float = 1.1,
        min_neighbors: int = 5,
        min_size_frac: float = 0.15,
        search_px: int = 24,
    ) -> None:
        self.cascade = cascade
        self.scale_factor = scale_factor
        self.min_neighbors = min_neighbors
        self.min_size_frac = min_size_frac
        self.search_px = search_px
        self._classifier = self._load()

    def _load(self):
        path = Path(self.cascade)
        if not path.is_file():
            folder = _cascade_dir()
            path = folder / self.cascade if folder else path
        if not hasattr(cv2, "CascadeClassifier") or not path.is_file():
            raise RuntimeError(
                f"Haar cascade {self.cascade!r} not found (OpenCV {cv2.__version__}, "
                f"cv2.data.haarcascades={_cascade_dir()}); {_OPENCV_HINT}"
            )
        classifier = cv2.CascadeClassifier(str(path))
        if classifier.empty():
            raise RuntimeError(f"Haar cascade {path} could not be loaded; {_OPENCV_HINT}")
        return classifier

    def __getstate__(self) -> dict:
        return {k: v for k, v in self.__dict__.items() if k != "_classifier"}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._classifier = self._load()

    def __repr__(self) -> str:
        return (
            f"HaarFaceDetector({self.cascade!r}, scale_factor={self.scale_factor}, "
            f"min_neighbors={self.min_neighbors}, min_size_frac={self.min_size_frac}, search_px={self.search_px})"
        )

    def detect(self, grey: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Face boxes ``(x, y, w, h)`` in pixels, largest first (empty list when none)."""
        grey = bgr_to_grey(grey)
        smallest = self.min_size_frac * min(grey.shape[:2])
        # Why downscale: the cascade's window is 24 px, so searching a 640x490 frame for faces of at
        # least 74 px at full resolution scans pyramid levels that cannot hold a face. Scaling the
        # smallest wanted face to `search_px` first is 1.7-3x faster and finds as many faces (the
        # boxes move by ~2 % of their size). search_px=0 searches at full resolution.
        scale = min(1.0, self.search_px / smallest) if self.search_px and smallest > 0 else 1.0
        work = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA) if scale < 1 else grey
        side = max(1, int(round(smallest * scale)))
        boxes = self._classifier.detectMultiScale(
            work, scaleFactor=self.scale_factor, minNeighbors=self.min_neighbors, minSize=(side, side)
        )
        out = [tuple(int(round(v / scale)) for v in b) for b in np.asarray(boxes).reshape(-1, 4)]
        return sorted(out, key=lambda b: (-b[2] * b[3], b[0], b[1]))


def crop_box(grey: np.ndarray, box: Sequence[float], size: int, margin: float) -> np.ndarray:
    """Square crop around ``box`` (x, y, w, h) widened by ``margin`` of its side per side, resized."""
    x, y, w, h = (float(v) for v in box)
    side = max(w, h) * (1 + 2 * margin)
    cx, cy = x + w / 2, y + h / 2
    left, top = int(round(cx - side / 2)), int(round(cy - side / 2))
    side_px = max(1, int(round(side)))
    hh, ww = grey.shape[:2]
    pad = max(0, -left, -top, left + side_px - ww, top + side_px - hh)
    if pad:
        grey = cv2.copyMakeBorder(grey, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
        left, top = left + pad, top + pad
    crop = grey[top : top + side_px, left : left + side_px]
    interp = cv2.INTER_AREA if side_px >= size else cv2.INTER_LINEAR
    return cv2.resize(crop, (size, size), interpolation=interp)


def crop_center(grey: np.ndarray, size: int, enlarge: int = cv2.INTER_LINEAR) -> np.ndarray:
    """The whole image: centre-cropped to a square, resized to ``size``×``size`` (``enlarge``: the filter
    when the square is smaller than ``size``; shrinking always averages areas)."""
    h, w = grey.shape[:2]
    side = min(h, w)
    top, left = (h - side) // 2, (w - side) // 2
    crop = grey[top : top + side, left : left + side]
    interp = cv2.INTER_AREA if side >= size else enlarge
    return cv2.resize(crop, (size, size), interpolation=interp)


class DetectionStats:
    """Per-method counts of attempts and successes (and of images no method could crop)."""

    def __init__(self) -> None:
        self.tried: dict[str, int] = {}
        self.succeeded: dict[str, int] = {}
        self.n_images = 0
        self.n_failed = 0

    def record_attempt(self, method: str, ok: bool) -> None:
        self.tried[method] = self.tried.get(method, 0) + 1
        self.succeeded[method] = self.succeeded.get(method, 0) + int(bool(ok))

    def record(self, method_chain: Iterable[str], used: str | None, landmarks_available: bool = True) -> None:
        """Record one image from its chain and the method ``crop_face`` returned (for pool workers).

        Methods before ``used`` count as failed attempts; ``landmarks`` counts as attempted only
        when landmarks were available (as inside ``crop_face``).
        """
        self.n_images += 1
        for method in method_chain:
            if method == "landmarks" and not landmarks_available:
                continue
            self.record_attempt(method, method == used)
            if method == used:
                break
        if used is None:
            self.n_failed += 1

    def merge(self, other: DetectionStats) -> DetectionStats:
        for method, n in other.tried.items():
            self.tried[method] = self.tried.get(method, 0) + n
            self.succeeded[method] = self.succeeded.get(method, 0) + other.succeeded.get(method, 0)
        self.n_images += other.n_images
        self.n_failed += other.n_failed
        return self

    def rate(self, method: str) -> float:
        """Fraction of attempts of ``method`` that succeeded (nan when never tried)."""
        tried = self.tried.get(method, 0)
        return self.succeeded.get(method, 0) / tried if tried else float("nan")

    def to_dict(self) -> dict:
        """JSON-ready summary for the manifest (rates rounded, None when never tried)."""
        return {
            "n_images": self.n_images,
            "n_failed": self.n_failed,
            "tried": dict(self.tried),
            "succeeded": dict(self.succeeded),
            "rate": {m: round(self.rate(m), 4) for m in self.tried},
        }

    def __repr__(self) -> str:
        return f"DetectionStats({self.to_dict()})"


def crop_face(
    image: np.ndarray,
    method_chain: Sequence[str] = ("haar", "landmarks"),
    landmarks: np.ndarray | None = None,
    size: int = 128,
    margin: float = 0.2,
    detector: HaarFaceDetector | None = None,
    stats: DetectionStats | None = None,
    landmarker=None,
    eyes=None,
) -> tuple[np.ndarray | None, str | None]:
    """Crop the face of ``image`` to a ``size``×``size`` uint8 grey square.

    Tries the methods of ``method_chain`` in order ("haar", "landmarks", "none"; see the module
    docstring) and returns ``(crop, method used)``, or ``(None, None)`` if none worked (no face
    detected and no landmarks given, for the default chain). ``landmarks`` is a (68, 2) array of
    x, y pixel coordinates. ``detector`` defaults to a per-process cached ``HaarFaceDetector()``.
    ``stats``, if given, is updated. ``landmarker`` (a facevae.data.dlib_faces.DlibLandmarker, default
    HOG) serves "dlib" and "aligned"; ``eyes`` are the aligned crop's eye targets (default ALIGN_EYES).
    """
    if isinstance(method_chain, str):
        method_chain = (method_chain,)
    unknown = [m for m in method_chain if m not in METHODS]
    if unknown:
        raise ValueError(f"unknown face-crop method(s) {unknown}; choose from {list(METHODS)}")
    grey = bgr_to_grey(image)
    if stats is not None:
        stats.n_images += 1
    for method in method_chain:
        crop = None
        if method == "haar":
            boxes = (detector or default_detector()).detect(grey)
            if boxes:
                crop = crop_box(grey, boxes[0], size, margin)
        elif method in DLIB_METHODS:
            crop = _dlib_crop(image, grey, method, size, margin, landmarker, eyes)
        elif method == "landmarks":
            if landmarks is None:
                continue  # not applicable: not counted as an attempt
            points = np.asarray(landmarks, np.float32).reshape(-1, 2)
            if len(points) >= 2 and np.isfinite(points).all() and np.ptp(points, axis=0).max() > 0:
                crop = crop_by_landmarks(grey, points, size, margin)
        elif grey.size:  # "none"
            crop = crop_center(grey, size)
        if stats is not None:
            stats.record_attempt(method, crop is not None)
        if crop is not None:
            return np.ascontiguousarray(crop, dtype=np.uint8), method
    if stats is not None:
        stats.n_failed += 1
    return None, None


def _dlib_crop(image, grey, method, size, margin, landmarker, eyes) -> np.ndarray | None:
    from .dlib_faces import ALIGN_EYES, aligned_crop, default_landmarker

    # On grey, as the other methods: an array here may be BGR (OpenCV) or RGB, and HOG needs neither.
    found = (landmarker or default_landmarker()).find(grey)
    if found is None:
        return None
    if method == "dlib":
        return crop_by_landmarks(grey, found[1], size, margin)
    return aligned_crop(grey, found[1], size, eyes or ALIGN_EYES)[0]


def usable_chain(chain: Sequence[str], what: str = "data.crop") -> list[str]:
    """The chain without dlib's methods when dlib is not installed (one warning line); DlibUnavailable
    when nothing would be left."""
    import logging

    from .dlib_faces import HINT, DlibUnavailable, dlib_available

    chain = list(chain)
    wanted = [m for m in chain if m in DLIB_METHODS]
    if not wanted or dlib_available():
        return chain
    rest = [m for m in chain if m not in DLIB_METHODS]
    if not rest:
        raise DlibUnavailable(f"{what}={chain} needs dlib, which is not installed: {HINT}")
    logging.getLogger("facevae").warning("facevae: %s: dlib is not installed, so %s fall back to %s (%s)",
                                         what, "/".join(wanted), rest, HINT)
    return rest


_DEFAULT: dict[tuple, HaarFaceDetector] = {}


def default_detector(**kwargs) -> HaarFaceDetector:
    """A ``HaarFaceDetector(**kwargs)`` cached per process (cheap to call from pool workers)."""
    key = tuple(sorted(kwargs.items()))
    if key not in _DEFAULT:
        _DEFAULT[key] = HaarFaceDetector(**kwargs)
    return _DEFAULT[key]
