"""Entry-point helpers: user mistakes end in one line on stderr and exit code 2, not a traceback."""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable

from omegaconf.errors import MissingMandatoryValue

from .config import ConfigError
from .data.errors import DataError, LayoutError

USER_ERRORS = (ConfigError, LayoutError, DataError, MissingMandatoryValue, FileNotFoundError)


def run_or_exit(fn: Callable, *args, **kwargs):
    """Call fn; a user error prints 'facevae: error: <message>' and exits with status 2."""
    logging.getLogger("facevae").setLevel(logging.INFO)
    try:
        return fn(*args, **kwargs)
    except USER_ERRORS as exc:
        message = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        print(f"facevae: error: {message}", file=sys.stderr)
        sys.exit(2)
