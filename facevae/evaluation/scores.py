"""Numbers from one EvalSet: classification, reconstruction, the t-SNE map, the latent's own-class
dominance and disentanglement (torchmetrics and scikit-learn; the claims math is facevae.metrics)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

from ..figures.classifier import confusion, confusion_figure, embedding_numbers, fig6_tsne, tsne_embedding
from ..metrics import disentanglement_scores, own_latent_dominance, tsne_neutral_centrality, tsne_opposite_angle
from .claims_table import Claim
from .collect import EvalSet


def classification(ev: EvalSet, figures: Path) -> tuple[dict[str, float], list[Path]]:
    """Accuracy, macro-F1 (torchmetrics) and the confusion-matrix figure from `pred`."""
    from torchmetrics.functional.classification import multiclass_accuracy, multiclass_f1_score

    if "pred" not in ev.outputs or not len(ev):
        return {}, []
    pred, labels, k = torch.as_tensor(ev.outputs["pred"]), torch.as_tensor(ev.labels), len(ev.classes)
    numbers = {
        "test/acc": float(multiclass_accuracy(pred, labels, k, average="micro")),
        "test/f1_macro": float(multiclass_f1_score(pred, labels, k, average="macro")),
    }
    numbers.update(_among_present(ev))
    per_class = multiclass_accuracy(pred, labels, k, average="none")
    for c, name in enumerate(ev.classes):
        if (ev.labels == c).any():
            numbers[f"test/acc_{name}"] = float(per_class[c])
    counts = confusion(ev.outputs["pred"], ev.labels, k)
    # The counts themselves, beside the figure: a cross-validation sums them over folds (evaluation.crossval).
    figures.parent.mkdir(parents=True, exist_ok=True)
    (figures.parent / "confusion.json").write_text(json.dumps({"classes": list(ev.classes),
                                                               "counts": np.asarray(counts).astype(int).tolist()}))
    return numbers, [confusion_figure(counts, ev.classes, figures / "confusion_matrix.png")]


def _among_present(ev: EvalSet) -> dict[str, float]:
    """`test/acc_present`: accuracy when the model only chooses among the classes the test set has.

    Why: a model trained on all emotions, evaluated on data with fewer (a synthetic-trained model on
    London's neutral and smiling photos: eval.py ckpt_path=… data=london), can be right about those two
    and still pick a third class for most faces; this is the two-way reading the transfer check needs.
    """
    scores = ev.outputs.get("scores", ev.outputs.get("axes"))
    present = np.unique(ev.labels)
    if scores is None or len(present) in (0, len(ev.classes)):
        return {}
    scores = np.asarray(scores)[:, present]
    pred = present[scores.argmax(1)]
    return {"test/acc_present": float((pred == np.asarray(ev.labels)).mean())}


def reconstruction(ev: EvalSet) -> dict[str, float]:
    """Pixel MSE and SSIM (torchmetrics, Gaussian 11x11 window) of reconstructions against the inputs."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    if "recon" not in ev.outputs or not len(ev):
        return {}
    recon = torch.as_tensor(ev.outputs["recon"]).unsqueeze(1).float()
    real = torch.as_tensor(ev.images).unsqueeze(1)
    return {
        "test/recon_mse": float((recon - real).pow(2).mean()),
        "test/recon_ssim": float(structural_similarity_index_measure(recon, real, data_range=1.0)),
    }


def embedding(ev: EvalSet, figures: Path, seed: int, model_name: str,
              feature_name: str | None = None) -> tuple[dict[str, float], list[Claim], list[Path]]:
    """t-SNE of the features (or latent means): separability numbers, Fig. 6's two claims, the map.
    `feature_name`: the model's own name for its features (the classifier's: "F100 activations", "logits")."""
    source = ev.embedding_input()
    if source is None or len(ev) < 8:
        return {}, [], []
    features, name = source
    emb = tsne_embedding(features, seed=seed)  # the classifier's model.tsne_seed when it has one
    numbers = embedding_numbers(emb, ev.labels)
    title = f"the {model_name}'s {feature_name or name}"
    path = fig6_tsne(emb, ev.labels, ev.classes, numbers, title, figures / "fig6_tsne.png")
    claims = []
    present = {ev.classes[k] for k in np.unique(ev.labels)}
    if "neutral" in present and len(present) > 2:
        central = tsne_neutral_centrality(emb, ev.labels, ev.classes)
        numbers["claims/fig6_neutral_rank"] = float(central["neutral_rank"])
        claims.append(Claim("Fig. 6", "the neutral cluster is the most central in the t-SNE map",
                            f"rank {central['neutral_rank']} of {len(central['distances'])} by distance to the "
                            "centre of the emotions", central["passed"]))
    if {"sadness", "happiness"} <= present:
        angle = tsne_opposite_angle(emb, ev.labels, ev.classes)
        numbers["claims/fig6_sad_happy_angle"] = float(angle["angle_deg"])
        claims.append(Claim("Fig. 6", "sadness and happiness lie on opposite sides",
                            f"{angle['angle_deg']:.0f}° between their centroids seen from the centre (≥ 90°)",
                            angle["passed"]))
    return numbers, claims, [path]


def latent_dominance(ev: EvalSet, figure: str) -> tuple[dict[str, float], list[Claim]]:
    """Figs. 7/10: per class, the share of its images whose largest emotion variable is its own."""
    if "axes" not in ev.outputs or not len(ev):
        return {}, []
    dom = own_latent_dominance(ev.outputs["axes"], ev.labels, ev.classes)
    numbers = {"test/latent_argmax_acc": float(np.mean(ev.outputs["axes"].argmax(1) == ev.labels)),
               "claims/own_latent_share_mean": float(dom["mean"])}
    numbers.update({f"claims/own_latent_share_{c}": float(v) for c, v in dom["per_class"].items()})
    worst = min(dom["per_class"], key=dom["per_class"].get)
    claim = Claim(figure, "each emotion's own latent variable dominates for its images",
                  f"mean share {dom['mean']:.2f}; lowest {worst} {dom['per_class'][worst]:.2f} "
                  f"(chance {1 / len(ev.classes):.2f})", dom["passed"])
    return numbers, [claim]


def factor_table(ev: EvalSet) -> tuple[np.ndarray, list[str]] | None:
    """The ground-truth factors of issue 5: emotion, intensity, subject and each action unit."""
    if not ev.factor_names:
        return None
    cols, names = [ev.labels.astype(float), ev.subjects.astype(float)], ["emotion", "subject"]
    for i, name in enumerate(ev.factor_names):
        if name == "intensity" or name.startswith("au"):
            cols.append(ev.factors[:, i])
            names.append(name)
    return np.stack(cols, axis=1), names


def disentanglement(ev: EvalSet, seed: int) -> dict[str, float | str]:
    """MIG, DCI and SAP (disentanglement_lib's definitions) of the latent means against the factors.

    `test/<metric>` covers issue 5's factors (emotion, subject, intensity, every AU). The synthetic AUs are
    functions of emotion and intensity, so no code can be disentangled from them; `test/indep/<metric>`
    therefore repeats the scores on independent factors only: one indicator per class (the β-VAE and the
    Fader give each emotion its own latent variable, which MIG on a 7-valued factor cannot credit),
    intensity and subject.
    """
    table = factor_table(ev)
    if table is None or "codes" not in ev.outputs or len(ev) < 12:
        return {}
    codes = ev.outputs["codes"].reshape(len(ev), -1)
    factors, names = table
    out: dict[str, float | str] = {}
    for prefix, (f, n) in (("test/", (factors, names)), ("test/indep/", _independent_factors(ev, factors, names))):
        for key, value in disentanglement_scores(codes, f, n, seed=seed).items():
            if key in ("sklearn_version", "skipped_factors"):
                out[f"meta/disentanglement_{key}" + ("" if prefix == "test/" else "_indep")] = value
            else:
                out[f"{prefix}{key}"] = value
    return out


def _independent_factors(ev: EvalSet, factors: np.ndarray, names: list[str]) -> tuple[np.ndarray, list[str]]:
    cols = [(ev.labels == k).astype(float) for k in range(len(ev.classes))]
    keep = [names.index(n) for n in ("intensity", "subject") if n in names]
    return (np.column_stack(cols + [factors[:, i] for i in keep]),
            [f"is_{c}" for c in ev.classes] + [names[i] for i in keep])
