"""Networks built from the paper's layer notation (§2.1, §2.3), e.g. "C8-C32-F256-F100-D0.5-D7".

Tokens, separated by "-":
  C<k>        conv 3x3 stride 1 SAME with k filters -> max-pool 2x2 (stride `pool_stride`) -> ReLU (§2.1)
  CB<k>       conv 3x3 SAME -> batch-norm -> ReLU -> max-pool 2x2 (not in the paper: issue 16's recipe)
  GAP         global average pooling of a conv map to one value per channel (not in the paper)
  F<l>        fully connected with l units -> ReLU (§2.1); a conv map before it is flattened
  D<p>        dropout with rate p, when p < 1 (§2.1 "D0.5")
  D<n>        dense output layer with n units and no activation, when n >= 1 (§2.1 "D7")
  TC<m>,<n>,<s>  transpose conv with m kernels of size n, stride s -> ReLU (§2.3)
  UC<m>,<n>,<s>  nearest-neighbour upsample by s, then conv with m kernels of size n, stride 1 SAME -> ReLU.
                 Not in the paper: the resize-then-convolve alternative to TC (Odena et al. 2016), which
                 cannot draw the checkerboard that TC with kernel 3 and stride 2 draws (uneven overlap)
  Flatten     explicit flattening (optional: F after a conv map flattens anyway)

The paper pools with stride 1 and SAME padding (no down-sampling): `pool_stride=1` reproduces it;
`pool_stride=2` is the fast variant. A dense layer followed by TC layers is reshaped to (C, H, W)
with H = W = image_size / (product of the TC/UC strides), so "F8192-TC18,3,2-TC12,3,2-TC6,3,2" on
128x128 images starts from 32x16x16.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import torch
from torch import nn

_TOKEN = re.compile(
    r"^(?:C(?P<bn>B?)(?P<conv>\d+)|(?P<gap>GAP)|F(?P<fc>\d+)|D(?P<d>\d*\.?\d+)|(?P<up>TC|UC)(?P<tc>\d+),(?P<tck>\d+),(?P<tcs>\d+)|(?P<flat>Flatten))$"
)


class ArchError(ValueError):
    """An architecture string that cannot be built; the message says which token and why."""


@dataclass(frozen=True)
class Layer:
    kind: str  # conv | fc | dropout | dense | tconv | upconv | flatten | gap
    batch_norm: bool = False  # conv only: CB<k>
    units: int = 0
    p: float = 0.0
    kernel: int = 0
    stride: int = 1


def parse_arch(spec: str) -> list[Layer]:
    """Parse a paper-notation string into layers, failing on the first unknown token."""
    if not spec or not spec.strip():
        return []
    layers = []
    for token in spec.replace(" ", "").split("-"):
        m = _TOKEN.match(token)
        if m is None:
            raise ArchError(
                f"architecture '{spec}': unknown token '{token}' "
                "(expected C<k>, CB<k>, F<l>, D<p>, D<n>, TC<m>,<n>,<s>, UC<m>,<n>,<s>, GAP or Flatten)"
            )
        if m["conv"]:
            layers.append(Layer("conv", units=int(m["conv"]), batch_norm=bool(m["bn"])))
        elif m["gap"]:
            layers.append(Layer("gap"))
        elif m["fc"]:
            layers.append(Layer("fc", units=int(m["fc"])))
        elif m["d"]:
            value = float(m["d"])
            if value < 1:
                layers.append(Layer("dropout", p=value))
            elif value.is_integer():
                layers.append(Layer("dense", units=int(value)))
            else:
                raise ArchError(f"architecture '{spec}': '{token}' is neither a rate < 1 nor a width")
        elif m["tc"]:
            kind = "tconv" if m["up"] == "TC" else "upconv"
            layers.append(Layer(kind, units=int(m["tc"]), kernel=int(m["tck"]), stride=int(m["tcs"])))
        else:
            layers.append(Layer("flatten"))
    return layers


class _Unflatten(nn.Module):
    """Reshape (N, C*H*W) to (N, C, H, W) in front of the first transpose convolution."""

    def __init__(self, shape: tuple[int, int, int]):
        super().__init__()
        self.shape = shape

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.view(x.shape[0], *self.shape)


def build_network(
    spec: str,
    in_shape: tuple[int, ...],
    pool_stride: int = 2,
    out_activation: bool = True,
    image_size: int = 128,
) -> tuple[nn.Sequential, tuple[int, ...]]:
    """Build `spec` for inputs of `in_shape` (without batch); returns the network and its output shape.

    With `out_activation=False` the last C/F/TC/UC layer has no ReLU (a decoder's logits).
    """
    layers = parse_arch(spec)
    modules: list[nn.Module] = []
    shape = tuple(in_shape)
    last_weighted = max((i for i, l in enumerate(layers) if l.kind in ("conv", "fc", "tconv", "upconv", "dense")),
                        default=-1)
    for i, layer in enumerate(layers):
        relu = out_activation or i != last_weighted
        if layer.kind == "conv":
            if len(shape) != 3:
                raise ArchError(f"architecture '{spec}': C{layer.units} needs an image input, got shape {shape}")
            c, h, w = shape
            modules.append(nn.Conv2d(c, layer.units, 3, stride=1, padding=1, bias=not layer.batch_norm))
            if layer.batch_norm:
                # BN before the non-linearity and the pooling, as in VGG-BN / ResNet stems
                modules += [nn.BatchNorm2d(layer.units), nn.ReLU()]
            if pool_stride == 1:
                # TF 'SAME' 2x2 pooling at stride 1 pads one row/column at the end.
                modules += [nn.ZeroPad2d((0, 1, 0, 1)), nn.MaxPool2d(2, stride=1)]
                shape = (layer.units, h, w)
            else:
                modules.append(nn.MaxPool2d(2, stride=pool_stride, ceil_mode=True))
                shape = (layer.units, math.ceil(h / pool_stride), math.ceil(w / pool_stride))
            if relu and not layer.batch_norm:
                modules.append(nn.ReLU())
        elif layer.kind == "gap":
            if len(shape) != 3:
                raise ArchError(f"architecture '{spec}': GAP needs a conv map before it, got shape {shape}")
            modules += [nn.AdaptiveAvgPool2d(1), nn.Flatten()]
            shape = (shape[0],)
        elif layer.kind == "flatten":
            if len(shape) != 1:
                modules.append(nn.Flatten())
                shape = (math.prod(shape),)
        elif layer.kind in ("fc", "dense"):
            if len(shape) != 1:
                modules.append(nn.Flatten())
                shape = (math.prod(shape),)
            modules.append(nn.Linear(shape[0], layer.units))
            shape = (layer.units,)
            if layer.kind == "fc" and relu:
                modules.append(nn.ReLU())
        elif layer.kind == "dropout":
            modules.append(nn.Dropout(layer.p))
        elif layer.kind in ("tconv", "upconv"):
            if len(shape) == 1:
                shape = _unflatten_shape(spec, layers[i:], shape[0], image_size)
                modules.append(_Unflatten(shape))
            c, h, w = shape
            pad = (layer.kernel - 1) // 2
            if layer.kind == "tconv":
                # output side (h-1)s - 2pad + k + out_pad = h*s: out_pad = s-1 for odd k, 0 for TC<m>,4,2
                out_pad = layer.stride - layer.kernel + 2 * pad
                if out_pad < 0 or 0 < layer.stride <= out_pad:
                    raise ArchError(f"architecture '{spec}': TC{layer.units},{layer.kernel},{layer.stride} cannot "
                                    f"upsample exactly x{layer.stride}")
                modules.append(nn.ConvTranspose2d(c, layer.units, layer.kernel, stride=layer.stride, padding=pad,
                                                  output_padding=out_pad))
            else:
                if layer.kernel % 2 == 0:
                    raise ArchError(f"architecture '{spec}': UC{layer.units},{layer.kernel},{layer.stride} needs an odd "
                                    "kernel (SAME padding)")
                if layer.stride > 1:
                    modules.append(nn.Upsample(scale_factor=layer.stride, mode="nearest"))
                modules.append(nn.Conv2d(c, layer.units, layer.kernel, padding=pad))
            shape = (layer.units, h * layer.stride, w * layer.stride)
            if relu:
                modules.append(nn.ReLU())
    return nn.Sequential(*modules), shape


def _unflatten_shape(spec: str, rest: list[Layer], features: int, image_size: int) -> tuple[int, int, int]:
    """The (C, H, W) a flat vector takes so that the following TC layers end at image_size."""
    # Only the TC/UC run directly after the reshape counts.
    upsample = 1
    for l in rest:
        if l.kind not in ("tconv", "upconv"):
            break
        upsample *= l.stride
    side = image_size // upsample
    if side * upsample != image_size or features % (side * side):
        raise ArchError(
            f"architecture '{spec}': {features} features cannot be reshaped for transpose convolutions "
            f"that upsample x{upsample} to {image_size}x{image_size} (need a multiple of {side}x{side})"
        )
    return (features // (side * side), side, side)


def count_parameters(module: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad)
