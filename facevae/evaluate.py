"""Re-evaluate any facevae checkpoint: rebuild data and model from the config it carries."""

from __future__ import annotations

import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from omegaconf import DictConfig, OmegaConf

from .config import ConfigError
from .provenance import write_run_record
from .run import build_datamodule, build_model, evaluate, finish


def load_checkpoint(path: str | Path) -> dict:
    """A checkpoint loaded safely (weights_only=True); it must carry facevae's run config."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: checkpoint not found; pass ckpt_path=<run>/checkpoints/best.ckpt")
    ckpt = torch.load(path, map_location="cpu", weights_only=True)
    if "facevae_config" not in ckpt:
        raise ConfigError(f"{path}: not a facevae checkpoint (it carries no facevae_config)")
    return ckpt


def evaluate_checkpoint(cfg: DictConfig, data_overrides: list[str]) -> dict:
    """Test metrics and figures of the checkpoint `cfg.ckpt_path`, written into cfg.paths.output_dir."""
    ckpt = load_checkpoint(cfg.ckpt_path)
    run_cfg = OmegaConf.create(ckpt["facevae_config"])
    if any(o.split("=")[0].lstrip("+~") == "data" for o in data_overrides):
        run_cfg.data = cfg.data  # a different dataset group: take it whole
    else:
        dotlist = [o.lstrip("+~") for o in data_overrides]
        run_cfg = OmegaConf.merge(run_cfg, OmegaConf.from_dotlist(dotlist))
    run_cfg.paths.output_dir = cfg.paths.output_dir
    run_cfg.ckpt_path = str(cfg.ckpt_path)
    out_dir = Path(cfg.paths.output_dir)
    started = time.perf_counter()
    datamodule = build_datamodule(run_cfg)
    datamodule.prepare_data()
    datamodule.setup("test")
    write_run_record(out_dir, run_cfg, datamodule.manifest)
    model = build_model(run_cfg, datamodule.classes)
    model.load_state_dict(ckpt["state_dict"])
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_model_summary=False, default_root_dir=str(out_dir))
    if "eval" in cfg:  # eval.py's own eval.* options win over the ones the run was trained with
        run_cfg.eval = cfg.eval
    metrics, claims, notes = evaluate(trainer, model, datamodule, out_dir, run_cfg)
    metrics["run/seconds"] = round(time.perf_counter() - started, 2)
    finish(out_dir, run_cfg, metrics, claims, notes, datamodule.manifest, str(cfg.ckpt_path))
    return metrics
