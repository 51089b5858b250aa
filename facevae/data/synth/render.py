"""Procedural grey-face renderer driven by the (deformed) 68 landmarks.

All geometry is built in the canonical face frame (see ``identity``) and mapped into the
image by one similarity transform, so the landmarks returned are exactly where the drawn
features are.  Per-sequence work (background, lighting gain, noise) is cached by the caller.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import lru_cache

import cv2
import numpy as np

from facevae.data.synth.action_units import apply_action_units, as_au_dict
from facevae.data.synth.identity import EYE_Y, neutral_landmarks
from facevae.data.synth.shading import (SHADED_GAINS, apply_shading, crease_texture, expose, is_shaded, pose, shading_map,
                                        skin_texture)

BASE_SCALE = 1.25  # canonical units -> pixels at nuisance scale 1 (brow-to-chin ~ 220 px)
_SHIFT = 4  # cv2 sub-pixel bits: drawing coordinates are multiples of 1/16 px
_AA = cv2.LINE_AA
NOISE_PAD = 16


def sample_nuisance(rng: np.random.Generator) -> dict[str, float]:
    """Per-sequence nuisance: pose, scale, translation, background, lighting, noise."""
    u = rng.uniform
    lo = u(60.0, 170.0)
    return {
        "roll": u(-6.0, 6.0),  # degrees
        "scale": u(0.9, 1.1),
        "tx": u(-40.0, 40.0),
        "ty": u(-20.0, 20.0),
        "bg_low": lo,
        "bg_high": float(np.clip(lo + u(-60.0, 60.0), 30.0, 230.0)),
        "bg_angle": u(0.0, 360.0),
        "light_angle": u(0.0, 360.0),
        "light_strength": u(0.0, 0.35),  # relative brightness change across the face
        "noise_sigma": u(1.5, 5.0),
        "gaze_x": u(-0.25, 0.25),  # iris offset as a fraction of the eye's half width
        "gaze_y": u(-0.15, 0.15),
        "shirt": u(20.0, 220.0),
    }


def _transform(nz: Mapping[str, float], width: int, height: int) -> np.ndarray:
    """2x3 similarity canonical->image from nuisance (pose, scale, translation, jitter)."""
    s = BASE_SCALE * nz["scale"]
    a = np.deg2rad(nz["roll"] + nz.get("jitter_roll", 0.0))
    c, si = np.cos(a) * s, np.sin(a) * s
    ox = width / 2 + nz["tx"] + nz.get("jitter_x", 0.0)
    oy = height / 2 + 28.0 * s + nz["ty"] + nz.get("jitter_y", 0.0)
    return np.array([[c, -si, ox], [si, c, oy]])


def _sequence_cache(nz: Mapping[str, float], width: int, height: int, seed_rng: np.random.Generator) -> dict:
    """Background, lighting gain map and noise buffers, shared by all frames of a sequence."""
    # smooth fields are computed on a 1/8 grid and upsampled: ~20x cheaper, visually identical
    k = 8
    hs, ws = height // k + 2, width // k + 2
    yy, xx = np.mgrid[0:hs, 0:ws].astype(np.float32) * k
    a = np.deg2rad(nz["bg_angle"])
    t = (np.cos(a) * (xx - width / 2) + np.sin(a) * (yy - height / 2)) / (0.5 * np.hypot(width, height))
    bg = nz["bg_low"] + (nz["bg_high"] - nz["bg_low"]) * (0.5 + 0.5 * t)
    # lighting: linear gradient across the face plus a soft fall-off towards the face edge
    m = _transform(nz, width, height)
    s = BASE_SCALE * nz["scale"]
    cx, cy = m[0, 2], m[1, 2] - 40.0 * s
    la = np.deg2rad(nz["light_angle"])
    lin = 1.0 + nz["light_strength"] * (np.cos(la) * (xx - cx) + np.sin(la) * (yy - cy)) / (100.0 * s)
    rr = np.sqrt(((xx - cx) / (105.0 * s)) ** 2 + ((yy - cy) / (150.0 * s)) ** 2)
    gain = 128.0 * lin * (1.0 - 0.2 * np.clip(rr, 0.0, 1.0) ** 3)

    def up(f: np.ndarray) -> np.ndarray:
        big = cv2.resize(f.astype(np.float32), (ws * k, hs * k), interpolation=cv2.INTER_LINEAR)
        return np.clip(big[:height, :width], 0, 255).astype(np.uint8)

    noise = seed_rng.standard_normal((height + NOISE_PAD, width + NOISE_PAD), dtype=np.float32)
    noise *= nz["noise_sigma"]
    pos = cv2.convertScaleAbs(np.maximum(noise, 0.0))
    neg = cv2.convertScaleAbs(np.minimum(noise, 0.0))
    out = {"bg": up(bg), "gain": up(gain), "noise_pos": pos, "noise_neg": neg}
    if is_shaded(nz):  # the subject's skin textures, from their own seed so the drawn style's stream is untouched
        tex_rng = np.random.default_rng(int(nz["texture_seed"]))
        out.update(albedo=skin_texture(tex_rng, nz["skin_texture"]), creases=crease_texture(tex_rng))
    return out


def _col(c: float) -> int:
    """Clamp a grey value to a drawable int."""
    return int(min(255.0, max(0.0, c)))


class _Canvas:
    """Draws canonical-frame shapes into an image through a similarity transform."""

    def __init__(self, img: np.ndarray, m: np.ndarray):
        self.img, self.m = img, m
        self.s = float(np.hypot(m[0, 0], m[1, 0]))
        self.angle = float(np.degrees(np.arctan2(m[1, 0], m[0, 0])))
        # the transform pre-scaled to cv2's fixed point: ~120 primitives a frame, each converted once (issue 15)
        self._a_fix, self._b_fix = m[:, :2].T * (1 << _SHIFT), m[:, 2] * (1 << _SHIFT)

    def map(self, pts) -> np.ndarray:
        """Canonical Nx2 -> image Nx2 float."""
        p = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
        return p @ self.m[:, :2].T + self.m[:, 2]

    def _fix(self, pts) -> np.ndarray:
        q = np.asarray(pts, dtype=np.float64).reshape(-1, 2) @ self._a_fix
        q += self._b_fix
        return np.rint(q, out=q).astype(np.int32)

    def poly(self, pts, color: float) -> None:
        cv2.fillPoly(self.img, [self._fix(pts)], _col(color), _AA, _SHIFT)

    def line(self, pts, color: float, width: float = 1.0, closed: bool = False) -> None:
        th = max(1, int(round(width * self.s)))
        cv2.polylines(self.img, [self._fix(pts)], closed, _col(color), th, _AA, _SHIFT)

    def ellipse(self, center, axes, color: float, angle: float = 0.0, width: float = -1.0) -> None:
        c = tuple(int(v) for v in self._fix(center)[0])
        ax = tuple(max(1, int(round(v * self.s * (1 << _SHIFT)))) for v in axes)
        th = -1 if width < 0 else max(1, int(round(width * self.s)))
        cv2.ellipse(self.img, c, ax, angle + self.angle, 0, 360, _col(color), th, _AA, _SHIFT)


@lru_cache(maxsize=64)
def _unit_arc(a0: float, a1: float, n: int) -> np.ndarray:
    """(cos t, sin t) at n angles from a0 to a1 degrees (every arc of the renderer uses a few fixed spans)."""
    t = np.deg2rad(np.linspace(a0, a1, n))
    out = np.stack([np.cos(t), np.sin(t)], axis=1)
    out.flags.writeable = False
    return out


def _arc(cx: float, cy: float, rx: float, ry: float, a0: float, a1: float, n: int = 24) -> np.ndarray:
    """Points on an ellipse arc from angle a0 to a1 (degrees, y down)."""
    return _unit_arc(a0, a1, n) * (rx, ry) + (cx, cy)


@lru_cache(maxsize=256)
def _spline_basis(m: int, n: int) -> np.ndarray:
    """Matrix mapping m control points to a Catmull-Rom polyline with n samples per segment."""
    rows = []
    for i in range(m - 1):
        idx = (max(i - 1, 0), i, i + 1, min(i + 2, m - 1))
        for t in np.linspace(0, 1, n, endpoint=False):
            t2, t3 = t * t, t * t * t
            wts = (0.5 * (-t + 2 * t2 - t3), 0.5 * (2 - 5 * t2 + 3 * t3),
                   0.5 * (t + 4 * t2 - 3 * t3), 0.5 * (-t2 + t3))
            row = np.zeros(m)
            for k, wk in zip(idx, wts):
                row[k] += wk
            rows.append(row)
    last = np.zeros(m)
    last[-1] = 1.0
    rows.append(last)
    return np.array(rows)


def _smooth(pts, n: int = 4) -> np.ndarray:
    """Catmull-Rom densification of an open polyline so curves drawn from landmarks look smooth."""
    p = np.asarray(pts, dtype=np.float64).reshape(-1, 2)
    return _spline_basis(len(p), n) @ p


def _draw_head(cv: _Canvas, ident: Mapping[str, float], lm: np.ndarray, neutral: np.ndarray,
               shirt: float) -> None:
    """Hair (back), shoulders, neck, ears, skull + face outline, hair (front)."""
    w, skin, hair = ident["face_half_width"], ident["skin"], ident["hair_dark"]
    style = int(ident["hair_style"])
    top = EYE_Y - ident["head_top"]
    y0 = float(neutral[0, 1])
    chin = float(neutral[8, 1])
    hairline = float(neutral[19, 1]) - ident["hairline"]
    if style == 2:  # long hair falls behind the neck and shoulders
        back = np.concatenate([_arc(0, y0, 1.2 * w, y0 - top + 10, 180, 360),
                               [[1.25 * w, chin + 70], [-1.25 * w, chin + 70]]])
        cv.poly(back, hair)
    cv.poly([[-0.5 * w, chin + 50], [0.5 * w, chin + 50], [1.6 * w, chin + 72], [2.4 * w, chin + 110],
             [2.8 * w, chin + 420], [-2.8 * w, chin + 420], [-2.4 * w, chin + 110], [-1.6 * w, chin + 72]], shirt)
    cv.poly([[-0.42 * w, y0 + 40], [0.42 * w, y0 + 40], [0.48 * w, chin + 62], [0.0, chin + 75],
             [-0.48 * w, chin + 62]], skin * 0.8)
    for sx in (-1.0, 1.0):
        ec = (sx * 0.97 * w, EYE_Y + 22.0)
        cv.ellipse(ec, (11 * ident["ear_size"], 23 * ident["ear_size"]), skin * 0.88, angle=sx * 8)
        cv.ellipse((ec[0] + sx * 2, ec[1]), (5 * ident["ear_size"], 14 * ident["ear_size"]), skin * 0.72,
                   angle=sx * 8, width=1.5)
    skull = _arc(0, y0, 1.02 * w, y0 - top, 0, -180, 30)
    cv.poly(np.concatenate([_smooth(lm[0:17], 3), skull]), skin)
    # jaw shadow on the neck side and cheek contour hint
    cv.line(_smooth(lm[2:15], 3), skin * 0.78, 1.6)
    if style == 3:  # buzz cut: a thin cap slightly darker than skin
        cap = np.concatenate([_arc(0, y0, 1.03 * w, y0 - top + 1, -5, -175, 28),
                              [[-0.98 * w, y0 - 18], [-0.55 * w, hairline - 6], [0.55 * w, hairline - 6],
                               [0.98 * w, y0 - 18]]])
        cv.poly(cap, 0.55 * skin + 0.45 * hair)
        return
    sweep = -1.0 if style == 1 else 0.0
    outer = _arc(0, y0, 1.07 * w, y0 - top + 7, -2, -178, 30)
    inner = np.array([[-1.0 * w, y0 - 8], [-0.75 * w, hairline + 6 - 14 * sweep], [-0.3 * w, hairline - 22 * sweep],
                      [0.05 * w, hairline - 2 + 3 * sweep], [0.45 * w, hairline + 2 + 6 * sweep],
                      [0.8 * w, hairline + 8], [1.0 * w, y0 - 8]])
    if style == 1:  # a fringe swept across the forehead
        inner[1:4, 1] = [hairline + 16, hairline + 10, hairline - 4]
    cv.poly(np.concatenate([outer, _smooth(inner, 4)]), hair)
    if style == 2:  # side curtains along the cheeks
        for sx in (-1.0, 1.0):
            cv.poly([[sx * 1.07 * w, y0 - 20], [sx * 0.97 * w, y0 - 10], [sx * 0.98 * w, chin - 10],
                     [sx * 1.2 * w, chin + 45], [sx * 1.22 * w, y0 + 10]], hair)
    if style == 1:  # parting line
        cv.line([[-0.35 * w, top + 12], [-0.42 * w, hairline - 4]], hair * 0.6, 1.2)


def _draw_eyes(cv: _Canvas, ident: Mapping[str, float], lm: np.ndarray, neutral: np.ndarray,
               nz: Mapping[str, float]) -> None:
    """Sclera, iris and pupil clipped by skin-coloured lids, lash line, crease."""
    skin = ident["skin"]
    r = 0.24 * ident["eye_width"]
    for sl in (slice(36, 42), slice(42, 48)):
        e, en = lm[sl], neutral[sl]
        cx = float(en[:, 0].mean()) + nz.get("gaze_x", 0.0) * 0.5 * ident["eye_width"] * 0.5
        cy = EYE_Y + nz.get("gaze_y", 0.0) * r
        cv.poly(e, 218)
        cv.ellipse((cx, cy), (r, r), ident["iris_dark"])
        cv.ellipse((cx, cy), (0.45 * r, 0.45 * r), 12)
        cv.ellipse((cx + 0.35 * r, cy - 0.35 * r), (0.18 * r, 0.18 * r), 235)
        top = min(cy - r - 3.0, float(e[[1, 2], 1].min()) - 1.0)
        bot = max(cy + r + 3.0, float(e[[4, 5], 1].max()) + 1.0)
        left, right = float(e[0, 0]) - 1.5, float(e[3, 0]) + 1.5
        up = _smooth(e[[0, 1, 2, 3]], 4)
        lo = _smooth(e[[3, 4, 5, 0]], 4)
        cv.poly(np.concatenate([up, [[right, e[3, 1]], [right, top], [left, top], [left, e[0, 1]]]]), skin)
        cv.poly(np.concatenate([lo, [[left, e[0, 1]], [left, bot], [right, bot], [right, e[3, 1]]]]), skin)
        cv.line(up, 25, 2.0)
        cv.line(lo, skin * 0.62, 1.0)
        crease = up.copy()
        crease[:, 1] -= 0.6 * ident["eye_open"] + 2.0
        cv.line(crease[2:-2], skin * 0.8, 1.0)


def _draw_brows(cv: _Canvas, ident: Mapping[str, float], lm: np.ndarray) -> None:
    """Filled brows whose thickness tapers towards the outer end."""
    th = ident["brow_thick"]
    for sl, taper in ((slice(17, 22), np.linspace(0.45, 1.0, 5)), (slice(22, 27), np.linspace(1.0, 0.45, 5))):
        b = lm[sl].astype(np.float64)
        upper = _smooth(b - np.stack([np.zeros(5), 0.55 * th * taper], 1), 3)
        lower = _smooth(b + np.stack([np.zeros(5), 0.45 * th * taper], 1), 3)
        cv.poly(np.concatenate([upper, lower[::-1]]), ident["brow_dark"])


def _draw_nose(cv: _Canvas, ident: Mapping[str, float], lm: np.ndarray) -> None:
    """Bridge shading, alae, nostrils, tip highlight."""
    skin = ident["skin"]
    cv.line(_smooth([lm[27] + [-7, 4], lm[28] + [-7, 0], lm[29] + [-8, 0], lm[31] + [1, -8]], 3), skin * 0.84, 2.0)
    cv.ellipse(lm[30] + [0, 2], (7, 6), min(255.0, skin * 1.07))
    for i, sx in ((31, -1.0), (35, 1.0)):
        wing = [lm[i] + [sx * 1, -9], lm[i] + [sx * 2, -3], lm[i], lm[i + (1 if sx < 0 else -1)]]
        cv.line(_smooth(wing), skin * 0.68, 1.4)
    for i in (32, 34):
        cv.ellipse(lm[i] + [0, -2.2], (4.0, 2.2), skin * 0.3, angle=(-15 if i == 32 else 15))
    cv.line(_smooth(lm[31:36], 3), skin * 0.72, 1.0)


def _draw_mouth(cv: _Canvas, ident: Mapping[str, float], lm: np.ndarray) -> None:
    """Dark mouth interior and teeth when the inner lips part, then the lips on top."""
    skin = ident["skin"]
    gap = float(np.mean(lm[[67, 66, 65], 1] - lm[[61, 62, 63], 1]))
    if gap > 0.8:
        cv.poly(_smooth(np.concatenate([lm[60:68], lm[60:61]]), 3), 30)
        th = min(0.55 * gap, 9.0)
        upper = lm[[60, 61, 62, 63, 64]].astype(np.float64)
        low = upper.copy()
        low[1:4, 1] = np.minimum(upper[1:4, 1] + th, lm[[67, 66, 65], 1])
        cv.poly(np.concatenate([upper, low[::-1]]), 212)
        if gap > 10:
            lower = lm[[64, 65, 66, 67, 60]].astype(np.float64)
            lt = lower.copy()
            lt[1:4, 1] -= min(0.18 * gap, 5.0)
            cv.poly(np.concatenate([lower, lt[::-1]]), 185)
    lip = skin - ident["lip_dark"]
    cv.poly(np.concatenate([_smooth(lm[[48, 49, 50, 51, 52, 53, 54]], 3), _smooth(lm[[64, 63, 62, 61, 60]], 3)]), lip)
    cv.poly(np.concatenate([_smooth(lm[[54, 55, 56, 57, 58, 59, 48]], 3), _smooth(lm[[60, 67, 66, 65, 64]], 3)]),
            lip + 8)
    cv.line(_smooth(lm[[48, 60, 61, 62, 63, 64, 54]], 3), skin * 0.38, 1.3)
    if gap > 0.8:
        cv.line(_smooth(lm[[64, 65, 66, 67, 60]], 3), skin * 0.45, 1.0)
    cv.line(_smooth(lm[[58, 57, 56]] + [0, 0.6 * ident["lower_lip"] + 2], 3), skin * 0.85, 1.4)


def _shade(skin: float, k: float) -> float:
    """A wrinkle colour: skin darkened by fraction k."""
    return skin * (1.0 - k)


def _draw_wrinkles(cv: _Canvas, ident: Mapping[str, float], lm: np.ndarray, a: dict[int, float]) -> None:
    """Intensity-dependent furrows and folds that make each AU readable at low resolution."""
    skin, w = ident["skin"], ident["face_half_width"]
    brow_y = float(lm[17:27, 1].min())
    k = max(a[1], a[2])
    if k > 0.05:  # horizontal forehead lines
        span = 0.25 * w + 0.3 * w * (a[2] / k)
        for i, dy in enumerate((10.0, 19.0, 28.0)):
            xs = np.linspace(-span * (1 - 0.1 * i), span * (1 - 0.1 * i), 7)
            ys = brow_y - dy - 3.0 * np.cos(xs / span * 1.5) + 0 * xs
            cv.line(np.stack([xs, ys], 1), _shade(skin, 0.28 * k), 1.2)
    if a[4] > 0.05:  # vertical glabella lines between the brows
        for sx in (-1.0, 1.0):
            x = 0.5 * (lm[21, 0] + lm[22, 0]) + sx * 4.0
            cv.line([[x, lm[21, 1] + 4], [x - sx * 1.0, lm[21, 1] - 10]], _shade(skin, 0.35 * a[4]), 1.3)
    if a[9] > 0.05:  # transverse wrinkles over the nose root
        for dy in (0.0, 6.0, 12.0):
            y = lm[27, 1] + dy
            cv.line(_arc(0, y + 6, 9, 5, 200, 340, 7), _shade(skin, 0.4 * a[9]), 1.2)
    k = max(a[12], 0.8 * a[9], 0.8 * a[10], 0.5 * a[6], 0.6 * a[20])
    for alar, corner, sx in ((31, 48, -1.0), (35, 54, 1.0)):  # nasolabial folds
        kk = 0.12 + 0.3 * k
        p0 = lm[alar] + [sx * 3, -5]
        p2 = lm[corner] + [sx * 6, 5]
        p1 = 0.5 * (p0 + p2) + [sx * 6, 0]
        cv.line(_smooth([p0, p1, p2], 5), _shade(skin, kk), 1.3 + 0.6 * k)
    if a[6] > 0.05:  # crow's feet and the cheek bulge under the eye
        for outer, sx, eye in ((36, -1.0, slice(36, 42)), (45, 1.0, slice(42, 48))):
            for ang in (-25.0, 0.0, 25.0):
                t = np.deg2rad(ang)
                p = lm[outer] + [sx * 4, 0]
                cv.line([p, p + [sx * 9 * np.cos(t), 9 * np.sin(t)]], _shade(skin, 0.3 * a[6]), 1.0)
            lo = lm[eye][[3, 4, 5, 0]] if sx < 0 else lm[eye][[0, 5, 4, 3]]
            cv.line(_smooth(lo + [0, 7], 3)[2:-2], _shade(skin, 0.25 * a[6]), 1.2)
    if a[14] > 0.05:  # dimple beside the tucked corner
        c = 48 if ident["contempt_side"] < 0 else 54
        sx = -1.0 if c == 48 else 1.0
        p = lm[c] + [sx * 4, 0]
        cv.line(_smooth([p + [0, -10], p + [sx * 3, 0], p + [0, 10]], 3), _shade(skin, 0.7 * a[14]), 2.0)
    if a[15] > 0.05:  # marionette lines below the depressed corners
        for c, sx in ((48, -1.0), (54, 1.0)):
            cv.line([lm[c] + [sx * 1, 3], lm[c] + [sx * 3, 13]], _shade(skin, 0.35 * a[15]), 1.2)
    if a[17] > 0.05:  # chin boss: deeper mentolabial sulcus and chin dimpling
        y = lm[57, 1] + 0.5 * ident["lower_lip"] + 5
        cv.line(_arc(lm[57, 0], y + 4, 13, 5, 200, 340, 9), _shade(skin, 0.35 * a[17]), 1.4)
        cv.ellipse((lm[8, 0], lm[8, 1] - 14), (7, 4), _shade(skin, 0.12 * a[17]))
    k = max(a[23], a[24])
    if k > 0.05:  # bulging skin above/below pressed lips
        cv.line(_smooth(lm[[49, 51, 53]] + [0, -5], 3), _shade(skin, 0.2 * k), 1.2)


def _draw_glasses(cv: _Canvas, ident: Mapping[str, float], neutral: np.ndarray) -> None:
    """Thin frames resting on the nose (they follow the head, not the brows)."""
    es, ew = ident["eye_spacing"], ident["eye_width"]
    for sx in (-1.0, 1.0):
        cv.ellipse((sx * es, EYE_Y + 2), (0.95 * ew, 0.7 * ew), 35, width=1.8)
    cv.line(_arc(0, EYE_Y + 2, es - 0.95 * ew, 4, 200, 340, 6), 35, 1.8)
    w = ident["face_half_width"]
    for sx in (-1.0, 1.0):
        cv.line([[sx * (es + 0.95 * ew), EYE_Y], [sx * 0.97 * w, EYE_Y + 6]], 35, 1.5)


def render_face(
    identity: Mapping[str, float],
    aus: Mapping[int, float] | np.ndarray | None,
    nuisance: Mapping[str, float],
    rng: np.random.Generator,
    width: int = 640,
    height: int = 490,
    cache: dict | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Render one face: returns (uint8 HxW grey image, float32 68x2 image-space landmarks)."""
    a = as_au_dict(aus)
    ident = dict(identity)
    if cache is None or "bg" not in cache:
        built = _sequence_cache(nuisance, width, height, rng)
        if cache is not None:
            cache.update(built)
        cache = built
    if "neutral" not in cache:  # the person's resting points: one identity per sequence
        cache["neutral"] = neutral_landmarks(ident).astype(np.float64)
    neutral = cache["neutral"]
    shaded = is_shaded(nuisance)
    lm = apply_action_units(neutral, a, ident, SHADED_GAINS if shaded else None).astype(np.float64)
    if shaded:  # the shaded style's camera sees the head slightly turned
        neutral, lm = pose(neutral, nuisance), pose(lm, nuisance)
    img = cache["bg"].copy()
    cv = _Canvas(img, _transform(nuisance, width, height))
    _draw_head(cv, ident, lm, neutral, nuisance.get("shirt", 120.0))
    _draw_eyes(cv, ident, lm, neutral, nuisance)
    _draw_brows(cv, ident, lm)
    _draw_nose(cv, ident, lm)
    _draw_wrinkles(cv, ident, lm, a)
    _draw_mouth(cv, ident, lm)
    if ident.get("glasses", 0.0) > 0.5:
        _draw_glasses(cv, ident, neutral)
    pts = cv.map(lm)
    x0, y0 = np.floor(pts.min(0) - 70 * cv.s).astype(int)
    x1, y1 = np.ceil(pts.max(0) + 40 * cv.s).astype(int)
    x0, y0, x1, y1 = max(x0, 0), max(y0, 0), min(x1, width), min(y1, height)
    if shaded:  # style "shaded": light the face's relief (issue 15)
        shade = shading_map(ident, lm, neutral, a, nuisance, cache.get("albedo"), cache.get("creases"))
        apply_shading(img, shade, cv.m, (x0, y0, x1, y1))
    # soften the vector look only where the face is (cheap ROI blur); the shaded style's focus varies
    if x1 - x0 > 4 and y1 - y0 > 4:
        roi = img[y0:y1, x0:x1]
        sigma = nuisance["blur"] if shaded else 0.8
        cv2.GaussianBlur(roi, (5, 5) if sigma > 1.0 else (3, 3), sigma, dst=roi)
    cv2.multiply(img, cache["gain"], dst=img, scale=1.0 / 128.0)
    ox, oy = (int(v) for v in rng.integers(0, NOISE_PAD, 2))
    cv2.add(img, cache["noise_pos"][oy:oy + height, ox:ox + width], dst=img)
    cv2.subtract(img, cache["noise_neg"][oy:oy + height, ox:ox + width], dst=img)
    if shaded:
        expose(img, nuisance)
    return img, pts.astype(np.float32)
