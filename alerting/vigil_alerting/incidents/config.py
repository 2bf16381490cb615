"""How incidents correlate, resolve, reopen and escalate.

The correlation and timing knobs are settings (``VIGIL_INCIDENTS_*``); the escalation policies
and the receivers they notify are a YAML or JSON file (``VIGIL_INCIDENTS_FILE``), checked as a
whole at start like the rules file::

    receivers:                      # optional: a receiver here is a webhook taking the incident
      oncall: {url: http://...}     # as JSON; a step may instead name a receiver of the
                                    # alertmanager configuration (through the notifier's outbox)
    escalation:
      - name: default
        match: {severity: critical}  # labels of the incident's first alert; {} = every incident
        repeat: 1                    # run the steps this many more times after the last one
        send_resolved: true          # tell the receivers notified when the incident resolves
        steps:
          - {after: 5m, notify: oncall}
          - {after: 10m, notify: manager, raise_severity: true}

Each step runs ``after`` its predecessor (the first ``after`` the incident opened) while the
incident is not acknowledged; the first policy whose ``match`` fits the incident applies.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from vigil_alerting.errors import RuleError, RuleFileError
from vigil_alerting.rules.load import _Fields

MAX_STEPS = 20
MAX_REPEAT = 100


@dataclass(frozen=True, slots=True)
class Step:
    after_s: float
    notify: str = ""
    raise_severity: bool = False


@dataclass(frozen=True, slots=True)
class EscalationPolicy:
    name: str
    steps: tuple[Step, ...]
    match: tuple[tuple[str, str], ...] = ()
    repeat: int = 0
    send_resolved: bool = True

    def matches(self, labels: dict[str, str]) -> bool:
        return all(labels.get(k) == v for k, v in self.match)


@dataclass(frozen=True, slots=True)
class IncidentConfig:
    """``correlate_by`` empty: one incident per alert group (rule + group labels); else the
    alerts whose labels agree on these keys share one incident, whichever rule they come from."""

    correlate_by: tuple[str, ...] = ()
    auto_resolve: bool = True
    reopen_window_s: float = 3600.0
    receivers: dict[str, str] = field(default_factory=dict)  # name → webhook URL
    policies: tuple[EscalationPolicy, ...] = ()

    def policy_for(self, labels: dict[str, str]) -> EscalationPolicy | None:
        return next((p for p in self.policies if p.matches(labels)), None)


def parse(
    document: Any, external: Collection[str] = ()
) -> tuple[dict[str, str], tuple[EscalationPolicy, ...]]:
    """The receivers and escalation policies of a document; RuleError names the field. A step
    may also notify one of ``external`` (the alertmanager configuration's receivers)."""
    if document is None:
        document = {}
    top = _Fields(document, "", "")
    top.refuse_unknown({"receivers", "escalation"})
    receivers: dict[str, str] = {}
    raw = top.get("receivers") or {}
    if not isinstance(raw, dict):
        raise top.fail("receivers", "must be an object of receiver names to {url: ...}")
    for name, spec in raw.items():
        f = _Fields(spec, f"receivers.{name}", "")
        f.refuse_unknown({"url"})
        url = f.string("url")
        if not url.startswith(("http://", "https://")):
            raise f.fail("url", f"must be an http(s) URL, got {url!r}")
        receivers[str(name)] = url
    policies = []
    raw_policies = top.get("escalation") or []
    if not isinstance(raw_policies, list):
        raise top.fail("escalation", "must be a list of policies")
    for i, data in enumerate(raw_policies):
        f = _Fields(data, f"escalation[{i}]", "")
        f.refuse_unknown({"name", "match", "repeat", "send_resolved", "steps"})
        repeat = f.number("repeat", 0)
        if repeat != int(repeat) or not 0 <= repeat <= MAX_REPEAT:
            raise f.fail("repeat", f"must be a whole number from 0 to {MAX_REPEAT}, got {repeat:g}")
        steps_data = f.get("steps")
        if not isinstance(steps_data, list) or not 1 <= len(steps_data) <= MAX_STEPS:
            raise f.fail("steps", f"must be a list of 1 to {MAX_STEPS} steps")
        steps = []
        for j, step_data in enumerate(steps_data):
            s = _Fields(step_data, f"{f.path}.steps[{j}]", "")
            s.refuse_unknown({"after", "notify", "raise_severity"})
            after = s.duration("after", None)
            if after is None:
                raise s.fail("after", "is required (a delay such as '5m')")
            notify = s.string("notify", "")
            if notify and notify not in receivers and notify not in external:
                known = [*receivers, *(n for n in external if n not in receivers)]
                raise s.fail(
                    "notify", f"no receiver named {notify!r} (receivers: {', '.join(known) or 'none'})"
                )
            raise_severity = s.boolean("raise_severity", False)
            if not notify and not raise_severity:
                raise s.fail("notify", "a step must notify a receiver and/or raise_severity")
            steps.append(Step(after, notify, raise_severity))
        policies.append(
            EscalationPolicy(
                name=f.string("name", f"policy-{i + 1}"),
                steps=tuple(steps),
                match=f.string_map("match"),
                repeat=int(repeat),
                send_resolved=f.boolean("send_resolved", True),
            )
        )
    return receivers, tuple(policies)


def load(
    path: Path | None,
    *,
    correlate_by: tuple[str, ...],
    auto_resolve: bool,
    reopen_window_s: float,
    external_receivers: Collection[str] = (),
) -> IncidentConfig:
    """The configuration in force; a bad file raises RuleFileError naming the file and field."""
    receivers: dict[str, str] = {}
    policies: tuple[EscalationPolicy, ...] = ()
    if path is not None:
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise RuleFileError(str(path), f"cannot be read: {exc}") from None
        try:
            try:
                document = json.loads(text)
            except ValueError:
                document = yaml.safe_load(text)
            receivers, policies = parse(document, external_receivers)
        except yaml.YAMLError as exc:
            raise RuleFileError(str(path), f"neither JSON nor YAML: {exc}") from None
        except RuleError as exc:
            raise RuleFileError(str(path), exc.reason, field=exc.field) from None
    return IncidentConfig(
        correlate_by=tuple(correlate_by),
        auto_resolve=auto_resolve,
        reopen_window_s=reopen_window_s,
        receivers=receivers,
        policies=policies,
    )
