"""Semi-supervised β-VAE (§2.4): the latent space doubles as the emotion classification layer."""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torchmetrics.classification import MulticlassAccuracy

from . import backbone
from .backbone import GaussianVAE, latent_map
from .base import FaceModule, check_schedule
from .editing import EDIT_MODES, ClassCodes, partner_index
from .draw import StrokeEditor
from .warp import build_flow_decoder, displacement, multiscale_l1, warp
from .losses import classification_loss, cross_reconstruction_bce, latent_loss, reconstruction_loss


@dataclass
class SSVAELoss:
    """Loss options of §2.4: L = α·RL + β·LL + γ·CL. The defaults are the default run's, conf/loss/ssvae.yaml
    (tests/test_config.py keeps them equal; why those weights: that file); §3.4's are loss=ssvae_paper."""

    name: str = "ssvae"
    alpha: float = 1.0
    beta: float = 0.01
    gamma: float = 1000.0
    rl_reduction: str = "sum"  # RL over pixels: sum (textbook ELBO) or mean (Keras, the paper's framework)
    # XL (not in the paper, issue 14): a face decoded (or, under edit_mode=warp/draw, warped/drawn on) toward its
    # partner's emotion axes must be the partner: a frame of the same CK+ sequence (data.partners=true). 0 = off.
    xl: float = 0.0
    # edit_mode=draw: each pair's XL weighted by the inverse of its own change (facevae.models.draw.pair_weights)
    xl_per_change: bool = False


class SSVAE(GaussianVAE, ClassCodes, StrokeEditor, FaceModule):
    """Encoder -> (μ, log σ²) -> z -> decoder; the first K latent dimensions are the K emotion axes.

    Loss (§2.4): L = α·RL + β·LL + γ·CL, with α=1, β=2, γ=10 as in §3.4. `style_dims` adds latent
    dimensions outside CL (0 = the paper). `neutral_encoding='class'` gives neutral its own axis;
    'zero' encodes neutral as the all-zero label vector (§1.1 "zero-label"), so neutral faces should
    sit near the origin and are predicted when no emotion axis exceeds `neutral_threshold`.
    Edits move the emotion axes to the target class's mean training code and, under edit_mode=residual,
    add only the decoder's change to the input (facevae.models.editing); under edit_mode=warp a flow decoder
    moves the input's own pixels instead (facevae.models.warp); under edit_mode=draw a U-Net draws the change
    onto the input (facevae.models.draw).
    """

    loss_terms = ("rl", "ll", "cl", "xl")
    loss_schema = SSVAELoss

    def __init__(
        self,
        classes: list[str],
        arch: dict,
        loss: dict,
        image_size: int = 128,
        style_dims: int = 0,
        style_map: int = 0,
        neutral_encoding: str = "class",
        neutral_threshold: float = 0.0,
        edit_mode: str = "decode",
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        schedule: str = "constant",
        stroke_lr: float | None = None,
    ):
        super().__init__()
        self.save_hyperparameters()
        check_schedule(schedule)
        if neutral_encoding not in ("class", "zero"):
            raise ValueError(f"model.neutral_encoding={neutral_encoding!r}: use 'class' or 'zero'")
        if neutral_encoding == "zero" and classes[0] != "neutral":
            raise ValueError("model.neutral_encoding=zero needs 'neutral' first in data.classes")
        self.classes = list(classes)
        self.n_axes = len(classes) - (neutral_encoding == "zero")
        # arch.ssvae_encoder (issue 16): the β-VAE's own encoder where the arch names one, else arch.encoder.
        self.build_vae(arch, image_size, self.n_axes + style_dims, style_map, encoder_key="ssvae_encoder")
        self.alpha, self.beta, self.gamma = float(loss["alpha"]), float(loss["beta"]), float(loss["gamma"])
        self.rl_reduction = loss.get("rl_reduction", "mean")
        self.w_xl = float(loss.get("xl", 0.0))
        self.xl_per_change = bool(loss.get("xl_per_change", False))
        self.val_acc = MulticlassAccuracy(len(classes), average="micro")
        self.test_acc = MulticlassAccuracy(len(classes), average="micro")
        self.init_class_codes(len(classes), self.n_axes, edit_mode, modes=(*EDIT_MODES, "warp", "draw"))
        if edit_mode == "warp":
            if not style_map:
                raise ValueError("model.edit_mode=warp needs model.style_map > 0: the flow is read from the style map")
            self.flow_decoder = build_flow_decoder(arch.get("flow_decoder"), self.n_axes, self.map_shape,
                                                   arch["pool_stride"])
        if edit_mode == "draw":
            self.init_stroke_net(arch, self.n_axes)

    def parameter_groups(self):
        """model.stroke_lr (edit_mode=draw): the stroke net's own lr; it learns from XL alone, on the VAE's code."""
        return self.stroke_groups(list(self.parameters()), self.hparams.stroke_lr)

    # -- the model (encode, decode_logits, decode: backbone.GaussianVAE) ---------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction of x from its mean code."""
        mu, _ = self.encode(x)
        return self.decode(mu)

    def label_vectors(self, y: torch.Tensor) -> torch.Tensor:
        """The label vector y of §2.4: one-hot over the emotion axes (all zero for neutral under 'zero')."""
        onehot = F.one_hot(y, len(self.classes)).float()
        return onehot[:, 1:] if self.hparams.neutral_encoding == "zero" else onehot

    def predict_from_latent(self, mu: torch.Tensor) -> torch.Tensor:
        """Class index read from the emotion axes of the latent (latent-argmax)."""
        axes = mu[:, : self.n_axes]
        if self.hparams.neutral_encoding == "zero":
            origin = torch.full_like(axes[:, :1], self.hparams.neutral_threshold)
            axes = torch.cat([origin, axes], dim=1)
        return axes.argmax(1)

    # -- evaluation --------------------------------------------------------------------------------
    can_edit = True

    def eval_batch(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, _ = self.encode(x)
        return self.eval_outputs(mu, self.decode_logits(mu))

    def eval_outputs(self, mu: torch.Tensor, logits: torch.Tensor) -> dict[str, torch.Tensor]:
        """eval_batch's outputs from the mean code and its decoded logits (the test loop's own forward)."""
        axes = mu[:, : self.n_axes]
        if self.hparams.neutral_encoding == "zero":  # neutral's "variable" is the threshold (Fig. 10)
            axes = torch.cat([torch.full_like(axes[:, :1], self.hparams.neutral_threshold), axes], dim=1)
        return {"codes": self.summary_codes(mu), "latent": mu, "recon": torch.sigmoid(logits),
                "pred": self.predict_from_latent(mu), "axes": axes}

    def summary_codes(self, mu: torch.Tensor) -> torch.Tensor:
        return backbone.summary_codes(mu, self.vector_dims, self.map_shape)

    def edit_goals(self) -> torch.Tensor:
        """K × n_axes: where an edit toward each class puts the emotion axes (its mean training code; the
        label vector of §2.4 for a model trained before class codes were kept)."""
        if self.has_class_codes():
            return self.class_codes
        return self.label_vectors(torch.arange(len(self.classes), device=self.class_codes.device))

    def mix(self, x: torch.Tensor, weights: torch.Tensor, source: torch.Tensor | None = None,
            code: torch.Tensor | None = None) -> torch.Tensor:
        """Faces x (N or 1 ×1×H×W) with the emotion axes a' = a + Σ_k w_k (goal_k − a), one row of `weights`
        (B × K) per output; strength 0 everywhere returns the reconstruction (decode) or x (residual, warp, draw;
        draw adds the stroke net's change scaled by the strength, facevae.models.draw).
        `code`: x's mean code when already known (the evaluation's collection), else encoded here.
        `source` (N or 1 class indices): draw strokes from that class's goal instead of the axes' own reading,
        as the Fader's draw mode slides y from it; the other modes slide from x's own code."""
        mu = self.encode(x)[0] if code is None else code
        weights = weights.to(mu)
        mu = mu.expand(len(weights), -1) if len(mu) == 1 else mu
        if self.edit_mode == "draw":  # softmax of the axes: what CL reads as class probabilities (§2.4)
            goals = torch.softmax(self.edit_goals().to(mu), 1)
            own = torch.softmax(mu[:, : self.n_axes], 1) if source is None else goals[source.reshape(-1)]
            return self.draw_mix(x, own.expand(len(mu), -1), goals, weights)
        moved = mu.clone()
        total = weights.sum(1, keepdim=True)
        moved[:, : self.n_axes] = mu[:, : self.n_axes] * (1 - total) + weights @ self.edit_goals().to(mu)
        if self.edit_mode == "warp":
            return self.warp_toward(x.expand(len(mu), -1, -1, -1), mu, moved[:, : self.n_axes])
        edited = self.decode(moved)
        return self.compose(x, edited, self.decode(mu)) if self.edit_mode == "residual" else edited

    def warp_toward(self, x: torch.Tensor, mu: torch.Tensor, axes: torch.Tensor) -> torch.Tensor:
        """edit_mode=warp (facevae.models.warp): x moved by F(m, a') − F(m, a), m and a from x's code mu."""
        style = latent_map(mu, self.vector_dims, self.map_shape)
        own = mu[:, : self.n_axes]
        flow = displacement(self.flow_decoder, style, axes) - displacement(self.flow_decoder, style, own)
        return warp(x, flow)

    def edit(self, x: torch.Tensor, target: int, strength: float = 1.0,
             source: torch.Tensor | None = None, code: torch.Tensor | None = None) -> torch.Tensor:
        """x with its emotion axes moved toward `target`'s code (CL's axes, §2.4)."""
        weights = torch.zeros(len(x), len(self.classes), device=x.device)
        weights[:, target] = strength
        return self.mix(x, weights, source, code)

    def axis_of(self, class_index: int) -> int:
        """The latent axis of a class (under 'zero' encoding neutral has none and the others shift by one)."""
        return class_index - (self.hparams.neutral_encoding == "zero")

    def traverse(self, x: torch.Tensor, axis: int, values: torch.Tensor) -> torch.Tensor:
        """Fig. 11: x's mean code with one axis set to each of `values`, decoded: (len(values), N, H, W)."""
        return self.decode_along(self.encode(x)[0], axis, values)

    def decode_along(self, mu: torch.Tensor, axis: int, values: torch.Tensor) -> torch.Tensor:
        """Codes `mu` with one axis set to each of `values`, decoded: (len(values), N, H, W)."""
        faces = []
        for v in values.tolist():
            z = mu.clone()
            z[:, axis] = v
            faces.append(self.decode(z)[:, 0])
        return torch.stack(faces)

    # -- losses ------------------------------------------------------------------------------------
    def losses(self, x: torch.Tensor, y: torch.Tensor, sample: bool,
               subjects: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Batch means of RL, LL, CL, XL (0 without `subjects` or pairs) and the weighted total; z is sampled
        when `sample` (training)."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if sample else mu
        logits = self.decode_logits(z)
        terms = {
            "rl": reconstruction_loss(logits, x, self.rl_reduction).mean(),
            "ll": latent_loss(mu, logvar).mean(),
            "cl": classification_loss(z[:, : self.n_axes], self.label_vectors(y)).mean(),
            "xl": torch.zeros((), device=x.device),
        }
        if self.w_xl > 0 and subjects is not None:
            j, has = partner_index(y, subjects)
            if has.any() and self.edit_mode == "warp":
                # x_i warped toward x_j's axes must be x_j; the flow decoder learns on the VAE's code, not into it
                moved = self.warp_toward(x[has], mu[has].detach(), mu[j[has], : self.n_axes].detach())
                terms["xl"] = multiscale_l1(moved, x[j[has]]).mean()
            elif has.any() and self.edit_mode == "draw":
                terms["xl"] = self.stroke_loss(x, torch.softmax(mu[:, : self.n_axes].detach(), 1), j, has,
                                               self.xl_per_change)
            elif has.any():
                # x_i's code with x_j's emotion axes must decode to x_j: the rest of the code keeps the person
                crossed = z[has].clone()
                crossed[:, : self.n_axes] = z[j[has], : self.n_axes]
                terms["xl"] = cross_reconstruction_bce(self.decode_logits(crossed), x[j[has]], self.rl_reduction).mean()
        terms["loss"] = (self.alpha * terms["rl"] + self.beta * terms["ll"] + self.gamma * terms["cl"]
                         + self.w_xl * terms["xl"])
        terms["mu"], terms["logits"] = mu, logits
        return terms

    def training_step(self, batch, batch_idx):
        x, y, subjects, _ = batch
        out = self.losses(x, y, sample=True, subjects=subjects)
        self.track_codes(out["mu"][:, : self.n_axes], y)
        self.log_dict({f"train/{k}": out[k] for k in self.loss_terms}, batch_size=len(x))
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=len(x))
        return out["loss"]

    def _evaluate(self, batch, stage: str, acc: MulticlassAccuracy):
        x, y, _, _ = batch
        out = self.losses(x, y, sample=False)
        if stage == "test":
            self.collect_test(self.eval_outputs(out["mu"], out["logits"]))
        acc.update(self.predict_from_latent(out["mu"]), y)
        mse = (torch.sigmoid(out["logits"]) - x).pow(2).mean()
        logs = {f"{stage}/{k}": out[k] for k in ("loss", *self.loss_terms)}
        logs[f"{stage}/recon_mse"] = mse
        self.log_dict(logs, batch_size=len(x), sync_dist=True)
        self.log(f"{stage}/acc", acc, prog_bar=stage == "val", batch_size=len(x), sync_dist=True)

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, "val", self.val_acc)

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, "test", self.test_acc)


