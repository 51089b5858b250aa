"""Behaviour every facevae LightningModule shares."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytorch_lightning as pl
import torch

from .arch import count_parameters

SCHEDULES = ("constant", "cosine")  # model.schedule: the learning rate, constant or annealed to 0 over max_epochs


def check_schedule(schedule: str) -> None:
    if schedule not in SCHEDULES:
        raise ValueError(f"model.schedule={schedule!r}: use one of {', '.join(SCHEDULES)}")


@dataclass
class NoLossOptions:
    """Schema of a loss config with no options beyond its name."""

    name: str = ""


class FaceModule(pl.LightningModule):
    """A facevae model: its loss schema, its figures, and checkpoints that carry the run config.

    Subclasses set `loss_schema` (a dataclass: the keys and types their `loss` config may hold,
    checked before any work) and override `eval_batch` (what the evaluation and the figures of
    facevae.figures read). Checkpoints carry the resolved run config
    (primitives only), so eval.py can rebuild data and model from a checkpoint alone and
    `torch.load(path, weights_only=True)` still loads it.
    """

    loss_schema: type = NoLossOptions
    facevae_config: dict | None = None

    def on_save_checkpoint(self, checkpoint: dict) -> None:
        if self.facevae_config is not None:
            checkpoint["facevae_config"] = self.facevae_config

    # -- what the evaluation suite (facevae.evaluation) reads ----------------------------------------
    #: Whether `edit` can turn a face toward an emotion (generative models with an emotion input).
    can_edit: bool = False

    def eval_batch(self, x: torch.Tensor, y: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-image outputs for evaluation, faces x in [0, 1]: any of `codes` (latent means, a style map
        averaged), `latent` (the whole code a decoder reads), `features` (an embedding for t-SNE), `recon`
        (reconstructions in [0, 1]), `pred` (predicted class), `axes` (one latent variable per class, for
        Figs. 7 and 10). Computed once per test image (facevae.evaluation.collect); figures read them."""
        return {}

    def on_test_epoch_start(self) -> None:
        self.test_collection: list[dict[str, torch.Tensor]] = []

    def collect_test(self, outputs: dict[str, torch.Tensor]) -> None:
        """Keep a test batch's per-image outputs (what `eval_batch` gives), computed by test_step's own forward:
        the test loop is the one pass over the test split (issue 17; facevae.evaluation.collect reads it)."""
        self.test_collection.append({k: v.detach().cpu() for k, v in outputs.items()})

    def edit(self, x: torch.Tensor, target: int, strength: float = 1.0,
             source: torch.Tensor | None = None, code: torch.Tensor | None = None) -> torch.Tensor:
        """Faces x in [0, 1] turned toward class `target`; strength 0 = reconstruction, 1 = the class. `code`:
        x's whole latent (eval_batch's `latent`) when the caller already has it, so the encoder is not run."""
        raise NotImplementedError(f"{type(self).__name__} cannot edit faces")

    @classmethod
    def load_frozen(cls, ckpt_path: str | Path, map_location: str | torch.device = "cpu", **overrides):
        """A trained model from a facevae checkpoint (weights_only=True), in eval mode with every weight frozen.

        `overrides` replace constructor arguments whose effect the state_dict supersedes.
        """
        from omegaconf import OmegaConf

        from ..checkpoint import LEGACY_PAIR_KEYS, _check_plain, known_models, load_checkpoint, load_weights
        from ..config import ConfigError, _check_target

        ckpt = load_checkpoint(ckpt_path, what=f"{cls.__name__} checkpoint")
        # The stored hyperparameters are data: plain values, of this class, type-checked against its constructor.
        target = f"{cls.__module__}.{cls.__qualname__}"
        name = str((ckpt["facevae_config"].get("model") or {}).get("name", ""))
        if known_models().get(name, {}).get("_target_") != target:
            raise ConfigError(f"{ckpt_path}: holds model={name or '?'}, not {cls.__name__}; pass a checkpoint of that model")
        params = {**dict(ckpt.get("hyper_parameters") or {}), **overrides}
        for key in LEGACY_PAIR_KEYS:  # pair options a siamese model stored before they became data.pairs
            params.pop(key, None)
        _check_plain(params, "hyper_parameters", ckpt_path, allow_target=False)
        _check_target("hyper_parameters", OmegaConf.create({"_target_": target, **params}))
        model = cls(**params)
        load_weights(model, ckpt, ckpt_path)
        model.eval().requires_grad_(False)
        return model

    def on_test_epoch_end(self) -> None:
        self.log("model/params", float(count_parameters(self)))

    def parameter_groups(self):
        """What Adam optimizes: every parameter at model.lr (a model with a part that needs its own lr overrides)."""
        return self.parameters()

    def configure_optimizers(self):
        """Adam (the paper's optimizer, §2.3/§2.4) with the model's lr and weight decay; model.schedule=cosine
        anneals the lr to 0 over max_epochs."""
        opt = adam(self.parameter_groups(), lr=self.hparams.lr, weight_decay=self.hparams.get("weight_decay", 0.0))
        if self.hparams.get("schedule", "constant") == "constant":
            return opt
        return {"optimizer": opt, "lr_scheduler": self.cosine_schedule(opt)}

    def cosine_schedule(self, opt: torch.optim.Optimizer) -> torch.optim.lr_scheduler.CosineAnnealingLR:
        """model.schedule=cosine: `opt`'s lr annealed to 0 over trainer.max_epochs, stepped once an epoch."""
        return torch.optim.lr_scheduler.CosineAnnealingLR(opt, T_max=max(1, int(self.trainer.max_epochs or 1)))


def adam(params, lr: float, weight_decay: float = 0.0, fused: bool = True) -> torch.optim.Adam:
    """torch's fused Adam: one kernel over all parameters. make bench measured the for-loop Adam at 0.52 s per
    step of the paper's classifier and fused at 0.05 s. (Lightning refuses to clip gradients of a fused
    optimizer under mixed precision: a model that clips passes fused=False.)"""
    return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay, fused=fused)
