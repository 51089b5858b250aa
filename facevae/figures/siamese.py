"""Figures of the siamese comparator and the siamese VAE (§2.2, §3.1), and the numbers they stand for."""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch

from .style import OKABE_ITO, save


@torch.no_grad()
def score_pairs(model, ev) -> dict[str, np.ndarray]:
    """Both images, P(same), truth and labels of every test pair, from the collected tower outputs: the
    comparator's head on f(a), f(b) (no image is embedded again)."""
    a, b = ev.pairs["a"], ev.pairs["b"]
    features = torch.from_numpy(ev.outputs["features"]).to(model.device)
    p = torch.sigmoid(model.compare(features[a], features[b])).cpu().numpy()
    return {"a": ev.images[a], "b": ev.images[b], "p": p, "same": ev.pairs["same"],
            "label_a": ev.labels[a], "label_b": ev.labels[b]}


def pair_grid(s: dict[str, np.ndarray], classes: list[str], path: Path, n: int = 12) -> Path:
    """A grid of test pairs (half same, half different) titled with P(same) and the truth."""
    same_idx, diff_idx = np.flatnonzero(s["same"] == 1), np.flatnonzero(s["same"] == 0)
    picks = np.concatenate([same_idx[np.linspace(0, len(same_idx) - 1, n // 2).astype(int)] if len(same_idx) else [],
                            diff_idx[np.linspace(0, len(diff_idx) - 1, n // 2).astype(int)] if len(diff_idx) else []])
    picks = picks.astype(int)
    cols = 4  # pairs per row
    rows = int(np.ceil(len(picks) / cols))
    fig, axes = plt.subplots(rows, 2 * cols, figsize=(2 * cols * 1.5, rows * 1.9), squeeze=False,
                             gridspec_kw={"wspace": 0.04, "hspace": 0.45})
    for ax in axes.flat:
        ax.axis("off")
    for k, i in enumerate(picks):
        r, c = divmod(k, cols)
        ax_a, ax_b = axes[r, 2 * c], axes[r, 2 * c + 1]
        ax_a.imshow(s["a"][i], cmap="gray", vmin=0, vmax=1)
        ax_b.imshow(s["b"][i], cmap="gray", vmin=0, vmax=1)
        ax_a.set_title(classes[s["label_a"][i]], fontsize=7)
        ax_b.set_title(classes[s["label_b"][i]], fontsize=7)
        correct = (s["p"][i] > 0.5) == bool(s["same"][i])
        truth = "same" if s["same"][i] else "different"
        ax_a.text(1.02, -0.08, f"P(same)={s['p'][i]:.2f}  truth: {truth}", transform=ax_a.transAxes, ha="center",
                  va="top", fontsize=7, color=OKABE_ITO[3] if correct else OKABE_ITO[6])
    fig.suptitle("Siamese comparator on held-out subjects: test pairs (green: correct, vermillion: wrong)", fontsize=10)
    return save(fig, path)


def score_histogram(s: dict[str, np.ndarray], path: Path) -> Path:
    """Histograms of P(same) for same-emotion and different-emotion test pairs."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    bins = np.linspace(0, 1, 26)
    ax.hist(s["p"][s["same"] == 1], bins=bins, alpha=0.6, color=OKABE_ITO[5], label="same emotion")
    ax.hist(s["p"][s["same"] == 0], bins=bins, alpha=0.6, color=OKABE_ITO[6], label="different emotion")
    ax.axvline(0.5, color="black", lw=0.8, ls="--")
    ax.set_xlabel("comparator output P(same emotion)")
    ax.set_ylabel("test pairs")
    ax.set_title("Siamese comparator scores on held-out subjects")
    ax.legend(fontsize=8)
    fig.tight_layout()
    return save(fig, path)


def comparator_figures(model, ev, out_dir: Path) -> tuple[dict[str, float], list[Path]]:
    """siamese_pairs.png and siamese_score_hist.png, with accuracy on same and on different pairs."""
    s, classes = score_pairs(model, ev), ev.classes
    pred = s["p"] > 0.5
    numbers = {}
    for name, mask in (("same", s["same"] == 1), ("different", s["same"] == 0)):
        if mask.any():
            numbers[f"test/acc_{name}_pairs"] = float((pred[mask] == s["same"][mask].astype(bool)).mean())
    paths = [pair_grid(s, classes, out_dir / "siamese_pairs.png"), score_histogram(s, out_dir / "siamese_score_hist.png")]
    return numbers, paths


def reconstruction_grid(enc: dict[str, np.ndarray], classes: list[str], path: Path, title: str) -> Path:
    """Inputs (top of each pair of rows) over reconstructions, one column per class, with predicted classes."""
    per_class = 2
    fig, axes = plt.subplots(2 * per_class, len(classes), figsize=(1.45 * len(classes) + 0.8, 1.7 * 2 * per_class),
                             squeeze=False)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    for k, name in enumerate(classes):
        idx = np.flatnonzero(enc["labels"] == k)
        for r in range(per_class):
            top, bottom = axes[2 * r, k], axes[2 * r + 1, k]
            if r == 0:
                top.set_title(name, fontsize=9)
            if len(idx) == 0:
                continue
            i = idx[(r * len(idx)) // per_class]
            top.imshow(enc["images"][i], cmap="gray", vmin=0, vmax=1)
            bottom.imshow(enc["recon"][i], cmap="gray", vmin=0, vmax=1)
            if "pred_recon" in enc:
                for ax, key in ((top, "pred_input"), (bottom, "pred_recon")):
                    ok = enc[key][i] == k
                    ax.set_xlabel(f"→ {classes[enc[key][i]]}", fontsize=7, color=OKABE_ITO[3] if ok else OKABE_ITO[6])
    for r in range(per_class):
        axes[2 * r, 0].set_ylabel(f"input {r + 1}", fontsize=9)
        axes[2 * r + 1, 0].set_ylabel(f"reconstruction {r + 1}", fontsize=9)
    fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return save(fig, path)


def vae_figures(model, ev, out_dir: Path) -> tuple[dict[str, float], list[Path]]:
    """siamese_vae_reconstructions.png (inputs vs reconstructions with the classifier's predicted class)."""
    enc = {"images": ev.images, "labels": ev.labels, **ev.outputs}
    classes = ev.classes
    lam = model.lam
    note = " (→ classifier's prediction)" if "pred_recon" in enc else " (no model.classifier_ckpt: no predictions)"
    title = f"Siamese VAE (λ={lam:g}) on held-out subjects: inputs over reconstructions{note}"
    numbers = {}
    if "pred_recon" in enc:
        for k, name in enumerate(classes):
            mask = enc["labels"] == k
            if mask.any():
                numbers[f"test/classifier_acc_on_recon_{name}"] = float((enc["pred_recon"][mask] == k).mean())
    return numbers, [reconstruction_grid(enc, classes, out_dir / "siamese_vae_reconstructions.png", title)]
