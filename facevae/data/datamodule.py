"""LightningDataModule over the prepared cache, with subject-independent train/val/test splits."""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import DataLoader, Dataset, RandomSampler

from .cache import PreparedData
from .prepare import prepare
from ..config import source_of
from .splits import split_indices, stratified_indices, usage_indices

log = logging.getLogger(__name__)


class FaceDataset(Dataset):
    """(image in [0, 1] of shape 1xSxS, label, subject index, sample index) for a subset of the cache."""

    def __init__(self, data: PreparedData, indices: np.ndarray, images: np.ndarray | None = None,
                 labels: np.ndarray | None = None):
        # `images`/`labels` replace the cached ones for an augmented set; `indices` then name each
        # image's source in the cache (its subject comes from there).
        self.indices = torch.as_tensor(indices, dtype=torch.long)
        images = data.images[indices] if images is None else images
        self.images = torch.from_numpy(np.ascontiguousarray(images)).unsqueeze(1)  # uint8, converted per batch
        self.labels = torch.from_numpy(data.labels[indices] if labels is None else np.asarray(labels, np.int64))
        self.subjects = torch.from_numpy(data.subjects[indices])
        self.sequences = np.asarray(data.sequences)[indices]  # CK+ sequence of each image (PairedShuffle's pairs)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, i: int):
        return self.images[i], self.labels[i], self.subjects[i], self.indices[i]


def augment_batch(images: torch.Tensor, hflip: float, shift: float, rotate: float, zoom: float,
                  groups: torch.Tensor | None = None) -> torch.Tensor:
    """Online augmentation on the batch's device: random flips, then one random affine per image.

    shift is a fraction of the image side, rotate in degrees, zoom a relative scale change; each is
    the half-width of a uniform range. Done on whole batches because per-image CPU transforms would
    cost more than the training step of the fast models. `groups` (one id per image, e.g. the subject)
    gives every image of a group the same flip and affine: data.partners pairs stay pixel-aligned.
    """
    n = images.shape[0]
    # one draw per group, indexed by each image's group (without groups every image is its own group)
    idx = torch.arange(n, device=images.device) if groups is None else torch.unique(groups, return_inverse=True)[1]
    m = int(idx.max()) + 1 if n else 0
    if hflip > 0:
        flip = (torch.rand(m, device=images.device) < hflip)[idx]
        images = torch.where(flip[:, None, None, None], images.flip(-1), images)
    if shift == 0 and rotate == 0 and zoom == 0:
        return images
    u = lambda: (torch.rand(m, device=images.device) * 2 - 1)[idx]  # noqa: E731  uniform in [-1, 1]
    angle = torch.deg2rad(u() * rotate)
    scale = 1 + u() * zoom
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos, -sin, u() * 2 * shift], 1), torch.stack([sin, cos, u() * 2 * shift], 1)], 1)
    grid = torch.nn.functional.affine_grid(theta, list(images.shape), align_corners=False)
    return torch.nn.functional.grid_sample(images, grid, padding_mode="border", align_corners=False)


def run_seed() -> int:
    """The run's seed (seed_everything exports it), so data order follows `seed=` without a second knob."""
    return int(os.environ.get("PL_GLOBAL_SEED", 0))


class EpochShuffle(RandomSampler):
    """A random order per epoch from (seed, epoch) alone, never from the global RNG: a run resumed at any
    epoch sees the batches an uninterrupted run sees (Lightning calls set_epoch before every epoch)."""

    def __init__(self, dataset, seed: int):
        super().__init__(dataset, generator=torch.Generator().manual_seed(seed))
        self.seed = seed

    def set_epoch(self, epoch: int) -> None:
        self.generator.manual_seed(self.seed + epoch)


def loader_generator() -> torch.Generator:
    """Each DataLoader iterator draws a base seed; from its own generator, it leaves the global RNG alone."""
    return torch.Generator().manual_seed(run_seed())


class FaceDataModule(pl.LightningDataModule):
    """Prepares (or reuses) the cache for a CK+-layout source and serves subject-disjoint splits."""

    def __init__(
        self,
        name: str,
        source: str,
        root: str | None,  # None only for data=london (the shipped copy)
        cache_dir: str,
        classes: list[str],
        image_size: int = 128,
        crop_margin: float = 0.2,
        apex_frames: int = 3,
        neutral_frames: int = 1,
        num_folds: int = 10,
        fold: int = 0,
        val_folds: int = 1,
        split_seed: int = 0,
        batch_size: int = 64,
        num_workers: int = 0,
        hflip: float = 0.5,
        shift: float = 0.0,
        rotate: float = 0.0,
        zoom: float = 0.0,
        prepare_workers: int = 2,
        synth: dict | None = None,
        progress: bool = True,
        csv: str | None = None,
        folder_aliases: dict | None = None,
        subject_regex: str | None = None,
        split: str = "auto",
        crop: str | list = "landmarks",
        haar_min_face: float = 0.15,
        balance: bool = False,
        balance_n: int | None = None,
        balance_seed: int = 0,
        dlib_detector: str = "hog",
        align_eyes: list | None = None,
        partners: bool = False,
        partners_keep: float = 1.0,
        partners_region: list | None = None,
        train_extra_subjects: int = 0,
    ):
        super().__init__()
        self.save_hyperparameters()
        if train_extra_subjects:
            if source != "synth" or not isinstance(train_extra_subjects, int) or train_extra_subjects < 0:
                raise ValueError(f"data.train_extra_subjects={train_extra_subjects}: only the synthetic CK+ (data=synth) "
                                 "can make more people, and their number must be positive")
            # Their own tree and cache: the default people plus these, whose folds stay the default people's.
            self.hparams.name = f"{name}+{train_extra_subjects}"
            self.hparams.root = f"{root}+{train_extra_subjects}"
        self.data: PreparedData | None = None
        self.splits: dict[str, np.ndarray] = {}

    # -- Lightning hooks ---------------------------------------------------------------------------
    def prepare_data(self) -> None:
        if self.data is not None:  # already set up in this process (train() does so before fit)
            return
        # Lightning calls this on one process per node; keeping the result there only saves the
        # second scan in setup() of that process (other ranks prepare their own in setup()).
        self._prepared_here = self._prepared()

    def setup(self, stage: str | None = None) -> None:
        if self.data is not None:
            return
        hp = self.hparams
        self.data = getattr(self, "_prepared_here", None) or self._prepared()
        self.splits = self._split(self.data)
        self.datasets = {k: FaceDataset(self.data, idx) for k, idx in self.splits.items()}
        if hp.balance:
            self.datasets["train"] = self._balanced_train(self.splits["train"])
        sizes = ", ".join(f"{k} {len(v)} images / {len(np.unique(self.data.subjects[v]))} subjects"
                          for k, v in self.splits.items())
        log.info("Splits (subject-independent, fold %d of %d): %s", hp.fold, hp.num_folds, sizes)

    def train_dataloader(self) -> DataLoader:
        return self._loader("train", shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader("val", shuffle=False)

    def test_dataloader(self) -> DataLoader:
        return self._loader("test", shuffle=False)

    def on_after_batch_transfer(self, batch, dataloader_idx: int):
        images, labels, subjects, index = batch
        images = images.float().div_(255.0)
        if self.trainer is not None and self.trainer.training:
            images = augment_batch(images, self.hparams.hflip, self.hparams.shift, self.hparams.rotate,
                                   self.hparams.zoom, groups=subjects if self.hparams.partners else None)
        return images, labels, subjects, index

    # -- helpers -----------------------------------------------------------------------------------
    @property
    def classes(self) -> list[str]:
        return list(self.hparams.classes)

    @property
    def manifest(self) -> dict:
        assert self.data is not None, "call setup() first"
        return self.data.manifest

    def _loader(self, split: str, shuffle: bool) -> DataLoader:
        dataset = self.datasets[split]
        if len(dataset) == 0:
            raise RuntimeError(
                f"the {split} split is empty: {self.data.manifest['n_subjects']} subjects are too few for "
                f"data.num_folds={self.hparams.num_folds}; lower data.num_folds"
            )
        return DataLoader(
            dataset,
            batch_size=self.hparams.batch_size,
            sampler=self._sampler(split, dataset) if shuffle else None,
            num_workers=self.hparams.num_workers,
            drop_last=False,
            generator=loader_generator(),
        )

    def _sampler(self, split: str, dataset: FaceDataset) -> EpochShuffle:
        """A training split under data.partners is served as pairs (facevae.data.partners); the rest shuffled."""
        if split != "train" or not self.hparams.partners:
            return EpochShuffle(dataset, run_seed())
        from .partners import PairedShuffle

        return PairedShuffle(dataset, run_seed(), self.hparams.partners_keep, self.hparams.partners_region)

    def _balanced_train(self, train: np.ndarray) -> FaceDataset:
        """§1.1's balancing augmentation, on the training split only (the paper augmented before splitting,
        which puts augmented copies of test faces into training)."""
        from .augment import balance

        hp = self.hparams
        images, labels, source = balance(self.data.images[train], self.data.labels[train], list(hp.classes),
                                         hp.balance_n, seed=hp.balance_seed)
        counts = np.bincount(labels, minlength=len(hp.classes))
        log.info("Balanced training split: %d -> %d images (%s)", len(train), len(labels),
                 ", ".join(f"{c} {n}" for c, n in zip(hp.classes, counts)))
        return FaceDataset(self.data, train[source], images=images, labels=labels)

    def _split(self, data: PreparedData) -> dict[str, np.ndarray]:
        """Subject folds (default); the source's own split (FER2013 Usage); stratified image folds without ids."""
        hp = self.hparams
        has_usage = data.usage is not None and (data.usage != "").all()
        mode = hp.split if hp.split != "auto" else ("usage" if has_usage else "subjects")
        if mode == "usage":
            if not has_usage:
                raise ValueError(f"data.split=usage: {hp.name} defines no train/val/test split; use data.split=subjects")
            return usage_indices(data.usage)
        if mode == "subjects" and data.manifest["n_subjects"] < hp.num_folds:
            log.warning("%s has %d subject ids: falling back to stratified random folds, which put the same "
                        "person in train and test (set data.subject_regex to split by subject)",
                        hp.name, data.manifest["n_subjects"])
            mode = "random"
        if mode == "random":
            return stratified_indices(data.labels, hp.num_folds, hp.fold, hp.val_folds, hp.split_seed)
        if mode != "subjects":
            raise ValueError(f"data.split={hp.split!r}: use auto, subjects, usage or random")
        if not hp.train_extra_subjects:
            return split_indices(data.subjects, hp.num_folds, hp.fold, hp.val_folds, hp.split_seed)
        # The generated people S001..S<n> keep the folds they have without extras; S<n+1>... only train.
        from .synth import SynthSpec

        spec = SynthSpec(**(hp.synth or {}))
        last = spec.first_subject_id + spec.n_subjects - 1  # the last default person's number
        extra = np.array([int(name[1:]) > last for name in data.manifest["subjects"]])[data.subjects]
        base = np.flatnonzero(~extra)
        splits = {k: base[v] for k, v in split_indices(data.subjects[base], hp.num_folds, hp.fold, hp.val_folds,
                                                       hp.split_seed).items()}
        splits["train"] = np.sort(np.concatenate([splits["train"], np.flatnonzero(extra)]))
        return splits

    def _prepared(self) -> PreparedData:
        """The prepared data; one job at a time per cache (parallel sweep jobs wait, then reuse it)."""
        from .cache import check_location
        from .locking import file_lock

        # Before the lock file is created: a cache placed in (or over) the data writes nothing there.
        hp = self.hparams
        where = hp[source_of(hp.source).path_key]
        check_location(Path(hp.cache_dir) / hp.name, Path(where) if where else None)
        with file_lock(Path(self.hparams.cache_dir) / f".{self.hparams.name}.lock"):
            if source_of(hp.source).kind == "images":
                return self._prepared_images()
            return self._prepared_frames()

    def _prepared_frames(self) -> PreparedData:
        """A CK+-layout tree (real CK+, or the synthetic one, generated first when absent) through prepare.py."""
        hp = self.hparams
        root = Path(hp.root)
        extra = {"synth": self._ensure_synth(root)} if hp.source == "synth" else {}
        return prepare(root, hp.cache_dir, hp.name, list(hp.classes), image_size=hp.image_size,
                       crop_margin=hp.crop_margin, crop=[hp.crop] if isinstance(hp.crop, str) else list(hp.crop),
                       haar_min_face=hp.haar_min_face, apex_frames=hp.apex_frames, neutral_frames=hp.neutral_frames,
                       workers=hp.prepare_workers, progress=hp.progress, extra_manifest=extra)

    def _prepared_images(self) -> PreparedData:
        """FER2013 (data.csv), a class-folder tree or the London set (data.root) through the in-memory path."""
        from .prepare_images import prepare_images

        hp = self.hparams
        where, read, options = IMAGE_READERS[hp.source](hp)
        if not where.exists():
            raise FileNotFoundError(f"{where}: not found; pass data.{source_of(hp.source).path_key}=<path>")
        return prepare_images(where, read, hp.cache_dir, hp.name, list(hp.classes), hp.image_size, options,
                              crop=[hp.crop] if isinstance(hp.crop, str) else list(hp.crop),
                              crop_margin=hp.crop_margin, haar_min_face=hp.haar_min_face,
                              progress=hp.progress, dlib_detector=hp.dlib_detector, align_eyes=hp.align_eyes)

    def _ensure_synth(self, root: Path) -> dict:
        """Generate the synthetic CK+ into `root` unless a complete tree with the same spec is there."""
        from dataclasses import asdict

        from .synth import SynthSpec, generate_synth
        from .synth.generate import GENERATOR_VERSION

        spec = asdict(SynthSpec(**(self.hparams.synth or {})))
        spec["n_subjects"] += self.hparams.train_extra_subjects  # subject i is the same person for any count
        stamp = root / "synth_spec.json"  # written by generate_synth once the tree is complete
        written = json.loads(stamp.read_text()) if stamp.is_file() else {}
        if written.get("spec") != spec or written.get("generator_version") != GENERATOR_VERSION:
            log.info("Generating synthetic CK+ (%d subjects, seed %d) into %s", spec["n_subjects"], spec["seed"], root)
            summary = generate_synth(root, SynthSpec(**spec), workers=self.hparams.prepare_workers,
                                     progress=self.hparams.progress)
            log.info("Generated %d frames at %.0f frames/s", summary["n_frames"], summary["frames_per_s"])
        return {**spec, "generator_version": GENERATOR_VERSION}


def _fer2013_reader(hp):
    """data=fer2013: the csv, read row by row (its Usage column is the split)."""
    from .fer2013 import read_fer2013

    return Path(hp.csv), (lambda: read_fer2013(hp.csv, list(hp.classes))), {}


def _folder_reader(hp):
    """data=folder, and data=london: the class-folder tree shipped inside the package when data.root is null."""
    from .folder import read_folder
    from .london import LONDON_SUBJECTS, london_images

    london = hp.source == "london"
    root = Path(hp.root) if hp.root else london_images() if london else Path(str(hp.root))
    subject_regex = hp.subject_regex or (LONDON_SUBJECTS if london else None)
    read = lambda: read_folder(root, list(hp.classes), hp.folder_aliases, subject_regex)  # noqa: E731
    return root, read, {"folder_aliases": hp.folder_aliases, "subject_regex": subject_regex}


# data.source -> (file or folder, read() -> RawImages, the options that key its cache) for config.SOURCES' "images" kind
IMAGE_READERS = {"fer2013": _fer2013_reader, "folder": _folder_reader, "london": _folder_reader}
