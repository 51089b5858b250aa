"""Issue 15: the shaded style of the synthetic CK+ (lit relief, skin texture, AU furrows)."""

from __future__ import annotations

import csv
from dataclasses import replace
import hashlib
from pathlib import Path

import numpy as np
import pytest

from facevae.data.synth import SynthSpec, generate_synth, render_face, sample_identity, sample_nuisance
from facevae.data.synth.shading import is_shaded, sample_shading

TINY = dict(n_subjects=2, seed=3, min_frames=10, max_frames=10)


def _nuisance(shaded: bool, **over) -> dict:
    nz = sample_nuisance(np.random.default_rng(0))
    nz.update(noise_sigma=0.0, roll=0.0, tx=0.0, ty=0.0, light_strength=0.0)
    if shaded:
        nz.update(sample_shading(np.random.default_rng(1)))
    nz.update(over)
    return nz


def _render(aus: dict, shaded: bool, **over) -> tuple[np.ndarray, np.ndarray]:
    ident = sample_identity(np.random.default_rng(5))
    ident["glasses"] = 0.0
    return render_face(ident, aus, _nuisance(shaded, **over), np.random.default_rng(2))


def _patch(img: np.ndarray, xy, r: int = 4) -> float:
    x, y = (int(round(v)) for v in xy)
    return float(img[y - r:y + r + 1, x - r:x + r + 1].mean())


def test_shading_is_opt_in_and_changes_the_face_not_the_background():
    camera = dict(yaw=0.0, pitch=0.0, exposure=1.0, gamma=1.0)  # the style's camera kept still
    drawn, lm = _render({}, shaded=False)
    shaded, lm2 = _render({}, shaded=True, **camera)
    np.testing.assert_array_equal(lm, lm2)  # same geometry: the style lights it
    x0, y0 = lm.min(0).astype(int)
    x1, y1 = lm.max(0).astype(int)
    diff = np.abs(drawn.astype(int) - shaded.astype(int))
    assert diff[y0:y1, x0:x1].mean() > 3.0  # the face is lit differently
    assert diff[:, :40].mean() < 0.5  # the background beside the head is not
    assert not is_shaded(_nuisance(False)) and is_shaded(_nuisance(True))


def test_relief_follows_the_light():
    """The nose's sides: the one facing the light is brighter than the one facing away, and vice versa."""
    left_lit, lm = _render({}, shaded=True, light_azimuth=180.0, light_slant=50.0)  # light from image left
    right_lit, _ = _render({}, shaded=True, light_azimuth=0.0, light_slant=50.0)
    left_side, right_side = lm[29] + [-7, 0], lm[29] + [7, 0]
    assert _patch(left_lit, left_side, 2) > _patch(left_lit, right_side, 2) + 5
    assert _patch(right_lit, right_side, 2) > _patch(right_lit, left_side, 2) + 5


@pytest.mark.parametrize("au, where", [
    (4, lambda lm: 0.5 * (lm[21] + lm[22]) + [0, 8]),  # procerus line at the glabella's foot
    (9, lambda lm: lm[27] + [0, 3]),  # nose-root wrinkles
    (12, lambda lm: 0.5 * (lm[31] + lm[48]) + [-4, 0]),  # deepened nasolabial fold
])
def test_action_units_darken_their_furrows_only_when_shaded(au, where):
    """The light the shading lets through at the AU's furrow (shaded / drawn pixels) drops when the AU acts."""
    shade0, lm0 = _render({}, shaded=True)
    shade1, lm1 = _render({au: 1.0}, shaded=True)
    flat0, _ = _render({}, shaded=False)
    flat1, _ = _render({au: 1.0}, shaded=False)
    # each frame's shading factor at its own furrow position: the geometry (drawn pixels) divides out
    before = _patch(shade0, where(lm0)) / _patch(flat0, where(lm0))
    after = _patch(shade1, where(lm1)) / _patch(flat1, where(lm1))
    assert after < before - 0.04


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


def test_shaded_tree_is_deterministic_and_leaves_the_drawn_tree_unchanged(tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    generate_synth(a, SynthSpec(**TINY, style="shaded"), workers=2, progress=False)
    generate_synth(b, SynthSpec(**TINY, style="shaded"), workers=1, progress=False)
    assert _hashes(a) == _hashes(b)
    drawn = tmp_path / "drawn"
    generate_synth(drawn, SynthSpec(**TINY), workers=1, progress=False)
    ha, hd = _hashes(a), _hashes(drawn)
    frames = [k for k in hd if k.endswith(".png")]
    assert all(ha[k] != hd[k] for k in frames)  # every frame is lit
    # the same people, sequences and labels; the landmarks differ by the style's head pose and AU gains
    assert {k for k in ha if not k.startswith(".")} == {k for k in hd if not k.startswith(".")}
    assert all(ha[k] == hd[k] for k in hd if k.startswith("Emotion/"))
    with open(a / "factors.csv") as fh:
        header = next(csv.reader(fh))
    assert {"nz_light_azimuth", "nz_light_slant", "nz_ambient", "nz_skin_texture"} <= set(header)
    with open(drawn / "factors.csv") as fh:
        assert "nz_light_slant" not in next(csv.reader(fh))


def test_unknown_style_is_named():
    with pytest.raises(ValueError, match="style 'painted' is unknown; use one of drawn, shaded"):
        generate_synth("/nonexistent/never", SynthSpec(n_subjects=1, style="painted"), progress=False)


def test_head_pose_moves_points_by_their_depth():
    from facevae.data.synth.identity import neutral_landmarks
    from facevae.data.synth.shading import pose

    lm = neutral_landmarks(sample_identity(np.random.default_rng(5))).astype(np.float64)
    turned = pose(lm, {"yaw": 6.0, "pitch": 0.0})
    shift = turned[:, 0] - lm[:, 0] * np.cos(np.deg2rad(6.0))
    assert shift[30] > shift[36] > shift[0] >= 0.0  # nose tip > eye corner > ear: parallax of a turned head
    np.testing.assert_allclose(turned[:, 1], lm[:, 1])
    np.testing.assert_allclose(pose(lm, {"yaw": 0.0, "pitch": 0.0}), lm)


def test_exposure_is_a_monotonic_lookup():
    from facevae.data.synth.shading import expose

    ramp = np.arange(256, dtype=np.uint8).reshape(16, 16)
    bright, dark = ramp.copy(), ramp.copy()
    expose(bright, {"exposure": 1.15, "gamma": 0.9})
    expose(dark, {"exposure": 0.85, "gamma": 1.1})
    assert (np.diff(bright.ravel().astype(int)) >= 0).all() and (np.diff(dark.ravel().astype(int)) >= 0).all()
    assert bright.mean() > ramp.mean() > dark.mean()


def test_shaded_anger_includes_emfacs_open_mouth_variants_and_drawn_does_not():
    from facevae.data.synth.generate import plan_subject

    def anger_apexes(style):
        spec = SynthSpec(n_subjects=40, style=style)
        return [q["apex"] for i in range(40) for q in plan_subject(spec, i)["sequences"] if q["emotion"] == 1]

    shaded, drawn = anger_apexes("shaded"), anger_apexes("drawn")
    assert all(a[4] > 0 and a[7] > 0 for a in shaded + drawn)  # brow lowerer and lid tightener always
    assert sum(a[25] > 0 and a[26] > 0 for a in shaded) >= len(shaded) // 3  # the open-mouth variants
    assert not any(a[25] > 0 for a in drawn)


def test_shaded_people_rest_without_glasses_on_the_drawn_styles_draws():
    """resting_face: the drawn style's identity draws mapped (the same people and emotions), no glasses, a narrower
    mouth drop and eye opening."""
    from facevae.data.synth.generate import plan_subject
    from facevae.data.synth.shading import resting_face

    spec = SynthSpec(n_subjects=40)
    drawn = [plan_subject(spec, i) for i in range(40)]
    shaded = [plan_subject(replace(spec, style="shaded"), i) for i in range(40)]
    assert any(p["identity"]["glasses"] for p in drawn)  # the drawn style has glasses wearers ...
    assert not any(p["identity"]["glasses"] for p in shaded)  # ... the shaded one has none
    for d, s in zip(drawn, shaded):
        assert s["identity"] == resting_face(d["identity"])
        assert [q["emotion"] for q in s["sequences"]] == [q["emotion"] for q in d["sequences"]]
    for key, (lo, hi) in {"mouth_drop": (30.0, 33.2), "eye_open": (5.5, 6.5)}.items():
        values = [p["identity"][key] for p in shaded]
        assert lo <= min(values) and max(values) <= hi + 1e-9
        assert max(p["identity"][key] for p in drawn) > hi + 0.5  # the drawn style's range is wider


def test_shaded_apexes_are_peak_expressions_with_open_fearful_mouths_and_no_chin_raise_in_anger():
    from facevae.data.synth.generate import plan_subject

    plans = [plan_subject(SynthSpec(n_subjects=40, style="shaded"), i) for i in range(40)]
    drawn = [plan_subject(SynthSpec(n_subjects=40), i) for i in range(40)]
    assert all(0.85 <= v <= 1.0 for p in plans for v in p["scales"].values())
    assert min(v for p in drawn for v in p["scales"].values()) < 0.8
    seqs = [q for p in plans for q in p["sequences"]]
    fear = [q["apex"] for q in seqs if q["emotion"] == 4]
    anger = [q["apex"] for q in seqs if q["emotion"] == 1]
    assert fear and all(a[25] > 0.7 and a[26] > 0.5 for a in fear)  # CK+'s fear: the mouth open
    assert anger and not any(a[17] > 0 for a in anger)
