"""Image pairs for the siamese comparator (§2.2, §3.1): "same emotion?" pairs drawn within one split.

Each image of a split is the anchor of one pair; its partner is, with probability `p_same`, a face
with the same emotion and otherwise one with a different emotion, so the labels are balanced. With
`pair_subjects="cross"` (default) the partner always comes from ANOTHER subject: with "any", most
same-emotion pairs are frames of the anchor's own sequence, so "same person, same lighting" predicts
"same emotion" and a network can learn identity instead of expression. With probability `p_avg` the
partner is the pixel mean of `avg_size` faces that share its emotion (§3.1: averaged images were
added "to simulate the output of the autoencoder"). Training pairs are redrawn every epoch (seed,
epoch); validation and test pairs are drawn once with a fixed seed, always cross-subject and never averaged.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from ..config import PairsSchema
from .datamodule import EpochShuffle, FaceDataModule, loader_generator

PAIR_SUBJECTS = ("cross", "any")


def sample_pairs(
    labels: np.ndarray,
    subjects: np.ndarray,
    rng: np.random.Generator,
    p_same: float = 0.5,
    pair_subjects: str = "cross",
    p_avg: float = 0.0,
    avg_size: int = 8,
) -> tuple[list[np.ndarray], np.ndarray]:
    """Partner(s) of every anchor 0..n-1 (positions into `labels`) and the 0/1 "same emotion" target.

    A partner is an array of positions: one for a single face, several for an averaged face.
    """
    if pair_subjects not in PAIR_SUBJECTS:
        raise ValueError(f"pair_subjects={pair_subjects!r}: use one of {', '.join(PAIR_SUBJECTS)}")
    n = len(labels)
    classes = np.unique(labels)
    by_class = {c: np.flatnonzero(labels == c) for c in classes}
    partners, same = [], np.zeros(n, np.float32)
    for i in range(n):
        pools = {}
        for c in classes:
            pool = by_class[c]
            if pair_subjects == "cross":
                pool = pool[subjects[pool] != subjects[i]]
            else:
                pool = pool[pool != i]
            if len(pool):
                pools[c] = pool
        others = [c for c in pools if c != labels[i]]
        want_same = rng.random() < p_same
        # Fall back to the other kind only when the split has no candidate (tiny smoke splits).
        if want_same and labels[i] not in pools and others:
            want_same = False
        elif not want_same and not others and labels[i] in pools:
            want_same = True
        if not pools:
            raise ValueError("a split needs at least two images (two subjects with pair_subjects=cross) for pairs")
        c = labels[i] if want_same else others[rng.integers(len(others))]
        pool = pools[c]
        if p_avg > 0 and rng.random() < p_avg and len(pool) > 1:
            partners.append(rng.choice(pool, size=min(avg_size, len(pool)), replace=False))
        else:
            partners.append(pool[[rng.integers(len(pool))]])
        same[i] = float(c == labels[i])
    return partners, same


class PairDataset(Dataset):
    """(image A uint8 1xSxS, image B uint8 1xSxS, same float, label A, label B) over one split."""

    def __init__(self, data, indices: np.ndarray, seed: int, repeats: int = 1, **options):
        self.indices = np.asarray(indices)
        self.repeats = repeats  # pairs per image: more evaluation pairs, less noisy accuracy
        self.images = torch.from_numpy(data.images[self.indices]).unsqueeze(1)
        self.labels = torch.from_numpy(data.labels[self.indices])
        self.subjects = torch.from_numpy(data.subjects[self.indices])
        self.seed, self.options = seed, options
        self.set_epoch(0)

    def set_epoch(self, epoch: int) -> None:
        """Draw this epoch's partners: a fresh, reproducible sample per (seed, epoch)."""
        rng = np.random.default_rng([self.seed, epoch])
        draws = [sample_pairs(self.labels.numpy(), self.subjects.numpy(), rng, **self.options) for _ in range(self.repeats)]
        self.anchors = torch.arange(len(self.indices)).repeat(self.repeats)
        self.partners = [p for partners, _ in draws for p in partners]
        self.same = torch.from_numpy(np.concatenate([same for _, same in draws]))
        first = [int(p[0]) for p in self.partners]
        self.partner_labels, self.partner_subjects = self.labels[first], self.subjects[first]
        self.anchor_subjects = self.subjects[self.anchors]

    def partner_image(self, i: int) -> torch.Tensor:
        """Partner of anchor i: one face, or the rounded pixel mean of several same-emotion faces."""
        p = self.partners[i]
        if len(p) == 1:
            return self.images[int(p[0])]
        return self.images[torch.from_numpy(p)].float().mean(0).round().to(torch.uint8)

    def __len__(self) -> int:
        return len(self.anchors)

    def __getitem__(self, i: int):
        a = int(self.anchors[i])
        return self.images[a], self.partner_image(i), self.same[i], self.labels[a], self.partner_labels[i]


class EpochSampler(EpochShuffle):
    """Random order whose `set_epoch` (called by Lightning before every epoch) also redraws the pairs."""

    def set_epoch(self, epoch: int) -> None:
        self.data_source.set_epoch(epoch)
        super().set_epoch(epoch)


class PairDataModule(FaceDataModule):
    """FaceDataModule whose loaders yield pairs (img_a, img_b, same, label_a, label_b) of one split.

    The subject-disjoint splits are the parent's, so no subject of a test pair was seen in training.
    Its options are `data.pairs` (pairs=emotion for the comparator; pairs=imgb, p_same=1: only same-emotion
    partners, ImgB of the siamese VAE, §2.2); run.build_datamodule builds it whenever data.pairs is set.
    """

    def __init__(self, *args, pairs: dict | None = None, pair_seed: int = 0, **kwargs):
        super().__init__(*args, **kwargs)
        options = asdict(PairsSchema(**(pairs or {})))  # data.pairs (conf/pairs/*.yaml), defaults for what it omits
        if options["pair_subjects"] not in PAIR_SUBJECTS:
            raise ValueError(f"data.pairs.pair_subjects={options['pair_subjects']!r}: use one of {', '.join(PAIR_SUBJECTS)}")
        self.eval_repeats = options.pop("eval_pairs_per_image")
        self.pair_options, self.pair_seed = options, pair_seed

    def setup(self, stage: str | None = None) -> None:
        if self.data is not None:
            return
        super().setup(stage)
        # Evaluation pairs are always cross-subject real faces, so every setting is scored on the same
        # question (expression, not identity); averaged partners only simulate a decoder in training.
        eval_options = dict(self.pair_options, p_avg=0.0, pair_subjects="cross")
        self.pair_datasets = {
            split: PairDataset(self.data, idx, self.pair_seed + k * 1000, **(
                dict(self.pair_options) if split == "train" else dict(eval_options, repeats=self.eval_repeats)))
            for k, (split, idx) in enumerate(self.splits.items()) if len(idx)
        }

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        if split not in self.pair_datasets:
            return super()._loader(split, shuffle)  # raises the parent's "split is empty" error
        dataset = self.pair_datasets[split]
        sampler = EpochSampler(dataset, self.pair_seed) if shuffle else None
        return DataLoader(dataset, batch_size=self.hparams.batch_size, sampler=sampler,
                          num_workers=self.hparams.num_workers, drop_last=False, generator=loader_generator())

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        img_a, img_b, same, label_a, label_b = batch
        img_a, img_b = img_a.float().div_(255.0), img_b.float().div_(255.0)
        if self.trainer is not None and self.trainer.training and self.hparams.hflip > 0:
            img_a, img_b = self._flip(img_a), self._flip(img_b)
        return img_a, img_b, same, label_a, label_b

    def _flip(self, images: torch.Tensor) -> torch.Tensor:
        """Horizontal flips drawn per image (the two sides of a pair independently)."""
        flip = torch.rand(images.shape[0], device=images.device) < self.hparams.hflip
        return torch.where(flip[:, None, None, None], images.flip(-1), images)
