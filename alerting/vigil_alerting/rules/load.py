"""Policies from JSON or YAML: the seed design's format unchanged, plus Vigil's own kinds.

A file is a list of policies or ``{"policies": [...]}``. A file with any error is refused
whole (``RuleFileError`` with the file, the policy name and the field), so a typo never
leaves half the rules in force; the caller keeps the previous rules.

Durations are seconds (a number) or a string such as ``"250ms"``, ``"30s"``, ``"5m"``, ``"1h"``.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

import yaml

from vigil_alerting.errors import RuleError, RuleFileError
from vigil_alerting.rules.model import (
    ABSENCE_SIGNALS,
    DRIFT_MEASURES,
    LOG_MEASURES,
    METRIC_AGGREGATIONS,
    METRIC_TYPES,
    SEVERITY_RANK,
    SPAN_MEASURES,
    AbsenceCondition,
    Compound,
    Condition,
    DriftCondition,
    LogCondition,
    LogFilter,
    MetricCondition,
    Rule,
    SpanCondition,
    SpanFilter,
    Threshold,
    glob_to_regex,
    leaves,
)

_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\- ]{0,127}$")
_DURATION_RE = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
# Fields a seed-design export carries that say nothing about evaluation.
_IGNORED = {"id", "created_at", "updated_at"}
_RULE_FIELDS = {
    "name", "description", "severity", "target", "target_attribute", "group_by", "enabled",
    "auto_remediate", "condition", "action", "params", "window", "interval", "for",
    "keep_firing_for", "no_data", "labels", "project",
}  # fmt: skip
LOG_SEVERITIES = {"TRACE": 1, "DEBUG": 5, "INFO": 9, "WARN": 13, "WARNING": 13, "ERROR": 17, "FATAL": 21}
MAX_GROUP_KEYS = 4
MAX_WINDOW_S = 7 * 86400.0


class _Fields:
    """Reads one mapping, naming the field path in every error."""

    def __init__(self, data: Any, path: str, policy: str) -> None:
        if not isinstance(data, Mapping):
            raise RuleError(f"must be an object, got {type(data).__name__}", policy=policy, field=path or "")
        self.data, self.path, self.policy = data, path, policy

    def where(self, key: str) -> str:
        return f"{self.path}.{key}" if self.path else key

    def fail(self, key: str, reason: str) -> RuleError:
        return RuleError(reason, policy=self.policy, field=self.where(key))

    def refuse_unknown(self, allowed: set[str]) -> None:
        for key in self.data:
            if key not in allowed and key not in _IGNORED:
                raise self.fail(str(key), f"unknown field (allowed: {', '.join(sorted(allowed))})")

    def get(self, key: str, default: Any = None) -> Any:
        return self.data.get(key, default)

    def string(self, key: str, default: str | None = None, choices: tuple[str, ...] = ()) -> str:
        value = self.data.get(key, default)
        if value is None:
            raise self.fail(key, "is required")
        if not isinstance(value, str):
            raise self.fail(key, f"must be a string, got {type(value).__name__}")
        if choices and value not in choices:
            raise self.fail(key, f"must be one of {', '.join(choices)}, got {value!r}")
        return value

    def number(self, key: str, default: float | None = None) -> float:
        value = self.data.get(key, default)
        if value is None:
            raise self.fail(key, "is required")
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise self.fail(key, f"must be a finite number, got {value!r}")
        return float(value)

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            raise self.fail(key, f"must be true or false, got {value!r}")
        return value

    def duration(self, key: str, default: float | None, *, minimum: float = 0.0) -> float | None:
        value = self.data.get(key, default)
        if value is None:
            return None
        if isinstance(value, str):
            match = _DURATION_RE.match(value)
            if not match:
                raise self.fail(key, f"must be seconds or a duration like '30s', '5m', '1h', got {value!r}")
            seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
        elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            seconds = float(value)
        else:
            raise self.fail(key, f"must be seconds or a duration like '30s', got {value!r}")
        if seconds < minimum or seconds > MAX_WINDOW_S:
            raise self.fail(key, f"must be between {minimum:g} s and {MAX_WINDOW_S:g} s, got {seconds:g} s")
        return seconds

    def string_map(self, key: str) -> tuple[tuple[str, str], ...]:
        value = self.data.get(key) or {}
        if not isinstance(value, Mapping) or not all(
            isinstance(k, str) and k and isinstance(v, str | int | float) and not isinstance(v, bool)
            for k, v in value.items()
        ):
            raise self.fail(key, "must be an object of non-empty names to string values")
        return tuple(sorted((k, str(v)) for k, v in value.items()))

    def string_list(self, key: str, *, max_items: int) -> tuple[str, ...]:
        value = self.data.get(key) or []
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise self.fail(key, "must be a list of non-empty strings")
        if len(value) > max_items or len(set(value)) != len(value):
            raise self.fail(key, f"must hold at most {max_items} distinct keys, got {value}")
        return tuple(v.strip() for v in value)


def _threshold(f: _Fields, operator: str | None = None, default: float | None = None) -> Threshold:
    op = operator or f.string("operator", "above", ("above", "below", "outside"))
    if op == "outside":
        band = f.get("band")
        if (
            not isinstance(band, list)
            or len(band) != 2
            or not all(isinstance(b, int | float) and not isinstance(b, bool) for b in band)
        ):
            raise f.fail("band", "operator 'outside' needs band: [low, high] (two numbers)")
        low, high = float(band[0]), float(band[1])
        if not low <= high:
            raise f.fail("band", f"low must not exceed high, got [{low:g}, {high:g}]")
        return Threshold("outside", low=low, high=high)
    return Threshold(op, value=f.number("threshold", default))  # type: ignore[arg-type]


def _span_filter(f: _Fields, key: str) -> SpanFilter:
    sub = _Fields(f.get(key) or {}, f.where(key), f.policy)
    sub.refuse_unknown({"service", "operation", "status", "model", "attributes"})
    return SpanFilter(
        service=sub.string("service", ""),
        operation=sub.string("operation", ""),
        status=sub.string("status", "", ("", "error", "ok", "unset")),
        model=sub.string("model", ""),
        attributes=sub.string_map("attributes"),
    )


def _log_filter(f: _Fields, key: str) -> LogFilter:
    sub = _Fields(f.get(key) or {}, f.where(key), f.policy)
    sub.refuse_unknown({"severity", "body_contains", "attributes"})
    severity = sub.string("severity", "").upper()
    if severity and severity not in LOG_SEVERITIES:
        raise sub.fail("severity", f"must be one of {', '.join(LOG_SEVERITIES)}, got {severity!r}")
    return LogFilter(
        severity=severity,
        body_contains=sub.string("body_contains", ""),
        attributes=sub.string_map("attributes"),
    )


def _metric(f: _Fields, operator: str | None) -> MetricCondition:
    metric_type = f.string("metric_type", "gauge", METRIC_TYPES)
    aggregations = METRIC_AGGREGATIONS[metric_type]
    metric = f.string("metric")
    if not metric.strip():
        raise f.fail("metric", "must not be empty")
    return MetricCondition(
        metric=metric,
        threshold=_threshold(f, operator),
        metric_type=metric_type,
        aggregation=f.string("aggregation", aggregations[0], aggregations),
        attributes=f.string_map("attributes"),
    )


_LEAF_FIELDS = {"type", "operator", "threshold", "band"}


def _condition(data: Any, path: str, policy: str, depth: int = 0) -> Condition:
    f = _Fields(data, path, policy)
    kind = f.string("type")
    if depth > 8:
        raise f.fail("type", "conditions are nested more than 8 deep")
    if kind in ("all", "any"):
        f.refuse_unknown({"type", "conditions"})
        items = f.get("conditions")
        if not isinstance(items, list) or not items:
            raise f.fail("conditions", f"'{kind}' needs a non-empty list of conditions")
        return Compound(
            kind,  # type: ignore[arg-type]
            tuple(
                _condition(c, f"{f.where('conditions')}[{i}]", policy, depth + 1) for i, c in enumerate(items)
            ),
        )
    if kind in ("metric_exceeds", "metric_below"):
        f.refuse_unknown({"type", "metric", "threshold", "metric_type", "aggregation", "attributes"})
        return _metric(f, "above" if kind == "metric_exceeds" else "below")
    if kind == "metric":
        f.refuse_unknown(_LEAF_FIELDS | {"metric", "metric_type", "aggregation", "attributes"})
        return _metric(f, None)
    if kind == "spans":
        f.refuse_unknown(_LEAF_FIELDS | {"measure", "filter"})
        return SpanCondition(
            measure=f.string("measure", None, SPAN_MEASURES),
            threshold=_threshold(f),
            filter=_span_filter(f, "filter"),
        )
    if kind == "logs":
        f.refuse_unknown(_LEAF_FIELDS | {"measure", "filter"})
        return LogCondition(
            measure=f.string("measure", "count", LOG_MEASURES),
            threshold=_threshold(f),
            filter=_log_filter(f, "filter"),
        )
    if kind == "drift":
        f.refuse_unknown(_LEAF_FIELDS | {"measure", "baseline", "current", "bins", "min_samples"})
        bins = int(f.number("bins", 10))
        if not 2 <= bins <= 100:
            raise f.fail("bins", f"must be between 2 and 100, got {bins}")
        return DriftCondition(
            threshold=_threshold(f, "above", 0.1),
            measure=f.string("measure", "duration", DRIFT_MEASURES),
            baseline_s=f.duration("baseline", 86400.0, minimum=1.0) or 86400.0,
            current_s=f.duration("current", 3600.0, minimum=1.0) or 3600.0,
            bins=bins,
            min_samples=int(f.number("min_samples", 0)),
        )
    if kind == "absence":
        f.refuse_unknown({"type", "signal", "lookback", "metric", "metric_type", "filter", "attributes"})
        signal = f.string("signal", None, ABSENCE_SIGNALS)
        metric = f.string("metric", "")
        if signal == "metric" and not metric:
            raise f.fail("metric", "is required for signal 'metric'")
        return AbsenceCondition(
            signal=signal,
            threshold=Threshold("above", 0.0),  # set from the rule's window by _rule
            lookback_s=f.duration("lookback", 3600.0, minimum=1.0) or 3600.0,
            metric=metric,
            metric_type=f.string("metric_type", "gauge", METRIC_TYPES),
            span_filter=_span_filter(f, "filter") if signal == "spans" else SpanFilter(),
            log_filter=_log_filter(f, "filter") if signal == "logs" else LogFilter(),
            attributes=f.string_map("attributes"),
        )
    raise f.fail(
        "type",
        f"unknown condition type {kind!r} (use metric_exceeds, metric_below, all, any, metric, spans, logs, drift, absence)",
    )


def _with_window(condition: Condition, window_s: float) -> Condition:
    """Absence leaves compare the seconds since the last data with the rule's window."""
    if isinstance(condition, Compound):
        return Compound(condition.op, tuple(_with_window(c, window_s) for c in condition.conditions))
    if isinstance(condition, AbsenceCondition):
        return replace(
            condition, threshold=Threshold("above", window_s), lookback_s=max(condition.lookback_s, window_s)
        )
    return condition


def parse_rule(data: Any, *, source: str = "api") -> Rule:
    """One policy from its JSON/YAML object; RuleError names the policy and the field."""
    name = data.get("name") if isinstance(data, Mapping) else None
    policy = name if isinstance(name, str) else ""
    f = _Fields(data, "", policy)
    f.refuse_unknown(_RULE_FIELDS)
    name = f.string("name")
    if not _NAME_RE.match(name):
        raise f.fail(
            "name",
            f"must be 1-128 letters, digits, spaces or _.:- and start with a letter or digit, got {name!r}",
        )
    severity = f.string("severity", "warning").lower()
    if severity not in SEVERITY_RANK:
        raise f.fail("severity", f"must be one of {', '.join(SEVERITY_RANK)}, got {severity!r}")
    target = f.string("target", "*")
    try:
        glob_to_regex(target)
    except ValueError as exc:
        raise f.fail("target", f"bad glob: {exc}") from None
    params = f.get("params") or {}
    if not isinstance(params, Mapping):
        raise f.fail("params", "must be an object")
    pf = _Fields(params, "params", policy)
    cooldown = pf.number("cooldown_seconds", 0)
    if cooldown < 0:
        raise pf.fail("cooldown_seconds", f"must not be negative, got {cooldown:g}")
    if "condition" not in data:
        raise f.fail("condition", "is required")
    window_s = f.duration("window", 300.0, minimum=1.0) or 300.0
    condition = _with_window(_condition(data["condition"], "condition", policy), window_s)
    group_by = f.string_list("group_by", max_items=MAX_GROUP_KEYS)
    if isinstance(condition, Compound) and any(
        isinstance(leaf, DriftCondition) for leaf in leaves(condition)
    ):
        raise f.fail("condition", "a drift condition cannot be combined with others in all/any")
    labels = f.get("labels") or {}
    if not isinstance(labels, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in labels.items()
    ):
        raise f.fail("labels", "must be an object of string values")
    target_attribute = f.string("target_attribute", "service.name")
    if not target_attribute.strip():
        raise f.fail("target_attribute", "must not be empty")
    return Rule(
        name=name,
        condition=condition,
        severity=severity,
        description=f.string("description", ""),
        target=target,
        target_attribute=target_attribute,
        group_by=group_by,
        enabled=f.boolean("enabled", True),
        auto_remediate=f.boolean("auto_remediate", False),
        action=f.string("action", ""),
        params=dict(params),
        cooldown_s=cooldown,
        window_s=window_s,
        interval_s=f.duration("interval", None, minimum=0.1),
        for_s=f.duration("for", 0.0) or 0.0,
        keep_firing_for_s=f.duration("keep_firing_for", 0.0) or 0.0,
        no_data=f.string("no_data", "ok", ("ok", "alerting", "nodata")),  # type: ignore[arg-type]
        labels=dict(labels),
        source=source,
        project=f.string("project", ""),
        policy={k: v for k, v in data.items() if k not in _IGNORED},
    )


def parse_rules(document: Any, *, source: str = "api") -> list[Rule]:
    """A list of policies or ``{"policies": [...]}``; names must be distinct."""
    if isinstance(document, Mapping):
        if set(document) - {"policies"}:
            raise RuleError(
                f"expected a list of policies or {{'policies': [...]}}, got keys {sorted(document)}"
            )
        document = document.get("policies")
    if not isinstance(document, list):
        raise RuleError(f"expected a list of policies, got {type(document).__name__}")
    rules, seen = [], set()
    for i, item in enumerate(document):
        try:
            rule = parse_rule(item, source=source)
        except RuleError as exc:
            if not exc.policy:
                exc = RuleError(exc.reason, policy=f"#{i}", field=exc.field)
            raise exc from None
        if rule.name in seen:
            raise RuleError("a second policy has this name", policy=rule.name, field="name")
        seen.add(rule.name)
        rules.append(rule)
    return rules


def load_text(text: str, *, name: str = "<rules>") -> list[Rule]:
    """Policies from JSON or YAML text (YAML is a superset of JSON; JSON is tried first for its
    clearer errors)."""
    try:
        document = json.loads(text)
    except ValueError:
        try:
            document = yaml.safe_load(text)
        except yaml.YAMLError as exc:
            raise RuleFileError(name, f"neither JSON nor YAML: {exc}") from None
    try:
        return parse_rules(document, source="file")
    except RuleError as exc:
        raise RuleFileError(name, exc.reason, policy=exc.policy, field=exc.field) from None


def load_file(path: Path | str) -> list[Rule]:
    """Every policy of a rules file, or RuleFileError: the file is refused as a whole."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise RuleFileError(str(path), f"cannot be read: {exc}") from None
    return load_text(text, name=str(path))
