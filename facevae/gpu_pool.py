"""Device leases for sweeps on one machine (`hydra/launcher=gpus`): every job holds its own GPU(s).

The launcher (hydra_plugins/facevae_gpu_pool) runs `len(slots)` jobs at a time through joblib; a
slot is a tuple of device ids (`devices_per_job` of them), repeated `jobs_per_device` times. A job
leases the first free slot with an exclusive file lock on `<sweep>/.gpu_pool/slot-<i>.lock`, so
two jobs never share a slot; the lock goes when the job ends, raises, or its process dies (the OS
drops it). The job then trains on exactly those devices through `trainer.devices=[ids]` — not
`CUDA_VISIBLE_DEVICES`, which joblib's reused worker processes would read only once. With
`simulate=true` the ids are leased and recorded but training stays on the configured accelerator:
how the tests prove the scheduling on a CPU machine.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from omegaconf import DictConfig, open_dict

from .config import ConfigError

POOL_ENV = "FACEVAE_GPU_POOL"  # path of the sweep's pool.json, set by the launcher
LEASE_ENV = "FACEVAE_LEASED_DEVICES"  # the job's leased ids, inherited by its DDP ranks


@dataclass(frozen=True)
class DevicePool:
    slots: tuple[tuple[int, ...], ...]
    simulate: bool = False

    @classmethod
    def from_config(cls, devices, devices_per_job: int = 1, jobs_per_device: int = 1,
                    simulate: bool = False) -> "DevicePool":
        if devices == "auto":
            import torch

            devices = list(range(torch.cuda.device_count()))
            if not devices:
                raise ConfigError("hydra/launcher=gpus: no CUDA device is visible; pass hydra.launcher.devices=[0,1] "
                                  "(with hydra.launcher.simulate=true to try the pool on a CPU machine)")
        if isinstance(devices, (int, str)):
            devices = [devices]
        ids = [int(d) for d in devices]  # a list, tuple or Hydra's ListConfig
        if len(set(ids)) != len(ids) or any(d < 0 for d in ids):
            raise ConfigError(f"hydra.launcher.devices={ids}: device ids must be distinct and >= 0")
        if devices_per_job < 1 or jobs_per_device < 1 or devices_per_job > len(ids):
            raise ConfigError(f"hydra.launcher: devices_per_job={devices_per_job} and jobs_per_device={jobs_per_device} "
                              f"must be >= 1, devices_per_job at most the {len(ids)} device(s)")
        groups = [tuple(ids[i:i + devices_per_job]) for i in range(0, len(ids) - devices_per_job + 1, devices_per_job)]
        return cls(tuple(g for g in groups for _ in range(jobs_per_device)), bool(simulate))

    def as_dict(self) -> dict:
        return {"slots": [list(s) for s in self.slots], "simulate": self.simulate}

    def describe(self) -> str:
        return (f"{len(self.slots)} parallel job(s) on devices {sorted({d for s in self.slots for d in s})}"
                + (" (simulated)" if self.simulate else ""))


@contextlib.contextmanager
def lease(cfg: DictConfig) -> Iterator[dict | None]:
    """Inside a `hydra/launcher=gpus` sweep: hold a free slot for the block and point cfg.trainer at it.

    Yields the lease ({"devices": [...], "slot": i, "simulated": bool}) or None outside a pool. DDP
    ranks > 0 inherit their job's lease through the environment instead of taking another.
    """
    inherited = os.environ.get(LEASE_ENV)
    if inherited:  # a DDP rank of a job that holds the lease
        info = json.loads(inherited)
        _apply(cfg, info)
        yield info
        return
    spec = os.environ.get(POOL_ENV)
    if not spec:
        yield None
        return
    import fcntl

    pool = json.loads(Path(spec).read_text())
    folder = Path(spec).parent
    handle, slot = None, None
    while handle is None:  # joblib never runs more jobs than slots; waiting covers a slot still being released
        for i in range(len(pool["slots"])):
            fh = open(folder / f"slot-{i}.lock", "a+")
            try:
                fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                fh.close()
                continue
            handle, slot = fh, i
            break
        else:
            time.sleep(0.2)
    info = {"devices": list(pool["slots"][slot]), "slot": slot, "simulated": bool(pool["simulate"])}
    started = time.time()
    os.environ[LEASE_ENV] = json.dumps(info)
    try:
        _apply(cfg, info)
        yield info
    finally:
        os.environ.pop(LEASE_ENV, None)
        _log(folder, {**info, "job_dir": _job_dir(), "pid": os.getpid(), "start": started, "end": time.time()})
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


def _apply(cfg: DictConfig, info: dict) -> None:
    with open_dict(cfg):
        if not info["simulated"]:
            cfg.trainer.accelerator = "gpu"
            cfg.trainer.devices = list(info["devices"])
        cfg.device_lease = dict(info)  # recorded in run_info.json (facevae.provenance)


def _job_dir() -> str | None:
    try:
        from hydra.core.hydra_config import HydraConfig

        return str(HydraConfig.get().runtime.output_dir)
    except Exception:  # noqa: BLE001 - outside Hydra
        return None


def _log(folder: Path, entry: dict) -> None:
    """One line per finished lease in <sweep>/.gpu_pool/leases.jsonl (what the tests and the summary read)."""
    with open(folder / "leases.jsonl", "a") as fh:
        fh.write(json.dumps(entry) + "\n")
