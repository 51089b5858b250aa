"""CPU speed options on the fast models, through the Trainer as users switch them: channels_last
(`callbacks.channels_last`), bf16 autocast (`trainer.precision=bf16-mixed`) and torch.compile, alone
and combined, as speedup over eager fp32, with the accuracy after the same fixed training budget.

    python -m bench.speed_options --one ssvae --data-dir D [--scored --epochs 10] [--options eager,bf16,...]

Every option trains the same initial weights on the same batches (seed 0); the accuracy is pooled
over the validation and test splits (subjects nobody trained on), and val/loss is reported with it.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import pytorch_lightning as pl
import torch
from torch import nn

from bench.common import MODELS, StepTimer, build, emit, quiet_lightning, release_memory, run_json, steady_rate

# name -> (channels_last, bf16 autocast, torch.compile)
OPTIONS = {
    "eager": (False, False, False),
    "channels_last": (True, False, False),
    "bf16": (False, True, False),
    "compile": (False, False, True),
    "channels_last+bf16": (True, True, False),
    "channels_last+bf16+compile": (True, True, True),
}
# Trained for the fixed budget and scored; the others are timed only. The β-VAE is the main job's model;
# from the same start every model sits at the majority-class accuracy for its first ~6 epochs (40 subjects).
SCORED = ("ssvae",)


class CompileSubmodules(pl.Callback):
    """torch.compile every nn.Sequential of the module for fit (the models call their sub-networks, not
    forward, in training_step); the eager ones are put back after fit."""

    def on_fit_start(self, trainer, pl_module):
        self.eager = {n: m for n, m in pl_module.named_children() if isinstance(m, nn.Sequential)}
        for name, m in self.eager.items():
            setattr(pl_module, name, torch.compile(m))

    def on_fit_end(self, trainer, pl_module):
        for name, m in self.eager.items():
            setattr(pl_module, name, m)


def _trainer(channels_last: bool, bf16: bool, compile_: bool, **kwargs) -> pl.Trainer:
    from facevae.callbacks import ChannelsLast

    callbacks = kwargs.pop("callbacks", [])
    callbacks += [ChannelsLast()] if channels_last else []
    callbacks += [CompileSubmodules()] if compile_ else []
    return pl.Trainer(accelerator="cpu", devices=1, precision="bf16-mixed" if bf16 else "32-true",
                      callbacks=callbacks, logger=False, enable_checkpointing=False, enable_progress_bar=False,
                      enable_model_summary=False, num_sanity_val_steps=0,
                      default_root_dir=tempfile.gettempdir(), **kwargs)


def accuracy(module, dm, channels_last: bool, bf16: bool) -> dict:
    """val/acc and test/acc under the option's precision and memory format, both pooled, and val/loss
    (continuous: it moves before the accuracy does)."""
    trainer = _trainer(channels_last, bf16, False)
    val = trainer.validate(module, datamodule=dm, verbose=False)[0]
    test = trainer.test(module, datamodule=dm, verbose=False)[0]["test/acc"]
    n_val, n_test = len(dm.datasets["val"]), len(dm.datasets["test"])
    return {"val_acc": val["val/acc"], "test_acc": test, "val_loss": val.get("val/loss"),
            "acc": (val["val/acc"] * n_val + test * n_test) / (n_val + n_test)}


def one_option(name: str, option: str, data_dir: Path, n_subjects: int, epochs: int, steps: int,
               warmup: int, scored: bool) -> dict:
    """One fit under `option`: `epochs` epochs then the accuracy when `scored`, else `steps` steps (speed only)."""
    cl, bf16, comp = OPTIONS[option]
    cfg, dm, module = build(name, "fast", data_dir, n_subjects, seed=0)
    timer = StepTimer()
    n_opt = 1 if module.automatic_optimization else 2
    budget = dict(max_epochs=epochs) if scored else dict(max_epochs=-1, max_steps=steps * n_opt)
    trainer = _trainer(cl, bf16, comp, callbacks=[timer], limit_val_batches=0, **budget)
    pl.seed_everything(0, verbose=False)
    start = time.perf_counter()
    trainer.fit(module, datamodule=dm)
    fit_s = time.perf_counter() - start
    r = steady_rate(timer.starts, timer.end, timer.sizes, warmup)
    r.update(option=option, fit_s=fit_s, train_steps=len(timer.starts),
             excess_s=fit_s - r["step_s"] * len(timer.starts))  # set-up, compilation, partial batches
    if scored:
        r.update(accuracy(module, dm, cl, bf16))
    del trainer, module
    release_memory()
    return r


def one(name: str, options: list[str], data_dir: Path, n_subjects: int, epochs: int, steps: int, warmup: int,
        scored: bool) -> dict:
    quiet_lightning()
    runs = {opt: one_option(name, opt, data_dir, n_subjects, epochs, steps, warmup, scored) for opt in options}
    # Eager once more at the end (speed only): averages out the drift of a noisy machine over the runs.
    runs["eager_repeat"] = one_option(name, "eager", data_dir, n_subjects, epochs, steps, warmup, False)
    base = (runs["eager"]["images_per_s"] + runs["eager_repeat"]["images_per_s"]) / 2
    out = {"model": name, "eager_images_per_s": base, "runs": runs,
           "speedup": {o: runs[o]["images_per_s"] / base for o in options if o != "eager"}}
    if scored:
        out["accuracy"] = {o: runs[o]["acc"] for o in options}
        out["val_loss"] = {o: runs[o]["val_loss"] for o in options}
        out["epochs"] = epochs
    return out


def run(plan: dict, data_dir: Path, n_subjects: int, epochs: int, steps: int, warmup: int = 3,
        scored: tuple[str, ...] = SCORED, timeout: float = 600, log=print) -> dict:
    """`plan` maps model -> options; one process per model (compiled graphs and memory stay apart).
    Models in `scored` train `epochs` epochs and are scored; the others run `steps` steps, timed only."""
    results = {}
    for name, options in plan.items():
        args = ["bench.speed_options", "--one", name, "--options", ",".join(options), "--data-dir", str(data_dir),
                "--subjects", str(n_subjects), "--epochs", str(epochs), "--steps", str(steps), "--warmup", str(warmup)]
        args += ["--scored"] if name in scored else []
        start = time.perf_counter()
        try:
            r = run_json(args, timeout)
            acc = r.get("accuracy", {})
            log(f"  {name:<19} eager {r['eager_images_per_s']:.0f} img/s; " + ", ".join(
                f"{o} x{s:.2f}" + (f" (acc {acc[o]:.2f} vs {acc['eager']:.2f})" if o in acc else "")
                for o, s in r["speedup"].items()) + f"  [{time.perf_counter() - start:.0f} s]")
        except RuntimeError as e:
            r = {"model": name, "error": str(e)[-500:]}
            log(f"  {name:<19} FAILED: {r['error']}")
        r["seconds"] = round(time.perf_counter() - start, 1)
        results[name] = r
    return results


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--one", required=True, choices=MODELS)
    p.add_argument("--options", default=",".join(OPTIONS))
    p.add_argument("--data-dir", type=Path, required=True)
    p.add_argument("--subjects", type=int, default=40)
    p.add_argument("--epochs", type=int, default=10, help="training budget of a --scored run")
    p.add_argument("--steps", type=int, default=15, help="training steps of the speed-only models")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--scored", action="store_true", help="train --epochs epochs and score accuracy (else: --steps, speed only)")
    p.add_argument("--out")
    a = p.parse_args()
    options = ["eager", *[o for o in a.options.split(",") if o != "eager"]]
    unknown = set(options) - set(OPTIONS)
    if unknown:
        p.error(f"unknown options {sorted(unknown)}: use {', '.join(OPTIONS)}")
    emit(one(a.one, options, a.data_dir, a.subjects, a.epochs, a.steps, a.warmup, a.scored), a.out)


if __name__ == "__main__":
    main()
