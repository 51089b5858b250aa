"""The edit grid: original crop, reconstruction, then the edits, with the judge's P(target) under each.

Two layouts, as the figures of the paper:

- every emotion (``emotion=None``): a column per emotion of the model, a row per strength (0.5, 1,
  1.5 by default), the original and the reconstruction in the first column;
- one emotion along a range of strengths (like Fig. 8's rows and Fig. 11's axis): a single row
  original | reconstruction | strength −1 ... 2.

The figure is laid out in whole pixels (no tight bounding box), so its size is known in advance:
:func:`grid_pixels` gives it and the tests check it.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..figures.style import DPI, OKABE_ITO, plt

# Layout in pixels at DPI (150): an image cell, the text above and below it, the row label, margins.
CELL, HEAD, FOOT, GAP, LEFT, TITLE, PAD = 180, 30, 40, 12, 150, 70, 12


@dataclass
class Cell:
    image: np.ndarray  # H×W float in [0, 1] (or uint8)
    head: str = ""  # above the image
    foot: str = ""  # below: the judge's number


def grid_pixels(n_rows: int, n_cols: int) -> tuple[int, int]:
    """(width, height) in pixels of a grid of n_rows × n_cols faces."""
    width = LEFT + n_cols * (CELL + GAP) + PAD
    height = TITLE + n_rows * (HEAD + CELL + FOOT) + PAD
    return width, height


def render(rows: list[tuple[str, list[Cell]]], title: str, path: Path) -> Path:
    """Draw rows of (label, cells) into a PNG of exactly grid_pixels(len(rows), widest row) pixels."""
    n_cols = max(len(cells) for _, cells in rows)
    w, h = grid_pixels(len(rows), n_cols)
    fig = plt.figure(figsize=(w / DPI, h / DPI), dpi=DPI)
    fig.text(PAD / w, 1 - 18 / h, title, fontsize=9, va="top", ha="left", wrap=True)
    for i, (label, cells) in enumerate(rows):
        top = TITLE + i * (HEAD + CELL + FOOT) + HEAD  # image's top edge, pixels from the top
        fig.text((LEFT - GAP) / w, 1 - (top + CELL / 2) / h, label, fontsize=8, ha="right", va="center")
        for j, cell in enumerate(cells):
            left = LEFT + j * (CELL + GAP)
            ax = fig.add_axes((left / w, 1 - (top + CELL) / h, CELL / w, CELL / h))
            image = cell.image.astype(np.float32) / (255.0 if cell.image.dtype == np.uint8 else 1.0)
            ax.imshow(image, cmap="gray", vmin=0, vmax=1, interpolation="lanczos")
            ax.set_axis_off()
            if cell.head:
                fig.text((left + CELL / 2) / w, 1 - (top - 4) / h, cell.head, fontsize=7, ha="center", va="bottom")
            if cell.foot:
                fig.text((left + CELL / 2) / w, 1 - (top + CELL + 4) / h, cell.foot, fontsize=7, ha="center",
                         va="top", color=OKABE_ITO[5])
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI)
    plt.close(fig)
    return path


def _p(probs: np.ndarray | None, k: int, emotion: str) -> str:
    """'P(happiness) 0.42' under an edit; 'no judge output' for contempt, '' without the judge."""
    if probs is None:
        return ""
    return f"P({emotion}) {probs[k]:.2f}" if np.isfinite(probs[k]) else f"P({emotion}) n/a"


def _top(probs: np.ndarray | None, classes: list[str]) -> str:
    if probs is None:
        return ""
    k = int(np.nanargmax(probs))
    return f"judge: {classes[k]} {probs[k]:.2f}"


def edit_grid(editor, face, path: Path, emotion: str | None = None,
              strengths=(0.5, 1.0, 1.5), title: str = "") -> tuple[Path, dict]:
    """Write the grid of one face (a facevae.edit.editor.Face) and return its path and the judge's numbers.

    The numbers: {"original": {class: P}, "reconstruction": {...}, "edits": {emotion: {strength: P(emotion)}}}
    (empty dicts without the judge).
    """
    classes = editor.classes
    emotions = classes if emotion is None else [editor.classes[editor.class_index(emotion)]]
    recon = editor.reconstruct(face)
    edits = {e: editor.decode(face, e, strengths) for e in emotions}
    stack = np.concatenate([face.crop[None] / 255.0, recon[None], *edits.values()]).astype(np.float32)
    probs = editor.judge_probs(stack)  # one batch for the whole grid
    p = (lambda i: None) if probs is None else (lambda i: probs[i])  # noqa: E731
    source = classes[int(editor.source_of(face)[0])]
    first = [Cell(face.crop, "original", _top(p(0), classes)),
             Cell(recon, f"reconstruction ({source})", _top(p(1), classes))]
    numbers: dict = {"original": {}, "reconstruction": {}, "edits": {}}
    if probs is not None:
        numbers["original"] = {c: float(v) for c, v in zip(classes, probs[0]) if np.isfinite(v)}
        numbers["reconstruction"] = {c: float(v) for c, v in zip(classes, probs[1]) if np.isfinite(v)}
    grid: dict[tuple[int, int], Cell] = {}  # (strength index, emotion index) -> cell
    i = 2
    for j, (e, faces) in enumerate(edits.items()):
        k = classes.index(e)
        for r, (s, img) in enumerate(zip(strengths, faces)):
            pk = p(i)
            grid[r, j] = Cell(img, e if emotion is None else f"strength {s:g}", _p(pk, k, e))
            if pk is not None and np.isfinite(pk[k]):
                numbers["edits"].setdefault(e, {})[f"{s:g}"] = float(pk[k])
            i += 1
    if emotion is None:
        # Wide, like the paper's figures: a column per emotion, a row per strength; the first column
        # holds the original and the reconstruction.
        blank = Cell(np.ones_like(recon))
        rows = [(f"strength {s:g}", [first[r] if r < 2 else blank, *(grid[r, j] for j in range(len(emotions)))])
                for r, s in enumerate(strengths)]
        if len(strengths) < 2:
            rows.append(("", [first[1]]))
    else:
        rows = [(emotions[0], first + [grid[r, 0] for r in range(len(strengths))])]
    judge = ("judge's P(target) under each edit, its top class under the input" if probs is not None
             else f"no judge scores: {editor.judge_note}")
    head = title or f"{face.name}"
    render(rows, f"{head}\n{editor.name} edits, from {source}; {judge}", path)
    return path, numbers
