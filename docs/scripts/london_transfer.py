"""Does a model trained on synthetic faces read real ones? All 204 London photos, neutral vs happiness (README).

    python docs/scripts/london_transfer.py outputs/train/<date>/<time>/checkpoints/best.ckpt [more.ckpt ...]

For each β-VAE (§2.4) or Fader (§2.3) checkpoint: encodes every London photo (102 people, neutral and smiling,
cropped as `data=london` crops them, at the checkpoint's image size) and reads it as the larger of the model's own
neutral and happiness latent axes, as `eval.py … data=london` reads its test fold (`test/acc_present`), but over
every photo. Prints the accuracy and each class's share read right. The model comes from the checkpoint (weights
only, of a model facevae names); the data config is facevae's own `data=london`, never one read from a file.
Photos: Face Research Lab London Set, DeBruine & Jones (2017), CC BY 4.0.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import torch
from hydra import compose, initialize_config_dir

from facevae.checkpoint import known_models, load_checkpoint, stored_model_name
from facevae.config import import_target
from facevae.run import build_datamodule

CONF = Path(__file__).resolve().parents[2] / "conf"


def london_photos(image_size: int):
    """(images N×1×H×W in [0, 1], labels, class names) of every London photo at `image_size`."""
    with initialize_config_dir(config_dir=str(CONF), version_base="1.3"):
        cfg = compose("config", overrides=["data=london", f"data.image_size={image_size}", "data.progress=false"])
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup()
    x = torch.from_numpy(np.asarray(dm.data.images)).float().unsqueeze(1) / 255
    return x, np.asarray(dm.data.labels), dm.classes


def read(ckpt_path: str) -> str:
    name = stored_model_name(load_checkpoint(ckpt_path))
    target = known_models().get(name, {}).get("_target_")
    if name not in ("ssvae", "fader") or not target:
        sys.exit(f"{ckpt_path}: holds model={name}; pass a β-VAE (ssvae) or Fader checkpoint "
                 "(a latent with emotion axes)")
    model = import_target(target).load_frozen(ckpt_path)
    x, y, classes = london_photos(model.image_shape[-1])
    missing = [c for c in classes if c not in model.classes]
    if missing:
        sys.exit(f"{ckpt_path}: the model has no latent axis for {missing}; it knows {model.classes}")
    with torch.no_grad():
        axes = torch.cat([model.eval_batch(x[i:i + 64], torch.as_tensor(y[i:i + 64]))["axes"]
                          for i in range(0, len(x), 64)])
    pred = axes[:, [model.classes.index(c) for c in classes]].argmax(1).numpy()
    per = ", ".join(f"{c} {np.mean(pred[y == k] == k):.2f}" for k, c in enumerate(classes))
    return f"{ckpt_path}: {len(y)} photos, accuracy {np.mean(pred == y):.3f} ({per})"


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__.split("\n\n")[1])
    for path in sys.argv[1:]:
        print(read(path))
