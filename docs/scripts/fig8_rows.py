"""Fig. 8 as the paper lays it out: one row per Fader loss condition (l2, mc, adv), one emotion's latent swept (README).

    python train.py -m model=fader loss=l2,mc,adv hydra.sweep.dir=multirun/fig8
    python docs/scripts/fig8_rows.py multirun/fig8/0 multirun/fig8/1 multirun/fig8/2 [--emotion happiness] [--out fig8_rows.png]

Each argument is a Fader run folder (checkpoints/best.ckpt and config.yaml). Each row is the run's own Fig. 8 row
for the emotion (facevae.figures.fader.latent_sweep: the same test neutral face, the emotion's latent over its
observed range, decoded with y = the emotion), with the judge's P(emotion) at both ends in the row's label. The model comes from the
checkpoint (weights only, of a model facevae names); the data from the run's own config.yaml read as plain data
(data.*, composed onto facevae's own configs: nothing in it is instantiated).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
from hydra import compose, initialize_config_dir
from omegaconf import OmegaConf

from facevae.evaluation.collect import collect
from facevae.figures.fader import latent_sweep, neutral_faces, split_codes
from facevae.figures.style import image_grid, save
from facevae.judge import judge_available, load_judge
from facevae.models.fader import Fader
from facevae.run import build_datamodule

CONF = Path(__file__).resolve().parents[2] / "conf"
KEYS = {"fold": int, "num_folds": int, "split_seed": int, "image_size": int, "crop_margin": float}


def row(run: Path, emotion: str, steps: int):
    stored = OmegaConf.load(run / "config.yaml")
    data = {k: cast(stored.data[k]) for k, cast in KEYS.items()}  # numbers only: nothing else reaches the overrides
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["model=fader", "data.progress=false",
                                           *(f"data.{k}={v}" for k, v in data.items())])
    model = Fader.load_frozen(run / "checkpoints" / "best.ckpt")
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("test")
    trainer = pl.Trainer(accelerator="cpu", logger=False, enable_progress_bar=False, enable_model_summary=False)
    trainer.test(model, datamodule=dm, verbose=False)
    ev = collect(model, dm, "test")
    enc = split_codes(ev, model.vector_dims)
    base = neutral_faces(enc, ev.classes, 1)[0]
    k = ev.classes.index(emotion)
    faces, _ = latent_sweep(model, enc["z"], base, k, steps)
    return str(stored.loss.name), ev.images[base], faces, ev.classes


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("runs", nargs="+", type=Path)
    ap.add_argument("--emotion", default="happiness")
    ap.add_argument("--steps", type=int, default=6)
    ap.add_argument("--out", type=Path, default=Path("fig8_rows.png"))
    a = ap.parse_args()
    judge = load_judge() if judge_available() else None
    rows, labels = [], []
    for run in a.runs:
        loss, face, faces, classes = row(run, a.emotion, a.steps)
        rows.append(np.concatenate([face[None], faces]))
        p = None if judge is None else judge.probs_for(faces, [a.emotion])[:, 0]
        labels.append(f"loss={loss}" if p is None else f"loss={loss}\nP {p[0]:.2f} -> {p[-1]:.2f}")
        print(f"{run}: loss={loss}, the judge's P({a.emotion}) along the sweep: "
              + ("no judge" if p is None else " ".join(f"{v:.2f}" for v in p)))
    cols = ["input (neutral)"] + [f"step {i + 1}" + (" (min)" if i == 0 else " (max)" if i == a.steps - 1 else "")
                                  for i in range(a.steps)]
    fig = image_grid(rows, labels, cols, f"Fig. 8 - the {a.emotion} latent swept (min -> max), one Fader loss a row "
                     f"(left: the judge's P({a.emotion}) at both ends)", cell=1.8)
    print(save(fig, a.out))


if __name__ == "__main__":
    main()
