"""Shared figure style: Okabe-Ito colour-blind-safe palette, 150 dpi, titled axes."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window (works headless and in CI)
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

OKABE_ITO = ("#000000", "#E69F00", "#56B4E9", "#009E73", "#F0E442", "#0072B2", "#D55E00", "#CC79A7", "#999999")
DPI = 150


def class_colors(n: int) -> list[str]:
    """n colour-blind-safe colours (neutral, the first class, is black)."""
    return [OKABE_ITO[i % len(OKABE_ITO)] for i in range(n)]


def save(fig: plt.Figure, path: Path) -> Path:
    """Save at 150 dpi with a tight box and close the figure."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, bbox_inches="tight")
    plt.close(fig)
    return path


def image_grid(
    rows: list[np.ndarray], row_labels: list[str], col_labels: list[str] | None, title: str, cell: float = 1.3
) -> plt.Figure:
    """A grid of grey images: rows[i] is (n_cols, H, W) in [0, 1]; labels on the left and on top."""
    n_rows, n_cols = len(rows), max(len(r) for r in rows)
    fig, axes = plt.subplots(n_rows, n_cols, figsize=(cell * n_cols + 1.2, cell * n_rows + 0.6), squeeze=False)
    for i, row in enumerate(rows):
        for j in range(n_cols):
            ax = axes[i, j]
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_visible(False)
            if j < len(row):
                ax.imshow(row[j], cmap="gray", vmin=0, vmax=1)
            if j == 0:
                ax.set_ylabel(row_labels[i], fontsize=9)
            if i == 0 and col_labels:
                ax.set_title(col_labels[j], fontsize=9)
    fig.suptitle(title, fontsize=11)
    fig.tight_layout()
    return fig
