"""Pure numpy/scikit-learn metrics: disentanglement scores (MIG, DCI, SAP) and the paper's figure claims."""

from .claims import (
    control_ordering,
    control_score,
    own_latent_dominance,
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
    "discretize_factors",
    "disentanglement_scores",
    "histogram_discretize",
    "is_discrete",
    "mig",
    "own_latent_dominance",
    "sap",
    "sap_single",
    "split_train_test",
    "traversal_spearman",
    "tsne_neutral_centrality",
    "tsne_opposite_angle",
]
