"""CLI: python -m facevae.data.synth OUT_DIR [--subjects N] [--seed S] [--workers W] [--style drawn|shaded]."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from facevae.data.synth.contact_sheet import contact_sheet
from facevae.data.synth.generate import SynthSpec, generate_synth
from facevae.data.synth.shading import STYLES


def main(argv: list[str] | None = None) -> dict:
    """Generate a synthetic CK+ tree, print the summary and write the contact sheet."""
    p = argparse.ArgumentParser(prog="python -m facevae.data.synth", description=__doc__)
    p.add_argument("out_dir", type=Path)
    p.add_argument("--subjects", type=int, default=SynthSpec.n_subjects)
    p.add_argument("--seed", type=int, default=SynthSpec.seed)
    p.add_argument("--workers", type=int, default=None, help="processes (default: all cores)")
    p.add_argument("--min-frames", type=int, default=SynthSpec.min_frames)
    p.add_argument("--max-frames", type=int, default=SynthSpec.max_frames)
    p.add_argument("--style", choices=STYLES, default=SynthSpec.style,
                   help="drawn: flat line drawing (default); shaded: lit relief, skin texture, AU furrows")
    p.add_argument("--no-progress", action="store_true")
    p.add_argument("--no-sheet", action="store_true", help="skip the contact sheet")
    a = p.parse_args(argv)
    spec = SynthSpec(n_subjects=a.subjects, seed=a.seed, min_frames=a.min_frames, max_frames=a.max_frames,
                     style=a.style)
    summary = generate_synth(a.out_dir, spec, workers=a.workers, progress=not a.no_progress)
    print(json.dumps(summary, indent=2))
    if not a.no_sheet:
        out = a.out_dir / "data_contact_sheet.png"
        contact_sheet(a.out_dir, out)
        print(f"contact sheet: {out}")
    return summary


if __name__ == "__main__":
    main()
