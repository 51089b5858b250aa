"""Opening a checkpoint someone else made: its weights are tensors, its stored run config is checked data.

Trust model (README, "Checkpoints are data"): a checkpoint may come from anyone. It is unpickled
with ``torch.load(weights_only=True)`` (tensors and primitives only; anything else is refused with
one line). The run config facevae stores in it is never handed to Hydra's ``instantiate``: its
sections are checked as plain values (no ``_target_`` below the model and data sections, no
interpolations), the model must be one facevae names in ``conf/model/`` and the DataModule one it
names in ``conf/data/`` (with ``data.pairs``: the §2.2 PairDataModule); then every value is type-checked
against the constructor it will be passed to. Where data lives and where runs write (``paths.*``,
``data.cache_dir``, the synthetic tree's ``data.root``) always comes from the local config, never
from the checkpoint, so a checkpoint cannot steer a write or a delete.
"""

from __future__ import annotations

import pickle
import re
from functools import lru_cache
from pathlib import Path

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from .config import (ArchSchema, ConfigError, EvalSchema, PairsSchema, _check_crop, _check_folds, _check_loss,
                     _check_pairs, _check_target, _first_line)

CONF_DIR = Path(__file__).resolve().parent.parent / "conf"
# The sections of a stored config a checkpoint may bring; the rest (paths, trainer, callbacks,
# logger, hydra, ckpt_path) is the local machine's business.
STORED_SECTIONS = ("seed", "data", "model", "loss", "arch", "eval")
# The siamese models' model.* keys before the pair options moved to data.pairs (issue 17): read from old checkpoints.
LEGACY_PAIR_KEYS = tuple(PairsSchema.__dataclass_fields__)
_SAFE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,99}$")


@lru_cache(maxsize=1)
def known_models() -> dict[str, dict]:
    """model name -> facevae's own conf/model/<name>.yaml (its _target_ and meta keys)."""
    out = {}
    for f in sorted((CONF_DIR / "model").glob("*.yaml")):
        node = OmegaConf.to_container(OmegaConf.load(f))
        out[str(node["name"])] = node
    return out


@lru_cache(maxsize=1)
def known_datamodules() -> frozenset[str]:
    """The DataModule classes a data config may name: the targets of facevae's conf/data/*.yaml (the §2.2
    pairs' PairDataModule is chosen by data.pairs, never by a stored class name)."""
    targets = {"facevae.data.datamodule.FaceDataModule"}
    for f in (CONF_DIR / "data").glob("*.yaml"):
        target = OmegaConf.load(f).get("_target_")
        if target:
            targets.add(str(target))
    return frozenset(targets)


def load_checkpoint(path: str | Path, what: str = "ckpt_path") -> dict:
    """A facevae checkpoint loaded with weights_only=True; ConfigError (one line) for anything else."""
    import torch

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what}={path}: checkpoint not found; pass <run>/checkpoints/best.ckpt")
    try:
        ckpt = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        reason = _first_line(exc).removeprefix("Weights only load failed. ")[:160]
        raise ConfigError(f"{what}={path}: refused: it holds objects other than tensors and plain values "
                          f"({reason}); facevae opens checkpoints with weights_only=True and never runs "
                          "code from them") from None
    except Exception as exc:  # noqa: BLE001 - truncated, not a zip, not a torch file: all "cannot be read"
        raise ConfigError(f"{what}={path}: not a readable checkpoint ({type(exc).__name__}: "
                          f"{_first_line(exc)[:120]}); pass a .ckpt file written by facevae") from None
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("state_dict"), dict):
        raise ConfigError(f"{what}={path}: not a Lightning checkpoint (no state_dict); pass a facevae .ckpt file")
    if not isinstance(ckpt.get("facevae_config"), dict):
        raise ConfigError(f"{what}={path}: not a facevae checkpoint (it carries no facevae_config)")
    return ckpt


def stored_model_name(ckpt: dict) -> str:
    """The model name a (loaded) checkpoint says it holds, or '' when it says none."""
    model = ckpt["facevae_config"].get("model")
    return str(model.get("name", "")) if isinstance(model, dict) else ""


def run_config(ckpt: dict, path: str | Path, local: DictConfig | None = None) -> DictConfig:
    """The run config of a checkpoint, checked as data and rebased onto the local machine.

    With `local` (eval.py's composed config), the result is `local` with the checkpoint's model,
    loss, arch, data, eval and seed; the data's cache and, for the synthetic data, its tree are
    the local ones. Without it (the editor), only those sections, for building the model.
    """
    stored = ckpt["facevae_config"]
    for section in STORED_SECTIONS:
        if section in stored:
            _check_plain(stored[section], section, path, allow_target=section in ("model", "data"))
    for section in ("model", "data", "loss", "arch"):
        if not isinstance(stored.get(section), dict):
            raise ConfigError(f"{path}: stored config has no '{section}' section; not a facevae run checkpoint")
    model = dict(stored["model"])
    name = str(model.get("name", ""))
    own = known_models().get(name)
    if own is None or model.get("_target_") != own["_target_"]:
        raise ConfigError(f"{path}: stored model {name!r} (_target_ {model.get('_target_')!r}) is not one facevae "
                          f"names ({', '.join(known_models())}); refusing to build it")
    model.update({k: v for k, v in own.items() if k in ("_target_", "name", "valid_losses", "monitor", "monitor_mode")})
    data = dict(stored["data"])
    legacy = {k: model.pop(k) for k in LEGACY_PAIR_KEYS if k in model}
    if legacy and not data.get("pairs"):  # a siamese run saved before data.pairs held its pair options in model.*
        data["pairs"] = legacy
    if data.get("_target_") not in known_datamodules():
        raise ConfigError(f"{path}: stored data._target_ {data.get('_target_')!r} is not a DataModule facevae names; "
                          "refusing to build it")
    if not _SAFE_NAME.match(str(data.get("name", ""))):
        raise ConfigError(f"{path}: stored data.name {data.get('name')!r} is not a plain folder name "
                          "(letters, digits, . _ + -); refusing it")
    run = OmegaConf.create({k: stored[k] for k in STORED_SECTIONS if k in stored} | {"model": model, "data": data})
    if local is not None:
        merged = local.copy()
        OmegaConf.set_struct(merged, False)
        for key in run:  # assignment replaces the local section whole (a merge would keep local keys)
            merged[key] = run[key]
        run = merged
        run.data.cache_dir = str(local.paths.cache_dir)
        if run.data.get("source") == "synth":  # regenerated locally from its spec if absent
            run.data.root = f"{local.paths.data_dir}/synth-ckplus/{run.data.name}"
    check_run_config(run, path)
    return run


def check_run_config(run: DictConfig, path: str | Path) -> None:
    """Every stored value type-checked against the schema or constructor it is passed to."""
    try:
        OmegaConf.merge(OmegaConf.structured(ArchSchema), run.arch)
        if "eval" in run:
            OmegaConf.merge(OmegaConf.structured(EvalSchema), run.eval)
        if "seed" in run and not isinstance(run.seed, int):
            raise ConfigError(f"config error at 'seed': expected int, got {run.seed!r}")
        _check_target("data", run.data, ignore=("synth", "pairs"))
        _check_crop(run.data)  # the same data checks train.py runs, so a stored value is no looser
        _check_folds(run.data)
        model_cls = _check_target("model", run.model, ignore=("name", "valid_losses", "monitor", "monitor_mode"))
        _check_loss(run.loss, getattr(model_cls, "loss_schema", None))
        _check_pairs(run.data, model_cls, str(run.model.name))
    except ConfigError as exc:
        raise ConfigError(f"{path}: stored {exc}; refusing this checkpoint") from None
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", "") or "arch"
        raise ConfigError(f"{path}: stored config error at '{key}': {_first_line(exc)}; refusing this checkpoint") from None
    if run.loss.get("name") not in run.model.valid_losses:
        raise ConfigError(f"{path}: stored loss {run.loss.get('name')!r} is not a loss of model={run.model.name}; "
                          "refusing this checkpoint")


def _check_plain(node, key: str, path, allow_target: bool) -> None:
    """Plain values only: str/int/float/bool/None, lists and string-keyed dicts; no objects to build."""
    if isinstance(node, dict):
        for k, v in node.items():
            if not isinstance(k, str):
                raise ConfigError(f"{path}: stored config key {key}.{k!r} is not a string; refusing this checkpoint")
            if k.startswith("_") and not (allow_target and k == "_target_"):
                raise ConfigError(f"{path}: stored config key '{key}.{k}' asks Hydra to build or call something; "
                                  "facevae builds only the model and data classes it names itself; refusing "
                                  "this checkpoint")
            _check_plain(v, f"{key}.{k}", path, allow_target=False)
    elif isinstance(node, (list, tuple)):
        for i, v in enumerate(node):
            _check_plain(v, f"{key}[{i}]", path, allow_target=False)
    elif isinstance(node, str):
        if "${" in node:
            raise ConfigError(f"{path}: stored config value at '{key}' is an interpolation ({node[:60]!r}); a facevae "
                              "checkpoint stores resolved values; refusing this checkpoint")
    elif node is not None and not isinstance(node, (bool, int, float)):
        raise ConfigError(f"{path}: stored config value at '{key}' is a {type(node).__name__}, not a plain value; "
                          "refusing this checkpoint")


def load_weights(model, ckpt: dict, path: str | Path) -> None:
    """The checkpoint's state_dict into `model`; one line when its tensors do not fit the stored architecture."""
    try:
        model.load_state_dict(ckpt["state_dict"])
    except (RuntimeError, KeyError, TypeError) as exc:
        raise ConfigError(f"{path}: its weights do not fit the model its config describes "
                          f"({_first_line(exc)[:140]}); the checkpoint is damaged or was edited") from None
