"""The warp editor (issue 14, beyond the paper): an edit that moves the input's own pixels.

A decoder that must draw a whole face from a latent blurs it on a 2-core budget (recon sharpness about 0.1 of
real faces after 40 epochs), and a blurred decoder's change along an emotion axis is too faint to read. Most of
what an expression changes is *where* things are: mouth corners, lips, brows, eyelids (the AUs' geometry, §1.1).
So the β-VAE can edit by warping x itself: a small flow decoder reads the style map (where the face is) and the
emotion axes, and the edit toward axes a' is

    edit(x) = warp(x, F(m, a') − F(m, a))

with m, a the input's own code. The difference makes strength 0 the identity, and every pixel of the edit is one
of the input's: the person and the sharpness stay by construction (GANimation's idea of changing only what the
expression changes, with a displacement instead of a colour mask). F is trained by XL on pixel-aligned pairs of
one CK+ sequence (data.partners): warp(x_i) toward x_j's axes must be x_j, compared at four scales so that a
thin line a few pixels off still has a gradient.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from .arch import build_network
from .backbone import map_decoder_input

MAX_SHIFT = 0.15  # largest displacement, as a fraction of the half-side (about 10 pixels at 128x128)
SCALES = (1, 2, 4, 8)  # average-pool sizes the warp's XL compares at


def build_flow_decoder(spec: str, n_axes: int, map_shape: tuple[int, ...], pool_stride: int) -> nn.Module:
    """arch.flow_decoder from the style map with the emotion axes given to every position, ending in 2 maps."""
    if not spec:
        raise ValueError("model.edit_mode=warp needs arch.flow_decoder (e.g. 'TC32,4,2-UC2,3,1')")
    net, out_shape = build_network(spec, (n_axes + map_shape[0], *map_shape[1:]), pool_stride, out_activation=False)
    if len(out_shape) != 3 or out_shape[0] != 2:
        raise ValueError(f"arch.flow_decoder={spec!r} outputs {out_shape}: it must end in 2 maps (x and y shift)")
    last = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d))][-1]
    nn.init.zeros_(last.weight)  # the editor starts as "move nothing": an untrained flow only adds noise
    nn.init.zeros_(last.bias)
    return net


def displacement(flow_decoder: nn.Module, style: torch.Tensor, axes: torch.Tensor) -> torch.Tensor:
    """F(m, a): N × 2 × h × w displacement in grid units (tanh-bounded by MAX_SHIFT)."""
    return MAX_SHIFT * torch.tanh(flow_decoder(map_decoder_input(axes, style)))


def warp(x: torch.Tensor, flow: torch.Tensor) -> torch.Tensor:
    """x resampled at identity + flow (the flow upsampled bilinearly to x's size); borders repeat."""
    n, _, h, w = x.shape
    flow = F.interpolate(flow, size=(h, w), mode="bilinear", align_corners=False)
    theta = torch.eye(2, 3, device=x.device, dtype=x.dtype).expand(n, 2, 3)
    grid = F.affine_grid(theta, [n, 1, h, w], align_corners=False) + flow.permute(0, 2, 3, 1)
    return F.grid_sample(x, grid, padding_mode="border", align_corners=False)


def multiscale_l1(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Σ over SCALES of |avgpool(a) − avgpool(b)| summed over pixels (scaled back to full-size pixel counts), per image."""
    total = torch.zeros(len(a), device=a.device, dtype=a.dtype)
    for s in SCALES:
        pa, pb = (F.avg_pool2d(v, s) if s > 1 else v for v in (a, b))
        total = total + (pa - pb).abs().flatten(1).sum(1) * s * s
    return total
