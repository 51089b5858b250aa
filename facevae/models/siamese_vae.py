"""VAE with siamese support network (§2.2, Fig. 4): L = RL + β·LL − λ·log ô(x̂, ImgB)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torchmetrics.classification import MulticlassAccuracy

from ..config import ConfigError
from . import backbone
from .backbone import GaussianVAE
from .base import FaceModule
from .losses import latent_loss, reconstruction_loss, siamese_loss
from .siamese import SiameseComparator


@dataclass
class SiameseVAELoss:
    """Loss options of §2.2: L = RL + β·LL − λ·log ô(x̂, ImgB); λ=0 is the plain VAE baseline."""

    name: str = "siamese_vae"
    lam: float = 1.0  # as conf/loss/siamese_vae.yaml (why: that file); the paper's weighting: loss=siamese_vae_paper
    beta: float = 0.01
    rl_reduction: str = "sum"  # RL over pixels: sum (the face is worth its pixels) or mean (Keras, the paper's framework)


def _frozen_path(key: str, path: str | None, required: bool, hint: str) -> Path | None:
    """A checkpoint path from the model config, or a one-line ConfigError naming the key and the fix."""
    if not path:
        if required:
            raise ConfigError(f"config error at 'model.{key}': not set; {hint}")
        return None
    if not Path(path).is_file():
        raise ConfigError(f"config error at 'model.{key}': {path}: checkpoint not found; {hint}")
    return Path(path)


class SiameseVAE(GaussianVAE, FaceModule):
    """Encoder -> (μ, log σ²) -> z -> decoder, trained so a frozen comparator judges x̂ and ImgB the same emotion.

    ImgB is a training face with the input's emotion from another subject (`pairs=imgb`, this model's default:
    PairDataModule with p_same=1, pair_subjects=cross). The comparator (`comparator_ckpt`, required) and the optional judge classifier
    (`classifier_ckpt`) are frozen and kept out of this model's state_dict: the checkpoint holds only the VAE.
    """

    trains_on_pairs = True  # config: data.pairs must be set (pairs=emotion | imgb), batches are pairs
    loss_terms = ("rl", "ll", "siam")
    loss_schema = SiameseVAELoss

    def __init__(
        self,
        classes: list[str],
        arch: dict,
        loss: dict,
        image_size: int = 128,
        latent_dims: int = 16,
        style_map: int = 0,
        comparator_ckpt: str | None = None,
        classifier_ckpt: str | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
    ):
        super().__init__()
        self.save_hyperparameters()
        fix = "train one with `python train.py model=siamese_comparator` and pass model.comparator_ckpt=<run>/checkpoints/best.ckpt"
        comparator = SiameseComparator.load_frozen(_frozen_path("comparator_ckpt", comparator_ckpt, True, fix))
        clf_path = _frozen_path("classifier_ckpt", classifier_ckpt, False,
                                "train one with `python train.py model=classifier` or leave it null")
        judge = None
        if clf_path is not None:
            from .classifier import Classifier

            judge = Classifier.load_frozen(clf_path)
        # Frozen helpers live outside the module tree: not in state_dict, not counted, not optimised.
        self._frozen = {"comparator": comparator, "classifier": judge}
        self.classes = list(classes)
        self.build_vae(arch, image_size, latent_dims, style_map)
        self.lam, self.beta = float(loss["lam"]), float(loss["beta"])
        self.rl_reduction = loss.get("rl_reduction", "mean")
        n = len(classes)
        self.acc_recon, self.acc_input = MulticlassAccuracy(n, average="micro"), MulticlassAccuracy(n, average="micro")

    # -- frozen helpers ----------------------------------------------------------------------------
    def comparator(self) -> SiameseComparator:
        """The frozen pretrained comparator, on this model's device."""
        return self._frozen["comparator"].to(self.device)

    def frozen_classifier(self):
        """The frozen §2.1 classifier (or None), on this model's device."""
        clf = self._frozen["classifier"]
        return None if clf is None else clf.to(self.device)

    # -- the model (encode, decode_logits, decode: backbone.GaussianVAE) ---------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction in [0, 1] of x from its mean code."""
        return torch.sigmoid(self.decode_logits(self.encode(x)[0]))

    def eval_batch(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        mu, _ = self.encode(x)
        return self.eval_outputs(x, mu, torch.sigmoid(self.decode_logits(mu)))

    def eval_outputs(self, x: torch.Tensor, mu: torch.Tensor, recon: torch.Tensor) -> dict[str, torch.Tensor]:
        """eval_batch's outputs from the mean code and its reconstruction (the test loop's own forward)."""
        out = {"codes": backbone.summary_codes(mu, self.vector_dims, self.map_shape), "recon": recon}
        clf = self.frozen_classifier()
        if clf is not None:  # the §2.1 classifier's reading of input and reconstruction (the figure's labels)
            out["pred_input"], out["pred_recon"] = clf(x).argmax(1), clf(recon).argmax(1)
        return out

    def losses(self, x: torch.Tensor, img_b: torch.Tensor, sample: bool) -> dict[str, torch.Tensor]:
        """Batch means of RL, LL, the siamese term and the total; z is sampled when `sample` (training)."""
        mu, logvar = self.encode(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if sample else mu
        logits = self.decode_logits(z)
        recon = torch.sigmoid(logits)
        terms = {"rl": reconstruction_loss(logits, x, self.rl_reduction).mean(), "ll": latent_loss(mu, logvar).mean()}
        if self.lam > 0 or not sample:  # λ=0 (plain VAE) skips the comparator's backward pass
            p_same = self.comparator().p_same(recon, img_b)
            terms["siam"], terms["p_same"] = siamese_loss(p_same).mean(), p_same
        else:
            terms["siam"] = torch.zeros((), device=x.device)
        terms["loss"] = terms["rl"] + self.beta * terms["ll"] + self.lam * terms["siam"]
        terms["recon"], terms["mu"] = recon, mu
        return terms

    def training_step(self, batch, batch_idx):
        x, img_b, _, _, _ = batch
        out = self.losses(x, img_b, sample=True)
        self.log_dict({f"train/{k}": out[k] for k in self.loss_terms}, batch_size=len(x))
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=len(x))
        return out["loss"]

    def _evaluate(self, batch, stage: str) -> dict[str, torch.Tensor]:
        x, img_b, _, y, _ = batch
        out = self.losses(x, img_b, sample=False)
        logs = {f"{stage}/{k}": out[k] for k in ("loss", *self.loss_terms)}
        logs[f"{stage}/recon_mse"] = (out["recon"] - x).pow(2).mean()
        # How often the comparator judges x̂ and ImgB (same emotion, other subject) the same: what λ optimises.
        logs[f"{stage}/comparator_acc_on_recon"] = (out["p_same"] > 0.5).float().mean()
        self.log_dict(logs, batch_size=len(x), prog_bar=False, sync_dist=True)
        return out

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, "val")

    def test_step(self, batch, batch_idx):
        out = self._evaluate(batch, "test")
        x, _, _, y, _ = batch
        collected = self.eval_outputs(x, out["mu"], out["recon"])
        self.collect_test(collected)
        if "pred_recon" in collected:
            self.acc_recon.update(collected["pred_recon"], y)
            self.acc_input.update(collected["pred_input"], y)
            self.log("test/classifier_acc_on_recon", self.acc_recon, batch_size=len(x), sync_dist=True)
            self.log("test/classifier_acc_on_input", self.acc_input, batch_size=len(x), sync_dist=True)

