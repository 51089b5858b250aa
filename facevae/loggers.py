"""Experiment loggers beyond CSV: W&B that never hangs or prompts, and what every run sends it at the end."""

from __future__ import annotations

import logging
import netrc
import os
from pathlib import Path

log = logging.getLogger("facevae")


def _has_wandb_key() -> bool:
    """An API key in the environment or in ~/.netrc (where `wandb login` puts it)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators("api.wandb.ai") is not None
    except (FileNotFoundError, netrc.NetrcParseError, OSError):
        return False


def wandb_mode() -> str:
    """WANDB_MODE when the user set it; otherwise offline without a key (W&B would prompt or fail)."""
    return os.environ.get("WANDB_MODE") or ("online" if _has_wandb_key() else "offline")


def wandb_logger(project: str, save_dir: str, group: str | None = None, name: str | None = None,
                 tags: list[str] | None = None, **kwargs):
    """A Lightning WandbLogger; offline automatically (one line, plus the `wandb sync` hint) without a key.

    With a key but no network W&B retries for minutes: `init_timeout` bounds that wait.
    """
    from pytorch_lightning.loggers import WandbLogger

    mode = wandb_mode()
    if mode == "offline" and not os.environ.get("WANDB_MODE"):
        print(f"facevae: no W&B API key: logging offline into {save_dir}/wandb "
              f"(upload later with `wandb sync {save_dir}/wandb/offline-run-*`)")
    Path(save_dir).mkdir(parents=True, exist_ok=True)
    import wandb

    return WandbLogger(project=project, save_dir=save_dir, group=group or sweep_group(), name=name, tags=tags,
                       offline=mode == "offline",
                       settings=wandb.Settings(init_timeout=60, silent=True), **kwargs)


def sweep_group() -> str | None:
    """The sweep folder's name in a multirun (groups its runs in the dashboard); None in a single run."""
    try:
        from hydra.core.hydra_config import HydraConfig

        hc = HydraConfig.get()
    except Exception:  # noqa: BLE001 - no Hydra (tests composing configs): no group
        return None
    if str(hc.mode) != "RunMode.MULTIRUN":
        return None
    return Path(hc.sweep.dir).as_posix().replace("/", "-")


def log_run_end(loggers, metrics: dict, figures_dir: Path, embedding=None) -> None:
    """Send the final metrics, every figure and (W&B) a table of latent codes with class labels."""
    numeric = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    for logger in loggers or []:
        if type(logger).__name__ != "WandbLogger":
            continue
        import wandb

        run = logger.experiment
        run.summary.update(numeric)
        for f in sorted(Path(figures_dir).glob("*.png")):
            run.log({f"figures/{f.stem}": wandb.Image(str(f))})
        if embedding is not None:
            codes, labels, classes = embedding
            columns = ["class"] + [f"z{i}" for i in range(codes.shape[1])]
            rows = [[classes[int(y)], *map(float, c)] for c, y in zip(codes, labels)]
            run.log({"latent_codes": wandb.Table(columns=columns, data=rows)})
