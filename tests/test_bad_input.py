"""Issue 4, item 7: every bad input in a CK+ tree is named, skipped and counted, or stops the run at once.

The fixture is two subjects of the synthetic CK+ (real layout) with hand-made damage: empty,
malformed and out-of-range Emotion files, an Emotion file naming a missing frame, corrupt and
truncated frames, a colour frame, a 640x480 frame, a frame with no face and no landmarks, a stray
file and an empty sequence folder.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from facevae.data.ckplus import read_emotion, select_samples
from facevae.data.errors import DataError, LayoutError
from facevae.data.labels import CKPLUS_CODES, PAPER_CLASSES
from facevae.data.prepare import UNREADABLE, prepare

from .conftest import ROOT

KINDS = ("cohn-kanade-images", "Emotion", "Landmarks", "FACS")


def _labelled(tree: Path, subject: str) -> list[str]:
    """Sequences of `subject` labelled with one of the paper's classes (so their apex frames are selected)."""
    return sorted(p.parent.name for p in (tree / "Emotion" / subject).glob("*/*_emotion.txt")
                  if CKPLUS_CODES[read_emotion(p)] in PAPER_CLASSES)


def _frames(tree: Path, subject: str, seq: str) -> list[Path]:
    return sorted((tree / KINDS[0] / subject / seq).glob("*.png"))


@pytest.fixture(scope="module")
def damaged(smoke_tree, tmp_path_factory):
    """Two subjects copied from the synthetic tree, then damaged; returns (tree, what was done)."""
    tree = tmp_path_factory.mktemp("damaged")
    for kind in KINDS:
        for subject in ("S001", "S002"):
            shutil.copytree(smoke_tree / kind / subject, tree / kind / subject)
    a, b = _labelled(tree, "S001"), _labelled(tree, "S002")
    emotion = lambda s, q: next((tree / "Emotion" / s / q).glob("*_emotion.txt"))  # noqa: E731
    done = {}
    emotion("S001", a[0]).write_text("")
    done["empty"] = emotion("S001", a[0])
    emotion("S001", a[1]).write_text("happy\n")
    done["malformed"] = emotion("S001", a[1])
    emotion("S001", a[2]).write_text("   9.0000000e+00\n")
    done["out_of_range"] = emotion("S001", a[2])
    moved = emotion("S001", a[3]).with_name(f"S001_{a[3]}_00000099_emotion.txt")
    emotion("S001", a[3]).rename(moved)
    done["missing_frame"] = moved

    colour = _frames(tree, "S002", b[0])[-1]
    grey = cv2.imread(str(colour), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(colour), cv2.merge([grey // 2, grey, np.clip(grey.astype(int) + 40, 0, 255).astype(np.uint8)]))
    done["colour"] = colour
    small = _frames(tree, "S002", b[1])[-1]
    cv2.imwrite(str(small), cv2.resize(cv2.imread(str(small), cv2.IMREAD_GRAYSCALE), (640, 480)))
    done["640x480"] = small
    corrupt = _frames(tree, "S002", b[2])[-1]
    corrupt.write_bytes(b"this is not a png")
    done["corrupt"] = corrupt
    truncated = _frames(tree, "S002", b[2])[-2]
    truncated.write_bytes(truncated.read_bytes()[:2000])
    done["truncated"] = truncated
    faceless = _frames(tree, "S002", b[3])[-1]
    cv2.imwrite(str(faceless), np.full((490, 640), 128, np.uint8))
    (tree / "Landmarks" / "S002" / b[3] / f"{faceless.stem}_landmarks.txt").unlink()
    done["no_face"] = faceless
    stray = tree / KINDS[0] / "S002" / b[3] / "notes.txt"
    stray.write_text("taken on a Tuesday")
    done["stray"] = stray
    empty_seq = tree / KINDS[0] / "S002" / "099"
    empty_seq.mkdir()
    done["empty_sequence"] = empty_seq
    return tree, done


def _reasons(manifest: dict) -> dict[str, str]:
    return {s["file"]: s["reason"] for s in manifest["skips"]}


def test_every_bad_input_is_named_skipped_and_counted(damaged, tmp_path):
    tree, done = damaged
    data = prepare(tree, tmp_path / "cache", "damaged", list(PAPER_CLASSES), crop=["haar", "landmarks"],
                   workers=1, progress=False)
    reasons = _reasons(data.manifest)
    assert "expected one number" in reasons[str(done["empty"])]
    assert "expected one number" in reasons[str(done["malformed"])] and "'happy'" in reasons[str(done["malformed"])]
    assert "outside CK+'s 0-7" in reasons[str(done["out_of_range"])]
    assert "not in the sequence" in reasons[str(done["missing_frame"])]
    assert reasons[str(done["corrupt"])].startswith(UNREADABLE)
    assert reasons[str(done["truncated"])].startswith(UNREADABLE)
    assert reasons[str(done["no_face"])] == "no face found by haar or landmarks"
    assert reasons[str(done["stray"])] == "not an image file"
    assert reasons[str(done["empty_sequence"])] == "sequence folder has no frames"
    # The sequences with a broken Emotion file still give their neutral first frame, and say so.
    for key in ("empty", "malformed", "out_of_range", "missing_frame"):
        seq_dir = tree / "cohn-kanade-images" / "S001" / done[key].parent.name
        assert "unlabelled sequence" in reasons[str(seq_dir)]
        assert (data.sequences[data.labels == 0] == seq_dir.name).any()
    # Colour and 640x480 frames are prepared like the others: grey 128x128.
    for key in ("colour", "640x480"):
        frame = int(done[key].stem.split("_")[-1])
        hit = (data.sequences == done[key].parent.name) & (data.frames == frame) & \
              (data.subjects == data.subject_names.index("S002"))
        assert hit.sum() == 1
    assert data.images.shape[1:] == (128, 128) and data.images.dtype == np.uint8
    # Counted: what was selected = what was prepared + what failed, per class.
    selected = select_samples(tree, PAPER_CLASSES).samples
    failed = sum(sum(r.values()) for r in data.manifest["skipped_per_class"].values())
    assert len(selected) == data.manifest["n_images"] + failed == len(data.labels) + 3
    assert data.manifest["n_skipped"] == len(data.manifest["skips"])
    assert data.manifest["face_detection"]["n_failed"] == 1  # unreadable files are not detection failures


def test_layout_and_nothing_usable_stop_at_once(damaged, tmp_path):
    tree, _ = damaged
    with pytest.raises(LayoutError, match="no 'cohn-kanade-images/' folder; expected the CK\\+ layout"):
        prepare(tmp_path, tmp_path / "cache", "x", list(PAPER_CLASSES), progress=False)
    broken = tmp_path / "broken"
    shutil.copytree(tree / "cohn-kanade-images" / "S001", broken / "cohn-kanade-images" / "S001")
    with pytest.raises(LayoutError, match="no 'Emotion/' folder"):
        prepare(broken, tmp_path / "cache", "broken", list(PAPER_CLASSES), progress=False)
    shutil.copytree(tree / "Emotion" / "S001", broken / "Emotion" / "S001")
    for f in (broken / "cohn-kanade-images").rglob("*.png"):
        f.write_bytes(b"")
    with pytest.raises(DataError, match=r"no usable image among (\d+) selected frames \(\1 unreadable or corrupt image file: empty file"):
        prepare(broken, tmp_path / "cache", "broken", list(PAPER_CLASSES), workers=1, progress=False)


def _prepare_cli(*args: str, timeout: int = 300) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "prepare.py", "data.progress=false", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)


def test_prepare_cli_on_a_ckplus_tree_and_its_one_line_errors(damaged, tmp_path):
    tree, _ = damaged
    ok = _prepare_cli("data=ckplus", f"data.root={tree}", f"paths.cache_dir={tmp_path}/cache",
                      f"hydra.run.dir={tmp_path}/run")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert (tmp_path / "run" / "manifest.json").is_file() and "unreadable or corrupt image file" in ok.stdout
    bad = _prepare_cli("data=ckplus", f"data.root={tmp_path / 'nowhere'}", f"hydra.run.dir={tmp_path}/run2")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("facevae: error: ") and "Traceback" not in bad.stderr
    assert "cohn-kanade-images" in bad.stderr


def test_a_killed_preparation_leaves_a_usable_state(smoke_tree, tmp_path):
    """SIGKILL mid-preparation: no cache appears; a leftover partial folder is removed; the rerun works."""
    cache = tmp_path / "cache"
    args = ["data=ckplus", f"data.root={smoke_tree}", "data.prepare_workers=1", f"paths.cache_dir={cache}"]
    proc = subprocess.Popen([sys.executable, "prepare.py", "data.progress=false", *args,
                             f"hydra.run.dir={tmp_path}/run"],
                            cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    for line in proc.stdout:  # the crop loop starts right after this line
        if "Preparing" in line and "selected frames" in line:
            proc.kill()
            break
    proc.wait()
    assert proc.returncode == -9  # killed, not finished
    assert not (cache / "ckplus" / "manifest.json").exists()
    # A kill between writing and renaming leaves a temporary sibling named after the dead process, with
    # the marker write_cache puts in first. A folder of the same shape without it is not facevae's: kept.
    from facevae.data.cache import MARKER

    partial = cache / f".ckplus.tmp-{proc.pid}"
    partial.mkdir(parents=True)
    (partial / MARKER).write_text("")
    (partial / "images.npy").write_bytes(b"half")
    foreign = cache / ".ckplus.old-999999"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("not facevae's")
    ok = _prepare_cli(*args, f"hydra.run.dir={tmp_path}/run2")
    assert ok.returncode == 0, ok.stderr[-2000:]
    assert (cache / "ckplus" / "manifest.json").is_file() and not partial.exists()
    assert (foreign / "thesis.tex").read_text() == "not facevae's"
