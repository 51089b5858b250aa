"""Fader network (§2.3): loss terms by hand, the adversarial game, parameter counts, presets, smoke training."""

import json
import math

import pytest
import torch
import torch.nn.functional as F

from facevae.config import ConfigError, validate
from facevae.models.fader import (
    Fader,
    adversarial_term,
    l2_reconstruction,
    lample_adversarial_term,
    lample_dis_loss,
    p_bc,
    p_mc,
)
from facevae.run import build_model, train

from .conftest import compose_config

CLASSES = ["neutral", "anger", "contempt", "disgust", "surprise", "happiness", "sadness"]
FAST = {"pool_stride": 2, "encoder": "C8-C32-F256-F100", "decoder": "F8192-TC18,3,2-TC12,3,2-TC6,3,2-TC1,3,1",
        "discriminator": "F256-F256"}
PRESETS = ["fader", "fader_paper", "l2", "mc", "adv", "lample"]


def make(loss=None, arch=FAST, **kw):
    torch.manual_seed(0)
    return Fader(CLASSES, arch, {"name": "fader", **(loss or {})}, **kw)


def batch(n=8):
    g = torch.Generator().manual_seed(1)
    return torch.rand(n, 1, 128, 128, generator=g), torch.arange(n) % len(CLASSES)


def conv(cin, cout, k=3):
    return cin * cout * k * k + cout


def lin(i, o):
    return i * o + o


# -- loss terms against hand computations --------------------------------------------------------------
def test_l2_is_mean_squared_pixel_error():
    x = torch.tensor([[[[0.0, 1.0], [0.5, 0.5]]]])
    x_hat = torch.tensor([[[[1.0, 1.0], [0.0, 0.5]]]])
    assert l2_reconstruction(x_hat, x).item() == pytest.approx((1 + 0 + 0.25 + 0) / 4)


def test_p_mc_is_minus_log_softmax_of_true_class():
    z = torch.tensor([[2.0, 0.0, -1.0]])
    expected = -math.log(math.exp(0.0) / (math.exp(2.0) + 1 + math.exp(-1.0)))
    assert p_mc(z, torch.tensor([1])).item() == pytest.approx(expected, rel=1e-6)


def test_p_bc_and_adversarial_term_by_hand():
    logit, p = torch.tensor([0.8, 0.8]), 1 / (1 + math.exp(-0.8))
    target = torch.tensor([1, 0])
    assert p_bc(logit, target).tolist() == pytest.approx([-math.log(p), -math.log(1 - p)], rel=1e-6)
    # −log(1 − P_BC), P_BC = D's probability of the true label: for y=1 it is p, for y=0 it is 1−p.
    assert adversarial_term(logit, target).tolist() == pytest.approx([-math.log(1 - p), -math.log(p)], rel=1e-6)


def test_lample_terms_target_a_different_class():
    logits = torch.tensor([[1.0, 2.0, 0.5]])
    y = torch.tensor([1])
    log_p = F.log_softmax(logits, 1)[0]
    assert lample_dis_loss(logits, y).item() == pytest.approx(-log_p[1].item(), rel=1e-6)
    torch.manual_seed(0)
    values = {round(lample_adversarial_term(logits, y, 3).item(), 5) for _ in range(50)}
    assert values == {round(-log_p[0].item(), 5), round(-log_p[2].item(), 5)}  # never the true class


def test_total_loss_combines_the_terms():
    model = make({"l2": 2.0, "mc": 3.0, "adv": 0.5})
    x, y = batch(4)
    out = model.losses(x, y)
    z = model.encode(x)
    assert torch.allclose(out["z"], z)
    assert out["l2"].item() == pytest.approx((model.decode(z, y) - x).pow(2).mean().item(), rel=1e-5)
    assert out["al"].item() == pytest.approx(2.0 * out["l2"].item() + 0.5 * out["adv"].item(), rel=1e-5)
    assert out["loss"].item() == pytest.approx(out["al"].item() + 3.0 * out["p_mc"].item(), rel=1e-5)
    binary = (y != 0).float()
    d = model.discriminator(z)[:, 0]
    assert out["p_bc"].item() == pytest.approx(F.binary_cross_entropy_with_logits(d, binary).item(), rel=1e-5)


def test_lample_lambda_ramps_linearly():
    model = make({"mode": "lample", "lambda_max": 1e-3, "ramp_steps": 100})
    assert [model.lambda_at(b) for b in (0, 50, 100, 400)] == pytest.approx([0, 5e-4, 1e-3, 1e-3])
    assert make({"adv": 0.3}).lambda_at(10**6) == 0.3  # paper mode: constant λ


# -- the model -----------------------------------------------------------------------------------------
def test_decoder_takes_z_and_onehot_y():
    model = make(style_dims=3)
    assert model.decoder[0].in_features == 7 + 3 + 7 and model.to_z.out_features == 10
    x, y = batch(2)
    z = model.encode(x)
    a, b = model.decode(z, torch.tensor([0, 0])), model.decode(z, torch.tensor([5, 5]))
    assert a.shape == (2, 1, 128, 128) and 0 <= a.min() and a.max() <= 1
    assert not torch.allclose(a, b)  # the attribute input changes the image


def test_fast_parameter_count_from_arch_strings():
    model = make()
    encoder = conv(1, 8) + conv(8, 32) + lin(32 * 32 * 32, 256) + lin(256, 100) + lin(100, 7)
    decoder = lin(14, 8192) + conv(32, 18) + conv(18, 12) + conv(12, 6) + conv(6, 1)
    discriminator = lin(7, 256) + lin(256, 256) + lin(256, 1)
    assert sum(p.numel() for p in model.parameters()) == encoder + decoder + discriminator
    assert make({"mode": "lample"}).discriminator[-1].out_features == 7


def test_discriminator_target_is_emotion_vs_neutral():
    model = make()
    assert model.dis_target(torch.tensor([0, 1, 6, 0])).tolist() == [0, 1, 1, 0]
    assert make({"mode": "lample"}).dis_target(torch.tensor([0, 3])).tolist() == [0, 3]


def fit_one_batch(model, x, y):
    """One real Lightning training step (manual optimization, clipping in the module) on (x, y)."""
    import pytorch_lightning as pl
    from torch.utils.data import DataLoader, TensorDataset

    idx = torch.arange(len(x))
    loader = DataLoader(TensorDataset(x, y, idx, idx), batch_size=len(x))
    trainer = pl.Trainer(accelerator="cpu", max_epochs=1, limit_train_batches=1, logger=False,
                         enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.fit(model, train_dataloaders=loader)
    assert trainer.global_step == 2  # one step of each optimizer


def test_adversarial_term_pushes_discriminator_loss_up():
    """Training the encoder on −log(1 − P_BC) alone must make the (frozen) discriminator worse on the new z."""
    model = make({"adv": 1.0}, image_size=32)  # small images: the game, not the resolution, is under test
    y = torch.tensor([0, 0, 0, 0, 1, 3, 4, 5])  # balanced Emotion / NoEmotion
    g = torch.Generator().manual_seed(1)
    x = torch.rand(8, 1, 32, 32, generator=g) * 0.5 + 0.5 * (y != 0).float().view(-1, 1, 1, 1)  # readable
    target = model.dis_target(y)
    z0 = model.encode(x).detach()
    dis_opt = torch.optim.Adam(model.discriminator.parameters(), lr=3e-3)
    for _ in range(100):  # first a discriminator that reads the attribute from z
        dis_opt.zero_grad()
        p_bc(model.discriminator(z0)[:, 0], target).mean().backward()
        dis_opt.step()
    with torch.no_grad():
        before = p_bc(model.discriminator(z0)[:, 0], target).mean().item()
    enc_opt = torch.optim.Adam([*model.encoder.parameters(), *model.to_z.parameters()], lr=1e-3)
    for _ in range(2):
        enc_opt.zero_grad()
        adversarial_term(model.discriminator(model.encode(x))[:, 0], target).mean().backward()
        enc_opt.step()
    with torch.no_grad():
        after = p_bc(model.discriminator(model.encode(x))[:, 0], target).mean().item()
    assert before < math.log(2) and after > before + 0.5


def test_the_adversary_can_read_the_style_map():
    """adversary_reads=all: D sees the style map too, so fooling it moves the map's head; by default (§2.3) D sees
    z's vector part only and the map's head gets no gradient from the adversarial term."""
    arch = {**FAST, "encoder": "C8-C32-C64-F256-F100", "map_decoder": "TC32,4,2-TC16,4,2-TC8,4,2-UC1,3,1"}
    x, y = batch(4)
    grads = {}
    for reads in ("vector", "all"):
        model = make({"adv": 1.0}, arch=arch, style_map=8, adversary_reads=reads)
        assert model.discriminator[0].in_features == (model.latent_dims if reads == "all" else model.vector_dims)
        model.losses(x, y)["adv"].backward()
        grads[reads] = model.style_head.weight.grad
    assert grads["vector"] is None or not grads["vector"].any()
    assert grads["all"] is not None and grads["all"].abs().sum() > 0
    with pytest.raises(ValueError, match="model.adversary_reads='map'"):
        make(arch=arch, style_map=8, adversary_reads="map")


def test_rejects_unknown_mode():
    with pytest.raises(ValueError, match="loss.mode"):
        make({"mode": "flipped"})


# -- configs -------------------------------------------------------------------------------------------
def test_bad_loss_options_fail_validation(tmp_path):
    with pytest.raises(ConfigError, match="loss.adv"):
        validate(compose_config(["model=fader", "loss.adv=strong"], tmp_path, tmp_path))
    with pytest.raises(ConfigError, match="does not take loss=ssvae"):
        validate(compose_config(["model=fader", "loss=ssvae"], tmp_path, tmp_path))


# -- training ------------------------------------------------------------------------------------------
@pytest.mark.slow
def test_paper_arch_trains_one_step(tmp_path):
    cfg = compose_config(["model=fader", "arch=paper"], tmp_path, tmp_path)
    torch.manual_seed(0)
    model = build_model(cfg, CLASSES)
    encoder = conv(1, 8) + conv(8, 32) + lin(128 * 128 * 32, 256) + lin(256, 100) + lin(100, 7)
    decoder = lin(14, 8192) + conv(32, 18) + conv(18, 12) + conv(12, 6) + conv(6, 1, 1) + lin(16384, 16384)
    discriminator = lin(7, 256) + lin(256, 256) + lin(256, 1)
    assert sum(p.numel() for p in model.parameters()) == encoder + decoder + discriminator
    x, y = batch(2)
    head = model.decoder[-1].weight.detach().clone()
    fit_one_batch(model, x, y)
    assert not torch.equal(head, model.decoder[-1].weight)


@pytest.mark.parametrize("preset", PRESETS)
def test_every_preset_composes_validates_and_trains_one_step(preset, tmp_path):
    cfg = compose_config(["model=fader", f"loss={preset}"], tmp_path, tmp_path)
    validate(cfg)
    assert cfg.loss.name == preset
    model = build_model(cfg, CLASSES)
    weights = {"l2": (0, 0), "mc": (1, 0), "adv": (1, 0.1), "fader": (1, 0.1), "fader_paper": (1, 0.1),
               "lample": (0, 0)}[preset]
    assert (model.w_mc, model.w_adv) == weights and model.mode == ("lample" if preset == "lample" else "paper")
    x, y = batch(4)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    fit_one_batch(model, x, y)
    changed = {k.split(".")[0] for k, v in model.state_dict().items() if not torch.equal(before[k], v)}
    assert {"encoder", "to_z", "decoder", "discriminator"} <= changed


@pytest.mark.slow
def test_smoke_training_writes_metrics_figures_checkpoints(tmp_path, data_dir):
    overrides = ["model=fader", "debug=smoke", "data.progress=false", "trainer.max_epochs=1"]
    metrics = train(compose_config(overrides, tmp_path, data_dir))
    written = json.loads((tmp_path / "metrics.json").read_text())
    keys = {"test/acc", "test/recon_mse", "test/latent_disc_acc", "test/loss", "test/l2", "test/p_mc", "test/p_bc",
            "test/al", "test/latent_argmax_acc", "claims/own_latent_share_neutral", "test/swap_change", "model/params"}
    assert keys <= written.keys()
    assert 0 <= written["test/acc"] <= 1 and 0 < written["test/recon_mse"] < 0.5
    assert 0 <= written["test/latent_disc_acc"] <= 1
    assert written["test/acc"] == pytest.approx(written["test/latent_argmax_acc"], abs=1e-6)
    figures = {p.name for p in (tmp_path / "figures").glob("*.png")}
    assert {"fig7_latent_distributions.png", "fig8_latent_sampling.png", "swap_grid.png"} <= figures
    ckpt = torch.load(tmp_path / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=True)
    assert ckpt["hyper_parameters"]["loss"]["name"] == "fader" and ckpt["hyper_parameters"]["loss"]["adv"] == 0.1
    assert len(ckpt["optimizer_states"]) == 2  # autoencoder + discriminator
    assert metrics["model/params"] == sum(v.numel() for k, v in ckpt["state_dict"].items() if k != "class_codes")
