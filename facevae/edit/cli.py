"""`python edit.py ckpt_path=<ckpt> image=<photo or folder>`: grids, pasted photos and summary.json.

Per photo (per face with face=all) it writes into the Hydra run folder:
  <stem>_grid.png     original, reconstruction, the edits, the judge's P(target) under each
  <stem>_edited.png   the photo with the face edited to `emotion` (happiness when emotion=null) at `strength`
and once: summary.json (settings, per-photo boxes, judge scores and timings, skipped files with reasons).
A folder edits every file in it (not recursive) with a progress bar; files that are not images or
show no face are listed with the reason, on screen and in summary.json.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from omegaconf import DictConfig

from ..config import ConfigError
from ..data.errors import DataError
from ..progress import progress_iter
from .editor import Editor
from .grid import edit_grid

DEFAULT_RANGE = (-1.0, 2.0, 7)  # emotion=<name>: strengths from -1 to 2 in 7 steps (Fig. 11's axis runs both ways)


def default_emotion(classes: list[str]) -> str:
    """The pasted photo's emotion when none is given: happiness (the clearest, §4), else the first non-neutral."""
    if "happiness" in classes:
        return "happiness"
    return next((c for c in classes if c != "neutral"), classes[0])


def grid_strengths(cfg: DictConfig) -> list[float]:
    """cfg.strengths when given; otherwise 0.5, 1, 1.5 for every emotion, or -1 ... 2 for one emotion."""
    if cfg.get("strengths") is not None:
        values = [float(s) for s in cfg.strengths]
        if not values:
            raise ConfigError("strengths=[]: give at least one strength, e.g. strengths=[0.5,1,1.5]")
        return values
    if cfg.get("emotion") is None:
        return [0.5, 1.0, 1.5]
    lo, hi, n = DEFAULT_RANGE
    return [round(float(v), 4) for v in np.linspace(lo, hi, n)]


def photo_files(image: Path) -> list[Path]:
    """The photo itself, or every visible file of a folder (sorted; subfolders are not entered)."""
    if image.is_file():
        return [image]
    if image.is_dir():
        return sorted(p for p in image.iterdir() if p.is_file() and not p.name.startswith("."))
    raise FileNotFoundError(f"{image}: no such photo or folder; pass image=<photo file or folder>")


def edit_photos(cfg: DictConfig) -> dict:
    """Edit every photo of cfg.image with the checkpoint cfg.ckpt_path; returns the summary written."""
    started = time.perf_counter()
    out_dir = Path(cfg.paths.output_dir)
    image = Path(str(cfg.image))
    files = photo_files(image)  # before loading the model: a wrong path fails at once
    face_opt = cfg.face if cfg.face in ("largest", "all") else _index(cfg.face)
    crop = [cfg.crop] if isinstance(cfg.crop, str) else list(cfg.crop)
    try:
        editor = Editor.from_checkpoint(cfg.ckpt_path, device=cfg.device, crop=crop, haar_min_face=cfg.haar_min_face,
                                        judge=cfg.judge, paste_mode=cfg.paste, source=cfg.source,
                                        max_pixels=int(cfg.max_pixels), dlib_detector=cfg.get("dlib_detector", "hog"),
                                        identity=bool(cfg.get("identity", True)))
        emotion = cfg.emotion if cfg.emotion is not None else default_emotion(editor.classes)
        editor.class_index(emotion)  # an unknown emotion fails before any photo, listing the classes
    except ValueError as exc:  # the API's ValueError is a config mistake here: one line, exit 2
        raise ConfigError(str(exc)) from None
    strengths = grid_strengths(cfg)
    loaded = time.perf_counter()
    print(f"model:  {editor.name} ({', '.join(editor.classes)}) from {cfg.ckpt_path}")
    print(f"judge:  {editor.judge_note}")
    print(f"crop:   {' -> '.join(editor.crop_chain)}" + (f" ({editor.crop_note})" if editor.crop_note else ""))
    print(f"identity: {editor.identity_note}")
    target = _target_face(editor, cfg.get("target"))
    photos, skipped = [], []
    folder = image.is_dir()
    for path in progress_iter(files, len(files), "Editing photos", bool(cfg.progress) and folder):
        try:
            photos.extend(_edit_one(editor, path, out_dir, face_opt, emotion, strengths, cfg, target))
        except DataError as exc:
            if not folder:
                raise
            skipped.append({"file": str(path), "reason": str(exc).removeprefix(f"{path}: ")})
    summary = {
        "checkpoint": str(cfg.ckpt_path), "model": editor.name, "classes": editor.classes,
        "emotion": cfg.emotion, "pasted_emotion": emotion, "strength": float(cfg.strength),
        "grid_strengths": strengths, "face": cfg.face, "paste": cfg.paste, "source": cfg.source,
        "judge": editor.judge.version if editor.judge is not None else editor.judge_note,
        "crop": editor.crop_chain, "identity": editor.identity.version if editor.identity is not None
        else editor.identity_note, "target": None if cfg.get("target") is None else str(cfg.target),
        "photos": photos, "skipped": skipped,
        "seconds": {"load_model": round(loaded - started, 3), "total": round(time.perf_counter() - started, 3),
                    # one photo, one face: read + detect + crop + encode + decode + judge + paste
                    "edit_mean": _mean(p["seconds"]["detect_crop"] + p["seconds"]["edit"] for p in photos),
                    "grid_mean": _mean(p["seconds"]["grid"] for p in photos)},
    }
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "summary.json").write_text(json.dumps(summary, indent=2))
    _report(summary, files, out_dir)
    if folder and not photos:
        raise DataError(f"{image}: none of its {len(files)} files could be edited (each listed above with its "
                        f"reason, and in {out_dir / 'summary.json'})")
    return summary


def _index(face) -> int:
    try:
        return int(face)
    except (TypeError, ValueError):
        raise ConfigError(f"face={face!r}: use largest, all or an index (0 = the largest face)") from None


def _target_face(editor: Editor, target):
    """The real target photo's face (target=<photo>), described once; None when not given or without dlib."""
    if target is None or editor.identity is None:
        return None
    face = editor.face(str(target), "largest", str(target))
    box = editor.identity.find_box(face.crop)
    return editor.identity.descriptor(face.crop, box)


def _identity(editor: Editor, face, result: dict, target) -> dict | None:
    """summary.json's identity: edit <-> input and, with target=<photo>, edit <-> target and input <-> target."""
    if editor.identity is None:
        return None
    out = {"edit_input": result["identity"], "same_person_below": 0.6}
    if target is not None:
        edit = editor.identity.descriptor(result["edited"], face.identity_box)
        out["edit_target"] = float(np.linalg.norm(edit - target))
        out["input_target"] = float(np.linalg.norm(face.descriptor - target))
    return out


def _edit_one(editor: Editor, path: Path, out_dir: Path, face_opt, emotion: str, strengths: list[float],
              cfg: DictConfig, target=None) -> list[dict]:
    from PIL import Image

    t0 = time.perf_counter()
    faces = editor.all_faces(path, str(path), face_opt)
    records = []
    for face in faces:
        t1 = time.perf_counter()
        result = editor.edit(face, emotion, float(cfg.strength))
        t2 = time.perf_counter()
        stem = path.stem if len(faces) == 1 and face_opt != "all" else f"{path.stem}_face{face.index}"
        grid, numbers = edit_grid(editor, face, out_dir / f"{stem}_grid.png", cfg.emotion, strengths,
                                  title=f"{path.name}" + (f", face {face.index}" if face.n_faces > 1 else ""))
        edited = out_dir / f"{stem}_edited.png"
        Image.fromarray(result["pasted"]).save(edited)
        records.append({
            "file": str(path), "face_index": face.index, "n_faces": face.n_faces, "box": result["box"],
            "crop_method": face.method, "source": result["source"], "grid": str(grid), "edited": str(edited),
            "p_target": result["p_target"], "judge_grid": numbers,
            "identity": _identity(editor, face, result, target),
            # detect_crop: the whole photo's (read, Haar, crops); edit: this face's encode/decode/judge/paste
            "seconds": {"detect_crop": round(t1 - t0, 4), "edit": round(t2 - t1, 4),
                        "grid": round(time.perf_counter() - t2, 4)},
        })
    return records


def _mean(values) -> float | None:
    values = list(values)
    return round(float(np.mean(values)), 4) if values else None


def _report(summary: dict, files: list[Path], out_dir: Path) -> None:
    """What was written, and every skipped file with its reason (never silently)."""
    photos, skipped = summary["photos"], summary["skipped"]
    for p in photos:
        score = "" if p["p_target"] is None else f", judge P({summary['pasted_emotion']}) {p['p_target']:.2f}"
        if p.get("identity") and p["identity"]["edit_input"] is not None:
            score += f", identity distance to the input {p['identity']['edit_input']:.2f}"
        start = f"reads as {p['source']}" if summary["source"] == "auto" else f"edited from {p['source']}"
        print(f"edited: {Path(p['file']).name} face {p['face_index']} of {p['n_faces']} ({start})"
              f"{score} -> {Path(p['grid']).name}, {Path(p['edited']).name}")
    for s in skipped:
        print(f"skipped: {s['file']}: {s['reason']}")
    n_photos = len({p["file"] for p in photos})
    print(f"{n_photos} of {len(files)} photos edited ({len(photos)} faces), {len(skipped)} skipped, "
          f"{summary['seconds']['total']:.1f} s -> {out_dir}")
    print(f"summary: {out_dir / 'summary.json'}")

