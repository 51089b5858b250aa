"""Re-evaluate any facevae checkpoint: rebuild data and model from the config it carries."""

from __future__ import annotations

import time
from pathlib import Path

import pytorch_lightning as pl
from omegaconf import DictConfig, OmegaConf

from .checkpoint import load_checkpoint, load_weights, run_config
from .provenance import write_run_record
from .run import build_datamodule, build_model, evaluate, finish


def evaluate_checkpoint(cfg: DictConfig, data_overrides: list[str]) -> dict:
    """Test metrics and figures of the checkpoint `cfg.ckpt_path`, written into cfg.paths.output_dir."""
    ckpt = load_checkpoint(cfg.ckpt_path)
    run_cfg = run_config(ckpt, cfg.ckpt_path, local=cfg)  # checked data, rebased onto this machine's paths
    if any(o.split("=")[0].lstrip("+~") == "data" for o in data_overrides):
        trained = list(run_cfg.data.classes)
        run_cfg.data = cfg.data  # a different dataset group: take it whole
        if set(cfg.data.classes) <= set(trained):
            # e.g. a 7-class model on data=london (neutral, happiness): the labels index the model's own
            # class list, so its weights load and its outputs line up; the other classes have no images.
            run_cfg.data.classes = trained
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
    load_weights(model, ckpt, cfg.ckpt_path)
    trainer = pl.Trainer(accelerator="cpu", devices=1, logger=False, enable_checkpointing=False,
                         enable_model_summary=False, default_root_dir=str(out_dir))
    if "eval" in cfg:  # eval.py's own eval.* options win over the ones the run was trained with
        run_cfg.eval = cfg.eval
    metrics, claims, notes = evaluate(trainer, model, datamodule, out_dir, run_cfg)
    metrics["run/seconds"] = round(time.perf_counter() - started, 2)
    finish(out_dir, run_cfg, metrics, claims, notes, datamodule.manifest, str(cfg.ckpt_path))
    return metrics
