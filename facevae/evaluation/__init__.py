"""The evaluation suite (issue 5): every figure becomes a number, an independent judge, report.md per run."""

from .claims_table import Claim
from .collect import EvalSet, collect
from .suite import run_suite

__all__ = ["Claim", "EvalSet", "collect", "run_suite"]
