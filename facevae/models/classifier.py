"""CNN emotion classifier (§2.1): C8-C32-F256-F100-D0.5-D7; its F100 activations give the t-SNE of Fig. 6."""

from __future__ import annotations

import logging
from dataclasses import dataclass

import torch
from torch import nn
from torchmetrics.classification import MulticlassAccuracy, MulticlassF1Score

from .arch import build_network, parse_arch
from .base import FaceModule, check_schedule
from .losses import cross_entropy_loss
from .pretrained import BACKBONES, Fer2013Backbone

log = logging.getLogger(__name__)

TSNE_FEATURES = ("f100", "logits")


@dataclass
class ClassifierLoss:
    """Loss options of §2.1: softmax cross-entropy over the emotion classes."""

    name: str = "classifier"
    label_smoothing: float = 0.0  # 0 = the plain cross-entropy (the paper gives no smoothing)


def fit_output_width(spec: str, n_classes: int) -> str:
    """`spec` with its final dense layer D<n> set to n_classes (the paper's D7 is its 7 classes)."""
    layers = parse_arch(spec)
    if not layers or layers[-1].kind != "dense":
        raise ValueError(f"arch.classifier={spec!r} must end in a dense output layer D<n> (§2.1: ...-D7)")
    if layers[-1].units == n_classes:
        return spec
    tokens = spec.replace(" ", "").split("-")
    fitted = "-".join([*tokens[:-1], f"D{n_classes}"])
    log.warning("arch.classifier=%r ends in %s but data.classes has %d classes: using %r",
                spec, tokens[-1], n_classes, fitted)
    return fitted


class Classifier(FaceModule):
    """Image -> emotion logits through the §2.1 network; `features` is the F100 ReLU output.

    Optimised with Adam (lr 1e-3, FaceModule.configure_optimizers). Other models use a trained
    classifier as a judge of their reconstructions: load it with `Classifier.load_frozen(ckpt_path)`.
    """

    loss_schema = ClassifierLoss

    def __init__(
        self,
        classes: list[str],
        arch: dict,
        loss: dict,
        image_size: int = 128,
        tsne_features: str = "f100",
        tsne_seed: int = 0,
        lr: float = 1e-3,
        weight_decay: float = 0.0,
        schedule: str = "constant",
        tta_flip: bool = False,
        backbone: str = "arch",
    ):
        super().__init__()
        self.save_hyperparameters()
        check_schedule(schedule)
        if tsne_features not in TSNE_FEATURES:
            raise ValueError(f"model.tsne_features={tsne_features!r}: use one of {', '.join(TSNE_FEATURES)}")
        self.classes = list(classes)
        self.image_shape = (1, image_size, image_size)
        if backbone not in BACKBONES:
            raise ValueError(f"model.backbone={backbone!r}: use one of {', '.join(BACKBONES)}")
        if backbone == "fer2013":  # issue 16: pretrained on real faces; arch.classifier is not read
            self.net, self.feature_end, token = Fer2013Backbone(self.classes), None, "FER2013 mini-Xception's GAP"
        else:
            spec = fit_output_width(arch["classifier"], len(classes))
            self.net, _ = build_network(spec, self.image_shape, arch["pool_stride"], out_activation=False,
                                        image_size=image_size)
            self.feature_end, token = self._feature_end(self.net), self._feature_token(spec)
        # what Fig. 6 maps, named for its title
        self.feature_name = "logits" if tsne_features == "logits" else f"{token} activations"
        self.label_smoothing = float(loss.get("label_smoothing", 0.0))
        n = len(classes)
        self.val_acc = MulticlassAccuracy(n, average="micro")
        self.test_acc = MulticlassAccuracy(n, average="micro")
        self.test_f1 = MulticlassF1Score(n, average="macro")
        self.test_f1_per_class = MulticlassF1Score(n, average=None)

    @staticmethod
    def _feature_end(net: nn.Sequential) -> int:
        """Index that splits `net` into features | head: just before the final dense layer and its dropout."""
        end = max(i for i, m in enumerate(net) if isinstance(m, nn.Linear))
        while end > 0 and isinstance(net[end - 1], nn.Dropout):
            end -= 1  # D0.5 regularises the head; the F100 ReLU output is what the paper embeds
        return end

    @staticmethod
    def _feature_token(spec: str) -> str:
        """The layer whose output `features` returns, in the paper's notation: "F100" in §2.1, "GAP" in the recipe
        (the last token before the final D<n> that is not a dropout; parse_arch gives one layer per token)."""
        tokens = spec.replace(" ", "").split("-")
        return [t for t, layer in zip(tokens[:-1], parse_arch(spec)[:-1]) if layer.kind != "dropout"][-1]

    # -- the model ---------------------------------------------------------------------------------
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Class logits (the final D<n> layer) of images x in [0, 1], shape Bx1xSxS."""
        return self.net(x)

    def predict_logits(self, x: torch.Tensor, logits: torch.Tensor | None = None) -> torch.Tensor:
        """Logits for evaluation: with `tta_flip`, the mean of x's and its mirror image's (faces are near
        symmetric, so the mirror is a second look at the same expression). `logits`: x's own, if already computed."""
        logits = self(x) if logits is None else logits
        if self.hparams.get("tta_flip") and not self.training:
            logits = (logits + self(torch.flip(x, dims=[-1]))) / 2
        return logits

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """The F100 activations (output of the last F layer's ReLU) of images x (fer2013: its pooled map)."""
        if self.feature_end is None:
            return self.net.embed(x)[0]
        return self.net[: self.feature_end](x)

    def head(self, h: torch.Tensor) -> torch.Tensor:
        """Logits from F100 activations: dropout (training only) and the output layer."""
        if self.feature_end is None:
            raise ValueError("model.backbone=fer2013 reads its logits from the map, not the pooled features: use embed(x)")
        return self.net[self.feature_end :](h)

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(t-SNE input per `tsne_features`, logits) of images x, in one pass."""
        if self.feature_end is None:  # fer2013: its 3x3 head reads the map, not the pooled features
            h, logits = self.net.embed(x)
        else:
            h = self.features(x)
            logits = self.head(h)
        return (logits if self.hparams.tsne_features == "logits" else h), logits

    # -- training ----------------------------------------------------------------------------------
    def eval_batch(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        h, logits = self.embed(x)
        scores = self.predict_logits(x, logits)
        return {"features": h, "pred": scores.argmax(1), "scores": scores}

    def losses(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """The §2.1 training loss (batch mean); `logits` rides along for the accuracy log."""
        logits = self(x)
        ce = cross_entropy_loss(logits, y, self.label_smoothing).mean()
        return {"loss": ce, "ce": ce, "logits": logits}

    def training_step(self, batch, batch_idx):
        x, y, _, _ = batch
        out = self.losses(x, y)
        self.log("train/loss", out["loss"], prog_bar=True, batch_size=len(x))
        self.log("train/acc", (out["logits"].argmax(1) == y).float().mean(), batch_size=len(x))
        return out["loss"]

    def _evaluate(self, batch, stage: str) -> tuple[torch.Tensor, torch.Tensor]:
        x, y, _, _ = batch
        out = self.eval_batch(x, y)  # one forward gives the test metrics and the test collection
        if stage == "test":
            self.collect_test(out)
        logits = out["scores"]
        loss = cross_entropy_loss(logits, y, self.label_smoothing).mean()
        self.log(f"{stage}/loss", loss, batch_size=len(x), sync_dist=True)
        return logits.argmax(1), y

    def validation_step(self, batch, batch_idx):
        pred, y = self._evaluate(batch, "val")
        self.val_acc.update(pred, y)
        self.log("val/acc", self.val_acc, prog_bar=True, batch_size=len(y))

    def test_step(self, batch, batch_idx):
        pred, y = self._evaluate(batch, "test")
        self.test_acc.update(pred, y)
        self.test_f1.update(pred, y)
        self.test_f1_per_class.update(pred, y)
        self.log("test/acc", self.test_acc, batch_size=len(y), sync_dist=True)
        self.log("test/f1_macro", self.test_f1, batch_size=len(y), sync_dist=True)

    def on_test_epoch_end(self) -> None:
        metric = self.test_f1_per_class
        seen = (metric.tp + metric.fp + metric.fn) > 0  # F1 is undefined for a class never seen nor predicted
        for name, f1, ok in zip(self.classes, metric.compute().tolist(), seen.tolist()):
            if ok:
                self.log(f"test/f1_{name}", f1)
        self.test_f1_per_class.reset()
        super().on_test_epoch_end()  # model/params
