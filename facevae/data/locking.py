"""A file lock, so that parallel jobs of a sweep generate and prepare shared data once, not all at once."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path

log = logging.getLogger(__name__)


@contextlib.contextmanager
def file_lock(path: Path) -> Iterator[None]:
    """Hold an exclusive lock on `path` (created if needed) for the block; the OS drops it if we die."""
    try:
        import fcntl
    except ImportError:  # Windows: no fcntl; jobs there must not share a fresh data folder
        yield
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fh = open(path, "a+")
    except OSError as exc:
        from .errors import DataError

        raise DataError(f"{path.parent}: cannot create the cache folder's lock ({exc.strerror or exc}); set "
                        "paths.cache_dir=<a writable folder>") from None
    with fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log.info("Waiting for another job preparing %s", path.with_suffix(""))
            fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)
