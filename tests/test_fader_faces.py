"""Issue 14: experiment=fader_faces, the Fader that keeps the face, on the small synthetic CK+ of tests/faces_small.py."""

from __future__ import annotations

import pytest
import torch

from facevae.evaluation.collect import edit_images, split_arrays
from facevae.evaluation.faceness import MIN_SHARPNESS, class_mean_faces, ssim
from facevae.evaluation.observers import starting_faces
from facevae.metrics import sharpness_ratio

from .faces_small import EPOCHS, SUBJECTS, fit_and_collect
from .conftest import compose_config


@pytest.fixture(scope="module")
def fader_faces(tmp_path_factory):
    """experiment=fader_faces on the small set (its own copy: the preset pairs frames), with its held-out EvalSet."""
    from facevae.run import build_datamodule

    cfg = compose_config(["experiment=fader_faces", "debug=smoke", "data.progress=false",
                          f"data.synth.n_subjects={SUBJECTS}", "data.batch_size=8"],
                         tmp_path_factory.mktemp("fader-run"), tmp_path_factory.mktemp("fader-data"))
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    return dm, *fit_and_collect(cfg, dm, EPOCHS // 2)  # a paired epoch is twice as long


@pytest.mark.slow
def test_fader_faces_reconstructs_people_and_edits_sharply(fader_faces):
    """Held-out people come back better than their class's mean face (what the paper-like Fader draws, 0.58 on the
    full data), and an edit toward happiness stays as sharp as real faces (the change is added to the input)."""
    dm, model, ev = fader_faces
    _, train = split_arrays(dm, "train")
    means = class_mean_faces(train["images"], train["labels"], len(ev.classes))[ev.labels]
    recon, mean_face = ssim(ev.outputs["recon"], ev.images), ssim(means, ev.images)
    assert recon > mean_face + 0.05, f"reconstructions SSIM {recon:.3f} vs the class-mean face {mean_face:.3f}"
    edits = edit_images(model, ev, starting_faces(ev), ev.classes.index("happiness"), 1.0)
    assert sharpness_ratio(edits, ev.images) >= MIN_SHARPNESS
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.encoder.modules()) == 2  # C8-CB32-CB64
