"""The rule model: one shape for every signal and for drift.

A rule (the seed design calls it a policy) is a condition tree over leaves. Each leaf asks
ClickHouse one question (a value per group over a window) and compares the values with a
threshold; ``all`` / ``any`` combine leaves that group by the same keys. The loader
(``load.py``) builds these from JSON/YAML and is the only place that validates input; the
dataclasses here are trusted afterwards.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

# One ordered scale for the seed design's severities, drift's and triage's: warning and
# medium are the same rank, so "at least warning" includes medium drift.
SEVERITY_RANK: dict[str, int] = {"info": 0, "warning": 1, "medium": 1, "high": 2, "critical": 3}

Operator = Literal["above", "below", "outside"]
NoData = Literal["ok", "alerting", "nodata"]

SPAN_MEASURES = (
    "count",
    "error_rate",
    "latency_p50",
    "latency_p90",
    "latency_p95",
    "latency_p99",
    "input_tokens",
    "output_tokens",
    "total_tokens",
)
LOG_MEASURES = ("count",)
METRIC_TYPES = ("gauge", "sum", "histogram")
# Per metric type: what one value per group means; the first is the default.
METRIC_AGGREGATIONS: dict[str, tuple[str, ...]] = {
    "gauge": ("latest", "avg", "min", "max"),
    "sum": ("rate", "increase"),
    "histogram": ("p50", "p90", "p95", "p99", "mean"),
}
DRIFT_MEASURES = ("duration", "input_tokens", "output_tokens")
ABSENCE_SIGNALS = ("spans", "logs", "metric")


def severity_rank(severity: str) -> int:
    return SEVERITY_RANK[severity]


@dataclass(frozen=True, slots=True)
class Threshold:
    """``above``: value > value; ``below``: value < value; ``outside``: not in [low, high]."""

    operator: Operator
    value: float = 0.0
    low: float = 0.0
    high: float = 0.0

    def breached(self, v: float) -> bool:
        if self.operator == "above":
            return v > self.value
        if self.operator == "below":
            return v < self.value
        return v < self.low or v > self.high

    def describe(self) -> str:
        if self.operator == "outside":
            return f"outside [{self.low:g}, {self.high:g}]"
        return f"{self.operator} {self.value:g}"


@dataclass(frozen=True, slots=True)
class SpanFilter:
    service: str = ""
    operation: str = ""
    status: str = ""  # "error" | "ok" | "unset" | ""
    model: str = ""
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class LogFilter:
    severity: str = ""  # minimum severity by name (TRACE..FATAL); "" = any
    body_contains: str = ""
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class MetricCondition:
    metric: str
    threshold: Threshold
    metric_type: str = "gauge"
    aggregation: str = "latest"
    attributes: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True, slots=True)
class SpanCondition:
    measure: str
    threshold: Threshold
    filter: SpanFilter = SpanFilter()


@dataclass(frozen=True, slots=True)
class LogCondition:
    threshold: Threshold
    measure: str = "count"
    filter: LogFilter = LogFilter()


@dataclass(frozen=True, slots=True)
class DriftCondition:
    """PSI of a span measure per group: the current window against the baseline before it."""

    threshold: Threshold
    measure: str = "duration"
    baseline_s: float = 24 * 3600.0
    current_s: float = 3600.0
    bins: int = 10
    min_samples: int = 0  # 0 = 10 x bins


@dataclass(frozen=True, slots=True)
class AbsenceCondition:
    """No data for the query in the window, for a group seen within ``lookback_s``.

    The value is the seconds since the group's last data (the lookback when never seen);
    the threshold is the window: a group breaches when its last data is older than that.
    """

    signal: str
    threshold: Threshold
    lookback_s: float = 3600.0
    metric: str = ""
    metric_type: str = "gauge"
    span_filter: SpanFilter = SpanFilter()
    log_filter: LogFilter = LogFilter()
    attributes: tuple[tuple[str, str], ...] = ()


Leaf = MetricCondition | SpanCondition | LogCondition | DriftCondition | AbsenceCondition


@dataclass(frozen=True, slots=True)
class Compound:
    op: Literal["all", "any"]
    conditions: tuple[Condition, ...]


Condition = Leaf | Compound


def leaves(condition: Condition) -> list[Leaf]:
    """The leaves in the order the evaluation query numbers them."""
    if isinstance(condition, Compound):
        return [leaf for c in condition.conditions for leaf in leaves(c)]
    return [condition]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    condition: Condition
    severity: str = "warning"
    description: str = ""
    target: str = "*"
    # The resource attribute the target glob is matched against; its value is the "target" label.
    target_attribute: str = "service.name"
    # Keys each alert instance is grouped by; () = by the target attribute alone.
    group_by: tuple[str, ...] = ()
    enabled: bool = True
    auto_remediate: bool = False
    action: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    cooldown_s: float = 0.0
    window_s: float = 300.0
    interval_s: float | None = None  # None = the runner's default
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    no_data: NoData = "ok"
    labels: dict[str, str] = field(default_factory=dict)
    source: str = "api"  # "file" rules are read-only through the API
    # The project (slug) a file rule applies to; "" = the default project. API rules belong
    # to the caller's project and leave this empty.
    project: str = ""
    # The policy as written (its JSON/YAML object): what GetRule shows and ExportRules writes.
    policy: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def group_keys(self) -> tuple[str, ...]:
        return self.group_by or (self.target_attribute,)


_GLOB_CLASS = re.compile(r"\[(!?)([^\]]+)\]")


def glob_to_regex(glob: str) -> str:
    """An anchored RE2/Python regex for a shell glob (``*``, ``?``, ``[abc]``, ``[!abc]``).

    Raises ValueError on a glob that is empty, has an unclosed ``[`` or an empty class.
    """
    if not glob:
        raise ValueError("a glob must not be empty")
    out, i = ["^"], 0
    while i < len(glob):
        ch = glob[i]
        if ch == "*":
            out.append(".*")
        elif ch == "?":
            out.append(".")
        elif ch == "[":
            end = glob.find("]", i + 2 if glob[i + 1 : i + 2] in ("!", "]") else i + 1)
            if end < 0:
                raise ValueError(f"unclosed '[' at position {i} in {glob!r}")
            body = glob[i + 1 : end]
            negate = body.startswith("!")
            body = body[1:] if negate else body
            if not body:
                raise ValueError(f"empty character class at position {i} in {glob!r}")
            escaped = "".join("\\" + c if c in "\\^]" else c for c in body)
            out.append(f"[{'^' if negate else ''}{escaped}]")
            i = end
        elif ch == "]":
            raise ValueError(f"unmatched ']' at position {i} in {glob!r}")
        else:
            out.append(re.escape(ch))
        i += 1
    out.append("$")
    return "".join(out)


def glob_matches(glob: str, value: str) -> bool:
    return re.fullmatch(glob_to_regex(glob), value) is not None
