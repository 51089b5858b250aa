"""Figures 7 and 8 of §3.3 for the Fader network, an attribute-swap grid, and the numbers they stand for."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from .style import class_colors, image_grid, save


def split_codes(ev, vector_dims: int) -> dict[str, np.ndarray]:
    """What Figs. 7 and 8 read from the collected test split: images, labels, subjects, the full codes `z`
    (style map included) and their vector part `codes` (what Fig. 7 plots, not a style map's positions)."""
    z = ev.outputs["latent"]
    return {"images": ev.images, "labels": ev.labels, "subjects": ev.subjects, "z": z, "codes": z[:, :vector_dims]}


def latent_names(classes: list[str], n_latent: int) -> list[str]:
    """z0..z(K-1) carry the emotions (P_MC); any further dims are free style dims."""
    return [f"z{i} {c}" for i, c in enumerate(classes)] + [f"s{i}" for i in range(n_latent - len(classes))]


def neutral_faces(enc: dict[str, np.ndarray], classes: list[str], n: int) -> np.ndarray:
    """Indices of up to n test neutral faces, one per subject (any faces when there is no neutral class)."""
    pool = np.flatnonzero(enc["labels"] == classes.index("neutral")) if "neutral" in classes else np.array([], int)
    pool = pool if len(pool) else np.arange(len(enc["labels"]))
    _, first = np.unique(enc["subjects"][pool], return_index=True)
    return pool[np.sort(first)][:n]


def fig7_latent_distributions(enc: dict[str, np.ndarray], classes: list[str], path: Path) -> Path:
    """Fig. 7: per emotion, the distribution of every latent variable over that emotion's test images."""
    z, n_latent = enc["codes"], enc["codes"].shape[1]
    names = latent_names(classes, n_latent)
    colors = class_colors(len(classes)) + ["#999999"] * (n_latent - len(classes))
    cols = min(4, len(classes))
    rows = int(np.ceil(len(classes) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.9 * rows), squeeze=False, sharey=True)
    lo, hi = np.percentile(z, 0.5), np.percentile(z, 99.5)
    for k, emotion in enumerate(classes):
        ax = axes.flat[k]
        values = z[enc["labels"] == k]
        ax.axhline(0, color="#999999", lw=0.6, zorder=0)
        if len(values) >= 2:
            parts = ax.violinplot([values[:, j] for j in range(n_latent)], showmedians=True, widths=0.85)
            for j, body in enumerate(parts["bodies"]):
                body.set_facecolor(colors[j])
                body.set_edgecolor("black" if j == k else colors[j])
                body.set_linewidth(1.6 if j == k else 0.5)
                body.set_alpha(0.9 if j == k else 0.45)
            for key in ("cbars", "cmins", "cmaxes", "cmedians"):
                parts[key].set_color("#444444")
                parts[key].set_linewidth(0.6)
        ax.set_title(f"{emotion} images (n={len(values)})", fontsize=9, fontweight="bold")
        ax.set_xticks(range(1, n_latent + 1), names, rotation=60, ha="right", fontsize=7)
        for j, tick in enumerate(ax.get_xticklabels()):
            tick.set_color(colors[j] if colors[j] != "#F0E442" else "#B8A800")  # yellow is unreadable on white
            tick.set_fontweight("bold" if j == k else "normal")
        ax.set_ylim(lo - 0.05 * (hi - lo), hi + 0.05 * (hi - lo))
        ax.tick_params(axis="y", labelsize=7)
        if k % cols == 0:
            ax.set_ylabel("activation z", fontsize=8)
    for ax in list(axes.flat)[len(classes):]:
        ax.axis("off")
    fig.suptitle("Fig. 7 - latent activations per emotion (outlined: the emotion's own latent variable)", fontsize=11)
    fig.tight_layout()
    return save(fig, path)


@torch.no_grad()
def latent_sweep(model, z: np.ndarray, base: int, k: int, steps: int = 6) -> tuple[np.ndarray, np.ndarray]:
    """One row of Fig. 8: face `base`'s code with latent k set to `steps` values over its observed [min, max] in z,
    decoded with y = k: (steps, H, W) faces and the values."""
    values = np.linspace(z[:, k].min(), z[:, k].max(), steps)
    codes = torch.from_numpy(np.repeat(z[base : base + 1], steps, axis=0)).to(model.device)
    codes[:, k] = torch.from_numpy(values).to(codes)
    y = torch.full((steps,), k, dtype=torch.long, device=model.device)
    return model.decode(codes, y)[:, 0].float().cpu().numpy(), values


@torch.no_grad()
def fig8_latent_sampling(model, enc: dict[str, np.ndarray], classes: list[str], path: Path,
                         steps: int = 6) -> tuple[Path, float]:
    """Fig. 8: each emotion's latent swept over `steps` values in its observed [min, max], decoded with y = it.

    The other latent variables are held at a test neutral face's code. Returns the path and the mean
    absolute pixel change between the first and last step (how much one latent variable controls).
    """
    base = neutral_faces(enc, classes, 1)[0]
    rows, labels, changes = [], [], []
    for k, emotion in enumerate(classes):
        decoded, values = latent_sweep(model, enc["z"], base, k, steps)
        changes.append(np.abs(decoded[-1] - decoded[0]).mean())
        rows.append(np.concatenate([enc["images"][base][None], decoded]))
        labels.append(f"{emotion}\nz{k}: {values[0]:+.2g} .. {values[-1]:+.2g}")
    cols = ["input (neutral)"] + [f"step {i + 1}" + (" (min)" if i == 0 else " (max)" if i == steps - 1 else "")
                                  for i in range(steps)]
    fig = image_grid(rows, labels, cols, "Fig. 8 - sampling one latent variable (min -> max), decoded with y = its emotion")
    return save(fig, path), float(np.mean(changes))


@torch.no_grad()
def swap_grid(model, enc: dict[str, np.ndarray], classes: list[str], path: Path, n_faces: int = 5) -> tuple[Path, float]:
    """Test neutral faces (rows) decoded from their own z with every emotion y (columns).

    Returns the path and the mean absolute pixel change from the y = neutral decoding to the other
    emotions' (how much the decoder's attribute input controls the face).
    """
    picks = neutral_faces(enc, classes, n_faces)
    neutral = classes.index("neutral") if "neutral" in classes else 0
    rows, labels, changes = [], [], []
    for i in picks:
        codes = torch.from_numpy(np.repeat(enc["z"][i : i + 1], len(classes), axis=0)).to(model.device)
        y = torch.arange(len(classes), device=model.device)
        decoded = model.decode(codes, y)[:, 0].float().cpu().numpy()
        others = [k for k in range(len(classes)) if k != neutral]
        changes.append(np.abs(decoded[others] - decoded[neutral]).mean())
        rows.append(np.concatenate([enc["images"][i][None], decoded]))
        labels.append(f"subject {enc['subjects'][i]}")
    fig = image_grid(rows, labels, ["input"] + [f"y = {c}" for c in classes],
                     "Attribute swap - test neutral faces decoded from their own z with every emotion y")
    return save(fig, path), float(np.mean(changes))


def make_figures(model, ev, out_dir: Path) -> tuple[dict[str, float], list[Path]]:
    """Write Fig. 7, Fig. 8 and the swap grid from the collected test split; return their numbers and paths."""
    enc, classes = split_codes(ev, model.vector_dims), ev.classes
    numbers = {}
    paths = [fig7_latent_distributions(enc, classes, out_dir / "fig7_latent_distributions.png")]
    path, numbers["test/latent_sample_change"] = fig8_latent_sampling(model, enc, classes,
                                                                      out_dir / "fig8_latent_sampling.png")
    paths.append(path)
    path, numbers["test/swap_change"] = swap_grid(model, enc, classes, out_dir / "swap_grid.png")
    paths.append(path)
    return numbers, paths
