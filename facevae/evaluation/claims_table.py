"""A row of the claims table in report.md: a sentence of the paper, the number that tests it, a pass line."""

from __future__ import annotations

from dataclasses import asdict, dataclass


@dataclass
class Claim:
    figure: str  # "Fig. 6"
    claim: str  # the paper's statement, in a few words
    value: str  # the measured number, with what it means
    passed: bool | None  # None when the claim cannot be decided from this run alone

    def to_dict(self) -> dict:
        return asdict(self)

    @property
    def verdict(self) -> str:
        return {True: "pass", False: "fail", None: "n/a"}[self.passed]
