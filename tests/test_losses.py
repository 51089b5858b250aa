"""Each §2.4 loss term against a hand computation on tiny tensors."""

import math

import torch

from facevae.models.losses import classification_loss, latent_loss, reconstruction_loss


def test_reconstruction_loss_is_bce_over_pixels():
    logits = torch.tensor([[[[0.0, 2.0]]]])
    x = torch.tensor([[[[1.0, 0.0]]]])
    p = [0.5, 1 / (1 + math.exp(-2.0))]
    expected = -(math.log(p[0]) + math.log(1 - p[1]))
    assert torch.allclose(reconstruction_loss(logits, x, "sum"), torch.tensor([expected]), atol=1e-6)
    assert torch.allclose(reconstruction_loss(logits, x, "mean"), torch.tensor([expected / 2]), atol=1e-6)


def test_latent_loss_matches_kl_formula():
    mu = torch.tensor([[1.0, 0.0]])
    sigma = torch.tensor([[1.0, 0.5]])
    logvar = 2 * sigma.log()
    expected = sum(-0.5 * (1 + 2 * math.log(s) - s**2 - m**2) for m, s in zip([1.0, 0.0], [1.0, 0.5]))
    assert torch.allclose(latent_loss(mu, logvar), torch.tensor([expected]), atol=1e-6)
    # a standard normal posterior costs nothing
    assert latent_loss(torch.zeros(1, 3), torch.zeros(1, 3)).item() == 0.0


def test_classification_loss_is_elementwise_bce_on_softmax():
    z = torch.tensor([[2.0, 0.0, -1.0]])
    y = torch.tensor([[1.0, 0.0, 0.0]])
    p = torch.softmax(z, 1)[0].tolist()
    expected = -(math.log(p[0]) + math.log(1 - p[1]) + math.log(1 - p[2]))
    assert torch.allclose(classification_loss(z, y), torch.tensor([expected]), atol=1e-5)


def test_classification_loss_stays_finite_when_confident():
    z = torch.tensor([[60.0, 0.0]], requires_grad=True)
    loss = classification_loss(z, torch.tensor([[0.0, 1.0]]))
    loss.sum().backward()
    assert torch.isfinite(loss).all() and torch.isfinite(z.grad).all()
