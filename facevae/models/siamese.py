"""Siamese comparator (§2.2, §3.1): do two faces show the same emotion?"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchmetrics.classification import BinaryAccuracy, BinaryAUROC

from .arch import build_network
from .base import FaceModule
from .losses import auxiliary_loss, comparator_loss


@dataclass
class ComparatorLoss:
    """Loss options of the comparator: binary cross-entropy on "same emotion" (§3.1 pairs labelled 1/0)."""

    name: str = "siamese_comparator"
    label_smoothing: float = 0.0  # targets 1-s/2 and s/2 instead of 1 and 0
    aux_weight: float = 1.0  # weight of an auxiliary emotion cross-entropy on each tower's features (0 = pairs only)


def standardize(x: torch.Tensor, eps: float = 1e-3) -> torch.Tensor:
    """Per-image zero mean, unit variance: removes global brightness/contrast (lighting), keeps the shape."""
    flat = x.flatten(1)
    mean, std = flat.mean(1), flat.std(1)
    return (x - mean[:, None, None, None]) / (std[:, None, None, None] + eps)


class SiameseComparator(FaceModule):
    """Shared tower f = `arch.comparator` on both faces; a linear head on [|f(a) − f(b)|, f(a)·f(b)] → P(same).

    The head is symmetric in (a, b). `head='concat'` uses [f(a)+f(b), |f(a)−f(b)|] instead (also symmetric).
    Pairs come from facevae.data.pairs.PairDataModule, which run.py builds when data.pairs is set
    (`pairs=emotion`, this model's default: conf/pairs/siamese_comparator.yaml).
    """

    trains_on_pairs = True  # config: data.pairs must be set (pairs=emotion | imgb), batches are pairs
    loss_terms = ("bce",)
    loss_schema = ComparatorLoss

    def __init__(
        self,
        classes: list[str],
        arch: dict,
        loss: dict,
        image_size: int = 128,
        head: str = "diff_prod",
        standardize_input: bool = True,
        dropout: float = 0.0,
        tower_init: str | None = None,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
    ):
        super().__init__()
        self.save_hyperparameters()
        if head not in ("diff_prod", "concat"):
            raise ValueError(f"model.head={head!r}: use 'diff_prod' or 'concat'")
        self.classes = list(classes)
        self.image_shape = (1, image_size, image_size)
        # Linear last layer: signed embeddings, so |f(a) − f(b)| is not truncated by a ReLU.
        self.tower, shape = build_network(arch["comparator"], self.image_shape, arch["pool_stride"],
                                          out_activation=False, image_size=image_size)
        if len(shape) != 1:
            raise ValueError(f"arch.comparator={arch['comparator']!r} must end in a dense layer (F<l>)")
        if tower_init:
            self._init_tower_from_classifier(tower_init)
        self.dropout = nn.Dropout(dropout)
        self.head = nn.Linear(2 * shape[0], 1)
        self.label_smoothing = float(loss.get("label_smoothing", 0.0))
        self.aux_weight = float(loss.get("aux_weight", 1.0))
        # Emotion read-out of one tower's features, used only by the auxiliary term.
        self.aux_head = nn.Linear(shape[0], len(classes)) if self.aux_weight > 0 else None
        self.val_acc, self.test_acc = BinaryAccuracy(), BinaryAccuracy()
        self.val_auroc, self.test_auroc = BinaryAUROC(), BinaryAUROC()

    # -- the model ---------------------------------------------------------------------------------
    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Tower features of faces in [0, 1]."""
        return self.tower(standardize(x) if self.hparams.standardize_input else x)

    def eval_batch(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        return {"features": self.embed(x)}

    def forward(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """Logit of P(a and b show the same emotion)."""
        return self.compare(self.embed(a), self.embed(b))

    def compare(self, fa: torch.Tensor, fb: torch.Tensor) -> torch.Tensor:
        """The head on two tower outputs."""
        if self.hparams.head == "diff_prod":
            h = torch.cat([(fa - fb).abs(), fa * fb], dim=1)
        else:
            h = torch.cat([fa + fb, (fa - fb).abs()], dim=1)
        return self.head(self.dropout(h)).squeeze(1)

    def p_same(self, a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
        """ô(a, b) of §2.2: the probability that a and b show the same emotion."""
        return torch.sigmoid(self(a, b))

    # -- training ----------------------------------------------------------------------------------
    def losses(self, a: torch.Tensor, b: torch.Tensor, same: torch.Tensor, label_a: torch.Tensor,
               label_b: torch.Tensor) -> dict[str, torch.Tensor]:
        """§3.1's pair loss (+ the auxiliary emotion term when the head exists), batch means."""
        fa, fb = self.embed(a), self.embed(b)
        out = {"bce": comparator_loss(self.compare(fa, fb), same, self.label_smoothing).mean()}
        out["loss"] = out["bce"]
        if self.aux_head is not None:
            out["aux"] = auxiliary_loss(self.aux_head(fa), label_a, self.aux_head(fb), label_b).mean()
            out["loss"] = out["bce"] + self.aux_weight * out["aux"]
        return out

    def training_step(self, batch, batch_idx):
        out = self.losses(*batch)
        n = len(batch[0])
        if "aux" in out:
            self.log("train/aux", out["aux"], batch_size=n)
        self.log("train/bce", out["bce"], batch_size=n)
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=n)
        return out["loss"]

    def _evaluate(self, batch, stage: str, acc: BinaryAccuracy, auroc: BinaryAUROC):
        a, b, same, _, _ = batch
        fa = self.embed(a)
        if stage == "test":  # every test image is the anchor of its pairs: the collection keeps f(anchor)
            self.collect_test({"features": fa})
        logits = self.compare(fa, self.embed(b))
        loss = comparator_loss(logits, same).mean()
        p = torch.sigmoid(logits)
        acc.update(p, same.long())
        auroc.update(p, same.long())
        self.log(f"{stage}/loss", loss, batch_size=len(a), sync_dist=True)
        self.log(f"{stage}/acc", acc, prog_bar=stage == "val", batch_size=len(a), sync_dist=True)
        self.log(f"{stage}/auroc", auroc, batch_size=len(a), sync_dist=True)

    def validation_step(self, batch, batch_idx):
        self._evaluate(batch, "val", self.val_acc, self.val_auroc)

    def test_step(self, batch, batch_idx):
        self._evaluate(batch, "test", self.test_acc, self.test_auroc)


    def _init_tower_from_classifier(self, path: str) -> None:
        """Start the tower from a trained §2.1 classifier (same C8-C32-F256-F100 prefix): its weighted layers, in order."""
        if not Path(path).is_file():
            raise FileNotFoundError(f"model.tower_init={path}: checkpoint not found; train model=classifier first or set null")
        state = torch.load(path, map_location="cpu", weights_only=True)["state_dict"]
        source = [(k, v) for k, v in state.items() if k.startswith("net.")]
        target = list(self.tower.state_dict().items())
        if len(source) < len(target) or any(v.shape != s.shape for (_, v), (_, s) in zip(target, source)):
            raise ValueError(f"model.tower_init={path}: its classifier layers do not match arch.comparator")
        self.tower.load_state_dict({k: s for (k, _), (_, s) in zip(target, source)})

    # -- loading a pretrained comparator (for the siamese VAE) --------------------------------------
    @classmethod
    def load_frozen(cls, ckpt_path: str | Path, map_location: str | torch.device = "cpu", **overrides):
        """A trained comparator, frozen; its tower weights come from the state_dict, not from tower_init."""
        return super().load_frozen(ckpt_path, map_location, **{"tower_init": None, **overrides})
