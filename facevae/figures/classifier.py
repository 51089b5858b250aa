"""Fig. 6 of §3.1 (t-SNE of the classifier's F100 activations), the confusion matrix, and their numbers.

Drawn for every model by the evaluation suite (facevae.evaluation.scores)."""

from __future__ import annotations

import math
from pathlib import Path

import matplotlib.pyplot as plt
import numpy as np
import torch
from torchmetrics.classification import MulticlassConfusionMatrix

from .style import class_colors, save


def confusion(pred: np.ndarray, labels: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts: rows are true classes, columns predicted classes (torchmetrics)."""
    metric = MulticlassConfusionMatrix(n_classes)
    return metric(torch.as_tensor(pred), torch.as_tensor(labels)).numpy()


def row_normalised(counts: np.ndarray) -> np.ndarray:
    """Each true class's row as shares of that class (rows of absent classes stay zero)."""
    totals = counts.sum(1, keepdims=True)
    return np.divide(counts, totals, out=np.zeros(counts.shape, float), where=totals > 0)


def confusion_figure(counts: np.ndarray, classes: list[str], path: Path) -> Path:
    """Confusion matrix normalised per true class, with the counts in every cell."""
    shares = row_normalised(counts)
    n = len(classes)
    fig, ax = plt.subplots(figsize=(1.0 * n + 2.2, 0.9 * n + 1.6))
    im = ax.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for i in range(n):
        for j in range(n):
            dark = shares[i, j] > 0.55
            ax.text(j, i, f"{shares[i, j]:.2f}\n({counts[i, j]})", ha="center", va="center", fontsize=8,
                    color="white" if dark else "black")
    ax.set_xticks(range(n), classes, rotation=35, ha="right")
    ax.set_yticks(range(n), classes)
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    acc = np.trace(counts) / max(counts.sum(), 1)
    ax.set_title(f"Classifier confusion matrix, test split (accuracy {acc:.3f})\nshare of each true class (count)",
                 fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04, label="share of true class")
    fig.tight_layout()
    return save(fig, path)


def tsne_embedding(features: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D t-SNE of `features` (van der Maaten & Hinton [15]); perplexity min(30, (n-1)/3) fits small splits."""
    from sklearn.manifold import TSNE

    n = len(features)
    perplexity = min(30.0, (n - 1) / 3)
    tsne = TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto", random_state=seed)
    return tsne.fit_transform(features.astype(np.float64))


def embedding_numbers(emb: np.ndarray, labels: np.ndarray, k: int = 5) -> dict[str, float]:
    """How well the 2-D embedding separates the classes: silhouette and leave-one-out kNN (k=5) accuracy."""
    from sklearn.metrics import silhouette_score
    from sklearn.model_selection import LeaveOneOut, cross_val_score
    from sklearn.neighbors import KNeighborsClassifier

    n_labels = len(np.unique(labels))
    silhouette = float(silhouette_score(emb, labels)) if 2 <= n_labels < len(labels) else math.nan
    if len(labels) > k:
        knn = float(cross_val_score(KNeighborsClassifier(k), emb, labels, cv=LeaveOneOut()).mean())
    else:
        knn = math.nan
    return {"test/tsne_silhouette": silhouette, "test/tsne_knn_acc": knn}


def fig6_tsne(emb: np.ndarray, labels: np.ndarray, classes: list[str], numbers: dict[str, float],
              feature_name: str, path: Path) -> Path:
    """Fig. 6: the test images in the 2-D t-SNE plane, coloured by their true emotion."""
    colors = class_colors(len(classes))
    fig, ax = plt.subplots(figsize=(7.2, 6.0))
    for k, name in enumerate(classes):
        mask = labels == k
        if mask.any():
            ax.scatter(emb[mask, 0], emb[mask, 1], s=16, color=colors[k], alpha=0.85, edgecolors="white",
                       linewidths=0.3, label=f"{name} ({mask.sum()})")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_xlabel("t-SNE 1")
    ax.set_ylabel("t-SNE 2")
    ax.legend(title="true class (images)", loc="center left", bbox_to_anchor=(1.01, 0.5), fontsize=8,
              markerscale=1.5, frameon=False)
    ax.set_title(
        f"Fig. 6 - 2-D t-SNE of {feature_name} ({len(labels)} test images, held-out subjects)\n"
        f"silhouette {numbers['test/tsne_silhouette']:.3f}, leave-one-out 5-NN accuracy "
        f"{numbers['test/tsne_knn_acc']:.3f}",
        fontsize=10,
    )
    fig.tight_layout()
    return save(fig, path)
