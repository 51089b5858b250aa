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


def collect(model, datamodule, split: str = "test", progress: bool = False) -> EvalSet:
    """The split's images and ground truth with the model's evaluation outputs."""
    _, a = split_arrays(datamodule, split)
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
        outputs=run_model(model, a["images"], a["labels"], progress=progress),
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


@torch.no_grad()
def edit_images(model, images: np.ndarray, target: int, strength: float, batch_size: int = 128,
                source: np.ndarray | None = None) -> np.ndarray:
    """model.edit over float images (N, H, W) in [0, 1]; returns (N, H, W) in [0, 1]."""
    model.eval()
    out = []
    for s in range(0, len(images), batch_size):
        x = torch.from_numpy(np.ascontiguousarray(images[s : s + batch_size])).unsqueeze(1).to(model.device)
        src = None if source is None else torch.from_numpy(source[s : s + batch_size]).to(model.device)
        out.append(model.edit(x.float(), target, strength, source=src)[:, 0].float().cpu())
    return torch.cat(out).numpy() if out else np.zeros((0, *images.shape[1:]), np.float32)
