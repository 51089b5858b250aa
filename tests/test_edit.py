"""Issue 8: edit a face — the Editor API, edit.py on the astronaut photo, the crop/paste geometry.

The checkpoints are smoke models (8 synthetic subjects, one epoch): their faces are blurry, but every
step of the pipeline (detect, crop as training did, encode, decode, judge, paste) runs for real.
`FACEVAE_DOCS=1` copies the astronaut grid to docs/edit_grid.png; `FACEVAE_DOCS_CKPT=<checkpoint>`
makes that grid with a trained model instead of the smoke one (see README, "Edit a face").
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
from importlib.resources import files
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from facevae.config import ConfigError
from facevae.data.errors import DataError
from facevae.data.dlib_faces import dlib_available
from facevae.data.face_crop import crop_box
from facevae.edit import Editor, load_photo
from facevae.edit.grid import grid_pixels
from facevae.edit.photo import paste, soft_mask, square_region
from facevae.judge import judge_available

from .conftest import ROOT, compose_config

ASTRONAUT = Path(str(files("skimage") / "data" / "astronaut.png"))  # a real photograph shipped in the wheel
DOCS = ROOT / "docs"


_CHECKPOINTS: dict[str, Path] = {}  # model -> checkpoint, shared with tests/test_serve_browser.py


def smoke_checkpoint(tmp_path_factory, data_dir, model: str) -> Path:
    """A one-epoch smoke checkpoint of `model`, trained once per session (~20 s)."""
    from facevae.run import train

    if model in _CHECKPOINTS:
        return _CHECKPOINTS[model]
    run_dir = tmp_path_factory.mktemp(f"edit-{model}")
    # eval.*=false: the run's own evaluation is not what these tests look at (it halves the fixture's time)
    train(compose_config([f"model={model}", "debug=smoke", "data.progress=false", "trainer.max_epochs=1",
                          "callbacks.progress_bar=null", "eval.judge=false", "eval.disentanglement=false"],
                         run_dir, data_dir))
    _CHECKPOINTS[model] = run_dir / "checkpoints" / "last.ckpt"
    return _CHECKPOINTS[model]


# tests/test_serve_browser.py uses these too; _CHECKPOINTS keeps each model to one training per session.
@pytest.fixture(scope="session")
def fader_ckpt(tmp_path_factory, data_dir) -> Path:
    return smoke_checkpoint(tmp_path_factory, data_dir, "fader")


@pytest.fixture(scope="session")
def ssvae_ckpt(tmp_path_factory, data_dir) -> Path:
    return smoke_checkpoint(tmp_path_factory, data_dir, "ssvae")


@pytest.fixture(scope="session")
def docs_ckpt(ssvae_ckpt) -> Path:
    """The checkpoint of the README's pictures: FACEVAE_DOCS_CKPT when set, else the smoke β-VAE."""
    return Path(os.environ["FACEVAE_DOCS_CKPT"]) if os.environ.get("FACEVAE_DOCS_CKPT") else ssvae_ckpt


def to_docs(path: Path, name: str) -> None:
    """Copy a picture the tests made into docs/ when FACEVAE_DOCS=1 (a plain test run leaves docs/ alone)."""
    if os.environ.get("FACEVAE_DOCS") == "1":
        DOCS.mkdir(exist_ok=True)
        shutil.copyfile(path, DOCS / name)


@pytest.fixture(scope="module", params=["fader", "ssvae"])
def editor(request) -> Editor:
    return Editor.from_checkpoint(request.getfixturevalue(f"{request.param}_ckpt"))


def run_cli(script: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "MPLBACKEND": "Agg"}
    return subprocess.run([sys.executable, str(ROOT / script), *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=300, env=env)


# -- geometry: the crop is the training crop, the paste puts it back where it came from ---------------
@pytest.mark.parametrize("box", [(175, 64, 100, 100), (0, 0, 60, 60), (470, 440, 80, 80), (-10, 200, 90, 70),
                                 (300, 5, 41, 57)])
def test_region_is_the_square_crop_box_cuts(box):
    photo = np.random.default_rng(0).integers(0, 256, (512, 512), dtype=np.uint8)
    region = square_region(box, 0.2)
    pad = 200
    padded = cv2.copyMakeBorder(photo, pad, pad, pad, pad, cv2.BORDER_REPLICATE)
    top, left = region.top + pad, region.left + pad
    square = padded[top : top + region.side, left : left + region.side]
    interp = cv2.INTER_AREA if region.side >= 128 else cv2.INTER_LINEAR
    np.testing.assert_array_equal(cv2.resize(square, (128, 128), interpolation=interp), crop_box(photo, box, 128, 0.2))


def test_paste_is_soft_local_and_keeps_colour():
    rng = np.random.default_rng(1)
    skin = np.array([200, 160, 140])  # a photo's colours: skin tones with noise (luminance 170 ± 10)
    photo = np.clip(skin + rng.integers(-10, 11, (300, 400, 3)), 0, 255).astype(np.uint8)
    region = square_region((150, 100, 100, 100), 0.2)
    face = np.full((128, 128), 0.6, np.float32)
    out = paste(photo, face, region, 0.2)
    assert out.shape == photo.shape and out.dtype == np.uint8
    inside = np.zeros(photo.shape[:2], bool)
    inside[region.top : region.top + region.side, region.left : region.left + region.side] = True
    np.testing.assert_array_equal(out[~inside], photo[~inside])  # nothing outside the crop's square moves
    ycc_in, ycc_out = (cv2.cvtColor(a, cv2.COLOR_RGB2YCrCb).astype(int) for a in (photo, out))
    cy, cx = region.top + region.side // 2, region.left + region.side // 2
    assert abs(ycc_out[cy, cx, 0] - round(0.6 * 255)) <= 2  # the face's centre is the edited luminance ...
    assert np.abs(ycc_out[cy, cx, 1:] - ycc_in[cy, cx, 1:]).max() <= 3  # ... with the photo's own colour
    mask = soft_mask(region.side, 0.2)
    assert mask[region.side // 2, region.side // 2] > 0.99 and mask[0].max() < 0.01 and mask[:, -1].max() < 0.01
    assert ((mask > 0.05) & (mask < 0.95)).mean() > 0.05  # a feathered edge, not a hard cut
    grey = paste(photo[:, :, 0], face, region, 0.2)
    assert grey.shape == (300, 400) and grey[cy, cx] in (153, 154)


def test_load_photo_accepts_paths_arrays_and_pil(tmp_path):
    rgb = load_photo(ASTRONAUT)
    assert rgb.shape == (512, 512, 3) and rgb.dtype == np.uint8
    np.testing.assert_array_equal(load_photo(Image.open(ASTRONAUT)), rgb)
    np.testing.assert_array_equal(load_photo(rgb), rgb)
    assert load_photo(np.dstack([rgb, np.full(rgb.shape[:2], 255, np.uint8)])).shape == (512, 512, 3)
    assert load_photo(rgb[:, :, 0]).shape == (512, 512)
    assert load_photo(rgb.astype(np.float32) / 255).dtype == np.uint8
    (tmp_path / "notes.txt").write_text("not a photo")
    with pytest.raises(DataError, match="notes.txt: not an image"):
        load_photo(tmp_path / "notes.txt")
    with pytest.raises(FileNotFoundError, match="missing.png"):
        load_photo(tmp_path / "missing.png")
    with pytest.raises(ValueError, match="H×W, H×W×3 or H×W×4"):
        load_photo(np.zeros((4, 5, 6), np.uint8))


# -- the Editor API on the astronaut, both generative models -------------------------------------------
def test_editor_edits_the_astronaut(editor):
    boxes = editor.faces(ASTRONAUT)
    assert len(boxes) == 1
    face = editor.face(ASTRONAUT)
    # crop=auto: smoke models train on 68-point crops, so dlib's box when installed, else Haar's
    assert face.method == ("dlib" if dlib_available() else "haar")
    np.testing.assert_allclose(boxes[0], [179, 83, 88, 88] if face.method == "dlib" else [175, 65, 99, 99], atol=8)
    # A target other than the class the model reads (the Fader's edit from a class to itself is no edit).
    emotion = "happiness" if editor.classes[int(editor.source_of(face)[0])] != "happiness" else "sadness"
    editor.edit(face, emotion, 1.0)  # warm-up: the first call loads the Haar cascade and the judge
    started = time.perf_counter()
    out = editor.edit(ASTRONAUT, emotion, 1.0)
    seconds = time.perf_counter() - started
    print(f"\n{editor.name}: one astronaut edit {seconds * 1000:.0f} ms; judge P({emotion}) {out['p_target']}")
    assert out["crop"].shape == (128, 128) and out["crop"].dtype == np.uint8
    for key in ("reconstruction", "edited"):
        assert out[key].shape == (128, 128) and out[key].dtype == np.float32
        assert 0 <= out[key].min() and out[key].max() <= 1
    assert out["pasted"].shape == (512, 512, 3) and out["pasted"].dtype == np.uint8
    assert out["box"] == list(boxes[0]) and out["face_index"] == 0 and out["n_faces"] == 1
    np.testing.assert_array_equal(out["crop"], face.crop)
    if judge_available():
        assert 0 <= out["p_target"] <= 1 and set(out["judge_probs"]) == set(editor.classes) - {"contempt"}
    # Edits differ from the reconstruction and grow with the strength, from the face to the class's code
    # (beyond 1 an extrapolation may saturate the one-epoch smoke decoder).
    edits = editor.decode(face, emotion, [0.0, 0.33, 0.67, 1.0])
    np.testing.assert_allclose(edits[0], out["reconstruction"], atol=1e-6)
    change = [float(np.abs(e - out["reconstruction"]).mean()) for e in edits]
    assert change[1] > 0 and change[1] < change[2] < change[3], change
    np.testing.assert_allclose(edits[3], out["edited"], atol=1e-6)
    # The same face from an array, a PIL image and a grey array.
    photo = np.asarray(Image.open(ASTRONAUT))
    np.testing.assert_allclose(editor.edit(photo, emotion, 1.0)["edited"], out["edited"], atol=1e-6)
    np.testing.assert_allclose(editor.edit(Image.open(ASTRONAUT), emotion, 1.0)["edited"], out["edited"], atol=1e-6)
    assert editor.edit(cv2.cvtColor(photo, cv2.COLOR_RGB2GRAY), emotion, 1.0)["pasted"].shape == (512, 512)
    with pytest.raises(ValueError, match="not one of this model's classes: neutral, anger"):
        editor.edit(ASTRONAUT, "joy", 1.0)


def test_sliders_are_the_models_own_edits(editor):
    """One slider = model.edit exactly; two sliders add their directions (facevae.edit.mix)."""
    face = editor.face(ASTRONAUT)
    src = editor.source_of(face)
    with torch.no_grad():
        for k, emotion in enumerate(editor.classes):
            mine = editor.decode(face, emotion, [-1.0, 0.5, 1.5])
            for s, face_s in zip((-1.0, 0.5, 1.5), mine):
                own = editor.model.edit(face.x, k, s, source=src)[0, 0].numpy()
                np.testing.assert_allclose(face_s, own, atol=1e-5)
                if emotion in ("anger", "happiness"):
                    np.testing.assert_allclose(editor.mix(face, {emotion: s})["edited"], own, atol=1e-5)
    both = editor.mix(face, {"happiness": 0.8, "surprise": 0.6})["edited"]
    one = editor.mix(face, {"happiness": 0.8})["edited"]
    assert np.abs(both - one).mean() > 0


def test_faces_in_a_group_photo(ssvae_ckpt):
    editor = Editor.from_checkpoint(ssvae_ckpt, judge=False)
    rgb = load_photo(ASTRONAUT)
    pair = np.concatenate([rgb, rgb[:, ::-1]], axis=1)  # the astronaut and her mirror image
    boxes = editor.faces(pair)
    assert len(boxes) == 2
    faces = editor.all_faces(pair)
    assert [f.index for f in faces] == [0, 1] and {f.box[0] > 512 for f in faces} == {True, False}
    right = editor.edit(pair, "sadness", 1.0, face=[f.index for f in faces if f.box[0] > 512][0])
    changed = np.flatnonzero((right["pasted"] != pair).any(axis=(0, 2)))
    assert changed.min() > 512  # only the chosen face was pasted over
    with pytest.raises(DataError, match="face=2 but 2 faces found"):
        editor.edit(pair, "sadness", 1.0, face=2)
    assert right["p_target"] is None  # judge=False


def test_no_face_and_non_generative_models(ssvae_ckpt, tmp_path):
    editor = Editor.from_checkpoint(ssvae_ckpt, judge=False)
    wall = np.full((300, 300), 90, np.uint8)
    with pytest.raises(DataError, match="no face found"):
        editor.edit(wall, "happiness", 1.0)
    whole = Editor.from_checkpoint(ssvae_ckpt, judge=False, crop=["haar", "none"]).edit(wall, "happiness", 1.0)
    assert whole["crop_method"] == "none" and whole["pasted"].shape == (300, 300)
    # Checkpoints of models that cannot edit: one clear line naming those that can (nothing is built).
    from omegaconf import OmegaConf

    for model, extra in (("classifier", []), ("siamese_vae", ["model.comparator_ckpt=/nowhere/comparator.ckpt"])):
        cfg = compose_config([f"model={model}", *extra], tmp_path, tmp_path)
        ckpt = tmp_path / f"{model}.ckpt"
        torch.save({"facevae_config": OmegaConf.to_container(cfg, resolve=True), "state_dict": {}}, ckpt)
        with pytest.raises(ConfigError, match=f"model={model} cannot edit faces.*model=fader or model=ssvae"):
            Editor.from_checkpoint(ckpt)


# -- edit.py as the README shows it ----------------------------------------------------------------
def test_edit_py_on_the_astronaut(docs_ckpt, tmp_path):
    out = tmp_path / "run"
    done = run_cli("edit.py", f"ckpt_path={docs_ckpt}", f"image={ASTRONAUT}", f"hydra.run.dir={out}")
    assert done.returncode == 0, done.stderr[-2000:]
    grid, edited = out / "astronaut_grid.png", out / "astronaut_edited.png"
    assert Image.open(edited).size == (512, 512) and Image.open(edited).mode == "RGB"
    summary = json.loads((out / "summary.json").read_text())
    n_classes = len(summary["classes"])
    assert Image.open(grid).size == grid_pixels(3, 1 + n_classes)  # 3 strengths × (input column + each emotion)
    photo = summary["photos"][0]
    expected = [179, 83, 88, 88] if photo["crop_method"] == "dlib" else [175, 65, 99, 99]  # crop=auto, see above
    assert photo["box"] == pytest.approx(expected, abs=8)
    assert summary["seconds"]["edit_mean"] > 0 and summary["skipped"] == []
    if judge_available():
        assert 0 <= photo["p_target"] <= 1
        assert set(photo["judge_grid"]["edits"]) == set(summary["classes"]) - {"contempt"}
        print("\njudge P(target) on the astronaut edits:", json.dumps(photo["judge_grid"]["edits"]))
    assert "astronaut_grid.png" in done.stdout
    to_docs(grid, "edit_grid.png")


def test_edit_py_folder_lists_what_it_skipped(fader_ckpt, tmp_path):
    photos = tmp_path / "photos"
    photos.mkdir()
    shutil.copyfile(ASTRONAUT, photos / "astronaut.png")
    Image.fromarray(np.full((300, 300), 90, np.uint8)).save(photos / "wall.png")
    (photos / "notes.txt").write_text("not a photo")
    out = tmp_path / "run"
    done = run_cli("edit.py", f"ckpt_path={fader_ckpt}", f"image={photos}", "emotion=sadness", "strength=1.5",
                   f"hydra.run.dir={out}")
    assert done.returncode == 0, done.stderr[-2000:]
    assert Image.open(out / "astronaut_grid.png").size == grid_pixels(1, 2 + 7)  # original, recon, -1 ... 2
    assert Image.open(out / "astronaut_edited.png").size == (512, 512)
    assert f"skipped: {photos / 'wall.png'}: no face found" in done.stdout
    assert f"skipped: {photos / 'notes.txt'}: not an image" in done.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert sorted(Path(s["file"]).name for s in summary["skipped"]) == ["notes.txt", "wall.png"]
    assert summary["strength"] == 1.5 and summary["pasted_emotion"] == "sadness"


def test_edit_py_says_no_face_found(fader_ckpt, tmp_path):
    wall = tmp_path / "wall.png"
    Image.fromarray(np.full((300, 300), 90, np.uint8)).save(wall)
    done = run_cli("edit.py", f"ckpt_path={fader_ckpt}", f"image={wall}", f"hydra.run.dir={tmp_path / 'run'}")
    assert done.returncode == 2
    errors = [line for line in done.stderr.splitlines() if line.startswith("facevae: error:")]
    assert len(errors) == 1 and f"{wall}: no face found" in errors[0] and "none]" in errors[0]
    assert "Traceback" not in done.stderr
