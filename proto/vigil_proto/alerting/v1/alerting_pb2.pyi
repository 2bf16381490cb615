from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Rule(_message.Message):
    __slots__ = ("name", "source", "enabled", "severity", "description", "target", "interval_seconds", "policy", "states")
    class StatesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    name: str
    source: str
    enabled: bool
    severity: str
    description: str
    target: str
    interval_seconds: float
    policy: _struct_pb2.Struct
    states: _containers.ScalarMap[str, int]
    def __init__(self, name: _Optional[str] = ..., source: _Optional[str] = ..., enabled: _Optional[bool] = ..., severity: _Optional[str] = ..., description: _Optional[str] = ..., target: _Optional[str] = ..., interval_seconds: _Optional[float] = ..., policy: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., states: _Optional[_Mapping[str, int]] = ...) -> None: ...

class ListRulesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListRulesResponse(_message.Message):
    __slots__ = ("rules",)
    RULES_FIELD_NUMBER: _ClassVar[int]
    rules: _containers.RepeatedCompositeFieldContainer[Rule]
    def __init__(self, rules: _Optional[_Iterable[_Union[Rule, _Mapping]]] = ...) -> None: ...

class GetRuleRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: Rule
    def __init__(self, rule: _Optional[_Union[Rule, _Mapping]] = ...) -> None: ...

class CreateRuleRequest(_message.Message):
    __slots__ = ("policy",)
    POLICY_FIELD_NUMBER: _ClassVar[int]
    policy: _struct_pb2.Struct
    def __init__(self, policy: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class CreateRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: Rule
    def __init__(self, rule: _Optional[_Union[Rule, _Mapping]] = ...) -> None: ...

class UpdateRuleRequest(_message.Message):
    __slots__ = ("name", "patch")
    NAME_FIELD_NUMBER: _ClassVar[int]
    PATCH_FIELD_NUMBER: _ClassVar[int]
    name: str
    patch: _struct_pb2.Struct
    def __init__(self, name: _Optional[str] = ..., patch: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class UpdateRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: Rule
    def __init__(self, rule: _Optional[_Union[Rule, _Mapping]] = ...) -> None: ...

class DeleteRuleRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DeleteRuleResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class EnableRuleRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class EnableRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: Rule
    def __init__(self, rule: _Optional[_Union[Rule, _Mapping]] = ...) -> None: ...

class DisableRuleRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class DisableRuleResponse(_message.Message):
    __slots__ = ("rule",)
    RULE_FIELD_NUMBER: _ClassVar[int]
    rule: Rule
    def __init__(self, rule: _Optional[_Union[Rule, _Mapping]] = ...) -> None: ...

class ReloadRulesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ReloadRulesResponse(_message.Message):
    __slots__ = ("file", "rules", "alertmanager_config")
    FILE_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    ALERTMANAGER_CONFIG_FIELD_NUMBER: _ClassVar[int]
    file: str
    rules: int
    alertmanager_config: str
    def __init__(self, file: _Optional[str] = ..., rules: _Optional[int] = ..., alertmanager_config: _Optional[str] = ...) -> None: ...

class ExportRulesRequest(_message.Message):
    __slots__ = ("format",)
    FORMAT_FIELD_NUMBER: _ClassVar[int]
    format: str
    def __init__(self, format: _Optional[str] = ...) -> None: ...

class ExportRulesResponse(_message.Message):
    __slots__ = ("text", "rules")
    TEXT_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    text: str
    rules: int
    def __init__(self, text: _Optional[str] = ..., rules: _Optional[int] = ...) -> None: ...

class Alert(_message.Message):
    __slots__ = ("rule", "fingerprint", "labels", "state", "value", "threshold", "severity", "active_since_time_unix_nano", "fired_time_unix_nano", "resolved_time_unix_nano", "updated_time_unix_nano", "example_trace_ids")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RULE_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_SINCE_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    FIRED_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    UPDATED_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_TRACE_IDS_FIELD_NUMBER: _ClassVar[int]
    rule: str
    fingerprint: str
    labels: _containers.ScalarMap[str, str]
    state: str
    value: float
    threshold: str
    severity: str
    active_since_time_unix_nano: int
    fired_time_unix_nano: int
    resolved_time_unix_nano: int
    updated_time_unix_nano: int
    example_trace_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, rule: _Optional[str] = ..., fingerprint: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., state: _Optional[str] = ..., value: _Optional[float] = ..., threshold: _Optional[str] = ..., severity: _Optional[str] = ..., active_since_time_unix_nano: _Optional[int] = ..., fired_time_unix_nano: _Optional[int] = ..., resolved_time_unix_nano: _Optional[int] = ..., updated_time_unix_nano: _Optional[int] = ..., example_trace_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class ListAlertsRequest(_message.Message):
    __slots__ = ("state", "severity", "rule", "page_size", "page_token")
    STATE_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    state: str
    severity: str
    rule: str
    page_size: int
    page_token: str
    def __init__(self, state: _Optional[str] = ..., severity: _Optional[str] = ..., rule: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListAlertsResponse(_message.Message):
    __slots__ = ("alerts", "next_page_token")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[Alert]
    next_page_token: str
    def __init__(self, alerts: _Optional[_Iterable[_Union[Alert, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class AlertTransition(_message.Message):
    __slots__ = ("time_unix_nano", "rule", "fingerprint", "labels", "from_state", "to_state", "value", "threshold", "severity", "example_trace_ids")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    FROM_STATE_FIELD_NUMBER: _ClassVar[int]
    TO_STATE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_TRACE_IDS_FIELD_NUMBER: _ClassVar[int]
    time_unix_nano: int
    rule: str
    fingerprint: str
    labels: _containers.ScalarMap[str, str]
    from_state: str
    to_state: str
    value: float
    threshold: str
    severity: str
    example_trace_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, time_unix_nano: _Optional[int] = ..., rule: _Optional[str] = ..., fingerprint: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., from_state: _Optional[str] = ..., to_state: _Optional[str] = ..., value: _Optional[float] = ..., threshold: _Optional[str] = ..., severity: _Optional[str] = ..., example_trace_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class GetAlertHistoryRequest(_message.Message):
    __slots__ = ("rule", "fingerprint", "limit")
    RULE_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    rule: str
    fingerprint: str
    limit: int
    def __init__(self, rule: _Optional[str] = ..., fingerprint: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class GetAlertHistoryResponse(_message.Message):
    __slots__ = ("transitions",)
    TRANSITIONS_FIELD_NUMBER: _ClassVar[int]
    transitions: _containers.RepeatedCompositeFieldContainer[AlertTransition]
    def __init__(self, transitions: _Optional[_Iterable[_Union[AlertTransition, _Mapping]]] = ...) -> None: ...

class RuleStatus(_message.Message):
    __slots__ = ("name", "interval_seconds", "last_evaluation_time_unix_nano", "last_seconds", "evaluations", "failures", "last_error")
    NAME_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    LAST_EVALUATION_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    LAST_SECONDS_FIELD_NUMBER: _ClassVar[int]
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    name: str
    interval_seconds: float
    last_evaluation_time_unix_nano: int
    last_seconds: float
    evaluations: int
    failures: int
    last_error: str
    def __init__(self, name: _Optional[str] = ..., interval_seconds: _Optional[float] = ..., last_evaluation_time_unix_nano: _Optional[int] = ..., last_seconds: _Optional[float] = ..., evaluations: _Optional[int] = ..., failures: _Optional[int] = ..., last_error: _Optional[str] = ...) -> None: ...

class GetRunnerStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRunnerStatusResponse(_message.Message):
    __slots__ = ("enabled", "running", "interval_seconds", "rules", "last_evaluation_time_unix_nano", "evaluations", "failures", "per_rule")
    ENABLED_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    RULES_FIELD_NUMBER: _ClassVar[int]
    LAST_EVALUATION_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    PER_RULE_FIELD_NUMBER: _ClassVar[int]
    enabled: bool
    running: bool
    interval_seconds: float
    rules: int
    last_evaluation_time_unix_nano: int
    evaluations: int
    failures: int
    per_rule: _containers.RepeatedCompositeFieldContainer[RuleStatus]
    def __init__(self, enabled: _Optional[bool] = ..., running: _Optional[bool] = ..., interval_seconds: _Optional[float] = ..., rules: _Optional[int] = ..., last_evaluation_time_unix_nano: _Optional[int] = ..., evaluations: _Optional[int] = ..., failures: _Optional[int] = ..., per_rule: _Optional[_Iterable[_Union[RuleStatus, _Mapping]]] = ...) -> None: ...

class Violation(_message.Message):
    __slots__ = ("policy_name", "severity", "description", "target", "timestamp")
    POLICY_NAME_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    TIMESTAMP_FIELD_NUMBER: _ClassVar[int]
    policy_name: str
    severity: str
    description: str
    target: str
    timestamp: str
    def __init__(self, policy_name: _Optional[str] = ..., severity: _Optional[str] = ..., description: _Optional[str] = ..., target: _Optional[str] = ..., timestamp: _Optional[str] = ...) -> None: ...

class ActionTriggered(_message.Message):
    __slots__ = ("action", "target", "status", "params")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PARAMS_FIELD_NUMBER: _ClassVar[int]
    action: str
    target: str
    status: str
    params: _struct_pb2.Struct
    def __init__(self, action: _Optional[str] = ..., target: _Optional[str] = ..., status: _Optional[str] = ..., params: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class GroupValue(_message.Message):
    __slots__ = ("labels", "value", "breaching", "example_trace_ids")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    LABELS_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    BREACHING_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_TRACE_IDS_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.ScalarMap[str, str]
    value: float
    breaching: bool
    example_trace_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, labels: _Optional[_Mapping[str, str]] = ..., value: _Optional[float] = ..., breaching: _Optional[bool] = ..., example_trace_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class EvaluateRulesRequest(_message.Message):
    __slots__ = ("metrics", "target", "rule")
    class MetricsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    METRICS_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.ScalarMap[str, float]
    target: str
    rule: _struct_pb2.Struct
    def __init__(self, metrics: _Optional[_Mapping[str, float]] = ..., target: _Optional[str] = ..., rule: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ...) -> None: ...

class EvaluateRulesResponse(_message.Message):
    __slots__ = ("violations", "actions_triggered", "groups", "threshold")
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_TRIGGERED_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    violations: _containers.RepeatedCompositeFieldContainer[Violation]
    actions_triggered: _containers.RepeatedCompositeFieldContainer[ActionTriggered]
    groups: _containers.RepeatedCompositeFieldContainer[GroupValue]
    threshold: str
    def __init__(self, violations: _Optional[_Iterable[_Union[Violation, _Mapping]]] = ..., actions_triggered: _Optional[_Iterable[_Union[ActionTriggered, _Mapping]]] = ..., groups: _Optional[_Iterable[_Union[GroupValue, _Mapping]]] = ..., threshold: _Optional[str] = ...) -> None: ...

class BacktestRuleRequest(_message.Message):
    __slots__ = ("name", "rule", "start_time_unix_nano", "end_time_unix_nano")
    NAME_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    END_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    name: str
    rule: _struct_pb2.Struct
    start_time_unix_nano: int
    end_time_unix_nano: int
    def __init__(self, name: _Optional[str] = ..., rule: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., start_time_unix_nano: _Optional[int] = ..., end_time_unix_nano: _Optional[int] = ...) -> None: ...

class AlertInterval(_message.Message):
    __slots__ = ("labels", "fingerprint", "pending_time_unix_nano", "firing_time_unix_nano", "resolved_time_unix_nano", "peak_value")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    LABELS_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    PENDING_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    FIRING_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    PEAK_VALUE_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.ScalarMap[str, str]
    fingerprint: str
    pending_time_unix_nano: int
    firing_time_unix_nano: int
    resolved_time_unix_nano: int
    peak_value: float
    def __init__(self, labels: _Optional[_Mapping[str, str]] = ..., fingerprint: _Optional[str] = ..., pending_time_unix_nano: _Optional[int] = ..., firing_time_unix_nano: _Optional[int] = ..., resolved_time_unix_nano: _Optional[int] = ..., peak_value: _Optional[float] = ...) -> None: ...

class GroupSeries(_message.Message):
    __slots__ = ("labels", "times_unix_nano", "values")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    LABELS_FIELD_NUMBER: _ClassVar[int]
    TIMES_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    labels: _containers.ScalarMap[str, str]
    times_unix_nano: _containers.RepeatedScalarFieldContainer[int]
    values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, labels: _Optional[_Mapping[str, str]] = ..., times_unix_nano: _Optional[_Iterable[int]] = ..., values: _Optional[_Iterable[float]] = ...) -> None: ...

class BacktestRuleResponse(_message.Message):
    __slots__ = ("intervals", "evaluations", "interval_seconds", "series", "threshold", "threshold_values")
    INTERVALS_FIELD_NUMBER: _ClassVar[int]
    EVALUATIONS_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_VALUES_FIELD_NUMBER: _ClassVar[int]
    intervals: _containers.RepeatedCompositeFieldContainer[AlertInterval]
    evaluations: int
    interval_seconds: float
    series: _containers.RepeatedCompositeFieldContainer[GroupSeries]
    threshold: str
    threshold_values: _containers.RepeatedScalarFieldContainer[float]
    def __init__(self, intervals: _Optional[_Iterable[_Union[AlertInterval, _Mapping]]] = ..., evaluations: _Optional[int] = ..., interval_seconds: _Optional[float] = ..., series: _Optional[_Iterable[_Union[GroupSeries, _Mapping]]] = ..., threshold: _Optional[str] = ..., threshold_values: _Optional[_Iterable[float]] = ...) -> None: ...

class IncidentAlert(_message.Message):
    __slots__ = ("rule", "fingerprint", "labels", "severity", "state", "value", "threshold", "joined_time_unix_nano", "resolved_time_unix_nano", "example_trace_ids")
    class LabelsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    RULE_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    LABELS_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    THRESHOLD_FIELD_NUMBER: _ClassVar[int]
    JOINED_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_TRACE_IDS_FIELD_NUMBER: _ClassVar[int]
    rule: str
    fingerprint: str
    labels: _containers.ScalarMap[str, str]
    severity: str
    state: str
    value: float
    threshold: str
    joined_time_unix_nano: int
    resolved_time_unix_nano: int
    example_trace_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, rule: _Optional[str] = ..., fingerprint: _Optional[str] = ..., labels: _Optional[_Mapping[str, str]] = ..., severity: _Optional[str] = ..., state: _Optional[str] = ..., value: _Optional[float] = ..., threshold: _Optional[str] = ..., joined_time_unix_nano: _Optional[int] = ..., resolved_time_unix_nano: _Optional[int] = ..., example_trace_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class Incident(_message.Message):
    __slots__ = ("id", "title", "status", "severity", "opened_time_unix_nano", "updated_time_unix_nano", "acknowledged_time_unix_nano", "acknowledged_by", "resolved_time_unix_nano", "resolved_by", "escalation_policy", "next_escalation_time_unix_nano", "alerts", "key", "example_trace_ids")
    ID_FIELD_NUMBER: _ClassVar[int]
    TITLE_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    OPENED_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    UPDATED_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    ACKNOWLEDGED_BY_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_BY_FIELD_NUMBER: _ClassVar[int]
    ESCALATION_POLICY_FIELD_NUMBER: _ClassVar[int]
    NEXT_ESCALATION_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    KEY_FIELD_NUMBER: _ClassVar[int]
    EXAMPLE_TRACE_IDS_FIELD_NUMBER: _ClassVar[int]
    id: str
    title: str
    status: str
    severity: str
    opened_time_unix_nano: int
    updated_time_unix_nano: int
    acknowledged_time_unix_nano: int
    acknowledged_by: str
    resolved_time_unix_nano: int
    resolved_by: str
    escalation_policy: str
    next_escalation_time_unix_nano: int
    alerts: _containers.RepeatedCompositeFieldContainer[IncidentAlert]
    key: str
    example_trace_ids: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, id: _Optional[str] = ..., title: _Optional[str] = ..., status: _Optional[str] = ..., severity: _Optional[str] = ..., opened_time_unix_nano: _Optional[int] = ..., updated_time_unix_nano: _Optional[int] = ..., acknowledged_time_unix_nano: _Optional[int] = ..., acknowledged_by: _Optional[str] = ..., resolved_time_unix_nano: _Optional[int] = ..., resolved_by: _Optional[str] = ..., escalation_policy: _Optional[str] = ..., next_escalation_time_unix_nano: _Optional[int] = ..., alerts: _Optional[_Iterable[_Union[IncidentAlert, _Mapping]]] = ..., key: _Optional[str] = ..., example_trace_ids: _Optional[_Iterable[str]] = ...) -> None: ...

class IncidentEvent(_message.Message):
    __slots__ = ("seq", "time_unix_nano", "kind", "actor", "receiver", "result", "rule", "fingerprint", "severity", "message")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    RECEIVER_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    seq: int
    time_unix_nano: int
    kind: str
    actor: str
    receiver: str
    result: str
    rule: str
    fingerprint: str
    severity: str
    message: str
    def __init__(self, seq: _Optional[int] = ..., time_unix_nano: _Optional[int] = ..., kind: _Optional[str] = ..., actor: _Optional[str] = ..., receiver: _Optional[str] = ..., result: _Optional[str] = ..., rule: _Optional[str] = ..., fingerprint: _Optional[str] = ..., severity: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class IncidentLog(_message.Message):
    __slots__ = ("time_unix_nano", "trace_id", "severity", "service", "body")
    TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    time_unix_nano: int
    trace_id: str
    severity: str
    service: str
    body: str
    def __init__(self, time_unix_nano: _Optional[int] = ..., trace_id: _Optional[str] = ..., severity: _Optional[str] = ..., service: _Optional[str] = ..., body: _Optional[str] = ...) -> None: ...

class ListIncidentsRequest(_message.Message):
    __slots__ = ("status", "severity", "service", "start_time_unix_nano", "end_time_unix_nano", "limit")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    END_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    status: str
    severity: str
    service: str
    start_time_unix_nano: int
    end_time_unix_nano: int
    limit: int
    def __init__(self, status: _Optional[str] = ..., severity: _Optional[str] = ..., service: _Optional[str] = ..., start_time_unix_nano: _Optional[int] = ..., end_time_unix_nano: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListIncidentsResponse(_message.Message):
    __slots__ = ("incidents",)
    INCIDENTS_FIELD_NUMBER: _ClassVar[int]
    incidents: _containers.RepeatedCompositeFieldContainer[Incident]
    def __init__(self, incidents: _Optional[_Iterable[_Union[Incident, _Mapping]]] = ...) -> None: ...

class GetIncidentRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetIncidentResponse(_message.Message):
    __slots__ = ("incident", "timeline", "logs")
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    TIMELINE_FIELD_NUMBER: _ClassVar[int]
    LOGS_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    timeline: _containers.RepeatedCompositeFieldContainer[IncidentEvent]
    logs: _containers.RepeatedCompositeFieldContainer[IncidentLog]
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ..., timeline: _Optional[_Iterable[_Union[IncidentEvent, _Mapping]]] = ..., logs: _Optional[_Iterable[_Union[IncidentLog, _Mapping]]] = ...) -> None: ...

class AcknowledgeIncidentRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class AcknowledgeIncidentResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class ResolveIncidentRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ResolveIncidentResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class AddIncidentNoteRequest(_message.Message):
    __slots__ = ("id", "text")
    ID_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    id: str
    text: str
    def __init__(self, id: _Optional[str] = ..., text: _Optional[str] = ...) -> None: ...

class AddIncidentNoteResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class WatchIncidentsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchIncidentsResponse(_message.Message):
    __slots__ = ("incident",)
    INCIDENT_FIELD_NUMBER: _ClassVar[int]
    incident: Incident
    def __init__(self, incident: _Optional[_Union[Incident, _Mapping]] = ...) -> None: ...

class Silence(_message.Message):
    __slots__ = ("id", "matchers", "start_time_unix_nano", "end_time_unix_nano", "created_by", "comment", "created_time_unix_nano", "updated_time_unix_nano", "state")
    ID_FIELD_NUMBER: _ClassVar[int]
    MATCHERS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    END_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    UPDATED_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    id: str
    matchers: _containers.RepeatedScalarFieldContainer[str]
    start_time_unix_nano: int
    end_time_unix_nano: int
    created_by: str
    comment: str
    created_time_unix_nano: int
    updated_time_unix_nano: int
    state: str
    def __init__(self, id: _Optional[str] = ..., matchers: _Optional[_Iterable[str]] = ..., start_time_unix_nano: _Optional[int] = ..., end_time_unix_nano: _Optional[int] = ..., created_by: _Optional[str] = ..., comment: _Optional[str] = ..., created_time_unix_nano: _Optional[int] = ..., updated_time_unix_nano: _Optional[int] = ..., state: _Optional[str] = ...) -> None: ...

class CreateSilenceRequest(_message.Message):
    __slots__ = ("matchers", "start_time_unix_nano", "end_time_unix_nano", "duration_seconds", "comment")
    MATCHERS_FIELD_NUMBER: _ClassVar[int]
    START_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    END_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    DURATION_SECONDS_FIELD_NUMBER: _ClassVar[int]
    COMMENT_FIELD_NUMBER: _ClassVar[int]
    matchers: _containers.RepeatedScalarFieldContainer[str]
    start_time_unix_nano: int
    end_time_unix_nano: int
    duration_seconds: float
    comment: str
    def __init__(self, matchers: _Optional[_Iterable[str]] = ..., start_time_unix_nano: _Optional[int] = ..., end_time_unix_nano: _Optional[int] = ..., duration_seconds: _Optional[float] = ..., comment: _Optional[str] = ...) -> None: ...

class CreateSilenceResponse(_message.Message):
    __slots__ = ("silence",)
    SILENCE_FIELD_NUMBER: _ClassVar[int]
    silence: Silence
    def __init__(self, silence: _Optional[_Union[Silence, _Mapping]] = ...) -> None: ...

class ListSilencesRequest(_message.Message):
    __slots__ = ("include_expired",)
    INCLUDE_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    include_expired: bool
    def __init__(self, include_expired: _Optional[bool] = ...) -> None: ...

class ListSilencesResponse(_message.Message):
    __slots__ = ("silences",)
    SILENCES_FIELD_NUMBER: _ClassVar[int]
    silences: _containers.RepeatedCompositeFieldContainer[Silence]
    def __init__(self, silences: _Optional[_Iterable[_Union[Silence, _Mapping]]] = ...) -> None: ...

class ExpireSilenceRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class ExpireSilenceResponse(_message.Message):
    __slots__ = ("silence",)
    SILENCE_FIELD_NUMBER: _ClassVar[int]
    silence: Silence
    def __init__(self, silence: _Optional[_Union[Silence, _Mapping]] = ...) -> None: ...

class Delivery(_message.Message):
    __slots__ = ("time_unix_nano", "notification_id", "receiver", "integration", "group_key", "fingerprints", "attempt", "result", "answer", "seconds")
    TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    NOTIFICATION_ID_FIELD_NUMBER: _ClassVar[int]
    RECEIVER_FIELD_NUMBER: _ClassVar[int]
    INTEGRATION_FIELD_NUMBER: _ClassVar[int]
    GROUP_KEY_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINTS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPT_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    SECONDS_FIELD_NUMBER: _ClassVar[int]
    time_unix_nano: int
    notification_id: str
    receiver: str
    integration: str
    group_key: str
    fingerprints: _containers.RepeatedScalarFieldContainer[str]
    attempt: int
    result: str
    answer: str
    seconds: float
    def __init__(self, time_unix_nano: _Optional[int] = ..., notification_id: _Optional[str] = ..., receiver: _Optional[str] = ..., integration: _Optional[str] = ..., group_key: _Optional[str] = ..., fingerprints: _Optional[_Iterable[str]] = ..., attempt: _Optional[int] = ..., result: _Optional[str] = ..., answer: _Optional[str] = ..., seconds: _Optional[float] = ...) -> None: ...

class ListDeliveriesRequest(_message.Message):
    __slots__ = ("fingerprint", "incident_id", "rule", "receiver", "limit")
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    RECEIVER_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    fingerprint: str
    incident_id: str
    rule: str
    receiver: str
    limit: int
    def __init__(self, fingerprint: _Optional[str] = ..., incident_id: _Optional[str] = ..., rule: _Optional[str] = ..., receiver: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListDeliveriesResponse(_message.Message):
    __slots__ = ("deliveries",)
    DELIVERIES_FIELD_NUMBER: _ClassVar[int]
    deliveries: _containers.RepeatedCompositeFieldContainer[Delivery]
    def __init__(self, deliveries: _Optional[_Iterable[_Union[Delivery, _Mapping]]] = ...) -> None: ...

class Action(_message.Message):
    __slots__ = ("id", "action", "target", "severity", "params_json", "details", "rule", "fingerprint", "incident_id", "requested_by", "status", "attempts", "created_time_unix_nano", "updated_time_unix_nano", "answer", "version")
    ID_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    FINGERPRINT_FIELD_NUMBER: _ClassVar[int]
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    UPDATED_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    ANSWER_FIELD_NUMBER: _ClassVar[int]
    VERSION_FIELD_NUMBER: _ClassVar[int]
    id: str
    action: str
    target: str
    severity: str
    params_json: str
    details: str
    rule: str
    fingerprint: str
    incident_id: str
    requested_by: str
    status: str
    attempts: int
    created_time_unix_nano: int
    updated_time_unix_nano: int
    answer: str
    version: int
    def __init__(self, id: _Optional[str] = ..., action: _Optional[str] = ..., target: _Optional[str] = ..., severity: _Optional[str] = ..., params_json: _Optional[str] = ..., details: _Optional[str] = ..., rule: _Optional[str] = ..., fingerprint: _Optional[str] = ..., incident_id: _Optional[str] = ..., requested_by: _Optional[str] = ..., status: _Optional[str] = ..., attempts: _Optional[int] = ..., created_time_unix_nano: _Optional[int] = ..., updated_time_unix_nano: _Optional[int] = ..., answer: _Optional[str] = ..., version: _Optional[int] = ...) -> None: ...

class CreateActionRequest(_message.Message):
    __slots__ = ("action", "target", "params_json", "details", "incident_id", "severity")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    PARAMS_JSON_FIELD_NUMBER: _ClassVar[int]
    DETAILS_FIELD_NUMBER: _ClassVar[int]
    INCIDENT_ID_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    action: str
    target: str
    params_json: str
    details: str
    incident_id: str
    severity: str
    def __init__(self, action: _Optional[str] = ..., target: _Optional[str] = ..., params_json: _Optional[str] = ..., details: _Optional[str] = ..., incident_id: _Optional[str] = ..., severity: _Optional[str] = ...) -> None: ...

class CreateActionResponse(_message.Message):
    __slots__ = ("action",)
    ACTION_FIELD_NUMBER: _ClassVar[int]
    action: Action
    def __init__(self, action: _Optional[_Union[Action, _Mapping]] = ...) -> None: ...

class ListActionsRequest(_message.Message):
    __slots__ = ("status", "target", "limit")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    status: str
    target: str
    limit: int
    def __init__(self, status: _Optional[str] = ..., target: _Optional[str] = ..., limit: _Optional[int] = ...) -> None: ...

class ListActionsResponse(_message.Message):
    __slots__ = ("count", "actions")
    COUNT_FIELD_NUMBER: _ClassVar[int]
    ACTIONS_FIELD_NUMBER: _ClassVar[int]
    count: int
    actions: _containers.RepeatedCompositeFieldContainer[Action]
    def __init__(self, count: _Optional[int] = ..., actions: _Optional[_Iterable[_Union[Action, _Mapping]]] = ...) -> None: ...

class GetActionRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class GetActionResponse(_message.Message):
    __slots__ = ("action", "history")
    ACTION_FIELD_NUMBER: _ClassVar[int]
    HISTORY_FIELD_NUMBER: _ClassVar[int]
    action: Action
    history: _containers.RepeatedCompositeFieldContainer[Action]
    def __init__(self, action: _Optional[_Union[Action, _Mapping]] = ..., history: _Optional[_Iterable[_Union[Action, _Mapping]]] = ...) -> None: ...

class CancelActionRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class CancelActionResponse(_message.Message):
    __slots__ = ("action",)
    ACTION_FIELD_NUMBER: _ClassVar[int]
    action: Action
    def __init__(self, action: _Optional[_Union[Action, _Mapping]] = ...) -> None: ...

class GetQueueStatsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetQueueStatsResponse(_message.Message):
    __slots__ = ("queue_length", "enqueued", "dequeued", "running", "by_status")
    class ByStatusEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    QUEUE_LENGTH_FIELD_NUMBER: _ClassVar[int]
    ENQUEUED_FIELD_NUMBER: _ClassVar[int]
    DEQUEUED_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    BY_STATUS_FIELD_NUMBER: _ClassVar[int]
    queue_length: int
    enqueued: int
    dequeued: int
    running: int
    by_status: _containers.ScalarMap[str, int]
    def __init__(self, queue_length: _Optional[int] = ..., enqueued: _Optional[int] = ..., dequeued: _Optional[int] = ..., running: _Optional[int] = ..., by_status: _Optional[_Mapping[str, int]] = ...) -> None: ...

class WatchActionsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class WatchActionsResponse(_message.Message):
    __slots__ = ("action",)
    ACTION_FIELD_NUMBER: _ClassVar[int]
    action: Action
    def __init__(self, action: _Optional[_Union[Action, _Mapping]] = ...) -> None: ...

class AnalyzeIncidentRequest(_message.Message):
    __slots__ = ("id",)
    ID_FIELD_NUMBER: _ClassVar[int]
    id: str
    def __init__(self, id: _Optional[str] = ...) -> None: ...

class AnalyzeIncidentResponse(_message.Message):
    __slots__ = ("result", "model", "text", "tokens", "cost_usd", "detail")
    RESULT_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    TEXT_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    result: str
    model: str
    text: str
    tokens: int
    cost_usd: float
    detail: str
    def __init__(self, result: _Optional[str] = ..., model: _Optional[str] = ..., text: _Optional[str] = ..., tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., detail: _Optional[str] = ...) -> None: ...
