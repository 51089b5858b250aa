"""Per-subject identity sampler and the neutral 68-point (iBUG order) face it implies.

Coordinates are a canonical, frontal face frame in pixels at scale 1: x to the image right,
y down, origin on the midline at nose-tip height.  The renderer maps this frame into the
image with a per-sequence similarity transform (pose, scale, translation).
"""

from __future__ import annotations

import numpy as np

# Canonical eye-line height; everything vertical is sampled relative to it.
EYE_Y = -45.0

HAIR_STYLES = ("short", "side_part", "long", "buzz")


def sample_identity(rng: np.random.Generator) -> dict[str, float]:
    """Draw one subject's identity parameters (flat dict of floats) from a seeded rng."""
    u = rng.uniform
    ident = {
        "face_half_width": u(86.0, 106.0),  # half width at the ears (landmarks 0/16)
        "chin_drop": u(48.0, 62.0),  # mouth line -> chin
        "jaw_square": u(2.0, 3.3),  # superellipse exponent: 2 round .. 3.3 square
        "jaw_taper": u(0.0, 0.16),  # narrowing of the jaw towards the chin
        "skin": u(115.0, 200.0),  # grey level of the skin
        "hair_style": float(rng.integers(0, len(HAIR_STYLES))),
        "hair_dark": u(15.0, 95.0),  # grey level of the hair (low = dark)
        "hairline": u(38.0, 56.0),  # hairline height above the brows
        "head_top": u(112.0, 130.0),  # crown height above the eye line
        "eye_width": u(26.0, 32.0),
        "eye_open": u(5.5, 7.5),  # half opening of the eye at rest
        "eye_spacing": u(30.0, 35.0),  # half distance between eye centres
        "iris_dark": u(25.0, 100.0),
        "brow_thick": u(4.0, 8.5),
        "brow_height": u(22.0, 30.0),  # brow above the eye line
        "brow_arch": u(2.0, 7.0),
        "brow_dark": u(20.0, 90.0),
        "nose_length": u(50.0, 60.0),  # eye line -> nose tip
        "nose_width": u(14.0, 19.0),  # half width of the alae
        "mouth_drop": u(30.0, 38.0),  # nose tip -> mouth line
        "mouth_width": u(25.0, 32.0),  # half width
        "upper_lip": u(5.0, 8.5),
        "lower_lip": u(7.0, 11.5),
        "lip_dark": u(35.0, 65.0),  # how much darker the lips are than the skin
        "ear_size": u(0.85, 1.15),
        "glasses": float(rng.random() < 0.15),
        "contempt_side": float(rng.choice([-1.0, 1.0])),  # -1 = subject's right (image left)
    }
    # keep hair readable against the skin
    ident["hair_dark"] = float(max(10.0, min(ident["hair_dark"], ident["skin"] - 55.0)))
    return ident


def _brow(ident: dict[str, float], side: float) -> np.ndarray:
    """Five brow points, outer to inner on the subject's right (side=-1), inner to outer on the left."""
    es, ew = ident["eye_spacing"], ident["eye_width"]
    by = EYE_Y - ident["brow_height"]
    t = np.linspace(0.0, 1.0, 5)  # 0 = outer end, 1 = inner end
    outer_x, inner_x = es + 0.72 * ew, max(es - 0.62 * ew, 9.0)
    x = outer_x + (inner_x - outer_x) * t
    y = by - ident["brow_arch"] * np.sin(np.pi * (0.15 + 0.75 * t)) + 3.0 * (1 - t) ** 2
    pts = np.stack([side * x, y], axis=1)
    return pts if side < 0 else pts[::-1]


def _eye(ident: dict[str, float], side: float) -> np.ndarray:
    """Six eye points in iBUG order (outer corner, 2 upper lid, inner corner, 2 lower lid)."""
    cx, ew, eo = side * ident["eye_spacing"], ident["eye_width"], ident["eye_open"]
    y = EYE_Y
    # right eye (side -1): 36 outer (image left) -> 37, 38 upper -> 39 inner -> 40, 41 lower
    xs = np.array([-0.5, -0.18, 0.18, 0.5, 0.18, -0.18]) * ew
    ys = np.array([0.6, -eo, -eo, 0.9, 0.8 * eo, 0.8 * eo]) + y
    if side > 0:  # left eye: 42 inner -> 43, 44 upper -> 45 outer -> 46, 47 lower (mirror)
        xs = -xs[[3, 2, 1, 0, 5, 4]]
        ys = ys[[3, 2, 1, 0, 5, 4]]
    return np.stack([cx + xs, ys], axis=1)


def neutral_landmarks(identity: dict[str, float]) -> np.ndarray:
    """Neutral 68x2 iBUG landmarks (float32) of a subject in the canonical face frame."""
    ident = identity
    w, nose_y = ident["face_half_width"], EYE_Y + ident["nose_length"]
    mouth_y = nose_y + ident["mouth_drop"]
    chin_y = mouth_y + ident["chin_drop"]
    # jaw 0-16: lower half of a superellipse from ear (y0) to chin, tapered towards the chin
    y0 = EYE_Y + 6.0
    theta = np.linspace(np.pi, 0.0, 17)
    n = ident["jaw_square"]
    c, s = np.cos(theta), np.sin(theta)
    fx = np.sign(c) * np.abs(c) ** (2.0 / n)
    fy = np.abs(s) ** (2.0 / n)
    jaw = np.stack([w * fx * (1.0 - ident["jaw_taper"] * fy), y0 + (chin_y - y0) * fy], axis=1)
    brows = np.concatenate([_brow(ident, -1.0), _brow(ident, 1.0)])
    # nose bridge 27-30 from between the eyes to the tip
    bridge = np.stack([np.zeros(4), np.linspace(EYE_Y - 2.0, nose_y, 4)], axis=1)
    nw = ident["nose_width"]
    nostrils = np.array(
        [[-nw, nose_y + 5.0], [-0.5 * nw, nose_y + 9.0], [0.0, nose_y + 11.0],
         [0.5 * nw, nose_y + 9.0], [nw, nose_y + 5.0]]
    )
    eyes = np.concatenate([_eye(ident, -1.0), _eye(ident, 1.0)])
    mw, ul, ll = ident["mouth_width"], ident["upper_lip"], ident["lower_lip"]
    m = mouth_y
    outer = np.array(
        [[-mw, m], [-0.6 * mw, m - 0.9 * ul], [-0.22 * mw, m - 1.1 * ul], [0.0, m - 0.85 * ul],
         [0.22 * mw, m - 1.1 * ul], [0.6 * mw, m - 0.9 * ul], [mw, m],
         [0.62 * mw, m + 0.85 * ll], [0.28 * mw, m + ll], [0.0, m + 1.05 * ll],
         [-0.28 * mw, m + ll], [-0.62 * mw, m + 0.85 * ll]]
    )
    inner = np.array(
        [[-0.86 * mw, m], [-0.35 * mw, m - 0.15], [0.0, m - 0.1], [0.35 * mw, m - 0.15],
         [0.86 * mw, m], [0.35 * mw, m + 0.15], [0.0, m + 0.1], [-0.35 * mw, m + 0.15]]
    )
    lm = np.concatenate([jaw, brows, bridge, nostrils, eyes, outer, inner]).astype(np.float32)
    assert lm.shape == (68, 2)
    return lm


def face_unit(identity: dict[str, float]) -> float:
    """Size unit of a face (brow-to-chin / 175) so AU displacements scale with the face."""
    brow_to_chin = (
        identity["brow_height"] + identity["nose_length"] + identity["mouth_drop"] + identity["chin_drop"]
    )
    return float(brow_to_chin / 175.0)
