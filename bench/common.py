"""What the training benchmarks share: configs composed as train.py composes them, the data, a plain
PyTorch training step per model, step timing and resident-memory sampling."""

from __future__ import annotations

import ctypes
import gc
import json
import os
import threading
import time
import warnings
from contextlib import nullcontext
from pathlib import Path

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("WANDB_MODE", "disabled")

import pytorch_lightning as pl  # noqa: E402
import torch  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
MODELS = ("ssvae", "classifier", "fader", "siamese_comparator", "siamese_vae")

warnings.filterwarnings("ignore", message=".*isinstance\\(treespec, LeafSpec\\).*")
warnings.filterwarnings("ignore", message=".*does not have many workers.*")
warnings.filterwarnings("ignore", message=".*GPU available but not used.*")


def quiet_lightning() -> None:
    import logging

    for name in ("pytorch_lightning", "lightning", "lightning.pytorch", "lightning_fabric", "facevae"):
        logging.getLogger(name).setLevel(logging.ERROR)


def compose(overrides: list[str], data_dir: Path, n_subjects: int):
    """The config `python train.py <overrides>` would see, with data under data_dir."""
    from hydra import compose as hydra_compose, initialize_config_dir

    with initialize_config_dir(config_dir=str(ROOT / "conf"), version_base="1.3"):
        return hydra_compose("config", overrides=[
            *overrides, f"paths.data_dir={data_dir}", f"paths.output_dir={data_dir / 'out'}",
            "data.progress=false", f"data.synth.n_subjects={n_subjects}"])


def prepare_data(data_dir: Path, n_subjects: int) -> dict:
    """Generate and prepare the synthetic CK+ once (later builds reuse the cache); returns its sizes."""
    from facevae.run import build_datamodule

    dm = build_datamodule(compose([], data_dir, n_subjects))
    dm.prepare_data()
    dm.setup("fit")
    return {"n_subjects": n_subjects, **{f"n_{k}": len(v) for k, v in dm.splits.items()}}


def comparator_ckpt(arch: str, data_dir: Path, n_subjects: int) -> Path:
    """An (untrained) comparator checkpoint of `arch` for the siamese VAE: speed does not depend on its weights."""
    from facevae.run import build_model

    path = data_dir / f"comparator_{arch}.ckpt"
    if not path.is_file():
        cfg = compose(["model=siamese_comparator", f"arch={arch}"], data_dir, n_subjects)
        model = build_model(cfg, list(cfg.data.classes))
        torch.save({"hyper_parameters": dict(model.hparams), "state_dict": model.state_dict()}, path)
        del model
    return path


def build(model: str, arch: str, data_dir: Path, n_subjects: int, batch_size: int | None = None,
          overrides: tuple[str, ...] = (), seed: int = 0):
    """(cfg, datamodule set up for fit, LightningModule) exactly as facevae.run.train builds them."""
    from facevae.run import build_datamodule, build_model

    extra = [f"model={model}", f"arch={arch}", *overrides]
    if batch_size:
        extra.append(f"data.batch_size={batch_size}")
    if model == "siamese_vae":
        extra.append(f"model.comparator_ckpt={comparator_ckpt(arch, data_dir, n_subjects)}")
    if arch == "paper" and model in ("ssvae", "siamese_vae"):
        extra.append("model.style_map=0")  # the paper's vector latent: arch=paper has no map decoder
    cfg = compose(extra, data_dir, n_subjects)
    pl.seed_everything(seed, verbose=False)
    torch.set_float32_matmul_precision("high")
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    module = build_model(cfg, dm.classes)
    return cfg, dm, module


# -- the plain PyTorch side ---------------------------------------------------------------------------
def transfer(dm, batch):
    """What the DataModule's on_after_batch_transfer does in training: uint8 -> [0, 1] floats, augmentation."""
    from facevae.data.datamodule import augment_batch
    from facevae.data.pairs import PairDataModule

    hp = dm.hparams
    if isinstance(dm, PairDataModule):
        a, b, same, la, lb = batch
        a, b = a.float().div_(255.0), b.float().div_(255.0)
        if hp.hflip > 0:
            a, b = dm._flip(a), dm._flip(b)
        return a, b, same, la, lb
    images, labels, subjects, index = batch
    images = augment_batch(images.float().div_(255.0), hp.hflip, hp.shift, hp.rotate, hp.zoom)
    return images, labels, subjects, index


def autocast_for(precision: str, device: str = "cpu"):
    """The autocast context Lightning's precision plugin uses for `precision`."""
    if "bf16" in str(precision) and "mixed" in str(precision):
        return lambda: torch.autocast(device, dtype=torch.bfloat16)
    if str(precision) in ("16-mixed", "16"):
        return lambda: torch.autocast(device, dtype=torch.float16)
    return nullcontext


def make_optimizers(module) -> list:
    opts = module.configure_optimizers()
    return list(opts) if isinstance(opts, (list, tuple)) else [opts]


def _clipped_step(opt, loss, clip: float) -> None:
    opt.zero_grad(set_to_none=True)
    loss.backward()
    params = [p for g in opt.param_groups for p in g["params"]]
    torch.nn.utils.clip_grad_norm_(params, clip)
    opt.step()


def plain_step(name: str, module, opts: list, batch, autocast) -> None:
    """One training step of `name` in plain PyTorch: the same computation as the module's training_step."""
    if name == "fader":  # two optimizers: discriminator on z.detach(), then the autoencoder
        x, y = batch[0], batch[1]
        opt_ae, opt_dis = opts
        with autocast():
            z = module.encode(x)
            dis_loss = module.dis_loss(module.discriminator(z.detach()), y)
        _clipped_step(opt_dis, dis_loss, module.hparams.grad_clip)
        with autocast():
            loss = module.losses(x, y, z)["loss"]
        _clipped_step(opt_ae, loss, module.hparams.grad_clip)
        return
    with autocast():
        loss = plain_loss(name, module, batch)
    opt = opts[0]
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()


def plain_loss(name: str, module, batch) -> torch.Tensor:
    """The training loss of the single-optimizer models: each model's own losses(), as its training_step uses it."""
    if name in ("classifier", "ssvae", "siamese_vae"):
        extra = {} if name == "classifier" else {"sample": True}
        return module.losses(batch[0], batch[1], **extra)["loss"]
    if name == "siamese_comparator":
        return module.losses(*batch)["loss"]
    raise ValueError(name)


# -- timing ------------------------------------------------------------------------------------------
def steady_rate(starts: list[float], end: float, sizes: list[int], warmup: int) -> dict:
    """Images/s over the steps after `warmup`: each step lasts from its start to the next one's (the last
    to `end`), so data fetching, transfer and every framework hook between steps count. Steps with a
    smaller (last-of-epoch) batch are left out: they would change the shape, not the framework cost."""
    bounds = [*starts[1:], end]
    full = max(sizes)
    keep = [(n, b - s) for i, (n, s, b) in enumerate(zip(sizes, starts, bounds)) if i >= warmup and n == full]
    if not keep:
        return {"images_per_s": float("nan"), "steps": 0}
    images, seconds = sum(n for n, _ in keep), sum(d for _, d in keep)
    return {"images_per_s": images / seconds, "steps": len(keep), "step_s": seconds / len(keep),
            "first_step_s": bounds[0] - starts[0], "batch": full,
            "durations": [d for _, d in keep]}  # every kept step: train_speed's ratio is of their medians


class StepTimer(pl.Callback):
    """Time stamps at the start of every training batch (after fetch and transfer) and at the last end;
    `sync` (torch.cuda.synchronize on a GPU) runs first, so queued kernels count for their step."""

    def __init__(self, sync=None):
        self.starts, self.sizes, self.end, self.sync = [], [], 0.0, sync or (lambda: None)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx):
        self.sync()
        self.starts.append(time.perf_counter())
        self.sizes.append(len(batch[0]))

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx):
        self.sync()
        self.end = time.perf_counter()


def batches(loader, n: int):
    """n batches from loader, starting over (and redrawing pairs, as Lightning does) at each epoch end."""
    epoch, done = 0, 0
    while done < n:
        sampler = getattr(loader, "sampler", None)
        if epoch and hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)
        for batch in loader:
            yield batch
            done += 1
            if done == n:
                return
        epoch += 1


# -- memory ------------------------------------------------------------------------------------------
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def rss_mb() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * _PAGE / 2**20


def release_memory() -> None:
    """Collect garbage and hand freed heap back to the OS, so the next measurement's peak is its own."""
    gc.collect()
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
    except OSError:
        pass


class PeakRSS:
    """Highest resident set size seen (sampled every 5 ms) while the block runs."""

    def __enter__(self):
        release_memory()
        self.peak = rss_mb()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def _run(self):
        while not self._stop.wait(0.005):
            self.peak = max(self.peak, rss_mb())

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, rss_mb())


def max_rss_mb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_json(args: list[str], timeout: float) -> dict:
    """Run `python -m <args> --out F` in a fresh process and return the JSON it wrote to F; a failure is
    raised as RuntimeError with the last line of its stderr."""
    import subprocess
    import sys
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "result.json"
        try:
            proc = subprocess.run([sys.executable, "-m", *args, "--out", str(out)], capture_output=True, text=True,
                                  timeout=timeout, cwd=ROOT)
        except subprocess.TimeoutExpired:
            raise RuntimeError(f"timed out after {timeout:.0f} s") from None
        if proc.returncode or not out.is_file():
            lines = proc.stderr.strip().splitlines()
            raise RuntimeError(lines[-1] if lines else f"exit code {proc.returncode}")
        return json.loads(out.read_text())


def emit(result: dict, path: str | None) -> None:
    """The result of a sub-process benchmark: to `path` when given (the driver reads it), else stdout."""
    text = json.dumps(result, indent=2, default=float)
    if path:
        Path(path).write_text(text)
    else:
        print(text)
