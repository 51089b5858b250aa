"""Contact sheet of a written synthetic (or real) CK+ tree: subjects x emotions apex crops + one onset row."""

from __future__ import annotations

import csv
from collections import defaultdict
from pathlib import Path

import cv2
import numpy as np

from facevae.data.ckplus import annotation_path, read_landmarks
from facevae.data.face_crop import crop_by_landmarks
from facevae.data.labels import CKPLUS_CODES

CROP = 160  # px per face tile


def frame_crop(root: Path, rel_png: str, size: int = CROP, margin: float = 0.15) -> np.ndarray:
    """One frame of a CK+-layout tree cropped around its own landmarks file (as data.crop=landmarks does)."""
    png = root / rel_png
    img = cv2.imread(str(png), cv2.IMREAD_GRAYSCALE)
    return crop_by_landmarks(img, read_landmarks(annotation_path(root, "Landmarks", png, "landmarks")), size, margin)


def _read_factors(root: Path) -> dict[tuple[str, str], list[dict]]:
    """Rows of factors.csv grouped by (subject, sequence), frames in order."""
    seqs: dict[tuple[str, str], list[dict]] = defaultdict(list)
    with open(root / "factors.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            seqs[(row["subject"], row["sequence"])].append(row)
    for rows in seqs.values():
        rows.sort(key=lambda r: int(r["frame"]))
    return seqs


def contact_sheet(root: str | Path, out_png: str | Path, n_subjects: int = 6, n_onset: int = 7) -> Path:
    """Write a grid (subjects x 7 emotions, apex frames) plus an onset->apex row, read from disk."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    root, out_png = Path(root), Path(out_png)
    seqs = _read_factors(root)
    subjects = sorted({s for s, _ in seqs})[:n_subjects]
    codes = [c for c in sorted(CKPLUS_CODES) if c != 0]
    ncol = max(len(codes), n_onset)
    fig, axes = plt.subplots(len(subjects) + 1, ncol, figsize=(1.55 * ncol, 1.65 * (len(subjects) + 1) + 0.5),
                             dpi=150, squeeze=False)
    for ax in axes.ravel():
        ax.set_xticks([])
        ax.set_yticks([])
        for sp in ax.spines.values():
            sp.set_visible(False)
    for i, subj in enumerate(subjects):
        for j, code in enumerate(codes):
            ax = axes[i, j]
            if i == 0:
                ax.set_title(CKPLUS_CODES[code], fontsize=9, fontweight="bold")
            if j == 0:
                ax.set_ylabel(subj, fontsize=9, fontweight="bold")
            match = [rows for (s, _), rows in sorted(seqs.items()) if s == subj and int(rows[0]["emotion"]) == code]
            if not match:
                ax.imshow(np.full((CROP, CROP), 235, np.uint8), cmap="gray", vmin=0, vmax=255)
                ax.text(CROP / 2, CROP / 2, "—", ha="center", va="center", fontsize=12, color="0.5")
                continue
            rows = next((m for m in match if m[0]["labelled"] == "1"), match[0])
            ax.imshow(frame_crop(root, rows[-1]["path"]), cmap="gray", vmin=0, vmax=255)
            if rows[-1]["labelled"] == "0":
                ax.text(4, 14, "unlabelled", fontsize=5.5, color="yellow")
    # onset -> apex of one sequence (first surprise if present: the largest motion)
    keys = sorted(seqs)
    pick = next((k for k in keys if int(seqs[k][0]["emotion"]) == 7), keys[0])
    rows = seqs[pick]
    idx = np.unique(np.round(np.linspace(0, len(rows) - 1, n_onset)).astype(int))
    for j in range(ncol):
        ax = axes[-1, j]
        if j < len(idx):
            r = rows[idx[j]]
            ax.imshow(frame_crop(root, r["path"]), cmap="gray", vmin=0, vmax=255)
            ax.set_xlabel(f"frame {r['frame']}  ({float(r['intensity']):.2f})", fontsize=7)
    axes[-1, 0].set_ylabel(f"{pick[0]}/{pick[1]}\nonset→apex", fontsize=8, fontweight="bold")
    fig.suptitle(f"Synthetic CK+ apex frames ({root.name}); bottom: {CKPLUS_CODES[int(rows[0]['emotion'])]} "
                 "sequence, intensity in ()", fontsize=10)
    fig.tight_layout()
    out_png.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out_png, dpi=150)
    plt.close(fig)
    return out_png
