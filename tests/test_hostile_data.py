"""Issue 12: folders facevae did not make are never deleted; hostile files are listed skips or one line.

Built in tmp_path from generated images (never real face data): a cache placed over user data,
non-UTF-8 names, symlink loops and dangling symlinks, CK+ Emotion files holding nan/inf, FER2013
rows the csv module cannot parse, bad fold settings, a read-only cache disk, the README's FER2013
command as written.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from facevae.config import ConfigError, validate
from facevae.data.cache import MARKER
from facevae.data.ckplus import read_emotion
from facevae.data.errors import DataError
from facevae.data.fer2013 import read_fer2013
from facevae.data.folder import read_folder

from .conftest import ROOT, compose_config

RNG = np.random.default_rng(0)


def _faces(root: Path, names: dict[str, int]) -> None:
    for cls, n in names.items():
        (root / cls).mkdir(parents=True, exist_ok=True)
        for i in range(n):
            cv2.imwrite(str(root / cls / f"S{i:03d}_001_{i:08d}.png"), RNG.integers(0, 256, (48, 48), np.uint8))


def _snapshot(root: Path) -> list:
    return sorted((str(p.relative_to(root)), p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*"))


def _prepare(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "prepare.py", "data.progress=false", f"hydra.run.dir={tmp_path}/run", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=300)


def _one_line_error(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 2, (proc.stdout[-1000:], proc.stderr[-1500:])
    assert "Traceback" not in proc.stderr
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("facevae: error: ")
    return last


def test_a_cache_over_the_users_data_deletes_nothing(tmp_path):
    """The issue's command: the cache folder would be the data folder itself. Refused; all 49 files stay."""
    jaffe = tmp_path / "jaffe"
    _faces(jaffe, {"happy": 25, "sad": 24})
    before = _snapshot(jaffe)
    proc = _prepare(tmp_path, "data=folder", f"data.root={jaffe}", "data.name=jaffe", f"paths.cache_dir={tmp_path}")
    assert "the cache folder is the data folder" in _one_line_error(proc)
    assert _snapshot(jaffe) == before
    # A folder of someone else's at <cache_dir>/<name> (not the data): refused, kept.
    other = tmp_path / "cache" / "jaffe"
    other.mkdir(parents=True)
    (other / "notes.txt").write_text("mine")
    proc = _prepare(tmp_path, "data=folder", f"data.root={jaffe}", "data.name=jaffe", f"paths.cache_dir={tmp_path}/cache")
    assert "was not made by facevae" in _one_line_error(proc)
    assert (other / "notes.txt").read_text() == "mine" and _snapshot(jaffe) == before
    # A cache inside the data folder is refused too; the default place works and is facevae's own.
    proc = _prepare(tmp_path, "data=folder", f"data.root={jaffe}", f"paths.cache_dir={jaffe}/cache")
    assert "lies inside the data folder" in _one_line_error(proc)
    ok = _prepare(tmp_path, "data=folder", f"data.root={jaffe}", f"paths.cache_dir={tmp_path}/own")
    assert ok.returncode == 0, ok.stderr[-1500:]
    assert (tmp_path / "own" / "folder" / MARKER).is_file() and _snapshot(jaffe) == before


def test_hostile_files_in_a_folder_dataset_are_listed_skips(tmp_path):
    root = tmp_path / "photos"
    _faces(root, {"happy": 3, "anger": 3})
    odd = os.fsdecode(b"S900_001_\xff\xfe.png")  # not UTF-8: a surrogate-escaped str
    cv2.imwrite(str(root / "happy" / "ok.png"), RNG.integers(0, 256, (48, 48), np.uint8))
    os.rename(root / "happy" / "ok.png", root / "happy" / odd)
    os.symlink("loop.png", root / "anger" / "loop.png")  # a symlink to itself: ELOOP
    os.symlink(tmp_path / "gone.png", root / "anger" / "dangling.png")
    raw = read_folder(root, ["neutral", "anger", "happiness"])
    skipped = {Path(f).name: r for f, r in raw.skips}
    assert len(raw.images) == 7  # 6 + the non-UTF-8 name
    assert "loop.png" in skipped and "dangling.png" in skipped
    assert all(r.startswith("could not be read") for k, r in skipped.items() if k in ("loop.png", "dangling.png"))
    # The whole preparation (fingerprint, cache, manifest, summary) copes with them too.
    ok = _prepare(tmp_path, "data=folder", f"data.root={root}", f"paths.cache_dir={tmp_path}/cache")
    assert ok.returncode == 0, ok.stderr[-1500:]
    import json

    manifest = json.loads((tmp_path / "run" / "manifest.json").read_text())
    listed = {Path(s["file"]).name for s in manifest["skips"]}
    assert {"dangling.png", "loop.png"} <= listed and manifest["n_images"] == 7


@pytest.mark.parametrize("text", ["nan", "inf", "-inf", "   NaN\n"])
def test_emotion_files_holding_nan_or_inf_are_named(tmp_path, text):
    f = tmp_path / "S005_001_00000011_emotion.txt"
    f.write_text(text)
    with pytest.raises(ValueError, match="is not a number 0-7"):
        read_emotion(f)
    loop = tmp_path / "S005_002_00000011_emotion.txt"
    os.symlink(loop.name, loop)
    with pytest.raises(ValueError, match="could not be read"):
        read_emotion(loop)


def test_fer2013_rows_the_csv_module_rejects_are_listed(tmp_path):
    pixels = " ".join(["128"] * 2304)
    csv_file = tmp_path / "fer2013.csv"
    csv_file.write_text("emotion,pixels,Usage\n"
                        f"3,{pixels},Training\n"
                        f"4,{'1' * 200_000},Training\n"  # a field over the csv module's limit
                        f"0,{pixels},PublicTest\n"
                        f'5,"{pixels},PrivateTest\n'  # an unbalanced quote that runs to the end of the file
                        f"6,{pixels},Training\n")
    raw = read_fer2013(csv_file, ["neutral", "anger", "happiness", "sadness", "surprise", "disgust", "fear"])
    assert len(raw.images) == 2
    reasons = [r for _, r in raw.skips]
    assert any("not a valid csv row" in r and "field larger than field limit" in r for r in reasons)
    assert len(raw.skips) == 2  # the quoted row swallows the last one: both listed, nothing else lost


def test_the_readmes_fer2013_command_works_as_written(tmp_path):
    pixels = lambda v: " ".join([str(v)] * 2304)  # noqa: E731
    rows = [f"{e},{pixels(40 * e + k)},{u}" for e in range(7) for k, u in enumerate(["Training"] * 3 + ["PublicTest", "PrivateTest"])]
    (tmp_path / "fer2013.csv").write_text("emotion,pixels,Usage\n" + "\n".join(rows) + "\n")
    ok = _prepare(tmp_path, "data=fer2013", f"data.csv={tmp_path}/fer2013.csv", f"paths.cache_dir={tmp_path}/cache")
    assert ok.returncode == 0, ok.stderr[-1500:]
    assert (tmp_path / "run" / "manifest.json").is_file()


@pytest.mark.parametrize("overrides, words", [
    (["data.fold=99"], "'data.fold': 99 is outside 0..9"),
    (["data.fold=-1"], "'data.fold': -1 is outside 0..9"),
    (["data.num_folds=1"], "1 folds cannot hold a test fold, 1 validation fold(s) and a training fold"),
    (["data.num_folds=2"], "use data.num_folds>=3"),
    (["data.num_folds=5", "data.fold=5"], "outside 0..4"),
    (["data=folder", "data.root=/nowhere", "data.fold=10"], "outside 0..9"),
])
def test_fold_settings_fail_before_any_data_work(tmp_path, overrides, words):
    cfg = compose_config(overrides, tmp_path / "run", tmp_path / "data")
    with pytest.raises(ConfigError) as info:
        validate(cfg)
    assert words in str(info.value) and "\n" not in str(info.value)
    assert not (tmp_path / "data").exists()


def test_a_full_or_unwritable_cache_disk_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    import errno

    from facevae.data import cache as cache_mod
    from facevae.data.cache import PreparedData, write_cache

    root = tmp_path / "photos"
    _faces(root, {"happy": 3, "anger": 3})
    # Unwritable: the cache path runs through a file (ENOTDIR, what a read-only mount gives as EROFS).
    (tmp_path / "file").write_text("")
    last = _one_line_error(_prepare(tmp_path, "data=folder", f"data.root={root}", f"paths.cache_dir={tmp_path}/file/cache"))
    assert "cannot" in last and "paths.cache_dir" in last
    # Full: the disk fills while the arrays are written; the temporary folder goes, the old cache stays.
    data = PreparedData(np.zeros((2, 8, 8), np.uint8), np.zeros(2, np.int64), np.zeros(2, np.int64),
                        np.array(["a", "b"]), np.zeros(2, np.int64), np.zeros((2, 0), np.float32), {"cache_key": "k"})
    folder = tmp_path / "cache" / "x"
    write_cache(folder, data)

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(cache_mod.np, "savez", full)
    with pytest.raises(DataError, match="cannot write the prepared cache \\(No space left on device\\); free disk space"):
        write_cache(folder, data)
    assert sorted(p.name for p in folder.parent.iterdir()) == ["x"] and (folder / "manifest.json").is_file()
