"""Issue 6: sweeps (joblib, Optuna, submitit_local), DDP in single runs and sweeps, W&B offline, kill and resume.

Every test runs train.py as a user would, in a subprocess, at smoke size with the fastest model.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from .conftest import ROOT, compose_config

FAST = ["model=classifier", "debug=smoke", "trainer.max_epochs=1", "data.progress=false",
        "callbacks.progress_bar=null", "eval.judge=false", "eval.disentanglement=false"]


def train_py(*args: str, env: dict | None = None, timeout: int = 900) -> subprocess.CompletedProcess:
    proc = subprocess.run([sys.executable, "train.py", *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=timeout, env={**os.environ, **(env or {})})
    assert proc.returncode == 0, (proc.stdout[-2000:], proc.stderr[-3000:])
    return proc


def job_dirs(sweep: Path) -> list[Path]:
    return sorted(p.parent for p in sweep.glob("*/metrics.json"))


def assert_sweep_summary(sweep: Path, n: int) -> dict:
    summary = json.loads((sweep / "summary.json").read_text())
    assert len(summary["runs"]) == n and (sweep / "report.md").is_file()
    return summary


@pytest.mark.slow
def test_joblib_multirun_of_two_jobs_with_one_summary(tmp_path, data_dir):
    sweep = tmp_path / "sweep"
    train_py("-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1", *FAST,
             f"paths.data_dir={data_dir}", f"hydra.sweep.dir={sweep}")
    jobs = job_dirs(sweep)
    assert len(jobs) == 2
    assert {json.loads((j / "run_info.json").read_text())["seed"] for j in jobs} == {0, 1}
    summary = assert_sweep_summary(sweep, 2)
    assert {r["label"] for r in summary["runs"]} == {"seed=0", "seed=1"}


@pytest.mark.slow
def test_submitit_local_runs_two_jobs(tmp_path, data_dir):
    sweep = tmp_path / "sweep"
    train_py("-m", "hydra/launcher=submitit_local", "hydra.launcher.timeout_min=20", "seed=0,1", *FAST,
             f"paths.data_dir={data_dir}", f"hydra.sweep.dir={sweep}")
    assert len(job_dirs(sweep)) == 2
    assert (sweep / ".submitit").is_dir()
    assert_sweep_summary(sweep, 2)


def rank_settings(run: Path) -> list[dict]:
    return [json.loads(f.read_text()) for f in sorted((run / "ranks").glob("rank*.json"))]


@pytest.mark.slow
def test_ddp_two_processes_single_run_and_inside_an_optuna_study(tmp_path, data_dir):
    ddp = ["trainer=ddp", "trainer.devices=2", *FAST, f"paths.data_dir={data_dir}"]
    single = tmp_path / "single"
    train_py(*ddp, "model.lr=0.0007", f"hydra.run.dir={single}")
    ranks = rank_settings(single)
    assert len(ranks) == 2 and ranks[0] == ranks[1] and ranks[0]["world_size"] == 2
    assert ranks[0]["hparams"]["lr"] == 0.0007
    assert json.loads((single / "metrics.json").read_text())["train/world_size"] == 2
    assert not list(tmp_path.glob("multirun*"))  # no stray sweep started by rank 1

    # Inside a multirun: the Optuna sweeper picks the values at run time and its search space sets
    # hydra.mode=MULTIRUN; rank 1 must still run the trial it belongs to, not a study (or sweep) of its own.
    # The study is stored in SQLite, and each trial's value is the validation accuracy its run wrote.
    import optuna

    study_dir, db = tmp_path / "study", tmp_path / "optuna.db"
    train_py("-m", "hparams_search=ssvae_optuna", "hydra.sweeper.n_trials=2", f"hydra.sweeper.storage=sqlite:///{db}",
             *[a for a in ddp if not a.startswith("model=")], f"hydra.sweep.dir={study_dir}")
    jobs = job_dirs(study_dir)
    trials = [rank_settings(job) for job in jobs]
    assert len(trials) == 2 and all(len(r) == 2 and r[0] == r[1] for r in trials)
    assert trials[0][0]["hparams"]["lr"] != trials[1][0]["hparams"]["lr"]
    assert len(list(study_dir.glob("*/"))) == 2  # one folder per trial, no sweep of rank 1's own
    study = optuna.load_study(study_name="ssvae_loss_weights", storage=f"sqlite:///{db}")
    values = [t.value for t in study.trials]
    assert len(values) == 2 and all(0 <= v <= 1 for v in values)
    written = sorted(json.loads((j / "metrics.json").read_text())["val/acc"] for j in jobs)
    assert sorted(values) == pytest.approx(written)
    assert "best_value" in (study_dir / "optimization_results.yaml").read_text()
    assert {float(t.params["model.lr"]) for t in study.trials} == {r[0]["hparams"]["lr"] for r in trials}
    assert_sweep_summary(study_dir, 2)


@pytest.mark.slow
def test_wandb_offline_without_key_writes_images_and_the_latent_table(tmp_path, data_dir):
    env = {k: v for k, v in os.environ.items() if not k.startswith("WANDB")}
    env["HOME"] = str(tmp_path)  # no ~/.netrc key
    proc = subprocess.run([sys.executable, "train.py", "logger=wandb", *FAST, f"paths.data_dir={data_dir}",
                           f"hydra.run.dir={tmp_path / 'run'}"], cwd=ROOT, capture_output=True, text=True,
                          timeout=600, env=env, stdin=subprocess.DEVNULL)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "no W&B API key: logging offline" in proc.stdout and "wandb sync" in proc.stdout
    offline = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(offline) == 1
    files = [p.relative_to(offline[0]).as_posix() for p in offline[0].rglob("*") if p.is_file()]
    assert any(f.startswith("files/media/images/figures/") and f.endswith(".png") for f in files), files
    assert any(f.startswith("files/media/table/latent_codes") for f in files), files
    assert any(f.endswith(".wandb") for f in files)


def _metrics(run: Path) -> dict:
    """End metrics plus the last epoch's training loss: equal end metrics alone could hide a divergence
    (the best checkpoint may be one saved before the kill)."""
    m = json.loads((run / "metrics.json").read_text())
    rows = (run / "csv" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    train = [r.split(",")[header.index("train/loss")] for r in rows[1:]]
    return {**{k: v for k, v in m.items() if k.startswith(("test/", "val/"))}, "last_train_loss": [t for t in train if t][-1]}


@pytest.mark.slow
def test_sigkill_mid_epoch_then_resume_matches_an_uninterrupted_run(tmp_path, data_dir):
    args = ["model=classifier", "debug=smoke", "trainer.max_epochs=3", "trainer.deterministic=true",
            "data.progress=false", "callbacks.progress_bar=null", "eval.judge=false", "eval.disentanglement=false",
            f"paths.data_dir={data_dir}"]
    reference = tmp_path / "reference"
    train_py(*args, f"hydra.run.dir={reference}")

    identical, differ = 0, []
    delays = (0.0, 0.4)  # kill right after the first checkpoint, and a little later in the next epoch
    for k, delay in enumerate(delays):
        run = tmp_path / f"killed{k}"
        proc = subprocess.Popen([sys.executable, "train.py", *args, f"hydra.run.dir={run}"], cwd=ROOT,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        last = run / "checkpoints" / "last.ckpt"
        deadline = time.time() + 300
        while not last.exists() and proc.poll() is None and time.time() < deadline:
            time.sleep(0.05)
        time.sleep(delay)
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        assert proc.returncode == -9 and last.exists() and not (run / "metrics.json").exists()
        train_py(*args, "ckpt_path=last", f"hydra.run.dir={run}")
        got, want = _metrics(run), _metrics(reference)
        if got == want:
            identical += 1
        else:
            differ.append({k: (got.get(k), want.get(k)) for k in set(got) | set(want) if got.get(k) != want.get(k)})
    assert identical == len(delays), differ


def test_ckpt_path_last_without_a_checkpoint_is_one_line(tmp_path):
    proc = subprocess.run([sys.executable, "train.py", "debug=smoke", "ckpt_path=last", f"hydra.run.dir={tmp_path}"],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert "ckpt_path=last" in proc.stderr and "hydra.run.dir" in proc.stderr


PRESETS = ("paper_fig6", "paper_fig7_8", "paper_fig9_11", "paper_siamese", "paper_siamese_vae")


@pytest.mark.parametrize("preset", PRESETS)
def test_paper_presets_compose_for_a_gpu_and_shrink_with_smoke(preset, tmp_path):
    from facevae.config import validate

    from .conftest import compose_config

    extra = [f"model.comparator_ckpt={tmp_path / 'c.ckpt'}"] if preset == "paper_siamese_vae" else []
    full = compose_config([f"experiment={preset}", *extra], tmp_path, tmp_path)
    assert full.arch.name == "paper" and full.trainer.accelerator == "gpu" and full.trainer.max_epochs >= 60
    smoke = compose_config([f"experiment={preset}", "debug=smoke", *extra], tmp_path, tmp_path)
    if extra:  # the frozen comparator is checked at config time: a missing one is named before any work
        from facevae.config import ConfigError

        with pytest.raises(ConfigError, match="model.comparator_ckpt=.*c.ckpt: checkpoint not found"):
            validate(smoke)
    else:
        validate(smoke)
    assert smoke.trainer.accelerator == "cpu" and smoke.trainer.max_epochs == 2 and smoke.arch.name == "paper"


@pytest.mark.slow
def test_paper_fig6_preset_runs_on_cpu_with_smoke(tmp_path, data_dir):
    run = tmp_path / "fig6"
    train_py("experiment=paper_fig6", "debug=smoke", "trainer.max_epochs=1", "data.progress=false",
             "callbacks.progress_bar=null", "eval.judge=false", f"paths.data_dir={data_dir}", f"hydra.run.dir={run}")
    metrics = json.loads((run / "metrics.json").read_text())
    assert metrics["model/params"] > 134_000_000  # the paper's classifier, F256 on 128·128·32
    assert (run / "figures" / "fig6_tsne.png").is_file()


def test_last_ckpt_is_the_last_epoch_when_the_best_came_earlier(tmp_path):
    """Lightning >= 2.6 writes save_last's last.ckpt only in epochs where best.ckpt improves; conf/callbacks gives
    last.ckpt its own callback, so `ckpt_path=last` resumes (and `make demo` serves) the last epoch."""
    import pytorch_lightning as pl
    import torch
    from hydra.utils import instantiate
    from torch.utils.data import DataLoader, TensorDataset

    cfg = compose_config(["model=classifier"], tmp_path, tmp_path)
    callbacks = [instantiate(cfg.callbacks.model_checkpoint), instantiate(cfg.callbacks.last_checkpoint)]

    class GetsWorse(pl.LightningModule):  # val/acc (the classifier's monitor) is best in epoch 0
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Linear(1, 1)

        def training_step(self, batch, batch_idx):
            return self.w(batch[0]).pow(2).mean()

        def validation_step(self, batch, batch_idx):
            self.log("val/acc", 1.0 - 0.1 * self.current_epoch)

        def configure_optimizers(self):
            return torch.optim.SGD(self.parameters(), lr=0.1)

    loader = DataLoader(TensorDataset(torch.ones(4, 1)), batch_size=2)
    trainer = pl.Trainer(max_epochs=3, callbacks=callbacks, logger=False, enable_progress_bar=False,
                         enable_model_summary=False, accelerator="cpu")
    trainer.fit(GetsWorse(), loader, loader)
    saved = {name: torch.load(tmp_path / "checkpoints" / f"{name}.ckpt", weights_only=True)["epoch"]
             for name in ("best", "last")}
    assert saved == {"best": 0, "last": 2}
    assert trainer.checkpoint_callback.best_model_path.endswith("best.ckpt")
