"""Config validation before any work: unknown keys and wrong types fail with one line each.

Groups with a `_target_` (data, model, trainer) are checked against the target's constructor
signature, so a new model needs no second schema; the rest (paths, arch, loss, top level) against
the structured schemas below.
"""

from __future__ import annotations

import importlib
import inspect
import types
import typing
from dataclasses import dataclass, field

from omegaconf import DictConfig, ListConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

# Keys of a model config that describe it to facevae rather than being constructor arguments.
MODEL_META_KEYS = ("name", "valid_losses", "monitor", "monitor_mode")


class ConfigError(ValueError):
    """A config problem, stated in one line with the key, the problem and the fix."""


# data.source: every source facevae reads, in one table that these checks and preparation
# (facevae.data.datamodule) both read (issue 17: a table instead of if/elif chains on the source's name).
# "ckplus": CK+'s layout on disk (cohn-kanade-images/, Emotion/, Landmarks/), frames selected by ckplus.py and
# cropped in worker processes by prepare.py; the synthetic CK+ is written in that layout. "images": an in-memory
# reader (fer2013.py, folder.py; london.py ships a folder) returning RawImages, cropped by prepare_images.py.
# Both end in facevae.data.records.assemble, the one builder of the cache's arrays and manifest.
@dataclass(frozen=True)
class DataSource:
    kind: str  # "ckplus" | "images" (above)
    path_key: str  # the data.* key that names the file or folder read
    required: bool  # the user must give it (False: generated, or shipped in the package)
    what: str  # what that file or folder is, for the one-line error when it is missing


SOURCES: dict[str, DataSource] = {
    "synth": DataSource("ckplus", "root", False, "folder of the synthetic CK+ (generated when absent)"),
    "ckplus": DataSource("ckplus", "root", True, "folder holding cohn-kanade-images/"),
    "fer2013": DataSource("images", "csv", True, "path to fer2013.csv"),
    "folder": DataSource("images", "root", True, "folder of the class folders"),
    "london": DataSource("images", "root", False, "London set folder (default: the copy shipped in the package)"),
}


def source_of(name: str) -> DataSource:
    """The table's row for data.source, or one line listing the known sources."""
    try:
        return SOURCES[name]
    except KeyError:
        raise ValueError(f"data.source={name!r} is not known; use {', '.join(SOURCES)}") from None


@dataclass
class PathsSchema:
    root_dir: str = "."
    data_dir: str = "data"
    cache_dir: str = "data/cache"
    output_dir: str = "outputs"


@dataclass
class PairsSchema:
    """data.pairs (conf/pairs/*.yaml): §2.2's pairs, what facevae.data.pairs.PairDataModule draws."""

    p_same: float = 0.5  # share of same-emotion partners (1.0: ImgB of the siamese VAE)
    pair_subjects: str = "cross"  # cross: the two faces are always different subjects | any
    p_avg: float = 0.0  # training only: share of partners that are the mean of avg_size same-emotion faces
    avg_size: int = 8
    eval_pairs_per_image: int = 1  # val/test pairs per image


@dataclass
class ArchSchema:
    name: str = "fast"
    pool_stride: int = 2
    encoder: str = "C8-C32-C64-F256-F100"
    # The β-VAE's own encoder (issue 16: conf/arch/fast.yaml gives it batch-norm); None = `encoder`, which is what
    # a checkpoint from before this key existed was trained with, so None and not fast.yaml's value is the default.
    ssvae_encoder: typing.Optional[str] = None
    decoder: str = "F8192-TC18,3,2-TC12,3,2-TC6,3,2-TC1,3,1"
    map_decoder: typing.Optional[str] = "TC32,4,2-TC16,4,2-TC8,4,2-UC1,3,1"  # from a style map (β-VAE, issue 14)
    flow_decoder: typing.Optional[str] = "TC32,4,2-UC2,3,1"  # the β-VAE's warp editor (edit_mode=warp, issue 14)
    stroke_net: typing.Optional[str] = "P2-U16,32,64,128,128"  # the β-VAE's stroke editor (edit_mode=draw, issue 14)
    classifier: str = "C8-C32-F256-F100-D0.5-D7"
    discriminator: str = "F256-F256"  # §2.3 latent discriminator (the paper gives no layers)
    comparator: str = "C8-C32-F256-F100"  # §2.2 siamese tower (the paper gives no layers)


@dataclass
class EvalSchema:
    judge: bool = True  # score real and edited faces with the independent judge when it is installed
    disentanglement: bool = True  # MIG, DCI, SAP where the data has ground-truth factors


@dataclass
class TopSchema:
    seed: int = 0
    task: str = "train"
    ckpt_path: typing.Optional[str] = None
    optimized_metric: str = "val/best"
    skip_finished: bool = False
    device_lease: typing.Any = None  # set by facevae.gpu_pool inside hydra/launcher=gpus sweeps
    paths: PathsSchema = field(default_factory=PathsSchema)
    arch: ArchSchema = field(default_factory=ArchSchema)
    eval: EvalSchema = field(default_factory=EvalSchema)
    loss: typing.Any = None
    data: typing.Any = None
    model: typing.Any = None
    trainer: typing.Any = None
    logger: typing.Any = None
    callbacks: typing.Any = None


def validate(cfg: DictConfig) -> None:
    """Raise ConfigError on the first unknown key or wrongly typed value, before any work starts."""
    try:
        OmegaConf.merge(OmegaConf.structured(TopSchema), cfg)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", "") or "config"
        raise ConfigError(f"config error at '{key}': {_first_line(exc)}") from None
    missing = sorted(OmegaConf.missing_keys(cfg))
    if missing:
        raise ConfigError(f"config error: '{missing[0]}' has no value; set it on the command line, e.g. {missing[0]}=...")
    _check_source(cfg.data)
    _check_crop(cfg.data)
    model = cfg.model
    if cfg.loss.name not in model.valid_losses:
        raise ConfigError(
            f"model={model.name} does not take loss={cfg.loss.name}; valid: "
            + ", ".join(f"loss={l}" for l in model.valid_losses)
        )
    _check_target("data", cfg.data, ignore=("synth", "pairs"))
    _check_folds(cfg.data)
    extra = cfg.data.get("train_extra_subjects", 0)
    if extra and (cfg.data.source != "synth" or extra < 0):
        raise ConfigError(f"config error at 'data.train_extra_subjects': {extra} more people can only be generated "
                          f"by the synthetic CK+ (data=synth), as a positive count; data={cfg.data.name} has its own")
    model_cls = _check_target("model", cfg.model, ignore=MODEL_META_KEYS)
    _check_loss(cfg.loss, getattr(model_cls, "loss_schema", None))
    _check_pairs(cfg.data, model_cls, str(model.name))
    if float(cfg.loss.get("xl", 0) or 0) > 0 and not cfg.data.get("partners", False):
        raise ConfigError(f"config error at 'loss.xl': {cfg.loss.xl} needs pairs of one person's faces in each "
                          "batch; add data.partners=true (or set loss.xl=0)")
    if cfg.data.get("partners", False) and int(cfg.data.batch_size) % 2:
        raise ConfigError(f"config error at 'data.batch_size': {cfg.data.batch_size} is odd, and data.partners "
                          "fills batches with pairs; use an even batch size")
    if cfg.data.get("partners", False):
        problem = check_partner_options(cfg.data.get("partners_keep", 1.0), cfg.data.get("partners_region"))
        if problem:
            raise ConfigError(f"config error at {problem}")
    _check_target("trainer", cfg.trainer)
    _check_model_files(cfg.model)


def check_partner_options(keep: float, region: list | None) -> str | None:
    """What is wrong with data.partners_keep / data.partners_region (one line naming the key), or None."""
    if not 0.0 < float(keep) <= 1.0:
        return f"data.partners_keep={keep}: the share of pairs kept must be in (0, 1] (1 keeps them all)"
    if region is not None:
        r = list(region)
        if len(r) != 4 or not (0.0 <= r[0] < r[1] <= 1.0 and 0.0 <= r[2] < r[3] <= 1.0):
            return (f"data.partners_region={r}: expected [top, bottom, left, right] as fractions of the face crop, "
                    "top < bottom and left < right, e.g. [0.6, 0.9, 0.25, 0.75] (null: the whole crop)")
    return None


def _check_source(data: DictConfig) -> None:
    """data.source is one of facevae.data.sources.SOURCES, and the file or folder it needs is given."""
    source = SOURCES.get(data.get("source", ""))
    if source is None:
        raise ConfigError(f"config error at 'data.source': {data.get('source')!r} is not known; use "
                          f"{', '.join(SOURCES)}")
    if source.required and not data.get(source.path_key):
        raise ConfigError(f"config error: data={data.name} needs data.{source.path_key}=<{source.what}>")


def _check_pairs(data: DictConfig, model_cls: type, model_name: str) -> None:
    """data.pairs: present exactly when the model trains on §2.2's pairs, and of PairsSchema's keys and types."""
    pairs = data.get("pairs")
    if getattr(model_cls, "trains_on_pairs", False) and not pairs:
        raise ConfigError(f"config error at 'data.pairs': model={model_name} trains on §2.2's pairs; add "
                          "pairs=emotion (the comparator's) or pairs=imgb (the siamese VAE's)")
    if pairs and not getattr(model_cls, "trains_on_pairs", False):
        raise ConfigError(f"config error at 'data.pairs': model={model_name} trains on single faces, not pairs; "
                          "drop the pairs=... override (~pairs removes a default)")
    if pairs:
        try:
            OmegaConf.merge(OmegaConf.structured(PairsSchema), pairs)
        except OmegaConfBaseException as exc:
            raise ConfigError(f"config error at 'data.pairs.{getattr(exc, 'key', '') or ''}': {_first_line(exc)}; "
                              "keys: p_same, pair_subjects, p_avg, avg_size, eval_pairs_per_image") from None
        if pairs.get("pair_subjects", "cross") not in ("cross", "any"):
            raise ConfigError(f"config error at 'data.pairs.pair_subjects': {pairs.pair_subjects!r}; use cross or any")


def _check_crop(data: DictConfig) -> None:
    """data.crop: a method or a fallback list of haar, landmarks, dlib, aligned, none; landmarks only for CK+
    layouts (dlib finds the same 68 points in photos); data.synth.style: drawn or shaded. Also run on the data
    config a checkpoint stores (facevae.checkpoint)."""
    crop = data.get("crop", "none")
    chain = [crop] if isinstance(crop, str) else list(crop)
    unknown = [m for m in chain if m not in ("haar", "landmarks", "dlib", "aligned", "none")]
    if unknown or not chain:
        raise ConfigError(f"config error at 'data.crop': unknown method {unknown[0] if unknown else '[]'!r}; "
                          "use haar, landmarks, dlib, aligned, none or a fallback list like [haar, landmarks]")
    if data.get("dlib_detector", "hog") not in ("hog", "mmod"):
        raise ConfigError(f"config error at 'data.dlib_detector': {data.dlib_detector!r}; use hog or mmod")
    style = (data.get("synth") or {}).get("style", "drawn")
    if data.get("source") == "synth" and style not in ("drawn", "shaded"):  # shading.STYLES (cv2-free here)
        raise ConfigError(f"config error at 'data.synth.style': {style!r} is unknown; use drawn or shaded")
    if data.get("source") in SOURCES and SOURCES[data.source].kind != "ckplus" and "landmarks" in chain:
        raise ConfigError(f"config error at 'data.crop': data.source={data.source} has no landmarks; "
                          "use dlib (its own 68 points), aligned, haar, none or [dlib, haar, none]")


def _check_folds(data: DictConfig) -> None:
    """data.fold / num_folds / val_folds: a test fold, validation folds and at least one training fold."""
    if data.get("source") == "fer2013" and data.get("split", "auto") in ("auto", "usage"):
        return  # FER2013's own Usage column splits it; the fold keys are not used
    n, fold, val = data.get("num_folds", 10), data.get("fold", 0), data.get("val_folds", 1)
    if not all(isinstance(v, int) and not isinstance(v, bool) for v in (n, fold, val)):
        raise ConfigError(f"config error: data.num_folds, data.fold and data.val_folds must be integers, got "
                          f"{n!r}, {fold!r}, {val!r}")
    if val < 0 or n < val + 2:
        raise ConfigError(f"config error at 'data.num_folds': {n} folds cannot hold a test fold, {val} validation "
                          f"fold(s) and a training fold; use data.num_folds>={val + 2} (default 10)")
    if not 0 <= fold < n:
        raise ConfigError(f"config error at 'data.fold': {fold} is outside 0..{n - 1} (data.num_folds={n}); "
                          f"pick a test fold in that range")


# Checkpoints a model config may name, and the model each must hold.
_MODEL_FILES = {"comparator_ckpt": "siamese_comparator", "classifier_ckpt": "classifier", "tower_init": "classifier"}


def _check_model_files(model: DictConfig) -> None:
    """Checkpoints named in the model config exist, load as data and hold the right model: before any data work."""
    from .checkpoint import load_checkpoint, stored_model_name

    for key, expected in _MODEL_FILES.items():
        path = model.get(key)
        if not path or not isinstance(path, str):
            continue
        ckpt = load_checkpoint(path, what=f"model.{key}")
        found = stored_model_name(ckpt)
        if found != expected:
            raise ConfigError(f"config error at 'model.{key}': {path} holds model={found or '?'}, not model={expected}; "
                              f"train one with `python train.py model={expected}` and pass its checkpoint")


def _first_line(exc: Exception) -> str:
    return str(exc).strip().splitlines()[0]


def import_target(path: str):
    """The class or function a dotted `_target_` path names."""
    module, _, name = path.rpartition(".")
    return getattr(importlib.import_module(module), name)


def _check_loss(loss: DictConfig, schema: type | None) -> None:
    """The loss config against the model's own loss schema (each model declares its terms)."""
    if schema is None:
        return
    try:
        OmegaConf.merge(OmegaConf.structured(schema), loss)
    except OmegaConfBaseException as exc:
        key = getattr(exc, "full_key", "") or ""
        raise ConfigError(f"config error at 'loss.{key}': {_first_line(exc)}") from None


def _check_target(section: str, node: DictConfig, ignore: tuple[str, ...] = ()):
    """Keys of `node` must be parameters of its `_target_`, with values of the annotated type; returns it."""
    target = node.get("_target_")
    if target is None:
        raise ConfigError(f"config error at '{section}': no _target_ (which class to build)")
    try:
        obj = import_target(target)
    except (ImportError, AttributeError):
        raise ConfigError(f"config error at '{section}._target_': cannot import {target!r}") from None
    name = obj.__name__
    init = obj.__init__ if inspect.isclass(obj) else obj
    params = inspect.signature(init).parameters
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return obj
    try:
        hints = typing.get_type_hints(init)
    except Exception:  # unresolvable annotations: check names only
        hints = {}
    for key, value in node.items():
        if key.startswith("_") or key in ignore:
            continue
        if key not in params:
            known = ", ".join(k for k in params if k != "self")
            raise ConfigError(f"config error at '{section}.{key}': unknown key for {name}; known keys: {known}")
        expected = hints.get(key)
        if expected is not None and not _matches(value, expected):
            raise ConfigError(
                f"config error at '{section}.{key}': expected {_type_name(expected)}, got {value!r}"
            )
    return obj


def _matches(value, expected) -> bool:
    """Loose runtime check of a config value against a type annotation (basic types only)."""
    if value is None:
        return _allows_none(expected)
    origin = typing.get_origin(expected)
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, arg) for arg in typing.get_args(expected))
    base = origin or expected
    if base is type(None):
        return False
    if base is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if base is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if base in (str, bool):
        return isinstance(value, base)
    if base in (list, tuple):
        return isinstance(value, (list, tuple, ListConfig))
    if base is dict:
        return isinstance(value, (dict, DictConfig))
    return True


def _allows_none(expected) -> bool:
    return expected is type(None) or type(None) in typing.get_args(expected)


def _type_name(expected) -> str:
    args = [a for a in typing.get_args(expected) if a is not type(None)]
    if typing.get_origin(expected) in (typing.Union, types.UnionType) and args:
        return " or ".join(_type_name(a) for a in args) + (" or null" if _allows_none(expected) else "")
    return getattr(expected, "__name__", None) or str(expected).replace("typing.", "")
