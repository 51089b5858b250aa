"""Training throughput: each model's LightningModule under the Trainer vs a plain PyTorch loop over the
same nn.Modules, batches and data, interleaved (A B A B ...), with the peak resident memory of each.

    python -m bench.train_speed --one ssvae fast [--steps 15 --warmup 3 --reps 3]   (one model, JSON out)
    python -m bench.train_speed                                                      (every model, fast)

Both sides run the trainer config train.py uses (`conf/trainer/default.yaml`: its precision; the
channels_last callback of `conf/callbacks/default.yaml` when it is on), with the logger, checkpoints,
progress bar, model summary and validation off on the Lightning side, which the plain loop has none of.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch

from bench.common import (MODELS, PeakRSS, StepTimer, autocast_for, batches, build, emit, make_optimizers,
                          max_rss_mb, plain_step, prepare_data, quiet_lightning, release_memory, run_json,
                          steady_rate, transfer)


def _channels_last(cfg) -> bool:
    return bool((cfg.get("callbacks") or {}).get("channels_last"))


def make_trainer(cfg, module, steps: int, timer: StepTimer):
    """The configured Trainer (conf/trainer + the channels_last callback) for `steps` batches, without the
    logger, checkpoints, progress bar, model summary and validation that the plain loop has none of."""
    from hydra.utils import instantiate

    callbacks = [timer] + ([instantiate(cfg.callbacks.channels_last)] if _channels_last(cfg) else [])
    n_opt = 1 if module.automatic_optimization else len(make_optimizers(module))  # manual: a global step per optimizer
    return instantiate(cfg.trainer, callbacks=callbacks, logger=False, enable_checkpointing=False,
                       enable_progress_bar=False, enable_model_summary=False, max_epochs=-1,
                       max_steps=steps * n_opt, limit_val_batches=0, num_sanity_val_steps=0,
                       default_root_dir=tempfile.gettempdir())


def lightning_run(cfg, dm, module, steps: int, warmup: int) -> dict:
    """`steps` batches of trainer.fit; images/s of the steps after `warmup`."""
    timer = StepTimer()
    trainer = make_trainer(cfg, module, steps, timer)
    start = time.perf_counter()
    trainer.fit(module, datamodule=dm)
    fit_s = time.perf_counter() - start
    rate = steady_rate(timer.starts, timer.end, timer.sizes, warmup)
    rate["fit_s"] = fit_s
    rate["outside_steps_s"] = fit_s - (timer.end - timer.starts[0])  # set-up and tear-down around the steps
    module.trainer = dm.trainer = None  # both would keep the trainer, its optimizers and their state alive
    del trainer
    module.to(memory_format=torch.contiguous_format)  # the plain run converts on its own
    return rate


def plain_run(name: str, cfg, dm, module, steps: int, warmup: int) -> dict:
    """The same `steps` batches in a hand-written loop: loader, transfer, forward, backward, step."""
    start = time.perf_counter()
    autocast = autocast_for(cfg.trainer.precision)
    if _channels_last(cfg):
        module.to(memory_format=torch.channels_last)
    module.train()
    opts = make_optimizers(module)
    starts, sizes = [], []
    for batch in batches(dm.train_dataloader(), steps):
        batch = transfer(dm, batch)
        starts.append(time.perf_counter())
        sizes.append(len(batch[0]))
        plain_step(name, module, opts, batch, autocast)
    end = time.perf_counter()
    rate = steady_rate(starts, end, sizes, warmup)
    rate["fit_s"] = end - start
    rate["outside_steps_s"] = (end - start) - (end - starts[0])
    module.to(memory_format=torch.contiguous_format)
    return rate


class _ProfileSteps(StepTimer):
    """cProfile over the steps after `warmup` only (not Lightning's set-up and tear-down)."""

    def __init__(self, warmup: int):
        import cProfile

        super().__init__()
        self.warmup, self.profiler = warmup, cProfile.Profile()

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        if len(self.starts) == self.warmup:
            self.profiler.enable()
        super().on_train_batch_start(trainer, pl_module, batch, batch_idx)

    def on_train_end(self, trainer, pl_module):
        self.profiler.disable()


def lightning_python_time(cfg, dm, module, steps: int, warmup: int) -> dict:
    """Where a Lightning step's Python time goes: self time per step in Lightning's own code (the
    framework's cost: hooks, logging, loops), in facevae's and in torch's Python, by cProfile. An upper
    bound: a frame's self time also holds the freeing of tensors whose last reference dies there (the
    autograd graph of a manual-optimization training_step is freed in Lightning's strategy.training_step)."""
    import pstats
    from collections import defaultdict

    prof = _ProfileSteps(warmup)
    make_trainer(cfg, module, steps, prof).fit(module, datamodule=dm)
    module.trainer = dm.trainer = None
    n = max(1, len(prof.starts) - warmup)
    by_pkg, lightning_fns = defaultdict(float), []
    for (file, line, fn), (_, _, tottime, _, _) in pstats.Stats(prof.profiler).stats.items():
        pkg = next((k for k, keys in (("lightning", ("pytorch_lightning", "lightning_fabric")),
                                      ("torchmetrics", ("torchmetrics",)), ("facevae", ("facevae", "bench")),
                                      ("torch (Python)", ("/torch/",))) if any(x in file for x in keys)),
                   "C calls (torch ops) and other")
        by_pkg[pkg] += tottime
        if pkg == "lightning":
            lightning_fns.append((tottime, f"{Path(file).name}:{line}({fn})"))
    module.to(memory_format=torch.contiguous_format)
    top = sorted(lightning_fns, reverse=True)[:6]
    return {"step_ms_profiled": round((prof.end - prof.starts[min(warmup, len(prof.starts) - 1)]) / n * 1e3, 1),
            "self_ms_per_step": {k: round(v / n * 1e3, 2) for k, v in sorted(by_pkg.items(), key=lambda kv: -kv[1])},
            "top_lightning_ms_per_step": {f: round(t / n * 1e3, 3) for t, f in top}}


def one(name: str, arch: str, data_dir: Path, n_subjects: int, steps: int, warmup: int, reps: int,
        batch_size: int | None, overrides: tuple[str, ...] = (), profile: bool = False) -> dict:
    """Interleaved Lightning (A) / plain (B) runs of one model; median of the per-repetition ratios."""
    from facevae.models.arch import count_parameters

    quiet_lightning()
    cfg, dm, module = build(name, arch, data_dir, n_subjects, batch_size, overrides)
    runs = {"lightning": [], "plain": []}
    peaks = {"lightning": 0.0, "plain": 0.0}
    for _ in range(reps):
        for mode in ("lightning", "plain"):
            with PeakRSS() as mem:
                r = (lightning_run(cfg, dm, module, steps, warmup) if mode == "lightning"
                     else plain_run(name, cfg, dm, module, steps, warmup))
            r["peak_rss_mb"] = mem.peak
            peaks[mode] = max(peaks[mode], mem.peak)
            runs[mode].append(r)
            release_memory()
    extra = {"python_profile": lightning_python_time(cfg, dm, module, steps, warmup)} if profile else {}
    # Issue 17: on this machine one step's time moves by ~13 % (plain PyTorch too), in stretches shorter than a
    # second, so the ratio of each repetition's mean rate moved by ±0.1 between runs. Now: many short adjacent
    # A/B repetitions, each compared by its median step, and the median of those ratios with its quartiles
    # (the resolution). Per-epoch costs stay visible in window_ratios and outside_steps_s.
    median_step = {m: statistics.median(d for r in runs[m] for d in r["durations"]) for m in runs}
    rep_ratios = [statistics.median(b["durations"]) / statistics.median(a["durations"])
                  for a, b in zip(runs["lightning"], runs["plain"])]
    window_ratios = [a["images_per_s"] / b["images_per_s"] for a, b in zip(runs["lightning"], runs["plain"])]
    ips = {m: runs[m][0]["batch"] / median_step[m] for m in runs}
    return {
        "model": name, "arch": arch, "params": count_parameters(module), "batch_size": dm.hparams.batch_size,
        "precision": str(cfg.trainer.precision), "channels_last": _channels_last(cfg),
        "steps": steps, "warmup": warmup, "reps": reps,
        "ratio": statistics.median(rep_ratios), "ratio_quartiles": _quartiles(rep_ratios), "rep_ratios": rep_ratios,
        "window_ratios": window_ratios,
        "images_per_s": ips, "median_step_s": median_step,
        "step_s": {m: statistics.median(r["step_s"] for r in runs[m]) for m in runs},
        "outside_steps_s": {m: statistics.median(r["outside_steps_s"] for r in runs[m]) for m in runs},
        "peak_rss_mb": peaks, "process_max_rss_mb": max_rss_mb(), **extra, "runs": runs,
    }


def _quartiles(values: list[float]) -> list[float]:
    """First and third quartile (the middle half of the repetitions' ratios); both the value for one repetition."""
    if len(values) < 2:
        return [values[0], values[0]] if values else []
    q = statistics.quantiles(values, n=4)
    return [q[0], q[2]]


def run(models, archs: dict, data_dir: Path, n_subjects: int, timeout: float = 600, log=print) -> dict:
    """Every (model, arch) in its own process; `archs` maps arch -> dict(steps, warmup, reps, batch)."""
    results = {}
    for arch, s in archs.items():
        for name in models:
            args = ["bench.train_speed", "--one", name, arch, "--data-dir", str(data_dir), "--subjects",
                    str(n_subjects), "--steps", str(s["steps"]), "--warmup", str(s["warmup"]), "--reps", str(s["reps"])]
            args += ["--batch", str(s["batch"])] if s.get("batch") else []
            args += ["--profile"] if s.get("profile") else []
            start = time.perf_counter()
            try:
                r = run_json(args, timeout)
                log(f"  {name:<19} {arch:<5} lightning/plain {r['ratio']:.3f}  "
                    f"({r['images_per_s']['lightning']:.1f} vs {r['images_per_s']['plain']:.1f} img/s, "
                    f"peak RSS {r['peak_rss_mb']['lightning']:.0f}/{r['peak_rss_mb']['plain']:.0f} MB, "
                    f"{time.perf_counter() - start:.0f} s)")
            except RuntimeError as e:
                r = {"model": name, "arch": arch, "error": str(e)[-500:]}
                log(f"  {name:<19} {arch:<5} FAILED: {r['error']}")
            r["seconds"] = round(time.perf_counter() - start, 1)
            results[f"{name}_{arch}"] = r
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--one", nargs=2, metavar=("MODEL", "ARCH"))
    p.add_argument("--data-dir", type=Path)
    p.add_argument("--subjects", type=int, default=40)
    p.add_argument("--steps", type=int, default=15)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--reps", type=int, default=3)
    p.add_argument("--batch", type=int)
    p.add_argument("--override", action="append", default=[], help="a config override, e.g. trainer.precision=bf16-mixed")
    p.add_argument("--profile", action="store_true", help="also cProfile one Lightning run: where its Python time goes")
    p.add_argument("--out")
    a = p.parse_args()
    if a.one and not a.data_dir:
        p.error("--one needs --data-dir (a folder that python -m bench.run or a previous run prepared)")
    if a.one:
        name, arch = a.one
        if name not in MODELS:
            p.error(f"model {name!r}: use one of {', '.join(MODELS)}")
        emit(one(name, arch, a.data_dir, a.subjects, a.steps, a.warmup, a.reps, a.batch, tuple(a.override), a.profile), a.out)
        return
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = a.data_dir or Path(tmp)
        prepare_data(data_dir, a.subjects)
        s = {"steps": a.steps, "warmup": a.warmup, "reps": a.reps, "batch": a.batch}
        emit(run(MODELS, {"fast": s}, data_dir, a.subjects), a.out)


if __name__ == "__main__":
    main()
