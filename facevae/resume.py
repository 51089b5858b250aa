"""Resume after a crash or preemption: atomic checkpoints, RNG state in the checkpoint, `ckpt_path=last`."""

from __future__ import annotations

import os
import random
import shlex
import sys
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from lightning_fabric.plugins.io.torch_io import TorchCheckpointIO

from .config import ConfigError


class AtomicCheckpointIO(TorchCheckpointIO):
    """torch.save into a temporary sibling, then os.replace: a kill mid-save never leaves a torn last.ckpt."""

    def save_checkpoint(self, checkpoint, path, storage_options=None) -> None:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
        super().save_checkpoint(checkpoint, tmp, storage_options)
        os.replace(tmp, path)


class RNGState(pl.Callback):
    """Store the torch/numpy/python RNG states in every checkpoint and put them back when training resumes.

    Lightning restores weights, optimizers and loops but not the global RNGs that shuffle batches and
    draw augmentations, so a resumed run would see other batches than an uninterrupted one. The states
    are applied at the start of the first resumed epoch, before its data loader draws its first seed.
    """

    def __init__(self) -> None:
        self._pending: dict | None = None

    def state_dict(self) -> dict:  # keeps Lightning's callback bookkeeping happy; the states go below
        return {}

    def on_save_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        # Tensors and primitives only: checkpoints load with torch.load(weights_only=True).
        name, keys, pos, has_gauss, cached = np.random.get_state()
        version, state, gauss = random.getstate()
        checkpoint["facevae_rng"] = {
            "torch": torch.get_rng_state(),
            "numpy": {"name": name, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": int(pos),
                      "has_gauss": int(has_gauss), "cached": float(cached)},
            "python": {"version": version, "state": list(state), "gauss": gauss},
        }

    def on_load_checkpoint(self, trainer, pl_module, checkpoint: dict) -> None:
        self._pending = checkpoint.get("facevae_rng")

    def on_train_epoch_start(self, trainer, pl_module) -> None:
        if self._pending is not None:
            torch.set_rng_state(self._pending["torch"])
            n = self._pending["numpy"]
            np.random.set_state((n["name"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"],
                                 n["cached"]))
            p = self._pending["python"]
            random.setstate((p["version"], tuple(p["state"]), p["gauss"]))
            self._pending = None


class ResumeHint(pl.Callback):
    """On Ctrl-C (or any crash) during training: print the exact command that resumes this run."""

    def on_exception(self, trainer, pl_module, exception: BaseException) -> None:
        if trainer.global_rank != 0:
            return
        print(resume_hint(Path(trainer.default_root_dir), exception), file=sys.stderr, flush=True)


def resume_hint(output_dir: Path, exception: BaseException | None = None) -> str:
    """The line that tells how to resume the run in `output_dir` (or that there is nothing to resume yet)."""
    what = "interrupted" if isinstance(exception, KeyboardInterrupt) else "stopped"
    if not (output_dir / "checkpoints" / "last.ckpt").is_file():
        return f"facevae: training {what} before its first checkpoint: nothing to resume; start it again"
    overrides = []
    try:
        from hydra.core.hydra_config import HydraConfig

        overrides = [o for o in HydraConfig.get().overrides.task
                     if not o.lstrip("+~").startswith(("ckpt_path=", "hydra.run.dir="))]
    except Exception:  # noqa: BLE001 - not under Hydra (tests, the Python API): the folder is enough
        pass
    args = " ".join(shlex.quote(o) for o in [*overrides, f"hydra.run.dir={output_dir}", "ckpt_path=last"])
    return f"facevae: training {what}; resume it with: python train.py {args}"


def resolve_ckpt_path(ckpt_path: str | None, output_dir: Path, model_name: str | None = None) -> str | None:
    """`last` -> <run folder>/checkpoints/last.ckpt, which must exist; a path must exist too.

    The file is opened as data first (weights only, a facevae checkpoint of `model_name`), so a
    foreign or crafted file stops here with one line instead of inside Lightning.
    """
    if ckpt_path in (None, ""):
        return None
    if ckpt_path == "last":
        last = Path(output_dir) / "checkpoints" / "last.ckpt"
        if last.is_file():
            return _checked(str(last), model_name)
        hint = _latest_with_last(Path(output_dir))
        raise ConfigError(
            f"ckpt_path=last: {last} does not exist; resume in the crashed run's folder with "
            f"hydra.run.dir=<that folder>" + (f" (the newest with a last.ckpt: {hint})" if hint else ""))
    if not Path(ckpt_path).is_file():
        raise ConfigError(f"ckpt_path={ckpt_path}: file not found; pass a checkpoint file or ckpt_path=last")
    return _checked(str(ckpt_path), model_name)


def _checked(path: str, model_name: str | None) -> str:
    from .checkpoint import load_checkpoint, stored_model_name

    found = stored_model_name(load_checkpoint(path))
    if model_name is not None and found != model_name:
        raise ConfigError(f"ckpt_path={path}: holds model={found or '?'}, this run is model={model_name}; resume "
                          f"with the same model={found or '...'} or pass a checkpoint of this model")
    return path


def _latest_with_last(output_dir: Path) -> str | None:
    """The newest run folder near `output_dir` (outputs/<task>/<date>/<time>) holding checkpoints/last.ckpt."""
    task_root = output_dir.parent.parent if output_dir.parent.parent.exists() else output_dir.parent
    found = sorted(task_root.glob("*/*/checkpoints/last.ckpt"), key=lambda p: p.stat().st_mtime)
    return str(found[-1].parent.parent) if found else None
