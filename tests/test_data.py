"""CK+ layout round trip, sample selection (§1.1), the prepared cache's reuse and invalidation."""

import csv
import json
from collections import defaultdict

import cv2
import numpy as np
import pytest

from facevae.data.cache import load_cache
from facevae.data.ckplus import LayoutError, read_emotion, read_landmarks, scan_sequences, select_samples
from facevae.data.labels import CKPLUS_CODES, PAPER_CLASSES
from facevae.data.face_crop import crop_by_landmarks
from facevae.data.prepare import prepare


def factor_rows(root):
    with (root / "factors.csv").open() as fh:
        return list(csv.DictReader(fh))


def test_layout_round_trip(smoke_tree):
    """What the generator wrote (factors.csv) is what the reader reads back."""
    rows = factor_rows(smoke_tree)
    truth = defaultdict(list)
    for r in rows:
        truth[(r["subject"], r["sequence"])].append(r)
    sequences, skips = scan_sequences(smoke_tree)
    assert skips == []
    assert {(s.subject, s.sequence) for s in sequences} == set(truth)
    for seq in sequences:
        frames = truth[(seq.subject, seq.sequence)]
        assert len(seq.frames) == len(frames)
        labelled = frames[0]["labelled"] == "1"
        assert (seq.emotion is not None) == labelled
        if labelled:
            assert seq.emotion == int(float(frames[0]["emotion"]))
            assert seq.emotion_file.name.startswith(seq.frames[-1].stem)
        first = read_landmarks(smoke_tree / "Landmarks" / seq.subject / seq.sequence /
                               f"{seq.frames[0].stem}_landmarks.txt")
        last = read_landmarks(smoke_tree / "Landmarks" / seq.subject / seq.sequence /
                              f"{seq.frames[-1].stem}_landmarks.txt")
        assert first.shape == (68, 2) and (first[:, 0] < 640).all() and (first[:, 1] < 490).all()
        assert np.abs(first - last).max() > 1.0  # the expression moved the landmarks


def test_selection_follows_the_paper(smoke_tree):
    sequences, _ = scan_sequences(smoke_tree)
    sel = select_samples(smoke_tree, PAPER_CLASSES, apex_frames=3, neutral_frames=1)
    labelled_in = [s for s in sequences if s.emotion is not None and CKPLUS_CODES[s.emotion] in PAPER_CLASSES]
    labels = [s.label for s in sel.samples]
    assert labels.count("neutral") == len(sequences)
    assert len(sel.samples) == len(sequences) + 3 * len(labelled_in)
    fear = [s for s in sequences if s.emotion == 4]
    reasons = [r for _, r in sel.skips]
    assert reasons.count("class 'fear' is not in data.classes") == 3 * len(fear)
    unlabelled = [s for s in sequences if s.emotion is None]
    assert sum("unlabelled sequence" in r for r in reasons) == len(unlabelled)


def test_emotion_file_errors_name_the_file(tmp_path):
    good, bad, out = tmp_path / "a.txt", tmp_path / "b.txt", tmp_path / "c.txt"
    good.write_text("   3.0000000e+00\n")
    bad.write_text("happy\n")
    out.write_text("   9.0000000e+00\n")
    assert read_emotion(good) == 3
    with pytest.raises(ValueError, match="b.txt: expected one number"):
        read_emotion(bad)
    with pytest.raises(ValueError, match="outside CK"):
        read_emotion(out)


def test_missing_layout_is_explained(tmp_path):
    with pytest.raises(LayoutError, match="cohn-kanade-images"):
        scan_sequences(tmp_path)


def test_crop_is_square_and_sized():
    image = np.zeros((490, 640), np.uint8)
    cv2.rectangle(image, (300, 200), (340, 260), 255, -1)
    points = np.array([[300, 200], [340, 260]] * 34, np.float32)
    crop = crop_by_landmarks(image, points, 128, margin=0.2)
    assert crop.shape == (128, 128) and crop.dtype == np.uint8
    assert crop[64, 64] == 255 and crop[2, 2] == 0
    # a face at the border is padded, not shifted
    edge = crop_by_landmarks(image, points - [290, 190], 128, margin=0.2)
    assert edge.shape == (128, 128)


def test_cache_reused_then_rebuilt_when_inputs_change(smoke_tree, tmp_path, caplog):
    kwargs = dict(cache_dir=tmp_path / "cache", name="t", classes=list(PAPER_CLASSES), workers=2, progress=False)
    first = prepare(smoke_tree, **kwargs)
    manifest = json.loads((tmp_path / "cache" / "t" / "manifest.json").read_text())
    assert manifest["n_images"] == len(first.labels) == first.images.shape[0]
    assert first.images.dtype == np.uint8 and first.images.shape[1:] == (128, 128)
    assert sum(manifest["per_class"].values()) == manifest["n_images"]
    assert manifest["skips_by_reason"]["class 'fear' is not in data.classes"] > 0
    assert "au12" in first.factor_names and first.factors.shape == (len(first.labels), len(first.factor_names))

    caplog.set_level("INFO")
    again = prepare(smoke_tree, **kwargs)
    assert "Reusing prepared cache" in caplog.text
    assert again.manifest["cache_key"] == first.manifest["cache_key"]

    # an option change rebuilds
    margin = prepare(smoke_tree, **{**kwargs, "crop_margin": 0.3})
    assert margin.manifest["cache_key"] != first.manifest["cache_key"]
    assert not np.array_equal(margin.images, first.images)

    # an input change rebuilds: corrupt one selected frame -> it is skipped and listed
    victim = sorted((smoke_tree / "cohn-kanade-images").rglob("*.png"))[0]
    original = victim.read_bytes()
    try:
        victim.write_bytes(b"not a png")
        broken = prepare(smoke_tree, **kwargs)
        assert broken.manifest["cache_key"] != first.manifest["cache_key"]
        assert len(broken.labels) == len(first.labels) - 1
        reasons = {s["file"]: s["reason"] for s in broken.manifest["skips"]}
        assert reasons[str(victim)].startswith("unreadable or corrupt image file: could not be decoded")
        assert load_cache(tmp_path / "cache" / "t", broken.manifest["cache_key"]) is not None
    finally:
        victim.write_bytes(original)
    assert not list((tmp_path / "cache").glob(".t.*"))  # no temporary folders left behind


def test_online_augmentation():
    import torch

    from facevae.data.datamodule import augment_batch

    torch.manual_seed(0)
    x = torch.rand(16, 1, 32, 32)
    assert torch.equal(augment_batch(x, 0.0, 0.0, 0.0, 0.0), x)
    flipped = augment_batch(x, 1.0, 0.0, 0.0, 0.0)
    assert torch.equal(flipped, x.flip(-1))
    moved = augment_batch(x, 0.0, 0.1, 10.0, 0.1)
    assert moved.shape == x.shape and not torch.allclose(moved, x)
    assert moved.min() >= x.min() - 1e-6 and moved.max() <= x.max() + 1e-6  # interpolation only


def test_haar_chain_on_a_ckplus_tree(smoke_tree, tmp_path):
    """data.crop=[haar, landmarks] (the CK+ default): Haar finds the drawn faces, landmarks catch the rest."""
    import shutil

    tree = tmp_path / "tree"
    shutil.copytree(smoke_tree, tree)
    frames = sorted((tree / "cohn-kanade-images").rglob("*.png"))
    blank = frames[0]  # a first (neutral) frame: no face to find, and its landmarks removed
    cv2.imwrite(str(blank), np.full((490, 640), 128, np.uint8))
    (tree / "Landmarks" / blank.parent.relative_to(tree / "cohn-kanade-images") /
     f"{blank.stem}_landmarks.txt").unlink()
    data = prepare(tree, tmp_path / "cache", "haar", list(PAPER_CLASSES), crop=["haar", "landmarks"],
                   workers=2, progress=False)
    stats = data.manifest["face_detection"]
    assert stats["tried"]["haar"] == data.manifest["n_images"] + 1
    assert stats["succeeded"]["haar"] / stats["tried"]["haar"] > 0.8
    assert {"file": str(blank), "reason": "no face found by haar or landmarks"} in data.manifest["skips"]
    assert data.manifest["crop"] == ["haar", "landmarks"]


def test_balancing_augments_the_training_split_only(tmp_path, data_dir):
    import torch

    from facevae.run import build_datamodule

    from .conftest import compose_config

    cfg = compose_config(["debug=smoke", "data.progress=false", "data.balance=true"], tmp_path, data_dir)
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    train = dm.datasets["train"]
    counts = np.bincount(train.labels.numpy(), minlength=len(dm.classes))
    emotion_counts = np.bincount(dm.data.labels[dm.splits["train"]], minlength=len(dm.classes))[1:]
    assert (counts == emotion_counts.max()).all()  # exactly N per class, N = the largest emotion class
    train_subjects = set(dm.data.subjects[dm.splits["train"]])
    assert set(train.subjects.numpy()) <= train_subjects  # augmented copies keep their source's subject
    assert len(dm.datasets["test"]) == len(dm.splits["test"])  # held-out splits untouched
    again = build_datamodule(cfg)
    again.setup("fit")
    assert torch.equal(again.datasets["train"].images, train.images)  # seeded


def test_extra_synthetic_people_only_train(tmp_path, data_dir):
    """data.train_extra_subjects: more generated people in the training split; every fold's test and validation
    people stay the ones without extras, and a source that cannot make people says so."""
    from facevae.config import ConfigError, validate
    from facevae.run import build_datamodule

    from .conftest import compose_config

    def splits(extra: int):
        cfg = compose_config(["debug=smoke", "data.progress=false", "data.synth.min_frames=4",
                              "data.synth.max_frames=4", f"data.train_extra_subjects={extra}"], tmp_path, data_dir)
        dm = build_datamodule(cfg)
        dm.setup("fit")
        names = dm.data.manifest["subjects"]
        return dm, {k: sorted({names[s] for s in dm.data.subjects[v]}) for k, v in dm.splits.items()}

    plain, before = splits(0)
    more, after = splits(4)
    assert after["test"] == before["test"] and after["val"] == before["val"]
    assert after["train"] == sorted(before["train"] + ["S009", "S010", "S011", "S012"])
    assert more.data.manifest["n_subjects"] == 12 and more.hparams.root.endswith("+4")
    cfg = compose_config(["data=london", "data.train_extra_subjects=4"], tmp_path, data_dir)
    with pytest.raises(ConfigError, match="only be generated by the synthetic CK\\+ .*data=london has its own"):
        validate(cfg)  # train.py: one line, exit 2
    with pytest.raises(ValueError, match="only the synthetic CK\\+"):
        build_datamodule(cfg)  # the Python API too
