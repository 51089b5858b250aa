"""DDP inside Hydra, correct in single runs and in every sweep kind (NOTES §4).

Lightning starts ranks 1..n-1 by re-running the entry script with the parent's `sys.argv`. Inside a
multirun that argv holds the whole sweep (`-m loss=l2,mc,adv`), so each extra rank ran a sweep of its
own — with the Optuna sweeper, ranks of one job trained with different hyperparameters and exit 0.
`patch_hydra_ddp` makes the child command the *job's* resolved overrides plus the job's run folder,
so every rank of a job trains with exactly the job's settings; `teardown` lets the next job of the
same process start a fresh process group.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

_ENV = ("LOCAL_RANK", "NODE_RANK", "WORLD_SIZE", "MASTER_ADDR", "MASTER_PORT")
# The entry script (train.py): in a joblib worker sys.argv[0] is the worker's, not ours.
_ENTRY: dict[str, str] = {}


def job_subprocess_cmd(local_rank: int) -> tuple[list[str], str]:
    """The command that starts `local_rank` of the current Hydra job: the job's overrides, its run folder."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.utils import get_original_cwd

    hc = HydraConfig.get()
    script = _ENTRY.get("script") or str(Path(get_original_cwd(), sys.argv[0]).resolve())
    command = [sys.executable, script, *hc.overrides.task,
               f'hydra.run.dir="{hc.runtime.output_dir}"',
               f"hydra.job.name=train_ddp_process_{local_rank}", "hydra.output_subdir=null",
               # a preset or search space may set hydra.mode=MULTIRUN; a rank is one run of this job
               "hydra.mode=RUN"]
    if hc.job.config_name and hc.job.config_name != "config":
        command.insert(2, f"--config-name={hc.job.config_name}")
    return command, get_original_cwd()


def patch_hydra_ddp(entry_script: str | None = None) -> None:
    """Replace Lightning's child-command builder in both packages (PL binds its own copy)."""
    if entry_script:
        _ENTRY["script"] = str(Path(entry_script).resolve())
    import lightning_fabric.strategies.launchers.subprocess_script as fabric_launcher
    import pytorch_lightning.strategies.launchers.subprocess_script as pl_launcher

    fabric_launcher._hydra_subprocess_cmd = job_subprocess_cmd
    pl_launcher._hydra_subprocess_cmd = job_subprocess_cmd


def teardown() -> None:
    """After a job: destroy the process group and forget the rank variables, so the next job of a sweep
    (same process) starts clean instead of failing with gloo 'Connection closed by peer'."""
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()
    for key in _ENV:
        os.environ.pop(key, None)


def is_child_rank() -> bool:
    """True in a process Lightning started for a rank > 0 (it sets LOCAL_RANK before the script runs)."""
    return int(os.environ.get("LOCAL_RANK", "0")) > 0 or int(os.environ.get("NODE_RANK", "0")) > 0
