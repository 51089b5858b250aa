"""Hydra callbacks: every multirun ends with one summary page of its runs (report.py's page)."""

from __future__ import annotations

import logging
from pathlib import Path

from hydra.experimental.callback import Callback
from omegaconf import DictConfig

log = logging.getLogger("facevae")


class SweepSummary(Callback):
    """After the last job of a sweep (any launcher or sweeper), write <sweep dir>/report.md and summary.json."""

    def on_multirun_end(self, config: DictConfig, **kwargs) -> None:
        from .evaluation.sweep import SweepError, write_sweep_report

        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            path = write_sweep_report(sweep_dir)
        except SweepError as exc:  # every job failed: say so, do not hide the jobs' own errors
            log.warning("facevae: no sweep summary: %s", exc)
            return
        print(f"sweep summary: {path}")
        import json

        from .evaluation.crossval import crossval_line

        cv = json.loads((path.parent / "summary.json").read_text()).get("crossval")
        if cv:
            print(crossval_line(cv))
