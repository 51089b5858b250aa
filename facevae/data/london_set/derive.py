"""How this copy was made from the Face Research Lab London Set (run once; not imported by facevae).

    python facevae/data/london_set/derive.py <folder with neutral/, smiling/, info.csv, LICENSE.md>

Photos: 512x512 -> 256x256 (Pillow Lanczos), JPEG quality 90, colour kept; ~2 MB for all 204 instead of
~7 MB. The 189-point templates are not copied: only their points 0 and 1 (the pupil centres, the set's
own annotation, used by tests/test_london.py to check the aligned crop) go into pupils.csv, scaled to the
256-pixel frame.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from PIL import Image

SIZE = 256


def derive(source: Path, dest: Path) -> None:
    for folder in ("neutral", "smiling"):
        (dest / "images" / folder).mkdir(parents=True, exist_ok=True)
        for jpg in sorted((source / folder).glob("*.jpg")):
            with Image.open(jpg) as im:
                scale = SIZE / im.width
                im.convert("RGB").resize((SIZE, SIZE), Image.LANCZOS).save(
                    dest / "images" / folder / jpg.name, quality=90)
    rows = ["face_id,left_x,left_y,right_x,right_y"]
    for tem in sorted((source / "neutral").glob("*.tem.txt")):
        points = [line.split() for line in tem.read_text().splitlines() if line.strip()][:2]
        coords = [f"{float(v) * scale:.2f}" for p in points for v in p]
        rows.append(",".join([tem.name.split(".")[0], *coords]))
    (dest / "pupils.csv").write_text("\n".join(rows) + "\n")
    for name in ("info.csv", "LICENSE.md"):
        shutil.copyfile(source / name, dest / name)


if __name__ == "__main__":
    derive(Path(sys.argv[1]), Path(__file__).resolve().parent)
