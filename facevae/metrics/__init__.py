"""Pure numpy/scikit-learn metrics: disentanglement scores (MIG, DCI, SAP) and the paper's figure claims."""

from .claims import (
    control_ordering,
    control_score,
    face_verdict,
    laplacian_variance,
    own_latent_dominance,
    relative_per_class,
    sharpness_ratio,
    traversal_spearman,
    tsne_neutral_centrality,
    tsne_opposite_angle,
)
from .disentanglement import (
    dci,
    dci_single,
    discretize_factors,
    disentanglement_scores,
    histogram_discretize,
    is_discrete,
    mig,
    sap,
    sap_single,
    split_train_test,
)

__all__ = [
    "control_ordering",
    "control_score",
    "dci",
    "dci_single",
    "face_verdict",
    "laplacian_variance",
    "discretize_factors",
    "disentanglement_scores",
    "histogram_discretize",
    "is_discrete",
    "mig",
    "own_latent_dominance",
    "relative_per_class",
    "sap",
    "sap_single",
    "sharpness_ratio",
    "split_train_test",
    "traversal_spearman",
    "tsne_neutral_centrality",
    "tsne_opposite_angle",
]
