"""Every loss term of the paper, named as the paper names it, with its section. Each returns one value per
sample; the caller reduces. §2.4 first (RL, LL, CL), then §2.1, §2.2/§3.1, §2.2, §2.3."""

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


def cross_reconstruction_bce(logits: torch.Tensor, partner: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """XL (issue 14, beyond §2.4): RL of the face decoded from x_i's code with its partner x_j's emotion axes
    against x_j (same person, other emotion): the decoder must draw the emotion from CL's axes."""
    return reconstruction_loss(logits, partner, reduction)


# -- §2.1 classifier ---------------------------------------------------------------------------------


def cross_entropy_loss(logits: torch.Tensor, y: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """Classification loss of §2.1: softmax cross-entropy of the D7 logits against the labels, per sample."""
    return F.cross_entropy(logits, y, reduction="none", label_smoothing=label_smoothing)


# -- §2.2 / §3.1 siamese comparator ------------------------------------------------------------------


def comparator_loss(logits: torch.Tensor, same: torch.Tensor, label_smoothing: float = 0.0) -> torch.Tensor:
    """§3.1: binary cross-entropy between P(same emotion) = sigmoid(logit) and the pair label, per pair."""
    target = same * (1 - label_smoothing) + 0.5 * label_smoothing
    return F.binary_cross_entropy_with_logits(logits, target, reduction="none")


def auxiliary_loss(logits_a, label_a, logits_b, label_b) -> torch.Tensor:
    """Auxiliary emotion cross-entropy on both faces of a pair (labels of §1.1), per pair; not in the paper."""
    return 0.5 * (F.cross_entropy(logits_a, label_a, reduction="none") + F.cross_entropy(logits_b, label_b, reduction="none"))


# -- §2.2 siamese-supported VAE ----------------------------------------------------------------------


def siamese_loss(p_same: torch.Tensor, eps: float = 1e-6) -> torch.Tensor:
    """§2.2 siamese term: −log ô(x̂, ImgB) per sample (the paper writes −λ·ô; the log keeps a gradient when ô ≈ 0)."""
    return -torch.log(p_same.clamp_min(eps))


# -- §2.3 Fader network ------------------------------------------------------------------------------


def l2_reconstruction(x_hat: torch.Tensor, x: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """(θ(z)_dec − x)², the reconstruction term of AL (§2.3), averaged (Keras MSE) or summed over pixels."""
    if reduction not in ("mean", "sum"):
        raise ValueError(f"loss.l2_reduction={reduction!r}: use 'mean' or 'sum'")
    per_pixel = (x_hat - x).pow(2).flatten(1)
    return per_pixel.mean(1) if reduction == "mean" else per_pixel.sum(1)


def p_mc(z_axes: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """P_MC = −y·log softmax(z) (§2.3): multiclass cross-entropy of the emotion on the first K latent dims."""
    return F.cross_entropy(z_axes, y, reduction="none")


def p_bc(logit: torch.Tensor, is_emotion: torch.Tensor) -> torch.Tensor:
    """P_BC = −(y·log p + (1−y)·log(1−p)) (§2.3), p = sigmoid(D(z)): the discriminator's Emotion-vs-NoEmotion loss."""
    return F.binary_cross_entropy_with_logits(logit, is_emotion.float(), reduction="none")


def adversarial_term(logit: torch.Tensor, is_emotion: torch.Tensor) -> torch.Tensor:
    """−log(1 − P_BC) of AL (§2.3), P_BC read as D's probability of the true label: BCE toward the flipped label."""
    return F.binary_cross_entropy_with_logits(logit, 1.0 - is_emotion.float(), reduction="none")


def cross_reconstruction(edit_to_partner: torch.Tensor, partner: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """XL (issue 14, beyond §2.3): (edit(x_i → y_j) − x_j)² for x_j the same person as x_i with another emotion."""
    return l2_reconstruction(edit_to_partner, partner, reduction)


def lample_dis_loss(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Latent discriminator loss of Lample et al. 2017 (cited in §2.3): cross-entropy of the K-way emotion from z."""
    return F.cross_entropy(logits, y, reduction="none")


def lample_adversarial_term(logits: torch.Tensor, y: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Encoder term of Lample et al. 2017 (cited in §2.3): cross-entropy toward a random other (flipped) class."""
    shift = torch.randint(1, n_classes, y.shape, device=y.device)
    return F.cross_entropy(logits, (y + shift) % n_classes, reduction="none")
