"""Paired real photos (data=london, or any photo set with a neutral and a happy photo per person).

Each test person's neutral photo is edited to happiness and compared with the same person's real smile:
- the judge's P(happiness) of the edit, of the real smile and of the input;
- identity (facevae.identity, dlib descriptor distance): edit <-> input, edit <-> real smile, with
  input <-> real smile as the reference (two real photos of one person);
- SSIM of edit vs real smile, against input vs real smile (what doing nothing scores);
- sharpness: variance of the Laplacian of the edit over that of the input (a blur scores far below 1,
  so no edit passes by averaging the face away); the real smile's ratio is the reference;
- the same numbers for the *template* edit, input + (mean training smile − mean training neutral photo):
  what an editor that learns nothing about the person scores (issue 14), the bar a model must clear.
One table in report.md (pairs_table) and one figure (input | edit | real smile per test person).
"""

from __future__ import annotations

import logging
from pathlib import Path

import cv2
import numpy as np
import torch

from ..figures.style import save
from .collect import EvalSet, edit_images

log = logging.getLogger("facevae")

PREFIX = "pairs/"
FIGURE = "photo_pairs.png"


def pair_indices(ev: EvalSet) -> tuple[np.ndarray, np.ndarray]:
    """(neutral index, happiness index) per test person with both, first photo of each; empty for sequence
    data (CK+, synthetic CK+), whose frames are paired within a sequence by observers.paired instead."""
    return person_pairs(ev.classes, ev.labels, ev.subjects, ev.sequences)


def person_pairs(classes: list[str], labels, subjects, sequences) -> tuple[np.ndarray, np.ndarray]:
    """pair_indices on plain arrays (any split)."""
    empty = np.zeros(0, np.int64), np.zeros(0, np.int64)
    if not {"neutral", "happiness"} <= set(classes) or len(np.unique(sequences)) < len(labels):
        return empty
    neutral, happy = classes.index("neutral"), classes.index("happiness")
    src, dst = [], []
    for s in np.unique(subjects):
        n = np.flatnonzero((subjects == s) & (labels == neutral))
        h = np.flatnonzero((subjects == s) & (labels == happy))
        if len(n) and len(h):
            src.append(n[0])
            dst.append(h[0])
    return (np.array(src, np.int64), np.array(dst, np.int64)) if src else empty


def sharpness(images: np.ndarray) -> np.ndarray:
    """Variance of the Laplacian per image (float images in [0, 1])."""
    return np.array([cv2.Laplacian(np.asarray(im, np.float64), cv2.CV_64F).var() for im in images])


def smile_template(train: dict, classes: list[str]) -> np.ndarray | None:
    """Mean (smile − neutral) photo over the training people's pairs (`train`: split_arrays' dict), or None."""
    src, dst = person_pairs(classes, train["labels"], train["subjects"], train["sequences"])
    if not len(src):
        return None
    return (train["images"][dst].astype(np.float32) - train["images"][src]).mean(0) / 255.0


def photo_pairs(model, ev: EvalSet, judge, figures: Path, notes: dict,
                subject_names: list[str] | None = None, template: np.ndarray | None = None) -> dict[str, float]:
    """The pairs/* metrics and the figure; {} when the test split has no neutral/happiness pairs.
    `subject_names` (the manifest's, indexed by ev.subjects) label the figure's columns; `template`
    (smile_template) adds the template editor's numbers (pairs/*_template)."""
    from torchmetrics.functional.image import structural_similarity_index_measure as ssim

    src, dst = pair_indices(ev)
    if not model.can_edit or not len(src):
        return {}
    neutral, happy = ev.classes.index("neutral"), ev.classes.index("happiness")
    inputs, smiles = ev.images[src], ev.images[dst]
    edits = edit_images(model, ev, src, happy, 1.0, source=np.full(len(src), neutral, np.int64))
    m: dict[str, float] = {f"{PREFIX}n_pairs": float(len(src))}
    faces = {"edit": edits, "smile": smiles, "input": inputs}
    if template is not None:
        faces["template"] = np.clip(inputs + template, 0, 1).astype(np.float32)
    p = {}
    for name, ims in faces.items():
        p[name] = judge.probs(ims)[:, happy] if judge is not None else np.full(len(ims), np.nan)
        m[f"{PREFIX}judge_p_happy_{name}"] = float(np.mean(p[name]))
    t = {k: torch.as_tensor(v).unsqueeze(1).float() for k, v in faces.items()}
    base = sharpness(inputs)
    for name in faces:
        if name != "smile":
            m[f"{PREFIX}ssim_{name}_smile"] = float(ssim(t[name], t["smile"], data_range=1.0))
        if name != "input":
            m[f"{PREFIX}sharpness_{name}"] = float(np.median(sharpness(faces[name]) / base))
    d = _identity(inputs, edits, smiles, notes, faces.get("template"))
    for key, values in d.items():
        m[f"{PREFIX}identity_{key}"] = float(np.nanmean(values)) if np.isfinite(values).any() else float("nan")
        m[f"{PREFIX}identity_{key}_same"] = float(np.mean(values < 0.6)) if np.isfinite(values).any() else float("nan")
    names = [subject_names[ev.subjects[i]] if subject_names else str(ev.subjects[i]) for i in src]
    pairs_figure(inputs, edits, smiles, names, p, d, figures / FIGURE)
    return m


def _identity(inputs, edits, smiles, notes: dict, template=None) -> dict[str, np.ndarray]:
    """Distances per pair (and of the template edit, with one); NaN (and a one-line note) without dlib."""
    from ..identity import DlibUnavailable, distances, load_identity

    nan = np.full(len(inputs), np.nan)
    try:
        ident = load_identity()
    except DlibUnavailable as exc:
        notes["identity"] = str(exc)
        log.warning("facevae: %s", exc)
        return {"edit_input": nan, "edit_smile": nan, "input_smile": nan,
                **({"template_input": nan} if template is not None else {})}
    before = ident.fallbacks
    # The edit is pixel-aligned with its input: it is described in the input's face box, so a blurred
    # edit that HOG no longer finds is still measured (and scores as far as it has drifted).
    boxes = [ident.find_box(im) for im in inputs]
    di, de = ident.descriptors(inputs, boxes), ident.descriptors(edits, boxes)
    ds = ident.descriptors(smiles)
    notes["identity"] = (f"dlib descriptor distance ({ident.version['model']}, dlib {ident.version['dlib']}); "
                         f"same person below 0.6; faces placed by the crop's centre box: {ident.fallbacks - before}")
    out = {"edit_input": distances(de, di), "edit_smile": distances(de, ds), "input_smile": distances(di, ds)}
    if template is not None:
        out["template_input"] = distances(ident.descriptors(template, boxes), di)
    return out


def pairs_figure(inputs, edits, smiles, subjects, p: dict, d: dict, path: Path, max_people: int = 12) -> Path:
    """Columns = test people; rows = input | edit | real smile, with P(happy) and identity distances."""
    import matplotlib.pyplot as plt

    n = min(len(inputs), max_people)
    fig, axes = plt.subplots(3, n, figsize=(1.45 * n + 1.0, 6.0), squeeze=False)
    rows = (("input (neutral)", inputs, "input"), ("edit → happiness", edits, "edit"), ("real smile", smiles, "smile"))
    for r, (label, faces, key) in enumerate(rows):
        for j in range(n):
            ax = axes[r, j]
            ax.imshow(faces[j], cmap="gray", vmin=0, vmax=1)
            ax.set_xticks([])
            ax.set_yticks([])
            text = f"P(happy) {p[key][j]:.2f}" if np.isfinite(p[key][j]) else ""
            if key == "edit" and np.isfinite(d["edit_input"][j]):
                text += f"\nid→in {d['edit_input'][j]:.2f} →sm {d['edit_smile'][j]:.2f}"
            if key == "smile" and np.isfinite(d["input_smile"][j]):
                text += f"\nid→in {d['input_smile'][j]:.2f}"
            ax.set_xlabel(text, fontsize=6)
            if r == 0:
                ax.set_title(f"person {subjects[j]}", fontsize=7)
            if j == 0:
                ax.set_ylabel(label, fontsize=8)
    fig.suptitle("Paired real photos: neutral edited to happiness vs the same person's real smile "
                 "(id = dlib identity distance, same person < 0.6)", fontsize=8)
    fig.tight_layout()
    return save(fig, path)


def pairs_table(metrics: dict) -> list[str]:
    """The report.md table: edit, real smile and input side by side; [] without pairs/* metrics."""
    if f"{PREFIX}n_pairs" not in metrics:
        return []
    from .run_report import fmt

    g = lambda k: metrics.get(PREFIX + k)  # noqa: E731
    rows = [
        ("judge P(happiness)", g("judge_p_happy_edit"), g("judge_p_happy_smile"), g("judge_p_happy_input"),
         g("judge_p_happy_template")),
        ("identity distance to the input (same < 0.6)", g("identity_edit_input"), g("identity_input_smile"), 0.0,
         g("identity_template_input")),
        ("share of the same person as the input", g("identity_edit_input_same"), g("identity_input_smile_same"), 1.0,
         g("identity_template_input_same")),
        ("identity distance to the real smile", g("identity_edit_smile"), 0.0, g("identity_input_smile"), None),
        ("SSIM to the real smile", g("ssim_edit_smile"), 1.0, g("ssim_input_smile"), g("ssim_template_smile")),
        ("sharpness / the input's (var. of Laplacian, median)", g("sharpness_edit"), g("sharpness_smile"), 1.0,
         g("sharpness_template")),
    ]
    template = g("judge_p_happy_template") is not None
    lines = [f"Each of the {int(g('n_pairs'))} test people's neutral photo edited to happiness (strength 1), "
             "compared with the same person's real smile. The *input* column is what doing nothing scores"
             + ("; *template* is the input plus the mean (smile − neutral) training photo, an editor that learns "
                "nothing about the person." if template else "."), "",
             "| measure | edit | real smile | input (neutral) |" + (" template |" if template else ""),
             "|---|---:|---:|---:|" + ("---:|" if template else "")]
    lines += [f"| {name} | {fmt(a)} | {fmt(b)} | {fmt(c)} |" + (f" {fmt(t)} |" if template else "")
              for name, a, b, c, t in rows]
    return lines + [""]
