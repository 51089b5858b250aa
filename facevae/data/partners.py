"""data.partners (issue 14): training batches as pairs of one person's faces, for XL and the stroke editor.

PairedShuffle serves the training split as pairs; partner_lists says who pairs with whom. data.partners_keep
keeps only the share of each kind of pair whose faces differ most over data.partners_region: on London a smile is
the only thing that should differ between a person's two photos, and half of the 80 training smiles barely show
(closed lips, a mouth corner). The judge reads the half whose mouth changes least at P(happy) 0.17 and the other half at
0.69 (all 102 people; the mouth's change and P(happy) correlate at 0.77), and a pixel loss over all pairs teaches
the stroke editor their average, a faint smile.
"""

from __future__ import annotations

import logging

import numpy as np
import torch

from ..config import check_partner_options
from .datamodule import EpochShuffle

log = logging.getLogger(__name__)


class PairedShuffle(EpochShuffle):
    """data.partners (issue 14): the epoch's random order, each image followed by a random partner, so that a
    training batch is a list of pairs: rows 2k and 2k+1 are one person's two photos with different labels.

    The partner is pixel-aligned where the data allows: a frame of the same CK+ sequence (the neutral first
    frame for an apex, an apex for the neutral frame); only where no sequence holds another label (London:
    one photo a sequence) another photo of the same subject. Frames of two sequences of one person differ in
    pose, light and background 5x more than the expression changes (mean |Δ| 20.4 vs 4.0 grey levels on the
    synthetic CK+), so a cross-sequence partner teaches a decoder to blur. An image without any partner (or
    whose pairs data.partners_keep left out) is paired with itself. An epoch is twice as long."""

    def __init__(self, dataset, seed: int, keep: float = 1.0, region: list | None = None):
        super().__init__(dataset, seed)
        labels = dataset.labels.numpy()
        self.partners = partner_lists(dataset.subjects.numpy(), dataset.sequences, labels)
        if keep < 1.0:
            self.partners = clearest_pairs(self.partners, dataset.images[:, 0].numpy(), keep, region, labels)

    def __len__(self) -> int:
        return 2 * len(self.partners)

    def __iter__(self):
        for i in super().__iter__():
            yield i
            options = self.partners[i]
            if len(options):
                yield int(options[torch.randint(len(options), (1,), generator=self.generator).item()])
            else:
                yield i


def partner_lists(subjects: np.ndarray, sequences: np.ndarray, labels: np.ndarray) -> list[np.ndarray]:
    """For each image the positions of its partners: same subject and sequence with another label, or, where
    the sequence has none, same subject with another label (PairedShuffle)."""
    out: list[np.ndarray] = [np.empty(0, np.int64)] * len(labels)
    for s in np.unique(subjects):  # one subject at a time: linear in the data, not quadratic
        own = np.flatnonzero(subjects == s)
        for i in own:
            other = own[labels[own] != labels[i]]
            same_sequence = other[sequences[other] == sequences[i]]
            out[i] = same_sequence if len(same_sequence) else other
    return out


def pair_change(images: np.ndarray, a: np.ndarray, b: np.ndarray, region: list | None = None) -> np.ndarray:
    """Mean |image_a − image_b| in grey levels over `region` ([top, bottom, left, right] fractions; None: all)."""
    h, w = images.shape[-2:]
    t, btm, left, right = region if region is not None else (0.0, 1.0, 0.0, 1.0)
    rows, cols = slice(int(t * h), int(np.ceil(btm * h))), slice(int(left * w), int(np.ceil(right * w)))
    return np.abs(images[a, rows, cols].astype(np.float32) - images[b, rows, cols].astype(np.float32)).mean((1, 2))


def clearest_pairs(partners: list[np.ndarray], images: np.ndarray, keep: float, region: list | None = None,
                   labels: np.ndarray | None = None) -> list[np.ndarray]:
    """`partners` with only the share `keep` of its pairs (each unordered pair once) whose faces differ most over
    `region`, dropped from both sides; the count is logged. With `labels`, the share is kept of each kind of pair
    (its two labels) on its own: on CK+ a smile moves a few lines and surprise opens the mouth (2.6 against 12.8
    grey levels a pixel on the synthetic CK+), and one cut over all pairs would keep no smile at all."""
    problem = check_partner_options(keep, region)
    if problem:
        raise ValueError(problem)
    pairs = np.array(sorted({_pair(i, j) for i, own in enumerate(partners) for j in own}), np.int64).reshape(-1, 2)
    if not len(pairs):
        return partners
    change = pair_change(images, pairs[:, 0], pairs[:, 1], region)
    kinds = np.zeros(len(pairs), np.int64) if labels is None else np.unique(
        np.sort(labels[pairs], 1), axis=0, return_inverse=True)[1].reshape(-1)
    kept: set[tuple[int, int]] = set()
    for kind in np.unique(kinds):
        own = np.flatnonzero(kinds == kind)
        top = own[np.argsort(-change[own], kind="stable")[: max(1, int(round(keep * len(own))))]]
        kept |= {_pair(i, j) for i, j in pairs[top]}
    out = [np.array([j for j in own if _pair(i, j) in kept], np.int64) for i, own in enumerate(partners)]
    log.info("data.partners_keep=%g: %d of %d pairs kept, the most changed over data.partners_region in each of %d "
             "kinds of pair; %d training images train without a partner", keep, len(kept), len(pairs),
             len(np.unique(kinds)), sum(1 for own in out if not len(own)))
    return out


def _pair(i, j) -> tuple[int, int]:
    """An unordered pair of positions as one key: (i, j) and (j, i) are the same pair."""
    return min(int(i), int(j)), max(int(i), int(j))
