"""Loss terms, named as in the paper. Each returns one value per sample; the caller reduces."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def reconstruction_loss(logits: torch.Tensor, x: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """RL (§2.4): binary cross-entropy between input pixels y and decoded p = sigmoid(logits), per image.

    `reduction="mean"` averages over pixels as Keras/TensorFlow's binary cross-entropy does (the
    paper's framework), which is what makes α=1, β=2, γ=10 favour classification (§3.4);
    "sum" is the textbook ELBO, where reconstruction dominates.
    """
    per_pixel = F.binary_cross_entropy_with_logits(logits, x, reduction="none").flatten(1)
    if reduction not in ("mean", "sum"):
        raise ValueError(f"loss.rl_reduction={reduction!r}: use 'mean' or 'sum'")
    return per_pixel.mean(1) if reduction == "mean" else per_pixel.sum(1)


def latent_loss(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """LL (§2.4): KL divergence -1/2 (1 + 2 log σ - σ² - μ²), summed over latent dimensions (logvar = 2 log σ)."""
    return -0.5 * (1 + logvar - logvar.exp() - mu.pow(2)).sum(1)


def classification_loss(z: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """CL (§2.4): element-wise binary cross-entropy of softmax(z) against the label vector y, summed over classes."""
    log_p = F.log_softmax(z, dim=1)
    # log(1 - p) from log p without cancellation: log1p(-exp(log p)), kept finite when p -> 1.
    log_not_p = torch.log1p(-log_p.exp().clamp(max=1 - 1e-7))
    return -(target * log_p + (1 - target) * log_not_p).sum(1)
