"""Population Stability Index over binned counts, and its severity.

ClickHouse does the heavy part (bin edges from baseline quantiles, bin counts of both
windows); what reaches this module is two short vectors of counts per group.

    PSI = sum over bins i of (c_i - b_i) * ln(c_i / b_i)

where b_i and c_i are the shares of the baseline and current windows in bin i. An empty bin
would make the logarithm infinite, so every share is floored at ``EPSILON`` (1e-4, the
classic choice) before the sum; shares are not renormalised after flooring.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

EPSILON = 1e-4

NONE = "none"
MEDIUM = "medium"
HIGH = "high"
INSUFFICIENT_DATA = "insufficient_data"
SEVERITIES = (NONE, MEDIUM, HIGH, INSUFFICIENT_DATA)


@dataclass(frozen=True, slots=True)
class Thresholds:
    medium: float = 0.1
    high: float = 0.2

    def __post_init__(self) -> None:
        if not 0 < self.medium <= self.high:
            raise ValueError(f"drift thresholds need 0 < medium <= high, got {self.medium} and {self.high}")

    def severity(self, psi: float) -> str:
        if psi >= self.high:
            return HIGH
        if psi >= self.medium:
            return MEDIUM
        return NONE


def proportions(counts: Sequence[int]) -> list[float]:
    total = sum(counts)
    return [c / total for c in counts] if total else [0.0] * len(counts)


def psi(baseline_counts: Sequence[int], current_counts: Sequence[int], epsilon: float = EPSILON) -> float:
    """PSI of two histograms over the same bins (counts, not shares)."""
    if len(baseline_counts) != len(current_counts):
        raise ValueError(f"bin counts differ in length: {len(baseline_counts)} and {len(current_counts)}")
    total = 0.0
    for b, c in zip(proportions(baseline_counts), proportions(current_counts), strict=True):
        b, c = max(b, epsilon), max(c, epsilon)
        total += (c - b) * math.log(c / b)
    return total
