"""The small synthetic CK+ and the short training that tests/test_faces_readable.py and tests/test_warp_faces.py
share (two files, so that pytest-xdist can train their models on the two cores at once)."""

from __future__ import annotations

import pytest
import pytorch_lightning as pl

from facevae.evaluation.collect import collect

from .conftest import compose_config

EPOCHS = 30
SUBJECTS = 12


@pytest.fixture(scope="module")
def small_set(tmp_path_factory):
    """The smoke config on 12 synthetic subjects: (cfg, prepared datamodule, held-out EvalSet arrays)."""
    from facevae.run import build_datamodule

    data_dir = tmp_path_factory.mktemp("faces-data")
    cfg = compose_config(["debug=smoke", "data.progress=false", f"data.synth.n_subjects={SUBJECTS}",
                          f"trainer.max_epochs={EPOCHS}", "data.batch_size=8"], tmp_path_factory.mktemp("faces-run"), data_dir)
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    return cfg, dm


def fit_and_collect(cfg, dm, epochs: int = EPOCHS):
    """The model of `cfg` trained `epochs` epochs on the small set (seed 0), in eval mode, with its held-out EvalSet."""
    from facevae.run import build_model

    pl.seed_everything(0, verbose=False)
    model = build_model(cfg, dm.classes)
    trainer = pl.Trainer(max_epochs=epochs, accelerator="cpu", logger=False, enable_checkpointing=False,
                         enable_progress_bar=False, enable_model_summary=False, num_sanity_val_steps=0,
                         limit_val_batches=0)
    trainer.fit(model, datamodule=dm)
    model.eval()
    return model, collect(model, dm, "test")
