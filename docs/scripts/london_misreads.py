"""The London photos a cross-validated classifier misreads, beside the same person's other photo (README figure).

    python docs/scripts/london_misreads.py multirun/cv/recognition_fer2013-london-seed0 [docs/london_misreads.png]

Loads each fold's tested checkpoint (checkpoints/best.ckpt), reads its own test people (the data config is the
checkpoint's, checked as data), and prints the single-photo accuracy against the *paired* one: for how many people
the smiling photo gets a higher P(happiness) than the same person's neutral photo.
Photos: Face Research Lab London Set, DeBruine & Jones (2017), CC BY 4.0.
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from facevae.checkpoint import load_checkpoint, run_config
from facevae.models.classifier import Classifier
from facevae.run import build_datamodule


def main(sweep: Path, out: Path) -> None:
    folds = sorted((p for p in sweep.iterdir() if (p / "checkpoints" / "best.ckpt").is_file()), key=lambda p: int(p.name))
    if not folds:
        sys.exit(f"{sweep}: no <fold>/checkpoints/best.ckpt; run python train.py 'experiment=[cv,...]' data=london first")
    p_happy, photos = {}, {}
    for run in folds:
        ckpt_path = run / "checkpoints" / "best.ckpt"
        # the checkpoint's own data config, checked as data (a DataModule facevae names), never the folder's YAML
        dm = build_datamodule(run_config(load_checkpoint(ckpt_path), ckpt_path))
        dm.prepare_data()
        dm.setup()
        model = Classifier.load_frozen(ckpt_path)
        test = dm.splits["test"]
        x = torch.from_numpy(np.asarray(dm.data.images[test])).float().unsqueeze(1) / 255
        with torch.no_grad():
            p = torch.softmax(model.predict_logits(x), 1)[:, model.classes.index("happiness")].numpy()
        for i, pi in zip(test, p):
            key = (int(dm.data.subjects[i]), dm.classes[int(dm.data.labels[i])])
            p_happy[key], photos[key] = float(pi), np.asarray(dm.data.images[i])
    people = sorted({s for s, _ in p_happy})
    wrong = {k for k, p in p_happy.items() if (p > 0.5) != (k[1] == "happiness")}
    paired = [p_happy[(s, "happiness")] > p_happy[(s, "neutral")] for s in people]
    print(f"{len(p_happy)} photos of {len(people)} people: single-photo accuracy {1 - len(wrong) / len(p_happy):.3f}; "
          f"the smile scored above the same person's neutral photo for {sum(paired)} of {len(paired)} "
          f"({np.mean(paired):.3f})")
    shown = sorted({s for s, _ in wrong})
    cols = 4  # pairs per row
    rows = -(-len(shown) // cols)
    fig, axes = plt.subplots(rows, 2 * cols, figsize=(2 * cols * 1.35, rows * 1.6), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for n, subject in enumerate(shown):
        for j, label in enumerate(("neutral", "happiness")):
            ax = axes[n // cols, 2 * (n % cols) + j]
            ax.imshow(photos[(subject, label)], cmap="gray", vmin=0, vmax=255)
            misread = (subject, label) in wrong
            ax.set_title(f"{'smiling' if j else 'neutral'} {p_happy[(subject, label)]:.2f}", fontsize=7,
                         color="#c00000" if misread else "black", fontweight="bold" if misread else "normal")
            if misread:
                ax.axis("on")
                ax.set_xticks([])
                ax.set_yticks([])
                for spine in ax.spines.values():
                    spine.set_edgecolor("#c00000")
                    spine.set_linewidth(2.5)
    fig.suptitle(f"London photos misread by {sweep.name} (red; P(happiness) above each), beside the same person's "
                 f"other photo\nFace Research Lab London Set, DeBruine & Jones (2017), CC BY 4.0", fontsize=8)
    fig.tight_layout()
    fig.savefig(out, dpi=110)
    print(f"wrote {out}")


if __name__ == "__main__":
    main(Path(sys.argv[1]), Path(sys.argv[2] if len(sys.argv) > 2 else "docs/london_misreads.png"))
