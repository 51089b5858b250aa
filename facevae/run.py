"""Train and evaluate one configured run: data -> model -> checkpoints, metrics.json, figures, summary."""

from __future__ import annotations

import json
import logging
import math
import shutil
import time
import warnings
from pathlib import Path

import pytorch_lightning as pl
import torch
from hydra.utils import instantiate
from omegaconf import DictConfig, OmegaConf

from .config import MODEL_META_KEYS, import_target, validate
from .provenance import write_run_record

log = logging.getLogger("facevae")
# Lightning 2.6 calls a torch pytree API that torch 2.13 deprecates; harmless, and noise in every run.
warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")


def build_datamodule(cfg: DictConfig):
    """The configured LightningDataModule (not yet prepared).

    With `data.pairs` (pairs=emotion | imgb: §2.2's pairs, conf/pairs/), the data's loaders yield pairs:
    facevae.data.pairs.PairDataModule over the same source and splits. Built by calling the class with
    plain values: nothing nested in the config is instantiated.
    """
    data = OmegaConf.to_container(cfg.data, resolve=True)
    target = data.pop("_target_")
    pairs = data.pop("pairs", None)
    if not pairs:
        return import_target(target)(**data)
    from .data.pairs import PairDataModule

    return PairDataModule(**data, pairs=pairs, pair_seed=cfg.seed)


def build_model(cfg: DictConfig, classes: list[str]):
    """The configured LightningModule, given the data's class list; hyperparameters are primitives.

    The class is called with plain values (never Hydra's recursive instantiate), so a value in the
    config can only ever be a value.
    """
    params = {k: v for k, v in OmegaConf.to_container(cfg.model, resolve=True).items() if k not in MODEL_META_KEYS}
    arch = OmegaConf.to_container(cfg.arch, resolve=True)
    model_cls = import_target(params.pop("_target_"))
    # The model's loss schema supplies defaults, so a preset file states only what it sets.
    schema = getattr(model_cls, "loss_schema", None)
    loss_cfg = OmegaConf.merge(OmegaConf.structured(schema), cfg.loss) if schema else cfg.loss
    loss = OmegaConf.to_container(loss_cfg, resolve=True)
    return model_cls(**params, classes=list(classes), arch=arch, loss=loss, image_size=cfg.data.image_size)


def _callbacks_and_loggers(cfg: DictConfig) -> tuple[list, list]:
    callbacks = [instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None]
    loggers = [instantiate(l) for l in (cfg.get("logger") or {}).values() if l is not None]
    return callbacks, loggers


def prepare_only(cfg: DictConfig):
    """Prepare or reuse the data cache, print its summary, write manifest.json into the run folder."""
    from .data.summary import print_manifest_summary

    out_dir = Path(cfg.paths.output_dir)
    datamodule = build_datamodule(cfg)
    datamodule.prepare_data()
    datamodule.setup("fit")
    write_run_record(out_dir, cfg, datamodule.manifest)
    (out_dir / "manifest.json").write_text(json.dumps(datamodule.manifest, indent=2))
    print_manifest_summary(datamodule.manifest)
    print(f"cache:    {Path(cfg.data.cache_dir) / cfg.data.name}")
    print(f"manifest: {out_dir / 'manifest.json'}")
    return datamodule


def train(cfg: DictConfig) -> dict:
    """Run the whole job described by `cfg`; returns the metrics written to metrics.json (empty on ranks > 0)."""
    from .ddp import is_child_rank
    from .resume import AtomicCheckpointIO, resolve_ckpt_path

    validate(cfg)
    out_dir = Path(cfg.paths.output_dir)
    if cfg.get("skip_finished") and (done := finished_metrics(out_dir, cfg)) is not None:
        log.info("%s already finished with this config: reusing its metrics.json (skip_finished=true)", out_dir)
        return done
    out_dir.mkdir(parents=True, exist_ok=True)
    ckpt_path = resolve_ckpt_path(cfg.get("ckpt_path"), out_dir, str(cfg.model.name))
    started = time.perf_counter()
    pl.seed_everything(cfg.seed, workers=True, verbose=False)
    torch.set_float32_matmul_precision("high")

    datamodule = build_datamodule(cfg)
    datamodule.prepare_data()
    datamodule.setup("fit")
    if not is_child_rank():  # ranks > 0 share rank 0's run folder and records
        write_run_record(out_dir, cfg, datamodule.manifest)
    model = build_model(cfg, datamodule.classes)
    model.facevae_config = OmegaConf.to_container(cfg, resolve=True)

    callbacks, loggers = _callbacks_and_loggers(cfg)
    trainer: pl.Trainer = instantiate(cfg.trainer, callbacks=callbacks, logger=loggers or False,
                                      default_root_dir=str(out_dir), plugins=[AtomicCheckpointIO()],
                                      strategy=_strategy(cfg, model))
    fit_start = time.perf_counter()
    trainer.fit(model, datamodule=datamodule, ckpt_path=ckpt_path, weights_only=True)
    fit_seconds = time.perf_counter() - fit_start
    # The last epoch's validation numbers: what a sweeper compares (the loss scale moves with α, β, γ).
    last_val = {k: float(v) for k, v in trainer.callback_metrics.items() if k.startswith("val/") and v.numel() == 1}
    n_train = len(datamodule.datasets["train"]) * trainer.current_epoch

    best = trainer.checkpoint_callback.best_model_path if trainer.checkpoint_callback else ""
    metrics, claims, notes = test_and_score(trainer, model, datamodule, out_dir, cfg, ckpt_path=best or None)
    if trainer.global_rank != 0:
        return {}
    best_score = trainer.checkpoint_callback.best_model_score if trainer.checkpoint_callback else None
    metrics.update({
        "val/best": float(best_score) if best_score is not None else math.nan,
        **last_val,
        "train/epochs": float(trainer.current_epoch),
        "train/seconds": round(fit_seconds, 2),
        "train/images_per_s": round(n_train / fit_seconds, 1) if fit_seconds > 0 else math.nan,
        "train/world_size": float(trainer.world_size),
        "run/seconds": round(time.perf_counter() - started, 2),
    })
    finish(out_dir, cfg, metrics, claims, notes, datamodule.manifest, best, loggers)
    return metrics


def finished_metrics(out_dir: Path, cfg: DictConfig) -> dict | None:
    """metrics.json of a run folder that finished with the same resolved config (the device lease aside)."""
    import yaml

    metrics, config = out_dir / "metrics.json", out_dir / "config.yaml"
    if not (metrics.is_file() and config.is_file()):
        return None
    drop = ("device_lease", "ckpt_path")
    then = {k: v for k, v in (yaml.safe_load(config.read_text()) or {}).items() if k not in drop}
    now = {k: v for k, v in OmegaConf.to_container(cfg, resolve=True).items() if k not in drop}
    if then != now:
        return None
    return {k: (math.nan if v is None else v) for k, v in json.loads(metrics.read_text()).items()}


def _strategy(cfg: DictConfig, model) -> str:
    """The configured strategy; plain DDP becomes find-unused-parameters for models that need it
    (the Fader's two optimizers leave one part unused in each backward: Lightning #20328)."""
    strategy = cfg.trainer.get("strategy", "auto")
    if strategy == "ddp" and getattr(model, "ddp_find_unused_parameters", False):
        log.info("model=%s under DDP: using ddp_find_unused_parameters_true", cfg.model.name)
        return "ddp_find_unused_parameters_true"
    return strategy


def test_and_score(trainer: pl.Trainer, model, datamodule, out_dir: Path, cfg: DictConfig,
             ckpt_path: str | None = None) -> tuple[dict, list, dict]:
    """Test metrics (Lightning's test loop), then the evaluation suite, which collects the test split once
    and draws every figure from that collection; returns (metrics, claims, notes)."""
    from .evaluation.suite import run_suite, summarise_claims

    results = trainer.test(model, datamodule=datamodule, ckpt_path=ckpt_path, verbose=False, weights_only=True)
    metrics = {k: float(v) for k, v in results[0].items()}
    if trainer.global_rank != 0:  # the test metrics are synced; figures and the suite are rank 0's
        return metrics, [], {}
    _data_figures(datamodule, out_dir / "figures")
    suite, claims, notes = run_suite(model, datamodule, out_dir, seed=cfg.seed, model_name=cfg.model.name,
                                     use_judge=cfg.eval.judge, disentangle=cfg.eval.disentanglement,
                                     progress=cfg.data.get("progress", False))
    metrics.update(suite)
    metrics.update(summarise_claims(claims))
    return metrics, claims, notes


def finish(out_dir: Path, cfg: DictConfig, metrics: dict, claims: list, notes: dict, manifest: dict,
           checkpoint: str, loggers: list | None = None) -> None:
    """metrics.json, report.md, the loggers' final entries and the summary table: the end of every run."""
    from .evaluation.run_report import write_report
    from .loggers import log_run_end

    embedding = notes.pop("_embedding", None)
    write_metrics(out_dir, metrics)
    write_report(out_dir, cfg, metrics, claims, notes, manifest, checkpoint)
    log_run_end(loggers, metrics, out_dir / "figures", embedding)
    print_summary(cfg, metrics, out_dir, checkpoint)
    from .evaluation.photo_pairs import pairs_table

    pairs = pairs_table(metrics)  # data=london: the paired real-photo table ends the run, as in report.md
    if pairs:
        print("\nPaired real photos: neutral edited to happiness vs the same person's real smile\n" + "\n".join(pairs))


def _data_figures(datamodule, figures_dir: Path) -> None:
    """Figs. 1-3 of §1.1 (class counts, augmentation examples and counts after balancing) and, for
    the synthetic tree, the contact sheet of subjects x emotions."""
    from .figures.data import fig1_class_distribution, fig2_augmentation_examples, fig3_augmented_distribution

    hp = datamodule.hparams
    fig1_class_distribution(datamodule.data.labels, datamodule.classes, figures_dir / "fig1_class_distribution.png")
    if hp.balance:
        train = datamodule.data.images[datamodule.splits["train"]]
        fig2_augmentation_examples(train, hp.balance_seed, figures_dir / "fig2_augmentation_examples.png")
        fig3_augmented_distribution(datamodule.datasets["train"].labels.numpy(), datamodule.classes,
                                    figures_dir / "fig3_augmented_distribution.png")
    root = Path(hp.root) if hp.root else None
    if root is not None and (root / "factors.csv").is_file():
        from .data.synth.contact_sheet import contact_sheet

        cached = root / "data_contact_sheet.png"
        if not cached.is_file():
            contact_sheet(root, cached)
        shutil.copyfile(cached, figures_dir / "data_contact_sheet.png")


def write_metrics(out_dir: Path, metrics: dict) -> Path:
    """metrics.json with flat, sorted keys (NaN written as null)."""
    clean = {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in sorted(metrics.items())}
    path = out_dir / "metrics.json"
    path.write_text(json.dumps(clean, indent=2))
    return path


def print_summary(cfg: DictConfig, metrics: dict, out_dir: Path, best: str) -> None:
    """A short table of the key metrics and where the artifacts are."""
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"facevae: model={cfg.model.name} loss={cfg.loss.name} arch={cfg.arch.name} data={cfg.data.name}")
    table.add_column("metric")
    table.add_column("value", justify="right")
    per_class = tuple(f"_{c}" for c in cfg.data.classes)
    keys = [k for k in metrics if k.startswith(("test/", "judge/acc", "claims/passed")) and not k.endswith(per_class)
            and k.count("/") == 1 and isinstance(metrics[k], (int, float))]
    keys += [k for k in ("model/params", "train/images_per_s", "train/seconds") if k in metrics]
    for k in keys:
        v = metrics[k]
        table.add_row(k, f"{v:,.0f}" if k == "model/params" else f"{v:.4g}")
    console = Console()
    console.print(table)
    console.print(f"figures:     {out_dir / 'figures'}")
    console.print(f"metrics:     {out_dir / 'metrics.json'}")
    console.print(f"report:      {out_dir / 'report.md'}")
    console.print(f"checkpoints: {Path(best).parent if best else out_dir / 'checkpoints'}")


def evaluate_checkpoint(cfg: DictConfig, data_overrides: list[str]) -> dict:
    """Test metrics and figures of the checkpoint `cfg.ckpt_path`, written into cfg.paths.output_dir."""
    from .checkpoint import load_checkpoint, load_weights, run_config

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
    metrics, claims, notes = test_and_score(trainer, model, datamodule, out_dir, run_cfg)
    metrics["run/seconds"] = round(time.perf_counter() - started, 2)
    finish(out_dir, run_cfg, metrics, claims, notes, datamodule.manifest, str(cfg.ckpt_path))
    return metrics
