"""One pass of a trained model over a split: the images, their ids and ground truth, and the model's outputs.

The collection is what the test split gives; every figure and metric after `trainer.test` reads it
and none encodes the split again (issue 17).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from ..progress import progress_iter


@dataclass
class EvalSet:
    """A split with everything evaluation needs, as numpy arrays aligned on the first axis."""

    images: np.ndarray  # (N, H, W) float32 in [0, 1]
    labels: np.ndarray  # (N,) class index
    subjects: np.ndarray  # (N,) subject index
    sequences: np.ndarray  # (N,) sequence id ("" when the source has none)
    frames: np.ndarray  # (N,) frame number (0 when the source has none)
    factors: np.ndarray  # (N, F) ground-truth factors (F = 0 without factors.csv)
    factor_names: list[str]
    classes: list[str]
    outputs: dict[str, np.ndarray] = field(default_factory=dict)  # what model.eval_batch returned
    # §2.2's evaluation pairs (PairDataModule): positions `a`, `b` into this split and the 0/1 `same` target
    pairs: dict[str, np.ndarray] = field(default_factory=dict)
    # edits and traversals made from the collected codes, each once (edit_images, traverse_images)
    edits: dict[tuple, np.ndarray] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.labels)

    def embedding_input(self) -> tuple[np.ndarray, str] | None:
        """What t-SNE maps: the classifier-like `features`, else the latent `codes`."""
        for key, name in (("features", "features"), ("codes", "latent means")):
            if key in self.outputs:
                return self.outputs[key].reshape(len(self), -1), name
        return None


def split_arrays(datamodule, split: str = "test") -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Cache indices of a split and the per-image arrays of the prepared data for them (no augmentation)."""
    data = datamodule.data
    idx = np.asarray(datamodule.splits[split])
    arrays = {
        "images": data.images[idx],
        "labels": data.labels[idx],
        "subjects": data.subjects[idx],
        "sequences": data.sequences[idx].astype(str),
        "frames": data.frames[idx],
        "factors": data.factors[idx],
    }
    return idx, arrays


@torch.no_grad()
def run_model(model, images_uint8: np.ndarray, labels: np.ndarray, batch_size: int = 128,
              progress: bool = False, what: str = "Evaluating") -> dict[str, np.ndarray]:
    """model.eval_batch over uint8 images (N, H, W), batched, concatenated to numpy."""
    model.eval()
    out: dict[str, list] = {}
    starts = range(0, len(images_uint8), batch_size)
    for s in progress_iter(starts, len(starts), what, progress):
        x = torch.from_numpy(images_uint8[s : s + batch_size]).unsqueeze(1).to(model.device).float() / 255.0
        y = torch.from_numpy(labels[s : s + batch_size]).to(model.device)
        for k, v in model.eval_batch(x, y).items():
            out.setdefault(k, []).append(v.detach().float().cpu() if v.is_floating_point() else v.cpu())
    return {k: torch.cat(v).numpy().squeeze(1) if k == "recon" else torch.cat(v).numpy() for k, v in out.items()}


def from_test_loop(model, datamodule, n: int) -> dict[str, np.ndarray] | None:
    """What trainer.test's own forward collected (FaceModule.collect_test), one row per test image in split
    order; None when the loop did not see the whole split in order (a DDP rank sees its shard)."""
    batches = getattr(model, "test_collection", None)
    if not batches:
        return None
    rows = {k: torch.cat([b[k] for b in batches]) for k in batches[0]}
    pairs = getattr(datamodule, "pair_datasets", {}).get("test")
    # The loop's k-th row is the split's image k, or for pairs the anchor of pair k (anchors: 0..n-1, repeated)
    anchors = pairs.anchors.numpy() if pairs is not None else np.arange(n)
    total = len(next(iter(rows.values())))
    if total != len(anchors) or not np.array_equal(anchors[:n], np.arange(n)):
        return None
    return {k: (v[:n].float() if v.is_floating_point() else v[:n]).numpy() for k, v in rows.items()}


def collect(model, datamodule, split: str = "test", progress: bool = False) -> EvalSet:
    """The split's images and ground truth with the model's evaluation outputs: for the test split, those its
    test loop computed (one pass); otherwise (or when the loop saw a shard) one `eval_batch` pass."""
    _, a = split_arrays(datamodule, split)
    outputs = from_test_loop(model, datamodule, len(a["labels"])) if split == "test" else None
    if outputs is None:
        outputs = run_model(model, a["images"], a["labels"], progress=progress)
    data = datamodule.data
    return EvalSet(
        images=a["images"].astype(np.float32) / 255.0,
        labels=a["labels"],
        subjects=a["subjects"],
        sequences=a["sequences"],
        frames=a["frames"],
        factors=a["factors"],
        factor_names=list(data.factor_names),
        classes=list(datamodule.classes),
        outputs={k: v.squeeze(1) if k == "recon" and v.ndim == 4 else v for k, v in outputs.items()},
        pairs=split_pairs(datamodule, split),
    )


def split_pairs(datamodule, split: str) -> dict[str, np.ndarray]:
    """The split's fixed evaluation pairs of a PairDataModule (none for single-image data): positions into
    the split, in the order split_arrays gives it (evaluation partners are single faces, never averages)."""
    pairs = getattr(datamodule, "pair_datasets", {}).get(split)
    if pairs is None:
        return {}
    return {"a": pairs.anchors.numpy(), "b": np.array([int(p[0]) for p in pairs.partners]),
            "same": pairs.same.numpy()}


def _codes(ev: EvalSet, idx: np.ndarray) -> np.ndarray | None:
    """The collected whole codes (`latent`) of the faces idx, or None for a model that has none."""
    latent = ev.outputs.get("latent")
    return None if latent is None else latent[idx]


@torch.no_grad()
def edit_images(model, ev: EvalSet, idx, target: int, strength: float, source: np.ndarray | None = None,
                batch_size: int = 128) -> np.ndarray:
    """model.edit of the split's faces `idx` toward class `target`: (N, H, W) in [0, 1]. The edit starts from
    each face's collected code (the encoder does not run again), and each (faces, target, strength, source)
    is made once per collection and model: every observer reads the same edits. After changing a model in
    place (e.g. its edit_mode), start from `dataclasses.replace(ev, edits={})`."""
    idx = np.asarray(idx, np.int64)
    # The key holds the model itself (hashed by identity), not id(model): an id is reused once a model is freed, and
    # a new model at the old address would be served the old one's edits.
    key = ("edit", model, idx.tobytes(), int(target), float(strength), None if source is None else np.asarray(source).tobytes())
    if key not in ev.edits:
        model.eval()
        images, codes, out = ev.images[idx], _codes(ev, idx), []
        for s in range(0, len(idx), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(images[s : s + batch_size])).unsqueeze(1).to(model.device)
            src = None if source is None else torch.from_numpy(source[s : s + batch_size]).to(model.device)
            # a model without a collected `latent` (or an edit() of its own without `code`) encodes x itself
            code = {} if codes is None else {"code": torch.from_numpy(codes[s : s + batch_size]).to(model.device)}
            out.append(model.edit(x.float(), target, strength, source=src, **code)[:, 0].float().cpu())
        ev.edits[key] = torch.cat(out).numpy() if out else np.zeros((0, *ev.images.shape[1:]), np.float32)
    return ev.edits[key]


@torch.no_grad()
def traverse_images(model, ev: EvalSet, idx, axis: int, values) -> np.ndarray:
    """Fig. 11: the faces `idx` decoded from their collected codes with one latent axis set to each of
    `values`: (len(values), N, H, W); made once per collection."""
    idx = np.asarray(idx, np.int64)
    values = np.asarray(values, np.float32)
    key = ("traverse", model, idx.tobytes(), int(axis), values.tobytes())
    if key not in ev.edits:
        model.eval()
        codes = torch.from_numpy(ev.outputs["latent"][idx]).to(model.device)
        ev.edits[key] = model.decode_along(codes, axis, torch.from_numpy(values)).float().cpu().numpy()
    return ev.edits[key]
