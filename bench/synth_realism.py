"""Does a real-face model read the synthetic CK+ as real? The judge per class, Haar, speed, per style.

    python -m bench.synth_realism                      # both styles, 40 subjects (~2 min on 2 cores)
    python -m bench.synth_realism --styles shaded --subjects 12
    python -m bench.synth_realism --seed 1 --out /tmp/realism-seed1.json   # 40 other people

For each style of the generator (facevae.data.synth, ``SynthSpec.style``) it writes the full
640×490 tree (frames/s on ``--workers`` processes, PNGs included), crops every labelled sequence's
last frame (apex) and every sequence's first frame (neutral) as ``data=synth`` does (68 landmarks,
margin 0.2, 128×128), and asks the FER2013 judge (facevae.judge, never trained on our data) what it
sees: accuracy per class it knows (contempt has no output), overall, and on neutral first frames.
Haar: the share of those frames in which OpenCV's frontal cascade finds a face as ``data=ckplus``
searches (smallest face 0.25 of the frame height). Writes ``bench/synth_realism.json`` and prints the
markdown table the README shows (issue 15).
"""

from __future__ import annotations

import argparse
import csv
import json
import tempfile
from pathlib import Path

import cv2
import numpy as np

from facevae.data.face_crop import default_detector
from facevae.data.labels import CKPLUS_CODES
from facevae.data.synth import SynthSpec, generate_synth
from facevae.data.synth.contact_sheet import frame_crop
from facevae.data.synth.shading import STYLES
from facevae.judge import JUDGE_CLASSES, load_judge

OUT = Path(__file__).resolve().parent / "synth_realism.json"
CROP_MARGIN = 0.2  # conf/data/synth.yaml
HAAR_MIN_FACE = 0.25  # conf/data/ckplus.yaml


def first_and_last_frames(root: Path) -> tuple[list[tuple[str, str]], list[str]]:
    """[(apex path, class name)] of labelled sequences and [neutral first-frame path] of every sequence."""
    seqs: dict[tuple[str, str], list[dict]] = {}
    with open(root / "factors.csv", newline="") as fh:
        for row in csv.DictReader(fh):
            seqs.setdefault((row["subject"], row["sequence"]), []).append(row)
    apex, neutral = [], []
    for rows in seqs.values():
        rows.sort(key=lambda r: int(r["frame"]))
        neutral.append(rows[0]["path"])
        if rows[-1]["labelled"] == "1":
            apex.append((rows[-1]["path"], CKPLUS_CODES[int(rows[-1]["emotion"])]))
    return apex, neutral


def _load(root: Path, rel: str, detector) -> tuple[np.ndarray, bool]:
    """The 128×128 landmark crop of one frame, and whether Haar finds a face in the whole frame."""
    crop = frame_crop(root, rel, 128, CROP_MARGIN)
    return crop, bool(detector.detect(cv2.imread(str(root / rel), cv2.IMREAD_GRAYSCALE)))


def measure(style: str, n_subjects: int, workers: int, tmp: Path, seed: int = 0) -> dict:
    """Generate one style's tree and judge it."""
    root = tmp / style
    gen = generate_synth(root, SynthSpec(n_subjects=n_subjects, style=style, seed=seed), workers=workers,
                         progress=False)
    apex, neutral = first_and_last_frames(root)
    detector = default_detector(min_size_frac=HAAR_MIN_FACE)
    a = [_load(root, p, detector) for p, _ in apex]
    n = [_load(root, p, detector) for p in neutral]
    judge = load_judge()
    pa = judge.predict_proba(np.stack([c for c, _ in a])).argmax(1)
    pn = judge.predict_proba(np.stack([c for c, _ in n])).argmax(1)
    names = np.array([c for _, c in apex])
    per_class, hits = {}, []
    for cls in JUDGE_CLASSES:
        idx = np.flatnonzero(names == cls)
        if cls == "neutral" or not len(idx):
            continue
        ok = pa[idx] == JUDGE_CLASSES.index(cls)
        per_class[cls] = round(float(ok.mean()), 3)
        hits.extend(ok.tolist())
    return {"style": style, "subjects": n_subjects, "seed": seed, "frames": gen["n_frames"],
            "frames_per_s": gen["frames_per_s"], "workers": workers,
            # CPU a frame in all processes: the generator's own (user) and the kernel's (creating the files)
            "user_ms_per_frame": round(1000 * (gen["cpu_seconds"] - gen["system_seconds"]) / gen["n_frames"], 2),
            "kernel_ms_per_frame": round(1000 * gen["system_seconds"] / gen["n_frames"], 2), "apex_judged": len(hits),
            "apex_acc": round(float(np.mean(hits)), 3), "apex_per_class": per_class, "neutral_frames": len(n),
            "neutral_acc": round(float(np.mean(pn == JUDGE_CLASSES.index("neutral"))), 3),
            "haar_rate": round(float(np.mean([f for _, f in a + n])), 4)}


HEADER = ["style", "judge apex overall", *[c for c in JUDGE_CLASSES if c != "neutral"], "neutral first frames",
          "Haar", "frames/s"]


def rows(results: list[dict]) -> list[list[str]]:
    """One table row per style (HEADER's columns)."""
    classes = [c for c in JUDGE_CLASSES if c != "neutral"]

    def speed(r: dict) -> str:
        return (f"{r['frames_per_s']:.0f} ({r['workers']} proc.; CPU a frame {r['user_ms_per_frame']:.1f} ms"
                f" + kernel {r['kernel_ms_per_frame']:.1f} ms)")

    return [[r["style"], f"{r['apex_acc']:.2f}", *[f"{r['apex_per_class'].get(c, float('nan')):.2f}" for c in classes],
             f"{r['neutral_acc']:.2f}", f"{100 * r['haar_rate']:.1f} %", speed(r)] for r in results]


def table(results: list[dict]) -> str:
    """Markdown: one row per style."""
    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    return "\n".join(lines + ["| " + " | ".join(r) + " |" for r in rows(results)])


def run(n_subjects: int = SynthSpec.n_subjects, workers: int = 2, styles=STYLES, seed: int = 0) -> list[dict]:
    """Measure every style in a temporary folder (removed afterwards)."""
    with tempfile.TemporaryDirectory(prefix="facevae-realism-") as tmp:
        return [measure(s, n_subjects, workers, Path(tmp), seed) for s in styles]


def main(argv: list[str] | None = None) -> list[dict]:
    p = argparse.ArgumentParser(prog="python -m bench.synth_realism", description=__doc__.split("\n")[0])
    p.add_argument("--styles", nargs="+", default=list(STYLES), choices=STYLES)
    p.add_argument("--subjects", type=int, default=SynthSpec.n_subjects)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--seed", type=int, default=0, help="the generator's seed (other people, other sequences)")
    p.add_argument("--out", type=Path, default=OUT)
    a = p.parse_args(argv)
    results = run(a.subjects, a.workers, a.styles, a.seed)
    a.out.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"written: {a.out}")
    return results


if __name__ == "__main__":
    main()
