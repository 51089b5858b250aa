"""Issue 14: the β-VAE's warp editor on the small synthetic CK+ of tests/faces_small.py."""

from __future__ import annotations

import dataclasses

import pytest

from facevae.evaluation.collect import edit_images
from facevae.evaluation.observers import starting_faces
from facevae.metrics import sharpness_ratio

from .faces_small import EPOCHS, fit_and_collect, small_set  # noqa: F401 (small_set: a fixture)


@pytest.fixture(scope="module")
def warp_editor(small_set):
    """experiment=ssvae_warp_editor on the small set, with its held-out EvalSet."""
    from facevae.run import build_datamodule

    cfg, _ = small_set
    cfg = cfg.copy()
    cfg.data.partners, cfg.model.edit_mode, cfg.loss.xl = True, "warp", 1.0
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    return fit_and_collect(cfg, dm, EPOCHS // 2)  # a paired epoch is twice as long: the same steps as `trained`


@pytest.mark.slow
def test_warp_edits_keep_the_person_better_than_decoded_edits(warp_editor):
    """Each held-out sequence's neutral frame edited toward the sequence's emotion: the warp edit is closer (SSIM)
    to the real apex of the same person than the same model's decoded edit, and as sharp as a real face.
    (On the full default data it also beats the untouched neutral frame: README, "Decoded faces".)"""
    from facevae.evaluation.observers import paired

    model, ev = warp_editor
    warped = paired(model, ev, None)
    model.edit_mode = "decode"
    try:  # a collection's edits belong to one model state: the decoded edits start from a copy without them
        decoded = paired(model, dataclasses.replace(ev, edits={}), None)
    finally:
        model.edit_mode = "warp"
    assert warped["paired/ssim_edit"] > decoded["paired/ssim_edit"] + 0.05, (warped, decoded)
    edited = edit_images(model, ev, starting_faces(ev), ev.classes.index("happiness"), 1.0)
    assert sharpness_ratio(edited, ev.images) >= 0.7
