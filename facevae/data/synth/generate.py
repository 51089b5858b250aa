"""Write a synthetic dataset in the exact CK+ on-disk layout, plus a ground-truth factors.csv.

Layout under ``root`` (as in CK+, Lucey et al. 2010)::

    cohn-kanade-images/S001/001/S001_001_00000001.png   every frame (640x490 grey PNG)
    Landmarks/S001/001/S001_001_00000001_landmarks.txt  every frame, 68 lines "x y"
    Emotion/S001/001/S001_001_000000NN_emotion.txt      last frame of labelled sequences only
    FACS/S001/001/S001_001_000000NN_facs.txt            last frame: "AU intensity" per active AU
    factors.csv                                         one row per frame: all ground truth
    synth_spec.json                                     the spec that produced the tree

FACS intensity on disk uses the CK+ A-E scale as 1..5: ``clip(ceil(5 * v), 1, 5)`` for the
apex value ``v`` in (0, 1]; factors.csv keeps the exact values.
"""

from __future__ import annotations

import csv
import json
import math
import multiprocessing as mp
import os
import resource
import shutil
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import cv2
import numpy as np

from facevae.data.errors import DataError
from facevae.data.labels import CKPLUS_CODES
from facevae.data.synth.action_units import AU_NUMBERS, EMOTION_PROTOTYPES, SHADED_PROTOTYPES, sample_emotion_aus
from facevae.data.synth.identity import sample_identity
from facevae.data.synth.png import encode_grey_png
from facevae.data.synth.render import render_face, sample_nuisance
from facevae.data.synth.shading import STYLES, apex_scale, resting_face, sample_shading

EMOTION_CODES: tuple[int, ...] = tuple(c for c in sorted(CKPLUS_CODES) if c != 0)
JITTER_KEYS = ("jitter_x", "jitter_y", "jitter_roll")
_LM_FMT = "%16.7e%16.7e\n" * 68  # CK+ landmark file: 68 lines "x y", 3-space padded %.7e


# Bumped whenever the drawing changes, so trees written by an older generator are regenerated.
# v3: the shaded style's resting faces and prototypes (issue 15); drawn frames are byte-identical to v2's.
# v4: PNGs written by zlib-ng (drawn pixels identical to v3's, other bytes); the shaded style's dome blurred at
# half size (pixels within 3 grey levels of v3's, 0.14 % of them changed).
GENERATOR_VERSION = 4


@dataclass(frozen=True)
class SynthSpec:
    """Size and randomness of a synthetic CK+ tree (same spec -> byte-identical files)."""

    n_subjects: int = 40
    seed: int = 0
    min_frames: int = 10
    max_frames: int = 30
    min_emotions: int = 4
    unlabelled_fraction: float = 0.1
    width: int = 640
    height: int = 490
    max_emotions: int = 7
    first_subject_id: int = 1  # subject ids are S{first_subject_id + i:03d}
    style: str = "drawn"  # "drawn": flat line drawing; "shaded": lit relief, skin texture, AU furrows (issue 15)


def _ckplus_num(v: float) -> str:
    """A number in CK+ text-file format: 3 leading spaces for positives, e.g. '   5.0000000e+00'."""
    return f"{v:16.7e}"


def facs_intensity(v: float) -> int:
    """Map an AU value in (0, 1] to the CK+ A..E intensity scale as 1..5."""
    return int(min(5, max(1, math.ceil(5.0 * v - 1e-9))))


def _smoothstep(x: float) -> float:
    """Hermite onset ramp 0 -> 1 with zero slope at both ends."""
    x = min(1.0, max(0.0, x))  # plain floats: 18 AUs a frame, where np.clip's call costs more than the maths
    return x * x * (3.0 - 2.0 * x)


def plan_subject(spec: SynthSpec, subject_index: int) -> dict:
    """Everything random about one subject: identity, which emotions, per-sequence AUs and nuisance."""
    rng = np.random.default_rng([spec.seed, subject_index])
    ident = sample_identity(rng)
    scales = {c: float(rng.uniform(0.7, 1.0)) for c in EMOTION_CODES}
    if spec.style == "shaded":  # the same draws, mapped to CK+'s peak intensities (shading.apex_scale)
        scales = {c: apex_scale(v) for c, v in scales.items()}
    hi = max(spec.min_emotions, min(spec.max_emotions, len(EMOTION_CODES)))
    n_emo = int(rng.integers(min(spec.min_emotions, hi), hi + 1))
    codes = [int(c) for c in rng.permutation(np.array(EMOTION_CODES))[:n_emo]]
    prototypes = SHADED_PROTOTYPES if spec.style == "shaded" else EMOTION_PROTOTYPES
    seqs = []
    for k, code in enumerate(codes):
        seqs.append({
            "seq": k + 1,
            "emotion": code,
            "n_frames": int(rng.integers(spec.min_frames, spec.max_frames + 1)),
            "labelled": bool(rng.random() >= spec.unlabelled_fraction),
            "apex": sample_emotion_aus(code, rng, scales[code], prototypes),
            "delay": {a: float(rng.uniform(0.0, 0.2)) for a in AU_NUMBERS},  # AUs start a bit apart
            "apex_at": float(rng.uniform(0.75, 1.0)),  # fraction of the sequence at which apex is reached
            "nuisance": sample_nuisance(rng),
        })
    if spec.style == "shaded":  # own stream: the drawn style's draws (and bytes) stay what they were
        srng = np.random.default_rng([spec.seed, subject_index, 15])
        for seq in seqs:
            seq["nuisance"].update(sample_shading(srng))
        ident = resting_face(ident)
    return {"index": subject_index, "subject": f"S{spec.first_subject_id + subject_index:03d}",
            "identity": ident, "scales": scales, "sequences": seqs}


def _frame_aus(seq: dict, t: float) -> tuple[float, dict[int, float]]:
    """Ramp value and per-AU intensities at normalised time t in [0, 1] of a sequence."""
    x = min(1.0, t / seq["apex_at"])
    aus = {}
    for a in AU_NUMBERS:
        d = seq["delay"][a]
        aus[a] = float(seq["apex"][a] * _smoothstep((x - d) / (1.0 - d)))
    return float(_smoothstep(x)), aus


def factor_columns(spec: SynthSpec = SynthSpec()) -> list[str]:
    """Header of factors.csv (identity/nuisance columns are derived from a sample plan of the spec's style)."""
    plan = plan_subject(replace(spec, n_subjects=1), 0)
    ident_cols = [f"id_{k}" for k in plan["identity"]]
    scale_cols = [f"id_expr_scale_{CKPLUS_CODES[c]}" for c in EMOTION_CODES]
    nz_cols = [f"nz_{k}" for k in plan["sequences"][0]["nuisance"]] + [f"nz_{k}" for k in JITTER_KEYS]
    return (["subject", "sequence", "frame", "path", "emotion", "labelled", "intensity"]
            + [f"au{a:02d}" for a in AU_NUMBERS] + ident_cols + scale_cols + nz_cols)


def _r(v: float) -> str:
    """Stable short float text for the CSV."""
    return f"{v:.6g}"


def _write_text(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def render_subject(spec: SynthSpec, subject_index: int, root: str) -> list[list[str]]:
    """Render and write all sequences of one subject; returns its factors.csv rows."""
    cv2.setNumThreads(1)  # parallelism is across subjects
    plan = plan_subject(spec, subject_index)
    root_p, sid, ident = Path(root), plan["subject"], plan["identity"]
    id_vals = [_r(v) for v in ident.values()] + [_r(plan["scales"][c]) for c in EMOTION_CODES]
    rows: list[list[str]] = []
    for seq in plan["sequences"]:
        sq = f"{seq['seq']:03d}"
        rng = np.random.default_rng([spec.seed, subject_index, seq["seq"]])
        img_dir = root_p / "cohn-kanade-images" / sid / sq
        lm_dir = root_p / "Landmarks" / sid / sq
        img_dir.mkdir(parents=True, exist_ok=True)
        lm_dir.mkdir(parents=True, exist_ok=True)
        cache: dict = {}
        n = seq["n_frames"]
        for f in range(1, n + 1):
            ramp, aus = _frame_aus(seq, (f - 1) / (n - 1))
            nz = dict(seq["nuisance"])
            nz.update(jitter_x=float(rng.normal(0, 0.4)), jitter_y=float(rng.normal(0, 0.4)),
                      jitter_roll=float(rng.normal(0, 0.15)))
            img, lm = render_face(ident, aus, nz, rng, spec.width, spec.height, cache)
            stem = f"{sid}_{sq}_{f:08d}"
            (img_dir / f"{stem}.png").write_bytes(encode_grey_png(img))
            (lm_dir / f"{stem}_landmarks.txt").write_text(_LM_FMT % tuple(lm.astype(np.float64).ravel()))
            rel = f"cohn-kanade-images/{sid}/{sq}/{stem}.png"
            rows.append([sid, sq, str(f), rel, str(seq["emotion"]), str(int(seq["labelled"])), _r(ramp)]
                        + [_r(aus[a]) for a in AU_NUMBERS] + id_vals
                        + [_r(v) for v in seq["nuisance"].values()] + [_r(nz[k]) for k in JITTER_KEYS])
        last = f"{sid}_{sq}_{n:08d}"
        _, apex = _frame_aus(seq, 1.0)
        facs = "".join(f"{_ckplus_num(a)}{_ckplus_num(facs_intensity(v))}\n" for a, v in apex.items() if v > 0)
        _write_text(root_p / "FACS" / sid / sq / f"{last}_facs.txt", facs)
        if seq["labelled"]:
            _write_text(root_p / "Emotion" / sid / sq / f"{last}_emotion.txt", f"{_ckplus_num(seq['emotion'])}\n")
    return rows


def _work(args: tuple) -> list[list[str]]:
    return render_subject(*args)


def _cpu_seconds() -> tuple[float, float]:
    """(user, system) CPU time of this process and its finished children."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + kids.ru_utime, me.ru_stime + kids.ru_stime


# Written first into the temporary tree: a folder with this file (or a finished tree with facevae's
# synth_spec.json) is one the generator made, and the only kind it ever removes.
_MARKER = ".facevae-synth"


def _made_here(folder: Path) -> bool:
    """Whether the generator made `folder`: its marker, or a finished tree's synth_spec.json naming it."""
    if (folder / _MARKER).is_file():
        return True
    try:
        return json.loads((folder / "synth_spec.json").read_text()).get("generator") == "facevae.data.synth"
    except (OSError, ValueError, AttributeError):
        return False


def _prepare_tmp(root: Path) -> Path:
    tmp = root.with_name(f"{root.name}.tmp-{os.getpid()}")
    if tmp.exists():
        if not _made_here(tmp):
            raise DataError(f"{tmp} exists and was not made by facevae; move it away")
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    (tmp / _MARKER).write_text("made by facevae.data.synth; safe to delete\n")
    return tmp


def _replace_root(tmp: Path, root: Path) -> None:
    """Swap the finished tree into place; refuse to delete a folder the generator did not make."""
    if root.exists():
        if any(root.iterdir()) and not _made_here(root):
            raise DataError(f"{root} exists and is not a synthetic CK+ tree facevae made (no synth_spec.json "
                                  "of facevae.data.synth); not overwriting: move it away or set data.root elsewhere")
        shutil.rmtree(root)
    (tmp / _MARKER).unlink()
    tmp.rename(root)


def generate_synth(root: str | Path, spec: SynthSpec = SynthSpec(), workers: int | None = None,
                   progress: bool = True) -> dict:
    """Generate the synthetic CK+ tree at ``root`` (built in a temp folder, then renamed into place)."""
    root = Path(root).absolute()
    root.parent.mkdir(parents=True, exist_ok=True)
    workers = max(1, int(workers or os.cpu_count() or 1))
    if not (2 <= spec.min_frames <= spec.max_frames) or not (1 <= spec.min_emotions <= len(EMOTION_CODES)):
        raise ValueError(f"bad spec: need 2 <= min_frames <= max_frames and 1 <= min_emotions <= 7: {spec}")
    if spec.style not in STYLES:
        raise ValueError(f"synthetic CK+ style {spec.style!r} is unknown; use one of {', '.join(STYLES)} "
                         "(data.synth.style=… or --style …)")
    t0, cpu0 = time.perf_counter(), _cpu_seconds()
    tmp = _prepare_tmp(root)
    jobs = [(spec, i, str(tmp)) for i in range(spec.n_subjects)]
    all_rows: list[list[str]] = []
    try:
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        cols = (TextColumn("synth CK+"), BarColumn(), MofNCompleteColumn(), TextColumn("subjects"),
                TimeRemainingColumn())
        with Progress(*cols, disable=not progress) as bar:
            task = bar.add_task("subjects", total=spec.n_subjects)
            if workers == 1 or spec.n_subjects <= 1:
                results = map(_work, jobs)
                pool = None
            else:
                method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
                pool = mp.get_context(method).Pool(min(workers, spec.n_subjects))
                results = pool.imap(_work, jobs, chunksize=1)  # ordered -> deterministic CSV
            try:
                for rows in results:
                    all_rows.extend(rows)
                    bar.advance(task)
            finally:
                if pool is not None:
                    pool.close()
                    pool.join()
        with open(tmp / "factors.csv", "w", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(factor_columns(spec))
            w.writerows(all_rows)
        (tmp / "synth_spec.json").write_text(json.dumps(
            {"generator": "facevae.data.synth", "generator_version": GENERATOR_VERSION, "spec": asdict(spec), "au_numbers": list(AU_NUMBERS),
             "facs_intensity": "clip(ceil(5*v),1,5)"}, indent=2) + "\n")
        _replace_root(tmp, root)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    seconds, (user1, sys1) = time.perf_counter() - t0, _cpu_seconds()
    user, system = user1 - cpu0[0], sys1 - cpu0[1]
    seqs = {(r[0], r[1]): r[5] for r in all_rows}
    return {
        "n_frames": len(all_rows),
        "n_sequences": len(seqs),
        "n_subjects": spec.n_subjects,
        "n_labelled": sum(v == "1" for v in seqs.values()),
        "seconds": round(seconds, 3),
        "frames_per_s": round(len(all_rows) / seconds, 1) if seconds > 0 else float("inf"),
        "cpu_seconds": round(user + system, 3),  # all processes; frames/cpu_s * cores = throughput on an idle box
        # the kernel's share, mostly creating two files a frame: 0.2 ms a frame on this VM's ext4, up to 2.3 ms
        # where many files were recently deleted (README, issue 15), so frames/s moves with the disk's history
        "system_seconds": round(system, 3),
        "root": str(root),
    }
