"""Tests for the synthetic CK+ generator (facevae.data.synth)."""

from __future__ import annotations

import csv
import hashlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from facevae.data.errors import DataError

from facevae.data.labels import CKPLUS_NAME_TO_CODE
from facevae.data.synth import (
    AU_NUMBERS,
    EMOTION_PROTOTYPES,
    SynthSpec,
    apply_action_units,
    generate_synth,
    neutral_landmarks,
    render_face,
    sample_identity,
    sample_nuisance,
)

TINY = SynthSpec(n_subjects=3, seed=7, min_frames=10, max_frames=12)


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def tree(tmp_path_factory) -> tuple[Path, dict]:
    root = tmp_path_factory.mktemp("synth") / "ck"
    summary = generate_synth(root, TINY, workers=2, progress=False)
    return root, summary


@pytest.fixture(scope="module")
def ident() -> dict:
    return sample_identity(np.random.default_rng(3))


def test_determinism_workers_and_seed(tree, tmp_path):
    root, _ = tree
    ref = _hashes(root)
    again = tmp_path / "again"
    generate_synth(again, TINY, workers=1, progress=False)
    assert _hashes(again) == ref  # same spec, 1 vs 2 workers -> byte-identical
    other = tmp_path / "other"
    generate_synth(other, SynthSpec(n_subjects=1, seed=8, min_frames=10, max_frames=12), workers=1, progress=False)
    first = {k: v for k, v in ref.items() if k.startswith("cohn-kanade-images/S001/001/")}
    diff = _hashes(other)
    assert any(diff.get(k) != v for k, v in first.items())


def test_overwrite_existing_tree(tree, tmp_path):
    root = tmp_path / "ck"
    generate_synth(root, SynthSpec(n_subjects=1, seed=1, min_frames=10, max_frames=10), workers=1, progress=False)
    s = generate_synth(root, SynthSpec(n_subjects=1, seed=2, min_frames=11, max_frames=11), workers=1, progress=False)
    rows = list(csv.DictReader(open(root / "factors.csv")))
    assert len(rows) == s["n_frames"] and all(r["frame"] != "" for r in rows)
    assert not list(tmp_path.glob("ck.tmp-*"))
    precious = tmp_path / "precious"
    precious.mkdir()
    (precious / "keep.txt").write_text("x")
    with pytest.raises(DataError, match="not a synthetic CK\\+ tree facevae made"):
        generate_synth(precious, SynthSpec(n_subjects=1, min_frames=10, max_frames=10), workers=1, progress=False)
    assert (precious / "keep.txt").exists()
    # A real CK+ tree (same layout, no synth_spec.json of the generator) is never replaced either.
    real = tmp_path / "CK+"
    (real / "cohn-kanade-images" / "S005" / "001").mkdir(parents=True)
    (real / "cohn-kanade-images" / "S005" / "001" / "S005_001_00000001.png").write_bytes(b"licensed")
    with pytest.raises(DataError):
        generate_synth(real, SynthSpec(n_subjects=1, min_frames=10, max_frames=10), workers=1, progress=False)
    assert (real / "cohn-kanade-images" / "S005" / "001" / "S005_001_00000001.png").read_bytes() == b"licensed"


def test_layout(tree):
    root, summary = tree
    rows = list(csv.DictReader(open(root / "factors.csv", newline="")))
    pngs = sorted((root / "cohn-kanade-images").rglob("*.png"))
    assert len(rows) == len(pngs) == summary["n_frames"]
    assert {r["path"] for r in rows} == {str(p.relative_to(root)) for p in pngs}
    assert {f"au{a:02d}" for a in AU_NUMBERS} <= set(rows[0])
    assert any(k.startswith("id_") for k in rows[0]) and any(k.startswith("nz_") for k in rows[0])
    seqs: dict[tuple[str, str], list[dict]] = {}
    for r in rows:
        seqs.setdefault((r["subject"], r["sequence"]), []).append(r)
    assert summary["n_sequences"] == len(seqs)
    n_lab = 0
    for (subj, seq), rs in seqs.items():
        n = len(rs)
        assert TINY.min_frames <= n <= TINY.max_frames
        assert [int(r["frame"]) for r in rs] == list(range(1, n + 1))
        assert all(float(rs[0][f"au{a:02d}"]) == 0.0 for a in AU_NUMBERS)  # frame 1 is neutral
        assert float(rs[-1]["intensity"]) == pytest.approx(1.0)
        emo = sorted((root / "Emotion" / subj / seq).glob("*")) if (root / "Emotion" / subj / seq).exists() else []
        if rs[0]["labelled"] == "1":
            n_lab += 1
            assert [p.name for p in emo] == [f"{subj}_{seq}_{n:08d}_emotion.txt"]
            text = emo[0].read_text()
            assert text == f"   {int(rs[0]['emotion']):.7e}\n"
        else:
            assert emo == []
        facs = root / "FACS" / subj / seq / f"{subj}_{seq}_{n:08d}_facs.txt"
        lines = facs.read_text().splitlines()
        active = [a for a in AU_NUMBERS if float(rs[-1][f"au{a:02d}"]) > 0]
        assert [int(float(line.split()[0])) for line in lines] == active
        assert all(1 <= float(line.split()[1]) <= 5 and line.startswith("   ") for line in lines)
        for r in rs:
            lm_file = root / "Landmarks" / subj / seq / f"{subj}_{seq}_{int(r['frame']):08d}_landmarks.txt"
            lm_lines = lm_file.read_text().splitlines()
            assert len(lm_lines) == 68 and all(len(line.split()) == 2 for line in lm_lines)
    assert n_lab == summary["n_labelled"]
    img = cv2.imread(str(pngs[0]), cv2.IMREAD_UNCHANGED)
    assert img.dtype == np.uint8 and img.shape == (TINY.height, TINY.width)
    subjects = {r["subject"] for r in rows}
    assert subjects == {"S001", "S002", "S003"}
    for s in subjects:
        assert len({r["sequence"] for r in rows if r["subject"] == s}) >= TINY.min_emotions


def _move(ident, aus):
    n = neutral_landmarks(ident).astype(np.float64)
    return n, apply_action_units(n, aus, ident).astype(np.float64)


def test_action_units_move_intended_landmarks(ident):
    n, m = _move(ident, {12: 1.0})
    assert m[48, 1] < n[48, 1] - 3 and m[54, 1] < n[54, 1] - 3
    assert m[54, 0] - m[48, 0] > n[54, 0] - n[48, 0] + 4
    n, m = _move(ident, {15: 1.0})
    assert m[48, 1] > n[48, 1] + 3 and m[54, 1] > n[54, 1] + 3
    n, m = _move(ident, {1: 1.0})
    assert m[21, 1] < n[21, 1] - 5 and m[22, 1] < n[22, 1] - 5
    assert abs(m[17, 1] - n[17, 1]) < abs(m[21, 1] - n[21, 1])
    n, m = _move(ident, {2: 1.0})
    assert m[17, 1] < n[17, 1] - 5 and m[26, 1] < n[26, 1] - 5
    n, m = _move(ident, {4: 1.0})
    assert (m[17:27, 1] > n[17:27, 1]).all()
    assert m[22, 0] - m[21, 0] < n[22, 0] - n[21, 0] - 3
    n, m = _move(ident, {26: 1.0})
    assert m[8, 1] > n[8, 1] + 5 and m[57, 1] > n[57, 1] + 5
    n, m = _move(ident, {5: 1.0})
    assert all(m[i, 1] < n[i, 1] - 2 for i in (37, 38, 43, 44))
    n, m = _move(ident, {14: 1.0})
    moved = np.abs(m - n).sum(1)
    right, left = moved[[48, 49, 59, 60]].sum(), moved[[54, 53, 55, 64]].sum()
    assert min(right, left) == 0.0 and max(right, left) > 5.0
    for au in AU_NUMBERS:  # every AU does something and keeps the face sane
        n, m = _move(ident, {au: 1.0})
        assert np.abs(m - n).max() > 2.0, au
        assert (m[[41, 40, 47, 46], 1] > m[[37, 38, 43, 44], 1]).all(), au


def test_prototypes(ident):
    assert set(EMOTION_PROTOTYPES) == set(range(1, 8))
    happy = {a: w for a, w in EMOTION_PROTOTYPES[CKPLUS_NAME_TO_CODE["happiness"]]["required"].items()}
    n, m = _move(ident, happy)
    assert m[48, 1] < n[48, 1] - 3 and m[54, 1] < n[54, 1] - 3
    proto = EMOTION_PROTOTYPES[CKPLUS_NAME_TO_CODE["surprise"]]
    surprise = {**proto["required"], **proto["one_of"][0][1]}
    n, m = _move(ident, surprise)
    assert m[66, 1] - m[62, 1] > n[66, 1] - n[62, 1] + 8  # mouth open
    assert (m[17:27, 1] < n[17:27, 1] - 3).all()  # brows up


def test_render_neutral_vs_apex(ident):
    rng = np.random.default_rng(0)
    nz = sample_nuisance(rng)
    nz["noise_sigma"] = 0.0
    img0, lm0 = render_face(ident, {}, nz, np.random.default_rng(1))
    proto = EMOTION_PROTOTYPES[CKPLUS_NAME_TO_CODE["surprise"]]
    img1, lm1 = render_face(ident, {**proto["required"], **proto["one_of"][0][1]}, nz, np.random.default_rng(1))
    assert img0.shape == (490, 640) and img0.dtype == np.uint8 and lm0.shape == (68, 2)
    for lm in (lm0, lm1):
        assert (lm[:, 0] > 0).all() and (lm[:, 0] < 640).all() and (lm[:, 1] > 0).all() and (lm[:, 1] < 490).all()
    x0, y0 = lm0.min(0).astype(int)
    x1, y1 = lm0.max(0).astype(int)
    diff = np.abs(img0.astype(int) - img1.astype(int))
    assert diff[y0:y1, x0:x1].mean() > 2.0
    outside = np.ones_like(diff, bool)
    outside[max(0, y0 - 120):y1 + 80, max(0, x0 - 60):x1 + 60] = False
    assert diff[outside].mean() < 0.5  # background untouched by the expression
    # neutral landmarks rendered: the mouth corner region is darker than the cheek
    mouth = img0[int(lm0[62, 1]) - 1:int(lm0[62, 1]) + 2, int(lm0[62, 0]) - 1:int(lm0[62, 0]) + 2].mean()
    cheek = img0[int(lm0[2, 1]), int(0.5 * (lm0[2, 0] + lm0[31, 0]))]
    assert mouth < cheek


@pytest.mark.parametrize("shape", [(490, 640), (1, 1), (3, 7), (64, 1)])
def test_png_writer_round_trips_exactly(shape, tmp_path):
    """Every reader gets back the very array written: OpenCV, Pillow, and a frame's own noise and flat areas."""
    from PIL import Image

    from facevae.data.synth.png import encode_grey_png

    rng = np.random.default_rng(sum(shape))
    img = rng.integers(0, 256, shape, dtype=np.uint8)
    img[: shape[0] // 2] = 200  # a flat region beside pure noise: runs and wrap-around differences both occur
    data = encode_grey_png(img)
    assert data == encode_grey_png(img.copy())  # deterministic
    assert np.array_equal(cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_UNCHANGED), img)
    (tmp_path / "f.png").write_bytes(data)
    with Image.open(tmp_path / "f.png") as im:
        assert im.mode == "L" and np.array_equal(np.asarray(im), img)


def test_png_writer_refuses_what_it_cannot_write():
    from facevae.data.synth.png import encode_grey_png

    with pytest.raises(ValueError, match="HxW uint8"):
        encode_grey_png(np.zeros((4, 4, 3), np.uint8))
    with pytest.raises(ValueError, match="HxW uint8"):
        encode_grey_png(np.zeros((4, 4), np.float32))
