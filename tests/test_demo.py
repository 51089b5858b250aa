"""`make demo` (issue 14): the photo it opens the page with is a London test person of the editor's split, the
experiment composes and validates, and serve.py refuses a missing photo with one line."""

import re
import subprocess
import sys

from facevae.config import validate
from facevae.run import build_datamodule

from .conftest import ROOT, compose_config


def make_var(name: str) -> str:
    return re.search(rf"^{name}\s*\?=\s*(\S+)", (ROOT / "Makefile").read_text(), re.M)[1]


def test_demo_photo_is_a_test_person_the_london_editor_never_trained_on(tmp_path):
    cfg = compose_config(["experiment=london_editor"], tmp_path, tmp_path)
    validate(cfg)
    assert cfg.model.edit_mode == "draw" and cfg.data.partners and cfg.loss.xl > 0
    dm = build_datamodule(cfg)
    dm.prepare_data()
    dm.setup("fit")
    photo = ROOT / make_var("DEMO_PHOTO")
    assert photo.is_file()
    names = dm.data.subject_names
    split_of = {names[s]: k for k, idx in dm.splits.items() for s in dm.data.subjects[idx]}
    assert split_of[photo.stem] == "test"
    # the page's sliders start from the photo's own label (a neutral photo), not from the Fader's reading of it
    assert photo.parent.name == "neutral"
    assert re.search(r"^\t.*serve\.py .*photo=\$\(DEMO_PHOTO\) source=neutral", (ROOT / "Makefile").read_text(), re.M)


def test_serve_refuses_a_missing_photo_in_one_line(tmp_path):
    ckpt = tmp_path / "none.ckpt"
    ckpt.write_bytes(b"")
    out = subprocess.run([sys.executable, str(ROOT / "serve.py"), f"ckpt_path={ckpt}",
                          f"photo={tmp_path / 'missing.jpg'}", f"hydra.run.dir={tmp_path}"],
                         cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr
    assert re.search(r"photo=\S*missing\.jpg: no such file", out.stderr + out.stdout)
