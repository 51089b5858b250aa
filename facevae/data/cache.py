"""The prepared cache: uint8 face crops, labels, subject/sequence/frame ids, factors and a manifest.

A cache folder holds `images.npy` (N, S, S) uint8, `arrays.npz` (labels, subjects, sequences, frames,
factors) and `manifest.json`. It is written into a temporary sibling and renamed into place, so a
killed preparation never leaves a half cache; it is reused while its key (inputs + options +
format version) is unchanged and rebuilt when the key changes.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .errors import DataError

log = logging.getLogger(__name__)

CACHE_FORMAT = 4  # bumped when the manifest or arrays change shape (4: ownership marker, one decoder)
# Written first into every folder the cache creates: facevae replaces or removes a folder only when
# it carries this file (or is a complete cache of an earlier format), never a folder someone else made.
MARKER = ".facevae-cache"
_CACHE_FILES = {"images.npy", "arrays.npz", "manifest.json", MARKER}


@dataclass
class PreparedData:
    images: np.ndarray  # (N, S, S) uint8
    labels: np.ndarray  # (N,) int64 index into manifest["classes"]
    subjects: np.ndarray  # (N,) int64 index into manifest["subjects"]
    sequences: np.ndarray  # (N,) str
    frames: np.ndarray  # (N,) int64
    factors: np.ndarray  # (N, F) float32; F = 0 without ground truth
    manifest: dict
    usage: np.ndarray | None = None  # (N,) "train"/"val"/"test" where the source defines splits, else ""

    @property
    def classes(self) -> list[str]:
        return self.manifest["classes"]

    @property
    def subject_names(self) -> list[str]:
        return self.manifest["subjects"]

    @property
    def factor_names(self) -> list[str]:
        return self.manifest["factor_names"]


def cache_key(options: dict, fingerprint: str) -> str:
    """Stable hash of the preparation options, the source fingerprint and the cache format."""
    blob = json.dumps({"options": options, "source": fingerprint, "format": CACHE_FORMAT}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def source_fingerprint(files: list[Path]) -> str:
    """Hash of the file list with sizes and modification times: changes when any input changes."""
    h = hashlib.sha256()
    for f in sorted(files):
        try:
            st = f.stat()
        except OSError:  # dangling or looping symlink: the reader skips and lists it; the key still sees it
            h.update(os.fsencode(f) + b"\0unreadable\n")
            continue
        # os.fsencode: file names need not be valid UTF-8 (a camera's or another OS's names)
        h.update(os.fsencode(f) + f"\0{st.st_size}\0{st.st_mtime_ns}\n".encode())
    return h.hexdigest()


def load_cache(folder: Path, key: str | None = None) -> PreparedData | None:
    """The cache in `folder` when it is complete (and has `key`, when given); None otherwise."""
    manifest_file = folder / "manifest.json"
    if not manifest_file.is_file():
        return None
    manifest = json.loads(manifest_file.read_text())
    if key is not None and manifest.get("cache_key") != key:
        return None
    arrays = np.load(folder / "arrays.npz", allow_pickle=False)
    return PreparedData(
        images=np.load(folder / "images.npy", mmap_mode=None),
        labels=arrays["labels"],
        subjects=arrays["subjects"],
        sequences=arrays["sequences"],
        frames=arrays["frames"],
        factors=arrays["factors"],
        manifest=manifest,
        usage=arrays["usage"] if "usage" in arrays else None,
    )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def is_own_cache(folder: Path) -> bool:
    """Whether facevae made `folder`: it carries the marker, or holds only an older format's cache files."""
    if not folder.is_dir() or folder.is_symlink():
        return False
    if (folder / MARKER).is_file():
        return True
    names = {p.name for p in folder.iterdir()}
    if not names <= _CACHE_FILES or "manifest.json" not in names:
        return False
    try:
        return "cache_key" in json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return False


def remove_owned(folder: Path) -> None:
    """Remove a folder facevae made; refuse (one line) any other."""
    if not is_own_cache(folder):
        raise DataError(f"{folder}: exists and was not made by facevae (no {MARKER} inside); facevae deletes only "
                        "what it made: move it away, or set paths.cache_dir / data.name to another place")
    shutil.rmtree(folder)


def check_location(folder: Path, source: Path | None) -> None:
    """Refuse a cache that is, contains or lies inside the data it is prepared from."""
    if source is None:
        return
    cache, data = Path(os.path.abspath(folder)), Path(os.path.abspath(source))
    if cache == data or cache in data.parents or data in cache.parents:
        where = "is" if cache == data else ("contains" if cache in data.parents else "lies inside")
        raise DataError(f"{cache}: the cache folder {where} the data folder {data}; set paths.cache_dir to a "
                        "folder outside the data (the default data/cache is)")


def remove_stale_partials(folder: Path) -> list[Path]:
    """Delete temporary siblings left by preparations that were killed (their process is gone) -- ours only."""
    removed = []
    for partial in folder.parent.glob(f".{folder.name}.*-*"):
        kind, _, pid = partial.name.rpartition("-")
        if (kind.endswith((".tmp", ".old")) and pid.isdigit() and not _pid_alive(int(pid))
                and is_own_cache(partial)):
            shutil.rmtree(partial, ignore_errors=True)
            removed.append(partial)
    if removed:
        log.info("Removed %d partial cache folder(s) of killed preparations beside %s", len(removed), folder)
    return removed


def write_cache(folder: Path, data: PreparedData) -> None:
    """Write the cache atomically: build in a temporary sibling, then rename it into place.

    An existing folder is replaced only when facevae made it. A write that fails (read-only or full
    disk) removes its temporary folder and says so in one line.
    """
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        remove_stale_partials(folder)
        if folder.exists() and not is_own_cache(folder):
            remove_owned(folder)  # raises: not ours
        tmp = folder.with_name(f".{folder.name}.tmp-{os.getpid()}")
        if tmp.exists():
            remove_owned(tmp)
        tmp.mkdir()
    except OSError as exc:
        raise DataError(f"{folder.parent}: cannot write the prepared cache ({exc.strerror or exc}); set "
                        "paths.cache_dir=<a writable folder>") from None
    try:
        (tmp / MARKER).write_text("made by facevae.data.cache; safe to delete\n")
        np.save(tmp / "images.npy", data.images)
        np.savez(
            tmp / "arrays.npz",
            labels=data.labels,
            subjects=data.subjects,
            sequences=data.sequences,
            frames=data.frames,
            factors=data.factors,
            usage=data.usage if data.usage is not None else np.array([""] * len(data.labels)),
        )
        # The manifest goes last: its presence marks a complete cache.
        (tmp / "manifest.json").write_text(json.dumps(data.manifest, indent=2, ensure_ascii=True))
        old = folder.with_name(f".{folder.name}.old-{os.getpid()}")
        if folder.exists():
            folder.rename(old)
        tmp.rename(folder)
    except OSError as exc:
        shutil.rmtree(tmp, ignore_errors=True)  # ours: made just above
        raise DataError(f"{folder.parent}: cannot write the prepared cache ({exc.strerror or exc}); free "
                        "disk space or set paths.cache_dir=<a writable folder>") from None
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)  # the previous cache, checked as ours above


def reuse_or_build(folder: Path, key: str, build: Callable[[], PreparedData], source: Path,
                   extra_manifest: dict | None = None) -> PreparedData:
    """The cache in `folder` when its key matches; otherwise build, stamp the manifest and write it."""
    from ..provenance import package_versions

    check_location(folder, source)
    cached = load_cache(folder, key)
    if cached is not None:
        log.info("Reusing prepared cache %s (key %s)", folder, key)
        return cached
    start = time.perf_counter()
    data = build()
    data.manifest.update({
        "cache_key": key,
        "source_root": str(Path(source).resolve()),
        "seconds": round(time.perf_counter() - start, 2),
        "versions": package_versions(),
        **(extra_manifest or {}),
    })
    write_cache(folder, data)
    log.info("Prepared %d images into %s in %.1fs", len(data.labels), folder, data.manifest["seconds"])
    return data
