"""Figures 9-11 of §3.4 for the semi-supervised β-VAE, and the numbers they stand for."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from .style import class_colors, image_grid, save


def split_codes(ev) -> dict[str, np.ndarray]:
    """What Figs. 9-11 read from the collected test split: images, labels, subjects, the full mean codes
    `mu` (style map included) and the reconstructions decoded from them."""
    return {"images": ev.images, "labels": ev.labels, "subjects": ev.subjects, "mu": ev.outputs["latent"],
            "recon": ev.outputs["recon"]}


def fig9_reconstructions(enc: dict[str, np.ndarray], classes: list[str], path: Path, per_class: int = 2) -> Path:
    """Fig. 9: test faces (odd rows) over their reconstructions (even rows), one column per class."""
    rows, labels = [], []
    for r in range(per_class):
        originals, recons = [], []
        for k in range(len(classes)):
            idx = np.flatnonzero(enc["labels"] == k)
            if len(idx) == 0:
                originals.append(np.ones_like(enc["images"][0]))
                recons.append(np.ones_like(enc["images"][0]))
                continue
            i = idx[(r * len(idx)) // per_class]
            originals.append(enc["images"][i])
            recons.append(enc["recon"][i])
        rows += [np.stack(originals), np.stack(recons)]
        labels += [f"test face {r + 1}", f"reconstruction {r + 1}"]
    fig = image_grid(rows, labels, list(classes), "Fig. 9 - reconstructions of held-out subjects (semi-supervised β-VAE)")
    return save(fig, path)


def fig10_latent_distributions(enc: dict[str, np.ndarray], classes: list[str], n_axes: int, path: Path) -> Path:
    """Fig. 10: for every latent variable, the distribution of its mean code per true class."""
    axis_names = classes if n_axes == len(classes) else classes[1:]
    colors = class_colors(len(classes))
    cols = min(4, n_axes)
    rows = int(np.ceil(n_axes / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.2 * cols, 2.4 * rows), squeeze=False)
    mu = enc["mu"]
    bins = np.linspace(mu[:, :n_axes].min(), mu[:, :n_axes].max(), 40)
    for a in range(n_axes):
        ax = axes.flat[a]
        for k, name in enumerate(classes):
            values = mu[enc["labels"] == k, a]
            if len(values):
                own = name == axis_names[a]
                ax.hist(values, bins=bins, histtype="stepfilled" if own else "step", alpha=0.55 if own else 0.9,
                        color=colors[k], lw=1.2, label=name)
        ax.set_title(f"latent z{a}: '{axis_names[a]}'", fontsize=9)
        ax.set_xlabel("mean code μ", fontsize=8)
        ax.set_ylabel("test images", fontsize=8)
        ax.tick_params(labelsize=7)
    for ax in list(axes.flat)[n_axes:]:
        ax.axis("off")
    handles, labels = axes.flat[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(classes), fontsize=8, title="true class",
               bbox_to_anchor=(0.5, -0.06))
    fig.suptitle("Fig. 10 - distribution of the latent variables per emotion (filled: the variable's own class)")
    fig.tight_layout()
    return save(fig, path)


@torch.no_grad()
def fig11_traversal(model, enc: dict[str, np.ndarray], classes: list[str], axis: int, path: Path,
                    steps: int = 7, n_faces: int = 4) -> Path:
    """Fig. 11: faces decoded while one latent axis sweeps its observed range, the others held."""
    axis_name = classes[axis] if model.n_axes == len(classes) else classes[axis + 1]
    mu = enc["mu"]
    lo, hi = min(mu[:, axis].min(), -2.0), max(mu[:, axis].max(), 2.0)
    values = np.linspace(lo, hi, steps)
    # Start from neutral faces of different subjects when there are some, else any test faces.
    neutral = np.flatnonzero(enc["labels"] == 0) if classes[0] == "neutral" else np.array([], int)
    pool = neutral if len(neutral) else np.arange(len(mu))
    _, first = np.unique(enc["subjects"][pool], return_index=True)
    picks = pool[np.sort(first)][:n_faces]
    codes = torch.from_numpy(mu[picks]).to(model.device)
    decoded = model.decode_along(codes, axis, torch.from_numpy(values)).cpu().numpy()  # (steps, picks, H, W)
    rows = [np.concatenate([enc["images"][i][None], decoded[:, j]]) for j, i in enumerate(picks)]
    labels = [f"subject {enc['subjects'][i]}" for i in picks]
    cols = ["input"] + [f"z{axis}={v:+.1f}" for v in values]
    fig = image_grid(rows, labels, cols, f"Fig. 11 - faces along the '{axis_name}' axis (z{axis})")
    return save(fig, path)


def make_figures(model, ev, out_dir: Path) -> tuple[dict[str, float], list[Path]]:
    """Write Figs. 9, 10 and 11 (one per latent axis) from the collected test split; return their paths."""
    enc, classes = split_codes(ev), ev.classes
    paths = [
        fig9_reconstructions(enc, classes, out_dir / "fig9_reconstructions.png"),
        fig10_latent_distributions(enc, classes, model.n_axes, out_dir / "fig10_latent_distributions.png"),
    ]
    axis_names = classes if model.n_axes == len(classes) else classes[1:]
    for a, name in enumerate(axis_names):
        paths.append(fig11_traversal(model, enc, classes, a, out_dir / f"fig11_traversal_{name}.png"))
    return {}, paths
