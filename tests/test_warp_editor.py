"""Issue 14: the β-VAE's warp editor (facevae.models.warp) and its XL on pixel-aligned pairs."""

import pytest
import torch

from facevae.models.ssvae import SSVAE
from facevae.models.warp import multiscale_l1, warp

CLASSES = ["neutral", "happiness", "sadness"]
ARCH = {"pool_stride": 2, "encoder": "C8-C32-C64-F256-F100", "decoder": "F8192-TC18,3,2-TC12,3,2-TC6,3,2-TC1,3,1",
        "map_decoder": "TC32,4,2-TC16,4,2-TC8,4,2-UC1,3,1", "flow_decoder": "TC32,4,2-UC2,3,1"}
LOSS = {"name": "ssvae", "alpha": 1.0, "beta": 0.01, "gamma": 1000.0, "rl_reduction": "sum", "xl": 1.0}


def make() -> SSVAE:
    torch.manual_seed(0)
    return SSVAE(CLASSES, ARCH, LOSS, style_map=4, edit_mode="warp")


def test_warp_moves_pixels_and_zero_flow_is_the_identity():
    x = torch.zeros(1, 1, 32, 32)
    x[..., 10:12, 10:12] = 1.0
    assert torch.allclose(warp(x, torch.zeros(1, 2, 8, 8)), x, atol=1e-6)
    right = torch.zeros(1, 2, 8, 8)
    right[:, 0] = -4 / 16  # sample 4 pixels to the left: the square moves 4 pixels right
    moved = warp(x, right)
    assert moved[..., 10:12, 14:16].mean() > 0.99 and moved[..., 10:12, 10:12].max() < 0.01


def test_a_warp_edit_is_made_of_the_inputs_pixels_and_strength_0_returns_it():
    model = make().eval()
    x = torch.rand(2, 1, 128, 128)
    with torch.no_grad():
        assert torch.allclose(model.edit(x, 1, strength=0.0), x, atol=1e-5)
        model.flow_decoder[-1].bias.data.fill_(0.5)  # a flow that depends on the axes ...
        for p in model.flow_decoder.parameters():
            p.data.normal_(0, 0.5)
        model.class_codes[1] = torch.tensor([-5.0, 5.0, -5.0])
        edited = model.edit(x, 1, strength=1.0)
    assert not torch.allclose(edited, x, atol=1e-3)  # ... moves the face
    assert edited.min() >= x.min() - 1e-6 and edited.max() <= x.max() + 1e-6  # bilinear: no new intensities


def test_warp_xl_is_the_partners_multiscale_distance_and_trains_only_the_flow():
    model = make()
    x = torch.rand(4, 1, 128, 128)
    y, subjects = torch.tensor([0, 1, 0, 2]), torch.tensor([3, 3, 5, 5])
    out = model.losses(x, y, sample=False, subjects=subjects)
    mu, _ = model.encode(x)
    j = torch.tensor([1, 0, 3, 2])
    by_hand = multiscale_l1(model.warp_toward(x, mu, mu[j, :3]), x[j]).mean()
    assert out["xl"].item() == pytest.approx(by_hand.item(), rel=1e-5)
    model.zero_grad()
    out["xl"].backward()
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.encoder.parameters())
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in model.flow_decoder.parameters())


def test_warp_needs_a_style_map_and_a_flow_decoder():
    with pytest.raises(ValueError, match="style_map > 0"):
        SSVAE(CLASSES, ARCH, LOSS, style_map=0, edit_mode="warp")
    with pytest.raises(ValueError, match="arch.flow_decoder"):
        SSVAE(CLASSES, {**ARCH, "flow_decoder": None}, LOSS, style_map=4, edit_mode="warp")
    with pytest.raises(ValueError, match="must end in 2 maps"):
        SSVAE(CLASSES, {**ARCH, "flow_decoder": "TC32,4,2-UC3,3,1"}, LOSS, style_map=4, edit_mode="warp")
