"""Shaded skin for the synthetic faces: a height field built from the 68 landmarks, lit.

Why: a flat line drawing carries the mouth shapes a real-face model knows, but not the brow furrow,
nose wrinkle, cheek raise and nasolabial fold that tell anger, disgust and real smiles apart
(issue 15). Here the face is a relief — forehead, brow ridge, eye sockets, nose, cheeks, lips,
chin — drawn at the deformed landmarks, so the muscles' movements move its light and shadow, plus
the furrows and bulges each action unit makes, scaled by its intensity. The relief is lit by one
directional light and an ambient term (Lambert), with a cavity term that darkens creases and
sockets whatever the light, and multiplied by a two-scale skin texture.

Everything is drawn with OpenCV into a small float raster in the canonical face frame
(``RES`` pixels per face unit), blurred, shaded and warped into the image by the same similarity
transform as the drawing: about a millisecond a frame.
"""

from __future__ import annotations

from collections.abc import Mapping

import cv2
import numpy as np

from facevae.data.synth.identity import EYE_Y

RES = 0.5  # raster pixels per canonical unit (a 128² crop has ~0.55 px per unit)
X0, Y0, X1, Y1 = -135.0, -190.0, 135.0, 135.0  # raster extent in canonical units
CAVITY = 0.06  # darkening per height unit of a cavity (creases, sockets, an open mouth)
SCRUNCH = 3.0  # depth of the folds of skin scrunched by AU9 (and AU4/AU10)
# Movement per unit of AU intensity in the shaded style (facevae.data.synth.action_units.apply_action_units):
# wider-open lids (AU5), higher inner brows (AU1), a stronger frown (AU4) and smile (AU12) than the drawn
# style's. Chosen with relief depth and furrow strength by a 70-setting random search scored by the judge
# on all 40 default subjects (overall 0.53 -> 0.60; bench/synth_realism.py measures the result).
SHADED_GAINS: dict[int, float] = {1: 1.3, 4: 1.3, 5: 1.4, 12: 1.3}
RELIEF, FINE = 0.3, 0.7  # overall depth of the large forms and of the furrows
_W, _H = int((X1 - X0) * RES), int((Y1 - Y0) * RES)


STYLES = ("drawn", "shaded")  # SynthSpec.style: the flat line drawing (unchanged since generator v2) or this relief


def apex_scale(scale: float) -> float:
    """A subject's expression intensity (drawn: uniform 0.7-1.0) mapped to 0.85-1.0 in the shaded style.

    CK+'s sequences end at the expression's peak; at the drawn style's weakest intensities a real-face model
    reads anger as sadness (measured on the 40 default subjects, read right without -> with this mapping:
    anger 12 -> 17 of 26, surprise 17 -> 19 of 30, sadness 28 -> 26 of 32; 106 -> 111 of 176 apexes).
    """
    return 0.85 + 0.5 * (scale - 0.7)


def resting_face(ident: Mapping[str, float]) -> dict[str, float]:
    """The shaded style's subject: no glasses, and the low-set mouths and wide-open eyes narrowed.

    A real-face model reads these identity traits as expressions on a resting face (measured on the 40
    default subjects' first frames: glasses as fear, 19 of 34 frames; a low mouth as sadness; open eyes as
    fear or surprise), and CK+'s subjects seldom wear glasses. The draws are the drawn style's, mapped
    (mouth_drop 30-38 -> 30-33.2, eye_open 5.5-7.5 -> 5.5-6.5), so the seed stream is untouched.
    """
    out = dict(ident)
    out["glasses"] = 0.0
    out["mouth_drop"] = 30.0 + 0.4 * (ident["mouth_drop"] - 30.0)
    out["eye_open"] = 5.5 + 0.5 * (ident["eye_open"] - 5.5)
    return out


def sample_shading(rng: np.random.Generator) -> dict[str, float]:
    """Per-sequence light and skin parameters of the shaded style (nuisance keys, in factors.csv)."""
    u = rng.uniform
    return {
        "light_azimuth": u(215.0, 325.0),  # degrees, image y down: 270 = straight from above (a studio key light)
        "light_slant": u(20.0, 45.0),  # degrees away from the camera axis
        "ambient": u(0.3, 0.5),  # share of light that reaches every surface
        "skin_texture": u(0.02, 0.05),  # albedo noise amplitude
        "texture_seed": float(rng.integers(0, 2**31 - 1)),
        # camera: head turned a little, exposure and focus vary between CK+ sessions
        "yaw": u(-6.0, 6.0),  # degrees, + = the face turns to image right
        "pitch": u(-5.0, 5.0),  # degrees, + = chin towards the camera
        "exposure": u(0.85, 1.15),  # gain
        "gamma": u(0.85, 1.15),
        "blur": u(0.6, 1.3),  # Gaussian sigma in pixels of the 640x490 frame
    }


# How far (canonical units) each of the 68 points stands out towards the camera, for head pose.
_DEPTH = np.concatenate([
    30.0 * np.sin(np.linspace(0.0, np.pi, 17)) ** 0.7,  # jaw: ears 0 .. chin 30
    [22, 28, 33, 36, 37, 37, 36, 33, 28, 22],  # brows, outer -> inner -> outer
    [38, 46, 54, 62],  # nose bridge to tip
    [44, 49, 52, 49, 44],  # nostrils
    [22, 28, 28, 26, 28, 28, 26, 28, 28, 22, 28, 28],  # eyes
    [32, 38, 42, 43, 42, 38, 32, 37, 40, 41, 40, 37],  # outer lips
    [35, 40, 41, 40, 35, 39, 40, 39],  # inner lips
])


def pose(points: np.ndarray, nz: Mapping[str, float]) -> np.ndarray:
    """68 canonical points under a small head yaw/pitch (orthographic: each point moves with its depth)."""
    yaw, pitch = np.deg2rad(nz["yaw"]), np.deg2rad(nz["pitch"])
    out = np.array(points, dtype=np.float64, copy=True)
    out[:, 0] = out[:, 0] * np.cos(yaw) + _DEPTH * np.sin(yaw)
    out[:, 1] = out[:, 1] * np.cos(pitch) + _DEPTH * np.sin(pitch)
    return out


def expose(img: np.ndarray, nz: Mapping[str, float]) -> None:
    """Exposure gain and gamma of the camera, in place (one lookup table)."""
    x = np.arange(256, dtype=np.float64) / 255.0
    lut = np.clip(255.0 * np.clip(x * nz["exposure"], 0.0, 1.0) ** nz["gamma"], 0, 255).astype(np.uint8)
    cv2.LUT(img, lut, dst=img)


def is_shaded(nz: Mapping[str, float]) -> bool:
    """Whether a nuisance dict asks for the shaded style (sample_shading's keys are present)."""
    return "light_slant" in nz


_ORIGIN = np.array([X0, Y0])


def _px(pts) -> np.ndarray:
    """Canonical Nx2 -> int32 raster points with 2 fractional bits (cv2 shift=2)."""
    p = np.asarray(pts, np.float64).reshape(-1, 2) - _ORIGIN
    p *= RES * 4
    return np.rint(p, out=p).astype(np.int32)


def _line(h: np.ndarray, pts, value: float, width: float) -> None:
    cv2.polylines(h, [_px(pts)], False, float(value), max(1, int(round(width * RES))), cv2.LINE_8, 2)


def _ellipse(h: np.ndarray, c, axes, value: float, angle: float = 0.0) -> None:
    cc = tuple(int(v) for v in _px(c)[0])
    ax = tuple(max(1, int(round(v * RES * 4))) for v in axes)
    cv2.ellipse(h, cc, ax, angle, 0, 360, float(value), -1, cv2.LINE_8, 2)


def _poly(h: np.ndarray, pts, value: float) -> None:
    cv2.fillPoly(h, [_px(pts)], float(value), cv2.LINE_8, 2)


def skin_texture(rng: np.random.Generator, amount: float) -> np.ndarray:
    """Per-subject albedo: 1 + pores/blotches noise at two scales (raster-sized float32)."""
    n = rng.standard_normal((2, _H, _W)).astype(np.float32)
    coarse = cv2.GaussianBlur(n[0], (0, 0), 3.0)
    fine = cv2.GaussianBlur(n[1], (0, 0), 0.6)
    coarse /= coarse.std() + 1e-6
    fine /= fine.std() + 1e-6
    return 1.0 + amount * (0.6 * coarse + 0.4 * fine)


def crease_texture(rng: np.random.Generator) -> np.ndarray:
    """Per-subject pattern of short horizontal skin folds (unit std), where scrunched skin creases."""
    n = rng.standard_normal((_H, _W)).astype(np.float32)
    n = cv2.GaussianBlur(n, (0, 0), sigmaX=3.0, sigmaY=0.7)
    return n / (n.std() + 1e-6)


def _scrunch_mask(lm: np.ndarray, a: Mapping[int, float], ew: float) -> np.ndarray:
    """Where AU9 (and AU4/10 a little) crease the skin: nose bridge and sides, under the eyes, glabella."""
    m = np.zeros((_H, _W), np.float32)
    k9, k4, k10 = a[9], a[4], a[10]
    _ellipse(m, 0.5 * (lm[27] + lm[29]), (13.0, 0.6 * float(lm[30, 1] - lm[27, 1]) + 4), k9 + 0.3 * k10)
    for sl in (slice(36, 42), slice(42, 48)):
        _ellipse(m, lm[sl][[4, 5]].mean(0) + [0, 8], (0.6 * ew, 6.0), 0.8 * k9 + 0.3 * k10)
    _ellipse(m, 0.5 * (lm[21] + lm[22]) + [0, -4], (11.0, 10.0), 0.5 * k9 + 0.5 * k4)
    return cv2.GaussianBlur(m, (0, 0), 2.0)


def _relief(ident: Mapping[str, float], lm: np.ndarray, face: np.ndarray, a: Mapping[int, float],
            creases: np.ndarray | None = None):
    """(coarse, fine) height rasters: large forms that move with the landmarks, and AU furrows."""
    w, ew = ident["face_half_width"], ident["eye_width"]
    hc = np.zeros((_H, _W), np.float32)
    hf = np.zeros((_H, _W), np.float32)
    # forehead and the brow ridge, which follows the brows (AU1/2 lift it, AU4 pulls it down and in)
    brow_y = float(lm[17:27, 1].mean())
    _ellipse(hc, (0, brow_y - 38), (0.72 * w, 34), 5.0)
    for sl in (slice(17, 22), slice(22, 27)):
        _line(hc, lm[sl] + [0, 2.0], 9.0, 13.0)
    # eye sockets: the hollow between brow ridge and cheek; the eye ball bulges back inside
    for sl in (slice(36, 42), slice(42, 48)):
        c = lm[sl].mean(0)
        _ellipse(hc, c + [0, -4], (0.85 * ew, 0.62 * ew), -11.0)
        _ellipse(hc, c, (0.45 * ew, 0.3 * ew), -6.0)
    # nose: bridge ridge, tip, alae (AU9 lifts them: they move with the landmarks)
    _line(hc, lm[27:31], 13.0, 11.0)
    _ellipse(hc, lm[30] + [0, 2], (8.5, 7.5), 17.0)
    _ellipse(hc, lm[31] + [-1, -4], (6.5, 6.0), 12.0)
    _ellipse(hc, lm[35] + [1, -4], (6.5, 6.0), 12.0)
    # cheeks: raised and pushed up by AU6 (and a smile's AU12), bulging beside the nasolabial fold
    lift = 0.7 * a[6] + 0.4 * a[12]
    for eye, corner, sx in ((slice(36, 42), 48, -1.0), (slice(42, 48), 54, 1.0)):
        c = 0.55 * lm[eye].mean(0) + 0.45 * lm[corner] + [sx * 14.0, -8.0 * lift]
        _ellipse(hc, c, (21.0, 17.0), 7.0 + 7.0 * lift)
    # lips and the chin boss (AU17 pushes it up)
    _poly(hc, np.concatenate([lm[48:55], lm[[64, 63, 62, 61, 60]]]), 5.0)
    _poly(hc, np.concatenate([lm[54:60], lm[[48, 60, 67, 66, 65, 64]]]), 6.0)
    chin_c = (float(lm[8, 0]), float(lm[8, 1]) - 14.0 - 3.0 * a[17])
    _ellipse(hc, chin_c, (17.0, 10.0 + 2.0 * a[17]), 6.0 + 7.0 * a[17])
    gap = float(np.mean(lm[[67, 66, 65], 1] - lm[[61, 62, 63], 1]))
    if gap > 0.8:  # an open mouth is a deep hole
        _poly(hc, lm[60:68], -14.0)
    # -- fine layer: furrows and bulges of the action units --
    k = max(a[12], 0.9 * a[10], 0.8 * a[9], 0.5 * a[6], 0.5 * a[20])
    for alar, corner, sx in ((31, 48, -1.0), (35, 54, 1.0)):  # nasolabial folds (AU9/10/12/6)
        p0, p2 = lm[alar] + [sx * 4, -6], lm[corner] + [sx * 7, 6]
        p1 = 0.5 * (p0 + p2) + [sx * 6, 0]
        _line(hf, [p0, p1, p2], -(1.5 + 7.0 * k), 3.0 + 2.0 * k)
        _line(hf, [p0 + [sx * 5, 0], p1 + [sx * 5, 0], p2 + [sx * 4, -2]], 2.5 * k, 6.0)
    if a[4] > 0.02:  # AU4: vertical glabella furrows, bunched procerus, the brows' lowering shadow
        mid = 0.5 * (lm[21] + lm[22])
        for sx in (-1.0, 1.0):
            _line(hf, [mid + [sx * 4.5, 6], mid + [sx * 3.5, -12]], -8.0 * a[4], 2.6)
            _ellipse(hf, lm[21 if sx < 0 else 22] + [-sx * 2, 1], (6.0, 5.0), 4.0 * a[4])
        _line(hf, [lm[27] + [-8, 3], lm[27] + [8, 3]], -4.0 * a[4], 2.2)
        for brow, lid in ((slice(18, 22), [37, 38, 39]), (slice(22, 26), [42, 43, 44])):
            # the lowered brow overhangs the upper lid: a shadowed fold between them
            fold = 0.45 * lm[brow] + 0.55 * lm[lid].mean(0) + [0, -2]
            _line(hf, fold, -7.0 * a[4], 5.0)
    kf = max(a[1], a[2])
    if kf > 0.02:  # AU1+2: horizontal forehead lines
        span = 0.3 * w + 0.25 * w * (a[2] / kf)
        for i, dy in enumerate((10.0, 18.0, 26.0, 34.0)):
            xs = np.linspace(-span * (1 - 0.12 * i), span * (1 - 0.12 * i), 9)
            ys = brow_y - 6.0 - dy - 3.0 * np.cos(xs / span * 1.5)
            _line(hf, np.stack([xs, ys], 1), -5.5 * kf, 2.4)
    if a[9] > 0.02:  # AU9: transverse wrinkles over the nose root, squeezed bridge
        for dy in (-4.0, 2.0, 8.0, 14.0):
            t = np.deg2rad(np.linspace(200, 340, 9))
            y = float(lm[27, 1]) + dy
            _line(hf, np.stack([11 * np.cos(t), y + 6 + 5 * np.sin(t)], 1), -6.0 * a[9], 2.2)
    if a[6] > 0.02 or a[7] > 0.02:  # AU6/7: crow's feet, a bulge under the lower lid
        k6 = max(a[6], 0.6 * a[7])
        for outer, sx, eye in ((36, -1.0, slice(36, 42)), (45, 1.0, slice(42, 48))):
            for ang in (-28.0, 0.0, 28.0):
                t = np.deg2rad(ang)
                p = lm[outer] + [sx * 4, 0]
                _line(hf, [p, p + [sx * 11 * np.cos(t), 11 * np.sin(t)]], -5.0 * a[6], 2.0)
            lo = lm[eye][[4, 5]].mean(0)
            _ellipse(hf, lo + [0, 6], (0.5 * ew, 3.5), 4.0 * k6)
    if a[15] > 0.02:  # AU15: corners pulled down, the skin below them folds
        for c, sx in ((48, -1.0), (54, 1.0)):
            _line(hf, [lm[c] + [sx * 2, 2], lm[c] + [sx * 5, 16]], -5.0 * a[15], 2.6)
            _ellipse(hf, lm[c] + [sx * 7, 4], (5.0, 7.0), 2.5 * a[15])
    if a[17] > 0.02:  # AU17: the mentolabial sulcus deepens under the pushed-up lower lip
        y = float(lm[57, 1]) + 0.5 * ident["lower_lip"] + 4.0
        t = np.deg2rad(np.linspace(200, 340, 9))
        _line(hf, np.stack([lm[57, 0] + 14 * np.cos(t), y + 5 + 5 * np.sin(t)], 1), -6.0 * a[17], 2.6)
    kl = max(a[23], a[24])
    if kl > 0.02:  # AU23/24: bulges above and below pressed lips
        _line(hf, lm[[49, 50, 51, 52, 53]] + [0, -5], 3.5 * kl, 4.0)
        _line(hf, lm[[59, 58, 57, 56, 55]] + [0, 5], 3.0 * kl, 4.0)
    hc = cv2.GaussianBlur(hc, (0, 0), 2.2)
    hf = cv2.GaussianBlur(hf, (0, 0), 0.8)
    if creases is not None and max(a[9], a[4], a[10]) > 0.02:  # scrunched skin folds into many small creases
        hf -= SCRUNCH * _scrunch_mask(lm, a, ew) * np.abs(creases)
    # the face is a dome: its relief falls off towards the outline (a sigma-10 blur, done at half size:
    # within 0.8 of the dome's 34 height units, 3.5x cheaper)
    half = cv2.resize(face, ((_W + 1) // 2, (_H + 1) // 2), interpolation=cv2.INTER_AREA)
    dome = cv2.resize(cv2.GaussianBlur(half, (0, 0), 5.0), (_W, _H), interpolation=cv2.INTER_LINEAR) * 34.0
    return (hc + dome) * face, hf * face


def face_mask(lm: np.ndarray, neutral: np.ndarray, ident: Mapping[str, float]) -> np.ndarray:
    """1 on the face (jaw outline and the skull above it), 0 elsewhere (raster float32)."""
    m = np.zeros((_H, _W), np.float32)
    w, top = ident["face_half_width"], EYE_Y - ident["head_top"]
    y0 = float(neutral[0, 1])
    t = np.deg2rad(np.linspace(0, -180, 24))
    skull = np.stack([1.02 * w * np.cos(t), y0 + (y0 - top) * np.sin(t)], 1)
    _poly(m, np.concatenate([lm[0:17], skull]), 1.0)
    return m


def shading_map(ident: Mapping[str, float], lm: np.ndarray, neutral: np.ndarray, a: Mapping[int, float],
                nz: Mapping[str, float], albedo: np.ndarray | None = None,
                creases: np.ndarray | None = None) -> np.ndarray:
    """Multiplicative shading (raster float32, 1 = unchanged) of one frame."""
    face = face_mask(lm, neutral, ident)
    hc, hf = _relief(ident, lm, face, a, creases)
    h = RELIEF * hc + FINE * hf
    # slopes in height units per canonical unit (Sobel's 3x3 kernel sums to 8 px of run)
    gx = cv2.Sobel(h, cv2.CV_32F, 1, 0, ksize=3) * (RES / 8.0)
    gy = cv2.Sobel(h, cv2.CV_32F, 0, 1, ksize=3) * (RES / 8.0)
    slant, az = np.deg2rad(nz["light_slant"]), np.deg2rad(nz["light_azimuth"])
    lx, ly, lz = np.sin(slant) * np.cos(az), np.sin(slant) * np.sin(az), np.cos(slant)
    # Lambert with n = (-gx, -gy, 1)/|.|, normalised so that a flat patch keeps its grey level
    lam = (-gx * lx - gy * ly + lz) / np.sqrt(gx * gx + gy * gy + 1.0)
    amb = nz["ambient"]
    lit = amb + (1.0 - amb) * np.maximum(lam, 0.0) / lz
    # cavities (creases, sockets, the mouth) stay dark under any light
    cavity = np.maximum(cv2.GaussianBlur(h, (0, 0), 3.0) - h, 0.0)
    shade = lit * np.exp(-CAVITY * cavity)
    if albedo is not None:
        shade = shade * albedo
    # blend to 1 off the face so hair, neck and background keep their own tones
    soft = cv2.GaussianBlur(face, (0, 0), 1.5)
    return np.clip(1.0 + soft * (shade - 1.0), 0.25, 1.6).astype(np.float32)


def apply_shading(img: np.ndarray, shade: np.ndarray, m: np.ndarray, roi: tuple[int, int, int, int]) -> None:
    """Multiply the image's ROI (x0, y0, x1, y1) by the raster ``shade`` warped with canonical->image ``m``
    (only the part of the ROI where the warped shading differs from 1 is touched)."""
    # raster (u, v) -> canonical (X0 + u/RES, Y0 + v/RES) -> image
    a = m[:, :2] / RES
    b = m[:, :2] @ np.array([X0, Y0]) + m[:, 2]
    # only where the shading is not 1 (the face and its soft edge): the rest of the ROI is left as it is
    changed = shade != 1.0
    rows, cols = np.flatnonzero(changed.any(1)), np.flatnonzero(changed.any(0))
    if not len(rows):
        return
    box = [[u, v] for u in (cols[0] - 1, cols[-1] + 1) for v in (rows[0] - 1, rows[-1] + 1)]  # +1: bilinear
    corners = np.array(box, np.float64) @ a.T + b
    lo, hi = np.floor(corners.min(0)).astype(int) - 1, np.ceil(corners.max(0)).astype(int) + 2
    x0, y0, x1, y1 = max(roi[0], lo[0]), max(roi[1], lo[1]), min(roi[2], hi[0]), min(roi[3], hi[1])
    if x1 - x0 < 2 or y1 - y0 < 2:
        return
    b = b - np.array([x0, y0])  # shifted to the region's origin
    warp = np.concatenate([a, b[:, None]], axis=1)
    s = cv2.warpAffine(shade, warp, (x1 - x0, y1 - y0), flags=cv2.INTER_LINEAR, borderValue=1.0)
    part = img[y0:y1, x0:x1]
    np.copyto(part, np.clip(part.astype(np.float32) * s, 0, 255).astype(np.uint8))
