"""Behaviour every facevae LightningModule shares."""

from __future__ import annotations

import pytorch_lightning as pl


class FaceModule(pl.LightningModule):
    """A LightningModule whose checkpoints carry the run's resolved config (primitives only).

    eval.py rebuilds data and model from it, so a checkpoint is enough to re-evaluate a run, and
    `torch.load(path, weights_only=True)` still loads it.
    """

    facevae_config: dict | None = None

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.facevae_config is not None:
            checkpoint["facevae_config"] = self.facevae_config
