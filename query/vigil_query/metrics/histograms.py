"""Bucket counts of OTLP histogram points: differencing cumulative points, merging points of
one time bucket, and quantiles interpolated within the bucket that holds them.

Explicit histograms keep their bounds; exponential ones their scale, merged at the coarser
of two scales (an index at scale s is ``index >> (s - s')`` at scale s' < s, as the OTLP data
model defines). Everything here is plain arithmetic on short vectors: QueryMetrics reads the
points from ClickHouse and calls these per point.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field

Range = tuple[float, float, int]  # (lower, upper, count), lower < values <= upper


@dataclass
class Explicit:
    bounds: tuple[float, ...]
    counts: list[int]  # len(bounds) + 1, the last bucket unbounded above

    def minus(self, earlier: Explicit) -> Explicit | None:
        """What was recorded since ``earlier`` of the same series; None when this point does
        not continue it (other bounds, or a count went down: the counter restarted)."""
        if earlier.bounds != self.bounds or len(earlier.counts) != len(self.counts):
            return None
        diff = [now - before for now, before in zip(self.counts, earlier.counts, strict=True)]
        return None if any(d < 0 for d in diff) else Explicit(self.bounds, diff)

    def ranges(self) -> list[Range]:
        edges = (-math.inf, *self.bounds, math.inf)
        return [(edges[i], edges[i + 1], c) for i, c in enumerate(self.counts) if c]


@dataclass
class Exponential:
    scale: int
    zero: int = 0
    positive: Counter[int] = field(default_factory=Counter)
    negative: Counter[int] = field(default_factory=Counter)

    @classmethod
    def of_point(
        cls, scale: int, zero: int, pos_offset: int, pos: list[int], neg_offset: int, neg: list[int]
    ) -> Exponential:
        return cls(
            scale,
            zero,
            Counter({pos_offset + i: c for i, c in enumerate(pos) if c}),
            Counter({neg_offset + i: c for i, c in enumerate(neg) if c}),
        )

    def at_scale(self, scale: int) -> Exponential:
        if scale >= self.scale:
            return self
        shift = self.scale - scale
        down = Exponential(scale, self.zero)
        for index, count in self.positive.items():
            down.positive[index >> shift] += count
        for index, count in self.negative.items():
            down.negative[index >> shift] += count
        return down

    def minus(self, earlier: Exponential) -> Exponential | None:
        scale = min(self.scale, earlier.scale)
        now, before = self.at_scale(scale), earlier.at_scale(scale)
        diff = Exponential(scale, now.zero - before.zero)
        diff.positive = Counter(now.positive)
        diff.positive.subtract(before.positive)
        diff.negative = Counter(now.negative)
        diff.negative.subtract(before.negative)
        if diff.zero < 0 or any(c < 0 for c in (*diff.positive.values(), *diff.negative.values())):
            return None
        return diff

    def add(self, other: Exponential) -> Exponential:
        scale = min(self.scale, other.scale)
        total = self.at_scale(scale)
        total = Exponential(scale, total.zero, Counter(total.positive), Counter(total.negative))
        theirs = other.at_scale(scale)
        total.zero += theirs.zero
        total.positive.update(theirs.positive)
        total.negative.update(theirs.negative)
        return total

    def ranges(self) -> list[Range]:
        base = 2.0 ** (2.0**-self.scale)
        out: list[Range] = []
        for index in sorted(self.negative, reverse=True):  # most negative values first
            if self.negative[index] > 0:
                out.append((-(base ** (index + 1)), -(base**index), self.negative[index]))
        if self.zero:
            out.append((0.0, 0.0, self.zero))
        for index in sorted(self.positive):
            if self.positive[index] > 0:
                out.append((base**index, base ** (index + 1), self.positive[index]))
        return out


def quantile(q: float, ranges: list[Range], low: float | None = None, high: float | None = None) -> float:
    """The q-quantile of values counted in ``ranges`` (ascending, not overlapping), linearly
    interpolated within its range; ``low``/``high`` (the recorded min and max, when known)
    bound the open-ended first and last ranges and tighten the others. NaN when empty."""
    total = sum(c for _, _, c in ranges)
    if total <= 0:
        return math.nan
    rank = q * total
    seen = 0
    for lower, upper, count in ranges:
        if seen + count >= rank:
            if low is not None:
                lower, upper = max(lower, low), max(upper, low)
            if high is not None:
                lower, upper = min(lower, high), min(upper, high)
            if math.isinf(lower) and math.isinf(upper):
                return math.nan
            if math.isinf(lower):
                if upper <= 0:
                    return upper
                lower = 0.0  # as Prometheus: the first bucket of a positive measure starts at 0
            if math.isinf(upper):
                return lower
            return lower + (upper - lower) * ((rank - seen) / count)
        seen += count
    return ranges[-1][1] if not math.isinf(ranges[-1][1]) else ranges[-1][0]
