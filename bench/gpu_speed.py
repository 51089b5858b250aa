"""Training throughput on a CUDA GPU with the prepared training split resident on the device, in fp32
and bf16 autocast: the Trainer and the plain loop over the same device batches, interleaved.

    python -m bench.gpu_speed --data-dir D [--subjects 40] [--device cuda]

Without CUDA it records why it was skipped. `--device cpu` runs the same code path on the CPU (a
check of the code, not a benchmark).
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from torch.utils.data import DataLoader, IterableDataset

from bench.common import (MODELS, StepTimer, autocast_for, build, emit, make_optimizers, plain_step, prepare_data,
                          quiet_lightning, release_memory, steady_rate, transfer)

PRECISIONS = ("32-true", "bf16-mixed")


class DeviceBatches(IterableDataset):
    """Full batches drawn on the device from tensors that live there (a fresh permutation per epoch)."""

    def __init__(self, tensors: tuple, batch_size: int, steps: int, seed: int = 0):
        self.tensors, self.batch_size, self.steps, self.seed = tensors, batch_size, steps, seed

    def __iter__(self):
        dev, n = self.tensors[0].device, len(self.tensors[0])
        g = torch.Generator(device=dev).manual_seed(self.seed)
        per_epoch = max(1, n // self.batch_size)
        for i in range(self.steps):
            if i % per_epoch == 0:
                order = torch.randperm(n, device=dev, generator=g)
            idx = order[(i % per_epoch) * self.batch_size:(i % per_epoch + 1) * self.batch_size]
            yield tuple(t[idx] for t in self.tensors)


def resident_split(dm, device: str) -> tuple:
    """The training split as device tensors, in the DataModule's batch layout (uint8 images)."""
    if hasattr(dm, "pair_datasets"):  # pairs: this epoch's pairs, materialised once
        ds = dm.pair_datasets["train"]
        items = [ds[i] for i in range(len(ds))]
        return tuple(torch.stack([torch.as_tensor(it[k]) for it in items]).to(device) for k in range(len(items[0])))
    ds = dm.datasets["train"]
    return tuple(t.to(device) for t in (ds.images, ds.labels, ds.subjects, ds.indices))


def one(name: str, arch: str, data_dir: Path, n_subjects: int, device: str, steps: int, warmup: int,
        reps: int) -> dict:
    from hydra.utils import instantiate

    cfg, dm, module = build(name, arch, data_dir, n_subjects)
    module.to(device)
    sync = torch.cuda.synchronize if device == "cuda" else None
    tensors = resident_split(dm, device)
    bs = min(dm.hparams.batch_size, len(tensors[0]))
    accelerator = "gpu" if device == "cuda" else "cpu"
    channels_last = bool((cfg.get("callbacks") or {}).get("channels_last"))
    n_opt = 1 if module.automatic_optimization else 2
    out = {"batch_size": bs, "channels_last": channels_last}
    for precision in PRECISIONS:
        runs = {"lightning": [], "plain": []}
        for rep in range(reps):
            # A: the Trainer, the DataModule's transfer hook on device batches
            timer = StepTimer(sync)
            dm.train_dataloader = lambda: DataLoader(DeviceBatches(tensors, bs, steps, rep), batch_size=None)
            callbacks = [timer] + ([instantiate(cfg.callbacks.channels_last)] if channels_last else [])
            trainer = instantiate(cfg.trainer, accelerator=accelerator, devices=1, precision=precision,
                                  callbacks=callbacks, logger=False, enable_checkpointing=False,
                                  enable_progress_bar=False, enable_model_summary=False, max_epochs=1,
                                  max_steps=steps * n_opt, limit_val_batches=0, num_sanity_val_steps=0,
                                  default_root_dir=tempfile.gettempdir())
            trainer.fit(module, datamodule=dm)
            runs["lightning"].append(steady_rate(timer.starts, timer.end, timer.sizes, warmup)["images_per_s"])
            module.trainer = dm.trainer = None  # frees the trainer's optimizers and their state
            del trainer
            # B: the plain loop on the same device batches
            if channels_last:
                module.to(memory_format=torch.channels_last)
            module.train()
            opts, autocast, starts, sizes = make_optimizers(module), autocast_for(precision, device), [], []
            for batch in DeviceBatches(tensors, bs, steps, rep):
                batch = transfer(dm, batch)
                (sync or (lambda: None))()
                starts.append(time.perf_counter())
                sizes.append(len(batch[0]))
                plain_step(name, module, opts, batch, autocast)
            (sync or (lambda: None))()
            runs["plain"].append(steady_rate(starts, time.perf_counter(), sizes, warmup)["images_per_s"])
            del opts
            release_memory()
        ratios = [a / b for a, b in zip(runs["lightning"], runs["plain"])]
        out[precision] = {"images_per_s": {m: statistics.median(v) for m, v in runs.items()},
                          "lightning_over_plain": statistics.median(ratios), "runs": runs}
    if device == "cuda":
        out["peak_memory_mb"] = torch.cuda.max_memory_allocated() / 2**20
        torch.cuda.reset_peak_memory_stats()
    del module
    return out


def run(data_dir: Path, n_subjects: int, device: str = "cuda", archs: dict | None = None, log=print) -> dict:
    if device == "cuda" and not torch.cuda.is_available():
        return {"skipped": "no CUDA device (torch.cuda.is_available() is False)"}
    quiet_lightning()
    archs = archs or {"fast": dict(steps=40, warmup=10, reps=3), "paper": dict(steps=12, warmup=4, reps=3)}
    out = {"device": torch.cuda.get_device_name(0) if device == "cuda" else "cpu (code-path check)", "results": {}}
    for arch, s in archs.items():
        for name in MODELS:
            start = time.perf_counter()
            try:
                r = one(name, arch, data_dir, n_subjects, device, s["steps"], s["warmup"], s["reps"])
            except Exception as e:  # one model failing must not lose the others
                r = {"error": f"{type(e).__name__}: {e}"[-500:]}
            r["seconds"] = round(time.perf_counter() - start, 1)
            out["results"][f"{name}_{arch}"] = r
            if "error" in r:
                log(f"  {name:<19} {arch:<5} FAILED: {r['error']}")
            else:
                log(f"  {name:<19} {arch:<5} " + ", ".join(
                    f"{p} {r[p]['images_per_s']['lightning']:.0f} img/s (x{r[p]['lightning_over_plain']:.2f} of plain)"
                    for p in PRECISIONS))
            release_memory()
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--subjects", type=int, default=40)
    p.add_argument("--device", default="cuda")
    p.add_argument("--steps", type=int)
    p.add_argument("--out")
    a = p.parse_args()
    archs = None
    if a.steps:  # a short check: both archs, a few steps
        archs = {arch: dict(steps=a.steps, warmup=max(1, a.steps // 3), reps=1) for arch in ("fast", "paper")}
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = a.data_dir or Path(tmp)
        prepare_data(data_dir, a.subjects)
        emit(run(data_dir, a.subjects, a.device, archs), a.out)


if __name__ == "__main__":
    main()
