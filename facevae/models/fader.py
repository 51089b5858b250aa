"""Fader network (§2.3): an autoencoder whose decoder gets the emotion y, with an adversary on the latent z."""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn
from torchmetrics.classification import BinaryAccuracy, MulticlassAccuracy

from .arch import build_network
from . import backbone
from .backbone import build_decoder, build_encoder, latent_map, map_decoder_input, split_encoder_keys
from .base import FaceModule, adam, check_schedule
from .draw import CRITIC_BETAS, StrokeEditor
from .editing import ClassCodes, partner_index
from .losses import adversarial_term, cross_reconstruction, l2_reconstruction, lample_adversarial_term, lample_dis_loss, p_bc, p_mc


#: model.adversary_reads: what the latent discriminator sees, z's vector part (§2.3) or all of z with the style map
ADVERSARY_READS = ("vector", "all")


@dataclass
class FaderLoss:
    """Loss options of §2.3: loss = l2·L2 + mc·P_MC + λ·adversarial term (AL = L2 − λ·log(1 − P_BC))."""

    name: str = "fader"
    l2: float = 1.0  # weight of the L2 reconstruction term
    # L2 per image: mean over pixels (the paper's Keras MSE, where P_MC outweighs the face) or sum (issue 14:
    # the face is worth its 16,384 pixels, so z keeps the person)
    l2_reduction: str = "mean"
    mc: float = 1.0  # weight of the multiclass term P_MC on the first K latent dimensions
    adv: float = 0.1  # λ of AL (§2.3: 0.1); 0 = the discriminator trains but the encoder ignores it
    mode: str = "paper"  # paper: binary Emotion-vs-NoEmotion adversary | lample: K-way adversary (Lample et al. 2017)
    # XL (not in the paper, issue 14): a training face edited to its partner's emotion, composed as edit_mode
    # composes edits (decoded, residual or painted), must be the partner (same person, other label;
    # data.partners=true puts one in the batch): the decoder has to draw the emotion from y. 0 = off (the paper).
    xl: float = 0.0
    # edit_mode=draw: each pair's XL weighted by the inverse of its own change (facevae.models.draw.pair_weights)
    xl_per_change: bool = False
    # edit_mode=draw: weight of the stroke critic's term (facevae.models.draw.StrokeCritic; not in the paper): the
    # drawn edit must also pass a conditional PatchGAN for a real photo of its target class. 0 = off (no critic)
    xl_adv: float = 0.0
    critic_lr: float = 2e-4  # the stroke critic's Adam (β1 0.5, as GANs train)
    lambda_max: float = 1e-4  # mode=lample: λ ramps linearly from 0 to this ...
    ramp_steps: int = 500000  # ... over this many training batches


# -- loss terms (per sample; the caller reduces) ---------------------------------------------------
def attention_composition(face: torch.Tensor, mask: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """A·face + (1 − A)·x: the drawn face only where the attention mask A says (GANimation, edit_mode=mask)."""
    return mask * face + (1 - mask) * x


class Fader(ClassCodes, StrokeEditor, FaceModule):
    """Encoder x -> z (K emotion dims + `style_dims`), decoder (z, onehot(y)) -> x, latent discriminator D(z).

    Reading of §2.3 (the paper states AL = (θ(z)_dec − x)² − λ·log(1 − P_BC), λ = 0.1, and no training
    procedure): D is trained with P_BC on z.detach() to tell emotional (y ≠ neutral) from neutral faces;
    the encoder/decoder minimise l2·L2 + mc·P_MC + λ·(−log(1 − P_BC)), where P_BC inside the log is D's
    probability of the *true* label, so the encoder is pushed to make D wrong (the flipped-label loss of
    Fader networks). P_MC = cross-entropy of softmax(z[:K]) ties each of the first K latent dims to one
    emotion. mode=lample swaps in the original recipe: D predicts the K-way emotion, the encoder is
    pushed toward a random other class, λ ramps 0 -> lambda_max over ramp_steps batches.
    Two optimizers (autoencoder, discriminator) -> manual optimization, discriminator step first; with
    loss.xl_adv two more, the stroke critic's and the stroke net's (facevae.models.draw), stepped in that order.
    Edits slide y from the source class to the target and, with `edit_axes`, z's first K dims to the
    target's mean training code too (as Fig. 8 samples z_k with y = k); edit_mode: facevae.models.editing.
    Logged: l2, p_mc, p_bc (D's loss on z), adv (−log(1 − P_BC)), al = l2·L2 + λ·adv (the paper's AL),
    loss = al + mc·P_MC, dis_loss (D's own step, on z.detach()).
    """

    ddp_find_unused_parameters = True  # each of the two optimizer steps leaves the other part unused
    loss_terms = ("l2", "p_mc", "p_bc", "adv", "al", "xl", "xl_adv")
    loss_schema = FaderLoss

    def __init__(
        self,
        classes: list[str],
        arch: dict,
        loss: dict,
        image_size: int = 128,
        style_dims: int = 0,
        style_map: int = 0,
        edit_mode: str = "decode",
        edit_axes: bool = False,
        lr: float = 1e-3,
        dis_lr: float = 1e-3,
        grad_clip: float = 5.0,
        stroke_lr: float | None = None,
        schedule: str = "constant",
        adversary_reads: str = "vector",
    ):
        super().__init__()
        self.save_hyperparameters()
        check_schedule(schedule)
        if adversary_reads not in ADVERSARY_READS:
            raise ValueError(f"model.adversary_reads={adversary_reads!r}: use one of {', '.join(ADVERSARY_READS)}")
        self.automatic_optimization = False  # two optimizers (NOTES §3)
        opts = {**vars(FaderLoss()), **loss}
        if opts["mode"] not in ("paper", "lample"):
            raise ValueError(f"loss.mode={opts['mode']!r}: use 'paper' or 'lample'")
        if opts["mode"] == "paper" and "neutral" not in classes:
            raise ValueError("loss.mode=paper needs 'neutral' in data.classes (the NoEmotion side of P_BC)")
        self.classes, self.n_classes = list(classes), len(classes)
        self.neutral = classes.index("neutral") if "neutral" in classes else -1
        self.mode = opts["mode"]
        self.w_l2, self.w_mc, self.w_adv = float(opts["l2"]), float(opts["mc"]), float(opts["adv"])
        self.l2_reduction = str(opts["l2_reduction"])
        self.lambda_max, self.ramp_steps = float(opts["lambda_max"]), int(opts["ramp_steps"])
        self.w_xl = float(opts["xl"])
        self.xl_per_change = bool(opts["xl_per_change"])
        self.w_xl_adv, self.critic_lr = float(opts["xl_adv"]), float(opts["critic_lr"])
        if self.w_xl_adv > 0 and (edit_mode != "draw" or self.w_xl <= 0):
            raise ValueError(f"loss.xl_adv={self.w_xl_adv} judges the stroke editor's drawn edits: it needs "
                             f"model.edit_mode=draw and loss.xl>0 (got edit_mode={edit_mode}, xl={self.w_xl})")
        self.vector_dims = self.n_classes + style_dims
        self.image_shape = (1, image_size, image_size)
        # style_map=S: z also holds an S-channel map beside the vector (issue 14; facevae.models.backbone)
        self.encoder, self.style_head, h_shape, self.map_shape = build_encoder(
            arch["encoder"], self.image_shape, arch["pool_stride"], style_map, stochastic=False)
        self.latent_dims = self.vector_dims + math.prod(self.map_shape)
        self.to_z = nn.Linear(h_shape[0], self.vector_dims)
        # The decoder reads (z, onehot(y)): the vector part and y, tiled over the style map when there is one.
        # edit_mode=mask: a second output map is the attention mask A of the edit's composition (editing.py)
        self.decoder = build_decoder(arch, self.vector_dims + self.n_classes, self.map_shape, self.image_shape,
                                     out_channels=2 if edit_mode == "mask" else 1)
        # The paper gives no discriminator layers: arch.discriminator plus one output unit (K for lample). It reads
        # the vector part of z (§2.3's z), or with adversary_reads=all the style map too (Lample et al.'s D sees
        # their whole 512x2x2 code): otherwise the map is free to carry the emotion past the adversary.
        n_out = 1 if self.mode == "paper" else self.n_classes
        self.dis_dims = self.latent_dims if adversary_reads == "all" else self.vector_dims
        self.discriminator, _ = build_network(f"{arch['discriminator']}-D{n_out}", (self.dis_dims,))
        self.val_acc, self.test_acc = (MulticlassAccuracy(self.n_classes, average="micro") for _ in range(2))
        if self.mode == "paper":
            self.val_disc_acc, self.test_disc_acc = BinaryAccuracy(), BinaryAccuracy()
        else:
            self.val_disc_acc, self.test_disc_acc = (MulticlassAccuracy(self.n_classes, average="micro")
                                                     for _ in range(2))
        self.edit_axes = bool(edit_axes)
        self.init_class_codes(self.n_classes, self.n_classes, edit_mode, ("residual", "decode", "mask", "draw"))
        if edit_mode == "draw":  # the stroke editor (facevae.models.draw), conditioned on the move of y
            self.init_stroke_net(arch, self.n_classes, critic=self.w_xl_adv > 0)

    # -- the model ---------------------------------------------------------------------------------
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """z = θ(x)_enc (§2.3), flat: the vector part (emotion dims, style dims), then the style map if any."""
        trunk = self.encoder[0](x)
        z = self.to_z(self.encoder[1](trunk))
        if self.style_head is not None:
            z = torch.cat([z, self.style_head(trunk).flatten(1)], 1)
        return z

    def decode_parts(self, z: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The face drawn from (z, y) in [0, 1], y the emotion index or a (soft) one-hot row (§2.3), and under
        edit_mode=mask the attention mask A in [0, 1] (None otherwise)."""
        onehot = F.one_hot(y, self.n_classes) if y.ndim == 1 else y
        h = torch.cat([z[:, : self.vector_dims], onehot.to(z.dtype)], dim=1)
        if self.style_head is not None:
            h = map_decoder_input(h, latent_map(z, self.vector_dims, self.map_shape))
        out = torch.sigmoid(self.decoder(h).view(z.shape[0], -1, *self.image_shape[1:]))
        return (out[:, :1], out[:, 1:]) if self.edit_mode == "mask" else (out, None)

    def decode(self, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1] reconstructed from (z, y), y the emotion index or a (soft) one-hot row (§2.3)."""
        return self.decode_parts(z, y)[0]

    def paint(self, x: torch.Tensor, z: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """edit_mode=mask: A·θ(z, y)_dec + (1 − A)·x, the drawn face only where the mask says (GANimation)."""
        return attention_composition(*self.decode_parts(z, y), x)

    def summary_codes(self, z: torch.Tensor) -> torch.Tensor:
        return backbone.summary_codes(z, self.vector_dims, self.map_shape)

    # -- evaluation --------------------------------------------------------------------------------
    can_edit = True

    def eval_batch(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        z = self.encode(x)
        return self.eval_outputs(z, self.decode(z, y))

    def eval_outputs(self, z: torch.Tensor, x_hat: torch.Tensor) -> dict[str, torch.Tensor]:
        """eval_batch's outputs from the code and its reconstruction with the true y (the test loop's forward)."""
        return {"codes": self.summary_codes(z), "latent": z, "recon": x_hat,
                "pred": self.predict_from_latent(z), "axes": z[:, : self.n_classes]}

    def mix(self, x: torch.Tensor, weights: torch.Tensor, source: torch.Tensor | None = None,
            code: torch.Tensor | None = None) -> torch.Tensor:
        """Faces x (N or 1 ×1×H×W) decoded with y = onehot(source) + Σ_k w_k (onehot(k) − onehot(source)), one row
        of `weights` (B × K) per output (§2.3's sliders); source defaults to neutral."""
        weights = weights.to(x)
        if source is None:
            source = torch.full((1,), max(self.neutral, 0), dtype=torch.long, device=x.device)
        src = F.one_hot(source.reshape(-1), self.n_classes).to(x).expand(len(weights), -1)
        if self.edit_mode == "draw":  # x plus the strokes of y's move from the source to each target: no code needed
            return self.draw_mix(x, src, torch.eye(self.n_classes).to(x), weights)
        z = self.encode(x) if code is None else code  # code: x's z when already known (the evaluation's collection)
        z = z.expand(len(weights), -1) if len(z) == 1 else z
        total = weights.sum(1, keepdim=True)
        moved = z
        if self.edit_axes and self.has_class_codes():
            moved = z.clone()
            moved[:, : self.n_classes] = z[:, : self.n_classes] * (1 - total) + weights @ self.class_codes.to(z)
        if self.edit_mode == "mask":
            return self.paint(x.expand(len(weights), -1, -1, -1) if len(x) == 1 else x, moved, src * (1 - total) + weights)
        edited = self.decode(moved, src * (1 - total) + weights)
        return self.compose(x, edited, self.decode(z, src)) if self.edit_mode == "residual" else edited

    def edit(self, x: torch.Tensor, target: int, strength: float = 1.0,
             source: torch.Tensor | None = None, code: torch.Tensor | None = None) -> torch.Tensor:
        """x's code decoded with y slid from its `source` class (default neutral) to `target` (§2.3's sliders)."""
        weights = torch.zeros(len(x), self.n_classes, device=x.device)
        weights[:, target] = strength
        return self.mix(x, weights, source, code)

    def forward(self, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """Reconstruction of x with attribute y."""
        return self.decode(self.encode(x), y)

    def predict_from_latent(self, z: torch.Tensor) -> torch.Tensor:
        """Emotion read from the latent: argmax of its first K dimensions."""
        return z[:, : self.n_classes].argmax(1)

    def dis_target(self, y: torch.Tensor) -> torch.Tensor:
        """What D predicts: Emotion (y ≠ neutral) vs NoEmotion in paper mode, the emotion itself in lample mode."""
        return (y != self.neutral).long() if self.mode == "paper" else y

    def dis_predict(self, out: torch.Tensor) -> torch.Tensor:
        return (out[:, 0] > 0).long() if self.mode == "paper" else out.argmax(1)

    def dis_loss(self, out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        """The discriminator's own loss: P_BC (paper) or K-way cross-entropy (lample), batch mean."""
        if self.mode == "paper":
            return p_bc(out[:, 0], self.dis_target(y)).mean()
        return lample_dis_loss(out, y).mean()

    def adv_weight(self) -> float:
        """λ now; manual optimization: global_step counts every optimizer's steps, so batches = global_step // 2
        (// 4 with the stroke critic: the stroke net and the critic step too, on every batch that holds a pair)."""
        return self.lambda_at(self.global_step // (4 if self.w_xl_adv > 0 else 2))

    def lambda_at(self, batches: int) -> float:
        """λ: constant `adv` (paper), or ramped 0 -> lambda_max over ramp_steps batches (lample)."""
        if self.mode == "paper":
            return self.w_adv
        return self.lambda_max * min(1.0, batches / max(1, self.ramp_steps))

    # -- losses ------------------------------------------------------------------------------------
    def losses(self, x: torch.Tensor, y: torch.Tensor, z: torch.Tensor | None = None,
               subjects: torch.Tensor | None = None) -> dict[str, torch.Tensor]:
        """Batch means of L2, P_MC, P_BC, the adversarial term, AL = L2 + λ·adv, XL over the batch's partner
        pairs (0 without `subjects` or pairs), and loss = AL + mc·P_MC + xl·XL."""
        z = self.encode(x) if z is None else z
        x_hat, mask = self.decode_parts(z, y)
        d = self.discriminator(z[:, : self.dis_dims])
        adv = (adversarial_term(d[:, 0], self.dis_target(y)) if self.mode == "paper"
               else lample_adversarial_term(d, y, self.n_classes))
        terms = {
            "l2": l2_reconstruction(x_hat, x, self.l2_reduction).mean(),
            "p_mc": p_mc(z[:, : self.n_classes], y).mean(),
            "p_bc": self.dis_loss(d, y),
            "adv": adv.mean(),
        }
        lam = self.adv_weight()
        terms["al"] = self.w_l2 * terms["l2"] + lam * terms["adv"]
        terms["xl"] = terms["xl_adv"] = torch.zeros((), device=x.device)  # xl_adv: training_step, after the critic
        if self.w_xl > 0 and subjects is not None:
            j, has = partner_index(y, subjects)
            if has.any() and self.edit_mode == "draw":  # the stroke net draws y's move; the autoencoder is untouched
                terms.update(self.stroke_terms(x, F.one_hot(y, self.n_classes).to(x), j, has, self.xl_per_change))
            elif has.any():
                # XL trains the edit itself, as edit_mode composes it: x_i edited to y_j must be x_j
                crossed, mask_j = self.decode_parts(z[has], y[j[has]])
                if self.edit_mode == "mask":  # A·D(z_i, y_j) + (1 − A)·x_i ...
                    crossed = attention_composition(crossed, mask_j, x[has])
                elif self.edit_mode == "residual":  # x_i + D(z_i, y_j) − D(z_i, y_i)
                    crossed = x[has] + crossed - x_hat[has]
                terms["xl"] = cross_reconstruction(crossed, x[j[has]], self.l2_reduction).mean()
            if self.edit_mode == "mask":  # ... and painted with its own emotion, x_i itself (strength 0)
                painted = attention_composition(x_hat, mask, x)
                terms["xl"] = terms["xl"] + cross_reconstruction(painted, x, self.l2_reduction).mean()
        terms["ae"] = terms["al"] + self.w_mc * terms["p_mc"]  # what the autoencoder alone minimises
        terms["loss"] = terms["ae"] + self.w_xl * terms["xl"]
        terms["z"], terms["x_hat"], terms["d"] = z, x_hat, d
        return terms

    def _step(self, opt, loss: torch.Tensor) -> None:
        opt.zero_grad()
        self.manual_backward(loss)
        self.clip_gradients(opt, gradient_clip_val=self.hparams.grad_clip, gradient_clip_algorithm="norm")
        opt.step()

    def training_step(self, batch, batch_idx):
        x, y, subjects, _ = batch
        opt_ae, opt_dis, *stroke_opts = self.optimizers()
        z = self.encode(x)
        # 1) the discriminator learns to read the attribute from a fixed z
        dis_loss = self.dis_loss(self.discriminator(z[:, : self.dis_dims].detach()), y)
        self._step(opt_dis, dis_loss)
        # 2) the autoencoder: reconstruct, tie z[:K] to the emotions, fool the (just updated) discriminator
        out = self.losses(x, y, z, subjects)
        if not stroke_opts:  # the stroke net (if any) is in opt_ae: XL's gradient reaches nothing else
            self._step(opt_ae, out["loss"])
        else:  # loss.xl_adv: the stroke net trains as a GAN's generator, in its own optimizer, after the critic
            opt_stroke, opt_critic = stroke_opts
            self._step(opt_ae, out["ae"])
            if "drawn" in out:
                # 3) the critic tells the partners' real photos from the edits just drawn; 4) the stroke net: XL and
                # the (just updated) critic's score of its edits
                self._step(opt_critic, self.critic_loss(out["real"], out["drawn"], out["drawn_p"]))
                out["xl_adv"] = self.critic_term(out["drawn"], out["drawn_p"])
                self._step(opt_stroke, self.w_xl * out["xl"] + self.w_xl_adv * out["xl_adv"])
        self.track_codes(z[:, : self.n_classes], y)
        logs = {f"train/{k}": out[k] for k in self.loss_terms}
        logs.update({"train/dis_loss": dis_loss, "train/lambda": self.adv_weight()})
        self.log_dict(logs, batch_size=len(x), sync_dist=True)
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=len(x))

    def _evaluate(self, batch, stage: str, acc, disc_acc):
        x, y, _, _ = batch
        out = self.losses(x, y)
        if stage == "test":
            self.collect_test(self.eval_outputs(out["z"], out["x_hat"]))
        acc.update(self.predict_from_latent(out["z"]), y)
        disc_acc.update(self.dis_predict(out["d"]), self.dis_target(y))
        logs = {f"{stage}/{k}": out[k] for k in ("loss", *self.loss_terms)}
        logs[f"{stage}/recon_mse"] = (out["x_hat"] - x).pow(2).mean()
        self.log_dict(logs, batch_size=len(x), sync_dist=True)
        self.log(f"{stage}/acc", acc, prog_bar=stage == "val", batch_size=len(x), sync_dist=True)
        self.log(f"{stage}/latent_disc_acc", disc_acc, batch_size=len(x), sync_dist=True)

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, "val", self.val_acc, self.val_disc_acc)

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, "test", self.test_acc, self.test_disc_acc)

    def configure_optimizers(self):
        ae = [*self.encoder.parameters(), *self.to_z.parameters(), *self.decoder.parameters()]
        if self.style_head is not None:
            ae += list(self.style_head.parameters())
        # Not fused: the Fader clips gradients (_step), which Lightning forbids for fused optimizers under
        # trainer.precision=bf16-mixed / 16-mixed.
        critic = self.w_xl_adv > 0  # __init__ allows it only with edit_mode=draw
        if self.edit_mode == "draw" and not critic:  # the stroke net learns in the autoencoder's Adam, by its own lr
            ae = self.stroke_groups(ae + list(self.stroke_net.parameters()), self.hparams.stroke_lr)
        opts = [adam(ae, lr=self.hparams.lr, fused=False),
                adam(self.discriminator.parameters(), lr=self.hparams.dis_lr, fused=False)]
        if critic:  # the stroke net and its critic train as a GAN does, each in its own Adam with β1 0.5
            opts += [torch.optim.Adam(self.stroke_net.parameters(), lr=self.hparams.stroke_lr or self.hparams.lr,
                                      betas=CRITIC_BETAS),
                     torch.optim.Adam(self.stroke_critic.parameters(), lr=self.critic_lr, betas=CRITIC_BETAS)]
        if self.hparams.schedule == "constant":
            return opts
        # model.schedule=cosine anneals the autoencoder's and the stroke net's lr to 0; the discriminators keep theirs
        return opts, [self.cosine_schedule(opts[0]), *([self.cosine_schedule(opts[2])] if critic else [])]

    def on_train_epoch_end(self) -> None:
        super().on_train_epoch_end()
        if self.hparams.schedule != "constant":  # manual optimization: the schedules are stepped here
            schedules = self.lr_schedulers()
            for schedule in schedules if isinstance(schedules, list) else [schedules]:
                schedule.step()

    def load_state_dict(self, state_dict, strict: bool = True, **kwargs):
        return super().load_state_dict(split_encoder_keys(state_dict, len(self.encoder[0])), strict=strict, **kwargs)

