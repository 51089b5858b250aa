"""Lightning callbacks of facevae's own."""

from __future__ import annotations

import pytorch_lightning as pl
import torch


class ChannelsLast(pl.Callback):
    """Keep conv weights in channels_last memory format: oneDNN's fast CPU kernels then apply.

    Measured on 2 CPU cores (β-VAE, arch=fast, batch 64, fwd+bwd): 113 -> 226 img/s in fp32 and
    136 -> 364 img/s with bf16 autocast. Grey inputs have one channel, so they need no conversion.
    """

    def _convert(self, pl_module: pl.LightningModule) -> None:
        pl_module.to(memory_format=torch.channels_last)

    def on_fit_start(self, trainer, pl_module):
        self._convert(pl_module)

    def on_test_start(self, trainer, pl_module):
        self._convert(pl_module)
