"""§2.4 model: parameter counts implied by the paper's layer sizes, neutral encodings, one paper-size step."""

import pytest
import torch

from facevae.models.ssvae import SSVAE
from facevae.run import build_model

from .conftest import compose_config

CLASSES = ["neutral", "anger", "contempt", "disgust", "surprise", "happiness", "sadness"]
LOSS = {"name": "ssvae", "alpha": 1.0, "beta": 2.0, "gamma": 10.0}


def conv(cin, cout, k=3):
    return cin * cout * k * k + cout


def dense(i, o):
    return i * o + o


def paper_count(latent):
    encoder = conv(1, 8) + conv(8, 32) + dense(128 * 128 * 32, 256) + dense(256, 100)
    heads = 2 * dense(100, latent)
    decoder = (dense(latent, 8192) + conv(32, 18) + conv(18, 12) + conv(12, 6) + conv(6, 1, k=1)
               + dense(16384, 16384))
    return encoder + heads + decoder


def test_paper_parameter_count(tmp_path):
    cfg = compose_config(["arch=paper", "model.style_map=0"], tmp_path, tmp_path)
    model = build_model(cfg, CLASSES)
    assert sum(p.numel() for p in model.parameters()) == paper_count(7)
    style = build_model(compose_config(["arch=paper", "model.style_map=0", "model.style_dims=3"], tmp_path, tmp_path), CLASSES)
    assert sum(p.numel() for p in style.parameters()) == paper_count(10)


@pytest.mark.slow
def test_paper_arch_trains_one_step(tmp_path):
    torch.manual_seed(0)
    model = build_model(compose_config(["arch=paper", "model.style_map=0"], tmp_path, tmp_path), CLASSES)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    x, y = torch.rand(2, 1, 128, 128), torch.tensor([0, 5])
    before = model.decoder[-1].bias.detach().clone()  # the F16384 head
    loss = model.losses(x, y, sample=True)["loss"]
    loss.backward()
    opt.step()
    assert torch.isfinite(loss) and not torch.equal(before, model.decoder[-1].bias)


def fast_arch():
    return {"pool_stride": 2, "encoder": "C8-C32-F256-F100", "decoder": "F8192-TC18,3,2-TC12,3,2-TC6,3,2-TC1,3,1"}


def test_neutral_as_zero_label():
    model = SSVAE(CLASSES, fast_arch(), LOSS, neutral_encoding="zero", neutral_threshold=0.5)
    assert model.n_axes == 6
    y = torch.tensor([0, 1, 6])
    vectors = model.label_vectors(y)
    assert vectors.shape == (3, 6) and vectors[0].sum() == 0 and vectors[1, 0] == 1 and vectors[2, 5] == 1
    mu = torch.zeros(3, 6)
    mu[1, 2], mu[2, 0] = 3.0, 0.4  # clear contempt; anger below the threshold
    assert model.predict_from_latent(mu).tolist() == [0, 3, 0]


def test_losses_weight_terms_as_configured():
    torch.manual_seed(0)
    model = SSVAE(CLASSES, fast_arch(), LOSS)
    x, y = torch.rand(4, 1, 128, 128), torch.randint(0, 7, (4,))
    out = model.losses(x, y, sample=False)
    assert torch.allclose(out["loss"], out["rl"] + 2 * out["ll"] + 10 * out["cl"])
    model.gamma = 0.0
    again = model.losses(x, y, sample=False)
    assert torch.allclose(again["loss"], again["rl"] + 2 * again["ll"])


def map_arch():
    return {**fast_arch(), "encoder": "C8-C32-C64-F256-F100", "map_decoder": "TC32,4,2-TC16,4,2-TC8,4,2-UC1,3,1"}


def test_style_map_latent_is_flat_axes_first():
    """Issue 14: z = (emotion axes, style map flattened); edits and traversals move only the axes."""
    torch.manual_seed(0)
    model = SSVAE(CLASSES, map_arch(), LOSS, style_map=4).eval()
    assert model.map_shape == (4, 16, 16) and model.latent_dims == 7 + 4 * 16 * 16
    x = torch.rand(3, 1, 128, 128)
    mu, logvar = model.encode(x)
    assert mu.shape == logvar.shape == (3, model.latent_dims)
    assert model.decode(mu).shape == (3, 1, 128, 128)
    # the decoder reads the style map: changing it changes the face, at the positions it covers
    z = mu.clone()
    z[:, 7:] += 1.0
    assert not torch.allclose(model.decode(z), model.decode(mu))
    # evaluation reads the axes and the map averaged over positions (t-SNE, disentanglement)
    codes = model.eval_batch(x, torch.tensor([0, 1, 2]))["codes"]
    assert codes.shape == (3, 7 + 4)
    assert torch.allclose(codes[:, :7], mu[:, :7]) and torch.allclose(codes[:, 7:], mu[:, 7:].view(3, 4, 256).mean(2))
    out = model.losses(x, torch.tensor([0, 1, 2]), sample=True)
    assert torch.isfinite(out["loss"]) and out["logits"].shape == (3, 1, 128, 128)


def test_style_map_needs_a_map_decoder(tmp_path):
    with pytest.raises(ValueError, match="model.style_map=0 for the paper's vector latent"):
        build_model(compose_config(["arch=paper"], tmp_path, tmp_path), CLASSES)
    with pytest.raises(ValueError, match="arch.map_decoder=.* outputs"):
        SSVAE(CLASSES, {**map_arch(), "map_decoder": "TC8,4,2-UC1,3,1"}, LOSS, style_map=4)


def test_checkpoint_from_before_the_trunk_split_loads():
    """An encoder saved as one Sequential (encoder.<i>.weight) loads into trunk + head with the same outputs."""
    torch.manual_seed(0)
    model = SSVAE(CLASSES, fast_arch(), LOSS).eval()
    flat = [m for part in model.encoder for m in part]
    old = {k: v for k, v in model.state_dict().items() if not k.startswith("encoder.")}
    for i, m in enumerate(flat):
        old.update({f"encoder.{i}.{n}": p for n, p in m.state_dict().items()})
    again = SSVAE(CLASSES, fast_arch(), LOSS).eval()
    again.load_state_dict(old)
    x = torch.rand(2, 1, 128, 128)
    assert torch.equal(again.encode(x)[0], model.encode(x)[0])


def test_the_default_beta_vae_has_batch_norm_and_the_paper_and_other_models_do_not(tmp_path):
    """arch=fast names the β-VAE its own encoder (arch.ssvae_encoder, issue 16); arch=paper and the Fader keep
    arch.encoder; a bad string names the key it came from."""

    def norms(model):
        return sum(isinstance(m, torch.nn.BatchNorm2d) for m in model.encoder.modules())

    fast = build_model(compose_config([], tmp_path, tmp_path), CLASSES)
    assert norms(fast) == 2
    assert norms(build_model(compose_config(["arch=paper", "model.style_map=0"], tmp_path, tmp_path), CLASSES)) == 0
    assert norms(build_model(compose_config(["model=fader"], tmp_path, tmp_path), CLASSES)) == 0
    plain = build_model(compose_config(["arch.ssvae_encoder=null"], tmp_path, tmp_path), CLASSES)
    assert norms(plain) == 0 and plain.encoder[0][0].out_channels == fast.encoder[0][0].out_channels
    with pytest.raises(ValueError, match="arch.ssvae_encoder='C8-C32' must end in a dense layer"):
        build_model(compose_config(["arch.ssvae_encoder=C8-C32"], tmp_path, tmp_path), CLASSES)
