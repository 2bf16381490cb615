from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class MetricType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    METRIC_TYPE_UNSPECIFIED: _ClassVar[MetricType]
    METRIC_TYPE_GAUGE: _ClassVar[MetricType]
    METRIC_TYPE_SUM: _ClassVar[MetricType]
    METRIC_TYPE_HISTOGRAM: _ClassVar[MetricType]
    METRIC_TYPE_EXPONENTIAL_HISTOGRAM: _ClassVar[MetricType]
    METRIC_TYPE_SUMMARY: _ClassVar[MetricType]

class Aggregation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    AGGREGATION_UNSPECIFIED: _ClassVar[Aggregation]
    AGGREGATION_AVG: _ClassVar[Aggregation]
    AGGREGATION_MIN: _ClassVar[Aggregation]
    AGGREGATION_MAX: _ClassVar[Aggregation]
    AGGREGATION_SUM: _ClassVar[Aggregation]
    AGGREGATION_LAST: _ClassVar[Aggregation]
    AGGREGATION_RATE: _ClassVar[Aggregation]
    AGGREGATION_P50: _ClassVar[Aggregation]
    AGGREGATION_P90: _ClassVar[Aggregation]
    AGGREGATION_P95: _ClassVar[Aggregation]
    AGGREGATION_P99: _ClassVar[Aggregation]
    AGGREGATION_INCREASE: _ClassVar[Aggregation]
    AGGREGATION_MEAN: _ClassVar[Aggregation]

class UsageGroupBy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    USAGE_GROUP_BY_UNSPECIFIED: _ClassVar[UsageGroupBy]
    USAGE_GROUP_BY_MODEL: _ClassVar[UsageGroupBy]
    USAGE_GROUP_BY_PROVIDER: _ClassVar[UsageGroupBy]
    USAGE_GROUP_BY_SERVICE: _ClassVar[UsageGroupBy]
    USAGE_GROUP_BY_USER: _ClassVar[UsageGroupBy]
    USAGE_GROUP_BY_SESSION: _ClassVar[UsageGroupBy]
    USAGE_GROUP_BY_PROJECT: _ClassVar[UsageGroupBy]

class OverviewGroupBy(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OVERVIEW_GROUP_BY_UNSPECIFIED: _ClassVar[OverviewGroupBy]
    OVERVIEW_GROUP_BY_MODEL: _ClassVar[OverviewGroupBy]
    OVERVIEW_GROUP_BY_SERVICE: _ClassVar[OverviewGroupBy]
    OVERVIEW_GROUP_BY_USER: _ClassVar[OverviewGroupBy]
METRIC_TYPE_UNSPECIFIED: MetricType
METRIC_TYPE_GAUGE: MetricType
METRIC_TYPE_SUM: MetricType
METRIC_TYPE_HISTOGRAM: MetricType
METRIC_TYPE_EXPONENTIAL_HISTOGRAM: MetricType
METRIC_TYPE_SUMMARY: MetricType
AGGREGATION_UNSPECIFIED: Aggregation
AGGREGATION_AVG: Aggregation
AGGREGATION_MIN: Aggregation
AGGREGATION_MAX: Aggregation
AGGREGATION_SUM: Aggregation
AGGREGATION_LAST: Aggregation
AGGREGATION_RATE: Aggregation
AGGREGATION_P50: Aggregation
AGGREGATION_P90: Aggregation
AGGREGATION_P95: Aggregation
AGGREGATION_P99: Aggregation
AGGREGATION_INCREASE: Aggregation
AGGREGATION_MEAN: Aggregation
USAGE_GROUP_BY_UNSPECIFIED: UsageGroupBy
USAGE_GROUP_BY_MODEL: UsageGroupBy
USAGE_GROUP_BY_PROVIDER: UsageGroupBy
USAGE_GROUP_BY_SERVICE: UsageGroupBy
USAGE_GROUP_BY_USER: UsageGroupBy
USAGE_GROUP_BY_SESSION: UsageGroupBy
USAGE_GROUP_BY_PROJECT: UsageGroupBy
OVERVIEW_GROUP_BY_UNSPECIFIED: OverviewGroupBy
OVERVIEW_GROUP_BY_MODEL: OverviewGroupBy
OVERVIEW_GROUP_BY_SERVICE: OverviewGroupBy
OVERVIEW_GROUP_BY_USER: OverviewGroupBy

class WhoAmIRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ProjectAccess(_message.Message):
    __slots__ = ("slug", "name", "role", "scopes")
    SLUG_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    SCOPES_FIELD_NUMBER: _ClassVar[int]
    slug: str
    name: str
    role: str
    scopes: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, slug: _Optional[str] = ..., name: _Optional[str] = ..., role: _Optional[str] = ..., scopes: _Optional[_Iterable[str]] = ...) -> None: ...

class WhoAmIResponse(_message.Message):
    __slots__ = ("auth_enabled", "username", "key_id", "server_admin", "project", "projects")
    AUTH_ENABLED_FIELD_NUMBER: _ClassVar[int]
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    KEY_ID_FIELD_NUMBER: _ClassVar[int]
    SERVER_ADMIN_FIELD_NUMBER: _ClassVar[int]
    PROJECT_FIELD_NUMBER: _ClassVar[int]
    PROJECTS_FIELD_NUMBER: _ClassVar[int]
    auth_enabled: bool
    username: str
    key_id: str
    server_admin: bool
    project: str
    projects: _containers.RepeatedCompositeFieldContainer[ProjectAccess]
    def __init__(self, auth_enabled: _Optional[bool] = ..., username: _Optional[str] = ..., key_id: _Optional[str] = ..., server_admin: _Optional[bool] = ..., project: _Optional[str] = ..., projects: _Optional[_Iterable[_Union[ProjectAccess, _Mapping]]] = ...) -> None: ...

class LoginRequest(_message.Message):
    __slots__ = ("username", "password")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    PASSWORD_FIELD_NUMBER: _ClassVar[int]
    username: str
    password: str
    def __init__(self, username: _Optional[str] = ..., password: _Optional[str] = ...) -> None: ...

class LoginResponse(_message.Message):
    __slots__ = ("access_token", "refresh_token", "expires_in_s")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_S_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    refresh_token: str
    expires_in_s: int
    def __init__(self, access_token: _Optional[str] = ..., refresh_token: _Optional[str] = ..., expires_in_s: _Optional[int] = ...) -> None: ...

class RefreshSessionRequest(_message.Message):
    __slots__ = ("refresh_token",)
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    refresh_token: str
    def __init__(self, refresh_token: _Optional[str] = ...) -> None: ...

class RefreshSessionResponse(_message.Message):
    __slots__ = ("access_token", "refresh_token", "expires_in_s")
    ACCESS_TOKEN_FIELD_NUMBER: _ClassVar[int]
    REFRESH_TOKEN_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_IN_S_FIELD_NUMBER: _ClassVar[int]
    access_token: str
    refresh_token: str
    expires_in_s: int
    def __init__(self, access_token: _Optional[str] = ..., refresh_token: _Optional[str] = ..., expires_in_s: _Optional[int] = ...) -> None: ...

class Span(_message.Message):
    __slots__ = ("trace_id", "span_id", "parent_span_id", "trace_state", "name", "kind", "service_name", "start_time_unix_nano", "duration_nano", "status_code", "status_message", "attributes", "resource_attributes", "scope_name", "scope_version", "events", "links")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ResourceAttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_STATE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    DURATION_NANO_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    STATUS_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    SCOPE_NAME_FIELD_NUMBER: _ClassVar[int]
    SCOPE_VERSION_FIELD_NUMBER: _ClassVar[int]
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    LINKS_FIELD_NUMBER: _ClassVar[int]
    trace_id: str
    span_id: str
    parent_span_id: str
    trace_state: str
    name: str
    kind: str
    service_name: str
    start_time_unix_nano: int
    duration_nano: int
    status_code: str
    status_message: str
    attributes: _containers.ScalarMap[str, str]
    resource_attributes: _containers.ScalarMap[str, str]
    scope_name: str
    scope_version: str
    events: _containers.RepeatedCompositeFieldContainer[Event]
    links: _containers.RepeatedCompositeFieldContainer[Link]
    def __init__(self, trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., parent_span_id: _Optional[str] = ..., trace_state: _Optional[str] = ..., name: _Optional[str] = ..., kind: _Optional[str] = ..., service_name: _Optional[str] = ..., start_time_unix_nano: _Optional[int] = ..., duration_nano: _Optional[int] = ..., status_code: _Optional[str] = ..., status_message: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ..., resource_attributes: _Optional[_Mapping[str, str]] = ..., scope_name: _Optional[str] = ..., scope_version: _Optional[str] = ..., events: _Optional[_Iterable[_Union[Event, _Mapping]]] = ..., links: _Optional[_Iterable[_Union[Link, _Mapping]]] = ...) -> None: ...

class Event(_message.Message):
    __slots__ = ("time_unix_nano", "name", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    time_unix_nano: int
    name: str
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, time_unix_nano: _Optional[int] = ..., name: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Link(_message.Message):
    __slots__ = ("trace_id", "span_id", "trace_state", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_STATE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    trace_id: str
    span_id: str
    trace_state: str
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., trace_state: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class GetTraceRequest(_message.Message):
    __slots__ = ("trace_id", "start_time_min_unix_nano", "start_time_max_unix_nano", "page_size", "page_token")
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MIN_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MAX_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    trace_id: str
    start_time_min_unix_nano: int
    start_time_max_unix_nano: int
    page_size: int
    page_token: str
    def __init__(self, trace_id: _Optional[str] = ..., start_time_min_unix_nano: _Optional[int] = ..., start_time_max_unix_nano: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SpanNode(_message.Message):
    __slots__ = ("span", "child_span_ids", "depth", "orphan", "duplicates", "cycle", "logs")
    SPAN_FIELD_NUMBER: _ClassVar[int]
    CHILD_SPAN_IDS_FIELD_NUMBER: _ClassVar[int]
    DEPTH_FIELD_NUMBER: _ClassVar[int]
    ORPHAN_FIELD_NUMBER: _ClassVar[int]
    DUPLICATES_FIELD_NUMBER: _ClassVar[int]
    CYCLE_FIELD_NUMBER: _ClassVar[int]
    LOGS_FIELD_NUMBER: _ClassVar[int]
    span: Span
    child_span_ids: _containers.RepeatedScalarFieldContainer[str]
    depth: int
    orphan: bool
    duplicates: int
    cycle: bool
    logs: _containers.RepeatedCompositeFieldContainer[LogRecord]
    def __init__(self, span: _Optional[_Union[Span, _Mapping]] = ..., child_span_ids: _Optional[_Iterable[str]] = ..., depth: _Optional[int] = ..., orphan: _Optional[bool] = ..., duplicates: _Optional[int] = ..., cycle: _Optional[bool] = ..., logs: _Optional[_Iterable[_Union[LogRecord, _Mapping]]] = ...) -> None: ...

class LogRecord(_message.Message):
    __slots__ = ("time_unix_nano", "trace_id", "span_id", "trace_flags", "severity_text", "severity_number", "service_name", "body", "attributes", "resource_attributes", "scope_name", "scope_version", "event_name")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class ResourceAttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    TRACE_FLAGS_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_TEXT_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    BODY_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    RESOURCE_ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    SCOPE_NAME_FIELD_NUMBER: _ClassVar[int]
    SCOPE_VERSION_FIELD_NUMBER: _ClassVar[int]
    EVENT_NAME_FIELD_NUMBER: _ClassVar[int]
    time_unix_nano: int
    trace_id: str
    span_id: str
    trace_flags: int
    severity_text: str
    severity_number: int
    service_name: str
    body: str
    attributes: _containers.ScalarMap[str, str]
    resource_attributes: _containers.ScalarMap[str, str]
    scope_name: str
    scope_version: str
    event_name: str
    def __init__(self, time_unix_nano: _Optional[int] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., trace_flags: _Optional[int] = ..., severity_text: _Optional[str] = ..., severity_number: _Optional[int] = ..., service_name: _Optional[str] = ..., body: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ..., resource_attributes: _Optional[_Mapping[str, str]] = ..., scope_name: _Optional[str] = ..., scope_version: _Optional[str] = ..., event_name: _Optional[str] = ...) -> None: ...

class LogFilter(_message.Message):
    __slots__ = ("start_time_min_unix_nano", "start_time_max_unix_nano", "service_name", "min_severity_number", "trace_id", "span_id", "body_contains", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    START_TIME_MIN_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MAX_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    MIN_SEVERITY_NUMBER_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    BODY_CONTAINS_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    start_time_min_unix_nano: int
    start_time_max_unix_nano: int
    service_name: str
    min_severity_number: int
    trace_id: str
    span_id: str
    body_contains: str
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, start_time_min_unix_nano: _Optional[int] = ..., start_time_max_unix_nano: _Optional[int] = ..., service_name: _Optional[str] = ..., min_severity_number: _Optional[int] = ..., trace_id: _Optional[str] = ..., span_id: _Optional[str] = ..., body_contains: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class SearchLogsRequest(_message.Message):
    __slots__ = ("filter", "page_size", "page_token")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    filter: LogFilter
    page_size: int
    page_token: str
    def __init__(self, filter: _Optional[_Union[LogFilter, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchLogsResponse(_message.Message):
    __slots__ = ("logs", "next_page_token")
    LOGS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    logs: _containers.RepeatedCompositeFieldContainer[LogRecord]
    next_page_token: str
    def __init__(self, logs: _Optional[_Iterable[_Union[LogRecord, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListMetricsRequest(_message.Message):
    __slots__ = ("start_time_min_unix_nano", "start_time_max_unix_nano", "service_name", "name_prefix")
    START_TIME_MIN_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MAX_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    NAME_PREFIX_FIELD_NUMBER: _ClassVar[int]
    start_time_min_unix_nano: int
    start_time_max_unix_nano: int
    service_name: str
    name_prefix: str
    def __init__(self, start_time_min_unix_nano: _Optional[int] = ..., start_time_max_unix_nano: _Optional[int] = ..., service_name: _Optional[str] = ..., name_prefix: _Optional[str] = ...) -> None: ...

class MetricDescriptor(_message.Message):
    __slots__ = ("service_name", "name", "type", "unit", "description", "attribute_keys", "is_monotonic", "aggregation_temporality", "points", "last_time_unix_nano")
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTE_KEYS_FIELD_NUMBER: _ClassVar[int]
    IS_MONOTONIC_FIELD_NUMBER: _ClassVar[int]
    AGGREGATION_TEMPORALITY_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    LAST_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    service_name: str
    name: str
    type: MetricType
    unit: str
    description: str
    attribute_keys: _containers.RepeatedScalarFieldContainer[str]
    is_monotonic: bool
    aggregation_temporality: int
    points: int
    last_time_unix_nano: int
    def __init__(self, service_name: _Optional[str] = ..., name: _Optional[str] = ..., type: _Optional[_Union[MetricType, str]] = ..., unit: _Optional[str] = ..., description: _Optional[str] = ..., attribute_keys: _Optional[_Iterable[str]] = ..., is_monotonic: _Optional[bool] = ..., aggregation_temporality: _Optional[int] = ..., points: _Optional[int] = ..., last_time_unix_nano: _Optional[int] = ...) -> None: ...

class ListMetricsResponse(_message.Message):
    __slots__ = ("metrics", "truncated")
    METRICS_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    metrics: _containers.RepeatedCompositeFieldContainer[MetricDescriptor]
    truncated: bool
    def __init__(self, metrics: _Optional[_Iterable[_Union[MetricDescriptor, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class QueryMetricsRequest(_message.Message):
    __slots__ = ("metric_name", "type", "service_name", "attributes", "group_by", "start_time_min_unix_nano", "start_time_max_unix_nano", "step_nano", "aggregation", "max_series")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    METRIC_NAME_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MIN_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MAX_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    STEP_NANO_FIELD_NUMBER: _ClassVar[int]
    AGGREGATION_FIELD_NUMBER: _ClassVar[int]
    MAX_SERIES_FIELD_NUMBER: _ClassVar[int]
    metric_name: str
    type: MetricType
    service_name: str
    attributes: _containers.ScalarMap[str, str]
    group_by: _containers.RepeatedScalarFieldContainer[str]
    start_time_min_unix_nano: int
    start_time_max_unix_nano: int
    step_nano: int
    aggregation: Aggregation
    max_series: int
    def __init__(self, metric_name: _Optional[str] = ..., type: _Optional[_Union[MetricType, str]] = ..., service_name: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ..., group_by: _Optional[_Iterable[str]] = ..., start_time_min_unix_nano: _Optional[int] = ..., start_time_max_unix_nano: _Optional[int] = ..., step_nano: _Optional[int] = ..., aggregation: _Optional[_Union[Aggregation, str]] = ..., max_series: _Optional[int] = ...) -> None: ...

class MetricPoint(_message.Message):
    __slots__ = ("time_unix_nano", "value")
    TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    time_unix_nano: int
    value: float
    def __init__(self, time_unix_nano: _Optional[int] = ..., value: _Optional[float] = ...) -> None: ...

class MetricSeries(_message.Message):
    __slots__ = ("group", "points")
    class GroupEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    GROUP_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    group: _containers.ScalarMap[str, str]
    points: _containers.RepeatedCompositeFieldContainer[MetricPoint]
    def __init__(self, group: _Optional[_Mapping[str, str]] = ..., points: _Optional[_Iterable[_Union[MetricPoint, _Mapping]]] = ...) -> None: ...

class QueryMetricsResponse(_message.Message):
    __slots__ = ("type", "unit", "step_nano", "series", "truncated")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    STEP_NANO_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    type: MetricType
    unit: str
    step_nano: int
    series: _containers.RepeatedCompositeFieldContainer[MetricSeries]
    truncated: bool
    def __init__(self, type: _Optional[_Union[MetricType, str]] = ..., unit: _Optional[str] = ..., step_nano: _Optional[int] = ..., series: _Optional[_Iterable[_Union[MetricSeries, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class GetTraceResponse(_message.Message):
    __slots__ = ("trace_id", "spans", "root_span_ids", "next_page_token", "span_count", "logs")
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPANS_FIELD_NUMBER: _ClassVar[int]
    ROOT_SPAN_IDS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SPAN_COUNT_FIELD_NUMBER: _ClassVar[int]
    LOGS_FIELD_NUMBER: _ClassVar[int]
    trace_id: str
    spans: _containers.RepeatedCompositeFieldContainer[SpanNode]
    root_span_ids: _containers.RepeatedScalarFieldContainer[str]
    next_page_token: str
    span_count: int
    logs: _containers.RepeatedCompositeFieldContainer[LogRecord]
    def __init__(self, trace_id: _Optional[str] = ..., spans: _Optional[_Iterable[_Union[SpanNode, _Mapping]]] = ..., root_span_ids: _Optional[_Iterable[str]] = ..., next_page_token: _Optional[str] = ..., span_count: _Optional[int] = ..., logs: _Optional[_Iterable[_Union[LogRecord, _Mapping]]] = ...) -> None: ...

class StreamTraceRequest(_message.Message):
    __slots__ = ("trace_id", "start_time_min_unix_nano", "start_time_max_unix_nano", "page_size")
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MIN_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MAX_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    trace_id: str
    start_time_min_unix_nano: int
    start_time_max_unix_nano: int
    page_size: int
    def __init__(self, trace_id: _Optional[str] = ..., start_time_min_unix_nano: _Optional[int] = ..., start_time_max_unix_nano: _Optional[int] = ..., page_size: _Optional[int] = ...) -> None: ...

class StreamTraceResponse(_message.Message):
    __slots__ = ("trace_id", "spans", "root_span_ids", "span_count", "logs")
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    SPANS_FIELD_NUMBER: _ClassVar[int]
    ROOT_SPAN_IDS_FIELD_NUMBER: _ClassVar[int]
    SPAN_COUNT_FIELD_NUMBER: _ClassVar[int]
    LOGS_FIELD_NUMBER: _ClassVar[int]
    trace_id: str
    spans: _containers.RepeatedCompositeFieldContainer[SpanNode]
    root_span_ids: _containers.RepeatedScalarFieldContainer[str]
    span_count: int
    logs: _containers.RepeatedCompositeFieldContainer[LogRecord]
    def __init__(self, trace_id: _Optional[str] = ..., spans: _Optional[_Iterable[_Union[SpanNode, _Mapping]]] = ..., root_span_ids: _Optional[_Iterable[str]] = ..., span_count: _Optional[int] = ..., logs: _Optional[_Iterable[_Union[LogRecord, _Mapping]]] = ...) -> None: ...

class SpanFilter(_message.Message):
    __slots__ = ("start_time_min_unix_nano", "start_time_max_unix_nano", "service_name", "span_name", "span_kind", "status_code", "attributes", "duration_min_nano", "duration_max_nano", "trace_id")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    START_TIME_MIN_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MAX_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    SPAN_NAME_FIELD_NUMBER: _ClassVar[int]
    SPAN_KIND_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    DURATION_MIN_NANO_FIELD_NUMBER: _ClassVar[int]
    DURATION_MAX_NANO_FIELD_NUMBER: _ClassVar[int]
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    start_time_min_unix_nano: int
    start_time_max_unix_nano: int
    service_name: str
    span_name: str
    span_kind: str
    status_code: str
    attributes: _containers.ScalarMap[str, str]
    duration_min_nano: int
    duration_max_nano: int
    trace_id: str
    def __init__(self, start_time_min_unix_nano: _Optional[int] = ..., start_time_max_unix_nano: _Optional[int] = ..., service_name: _Optional[str] = ..., span_name: _Optional[str] = ..., span_kind: _Optional[str] = ..., status_code: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ..., duration_min_nano: _Optional[int] = ..., duration_max_nano: _Optional[int] = ..., trace_id: _Optional[str] = ...) -> None: ...

class SearchSpansRequest(_message.Message):
    __slots__ = ("filter", "page_size", "page_token")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    filter: SpanFilter
    page_size: int
    page_token: str
    def __init__(self, filter: _Optional[_Union[SpanFilter, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchSpansResponse(_message.Message):
    __slots__ = ("spans", "next_page_token")
    SPANS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    spans: _containers.RepeatedCompositeFieldContainer[Span]
    next_page_token: str
    def __init__(self, spans: _Optional[_Iterable[_Union[Span, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class TailSpansRequest(_message.Message):
    __slots__ = ("filter",)
    FILTER_FIELD_NUMBER: _ClassVar[int]
    filter: SpanFilter
    def __init__(self, filter: _Optional[_Union[SpanFilter, _Mapping]] = ...) -> None: ...

class TailSpansResponse(_message.Message):
    __slots__ = ("spans", "skipped")
    SPANS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    spans: _containers.RepeatedCompositeFieldContainer[Span]
    skipped: int
    def __init__(self, spans: _Optional[_Iterable[_Union[Span, _Mapping]]] = ..., skipped: _Optional[int] = ...) -> None: ...

class TraceSummary(_message.Message):
    __slots__ = ("trace_id", "root_service_name", "root_span_name", "start_time_unix_nano", "duration_nano", "span_count", "error_count", "input_tokens", "output_tokens", "cost_usd", "unpriced_calls", "session_id", "llm_calls")
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    ROOT_SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    ROOT_SPAN_NAME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    DURATION_NANO_FIELD_NUMBER: _ClassVar[int]
    SPAN_COUNT_FIELD_NUMBER: _ClassVar[int]
    ERROR_COUNT_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_CALLS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    LLM_CALLS_FIELD_NUMBER: _ClassVar[int]
    trace_id: str
    root_service_name: str
    root_span_name: str
    start_time_unix_nano: int
    duration_nano: int
    span_count: int
    error_count: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    unpriced_calls: int
    session_id: str
    llm_calls: int
    def __init__(self, trace_id: _Optional[str] = ..., root_service_name: _Optional[str] = ..., root_span_name: _Optional[str] = ..., start_time_unix_nano: _Optional[int] = ..., duration_nano: _Optional[int] = ..., span_count: _Optional[int] = ..., error_count: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., unpriced_calls: _Optional[int] = ..., session_id: _Optional[str] = ..., llm_calls: _Optional[int] = ...) -> None: ...

class SearchTracesRequest(_message.Message):
    __slots__ = ("filter", "page_size", "page_token")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    filter: SpanFilter
    page_size: int
    page_token: str
    def __init__(self, filter: _Optional[_Union[SpanFilter, _Mapping]] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchTracesResponse(_message.Message):
    __slots__ = ("traces", "next_page_token")
    TRACES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    traces: _containers.RepeatedCompositeFieldContainer[TraceSummary]
    next_page_token: str
    def __init__(self, traces: _Optional[_Iterable[_Union[TraceSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetServicesRequest(_message.Message):
    __slots__ = ("start_time_min_unix_nano", "start_time_max_unix_nano")
    START_TIME_MIN_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MAX_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    start_time_min_unix_nano: int
    start_time_max_unix_nano: int
    def __init__(self, start_time_min_unix_nano: _Optional[int] = ..., start_time_max_unix_nano: _Optional[int] = ...) -> None: ...

class GetServicesResponse(_message.Message):
    __slots__ = ("services",)
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    services: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, services: _Optional[_Iterable[str]] = ...) -> None: ...

class GetOperationsRequest(_message.Message):
    __slots__ = ("service_name", "start_time_min_unix_nano", "start_time_max_unix_nano")
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MIN_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MAX_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    service_name: str
    start_time_min_unix_nano: int
    start_time_max_unix_nano: int
    def __init__(self, service_name: _Optional[str] = ..., start_time_min_unix_nano: _Optional[int] = ..., start_time_max_unix_nano: _Optional[int] = ...) -> None: ...

class Operation(_message.Message):
    __slots__ = ("name", "span_kind")
    NAME_FIELD_NUMBER: _ClassVar[int]
    SPAN_KIND_FIELD_NUMBER: _ClassVar[int]
    name: str
    span_kind: str
    def __init__(self, name: _Optional[str] = ..., span_kind: _Optional[str] = ...) -> None: ...

class GetOperationsResponse(_message.Message):
    __slots__ = ("operations",)
    OPERATIONS_FIELD_NUMBER: _ClassVar[int]
    operations: _containers.RepeatedCompositeFieldContainer[Operation]
    def __init__(self, operations: _Optional[_Iterable[_Union[Operation, _Mapping]]] = ...) -> None: ...

class TimeWindow(_message.Message):
    __slots__ = ("start_time_unix_nano", "end_time_unix_nano")
    START_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    END_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    start_time_unix_nano: int
    end_time_unix_nano: int
    def __init__(self, start_time_unix_nano: _Optional[int] = ..., end_time_unix_nano: _Optional[int] = ...) -> None: ...

class GetDriftRequest(_message.Message):
    __slots__ = ("metric", "group_by", "current", "baseline", "bins", "min_samples", "service_name", "span_name")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    BINS_FIELD_NUMBER: _ClassVar[int]
    MIN_SAMPLES_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    SPAN_NAME_FIELD_NUMBER: _ClassVar[int]
    metric: str
    group_by: _containers.RepeatedScalarFieldContainer[str]
    current: TimeWindow
    baseline: TimeWindow
    bins: int
    min_samples: int
    service_name: str
    span_name: str
    def __init__(self, metric: _Optional[str] = ..., group_by: _Optional[_Iterable[str]] = ..., current: _Optional[_Union[TimeWindow, _Mapping]] = ..., baseline: _Optional[_Union[TimeWindow, _Mapping]] = ..., bins: _Optional[int] = ..., min_samples: _Optional[int] = ..., service_name: _Optional[str] = ..., span_name: _Optional[str] = ...) -> None: ...

class DriftGroup(_message.Message):
    __slots__ = ("group", "psi", "severity", "baseline_count", "current_count", "bin_edges", "baseline_proportions", "current_proportions", "baseline_p50", "baseline_p95", "current_p50", "current_p95")
    class GroupEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    GROUP_FIELD_NUMBER: _ClassVar[int]
    PSI_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    BASELINE_COUNT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_COUNT_FIELD_NUMBER: _ClassVar[int]
    BIN_EDGES_FIELD_NUMBER: _ClassVar[int]
    BASELINE_PROPORTIONS_FIELD_NUMBER: _ClassVar[int]
    CURRENT_PROPORTIONS_FIELD_NUMBER: _ClassVar[int]
    BASELINE_P50_FIELD_NUMBER: _ClassVar[int]
    BASELINE_P95_FIELD_NUMBER: _ClassVar[int]
    CURRENT_P50_FIELD_NUMBER: _ClassVar[int]
    CURRENT_P95_FIELD_NUMBER: _ClassVar[int]
    group: _containers.ScalarMap[str, str]
    psi: float
    severity: str
    baseline_count: int
    current_count: int
    bin_edges: _containers.RepeatedScalarFieldContainer[float]
    baseline_proportions: _containers.RepeatedScalarFieldContainer[float]
    current_proportions: _containers.RepeatedScalarFieldContainer[float]
    baseline_p50: float
    baseline_p95: float
    current_p50: float
    current_p95: float
    def __init__(self, group: _Optional[_Mapping[str, str]] = ..., psi: _Optional[float] = ..., severity: _Optional[str] = ..., baseline_count: _Optional[int] = ..., current_count: _Optional[int] = ..., bin_edges: _Optional[_Iterable[float]] = ..., baseline_proportions: _Optional[_Iterable[float]] = ..., current_proportions: _Optional[_Iterable[float]] = ..., baseline_p50: _Optional[float] = ..., baseline_p95: _Optional[float] = ..., current_p50: _Optional[float] = ..., current_p95: _Optional[float] = ...) -> None: ...

class GetDriftResponse(_message.Message):
    __slots__ = ("metric", "unit", "current", "baseline", "group_by", "groups")
    METRIC_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    metric: str
    unit: str
    current: TimeWindow
    baseline: TimeWindow
    group_by: _containers.RepeatedScalarFieldContainer[str]
    groups: _containers.RepeatedCompositeFieldContainer[DriftGroup]
    def __init__(self, metric: _Optional[str] = ..., unit: _Optional[str] = ..., current: _Optional[_Union[TimeWindow, _Mapping]] = ..., baseline: _Optional[_Union[TimeWindow, _Mapping]] = ..., group_by: _Optional[_Iterable[str]] = ..., groups: _Optional[_Iterable[_Union[DriftGroup, _Mapping]]] = ...) -> None: ...

class DriftAlert(_message.Message):
    __slots__ = ("alert_id", "metric", "group", "psi", "severity", "latest", "current", "baseline", "created_time_unix_nano", "updated_time_unix_nano", "resolved", "resolved_time_unix_nano", "resolved_by")
    class GroupEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    GROUP_FIELD_NUMBER: _ClassVar[int]
    PSI_FIELD_NUMBER: _ClassVar[int]
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    LATEST_FIELD_NUMBER: _ClassVar[int]
    CURRENT_FIELD_NUMBER: _ClassVar[int]
    BASELINE_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    UPDATED_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_BY_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    metric: str
    group: _containers.ScalarMap[str, str]
    psi: float
    severity: str
    latest: DriftGroup
    current: TimeWindow
    baseline: TimeWindow
    created_time_unix_nano: int
    updated_time_unix_nano: int
    resolved: bool
    resolved_time_unix_nano: int
    resolved_by: str
    def __init__(self, alert_id: _Optional[str] = ..., metric: _Optional[str] = ..., group: _Optional[_Mapping[str, str]] = ..., psi: _Optional[float] = ..., severity: _Optional[str] = ..., latest: _Optional[_Union[DriftGroup, _Mapping]] = ..., current: _Optional[_Union[TimeWindow, _Mapping]] = ..., baseline: _Optional[_Union[TimeWindow, _Mapping]] = ..., created_time_unix_nano: _Optional[int] = ..., updated_time_unix_nano: _Optional[int] = ..., resolved: _Optional[bool] = ..., resolved_time_unix_nano: _Optional[int] = ..., resolved_by: _Optional[str] = ...) -> None: ...

class ListDriftAlertsRequest(_message.Message):
    __slots__ = ("severity", "metric", "resolved", "updated_time_min_unix_nano", "updated_time_max_unix_nano", "page_size", "page_token")
    class ResolvedFilter(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        RESOLVED_FILTER_UNSPECIFIED: _ClassVar[ListDriftAlertsRequest.ResolvedFilter]
        RESOLVED_FILTER_UNRESOLVED_ONLY: _ClassVar[ListDriftAlertsRequest.ResolvedFilter]
        RESOLVED_FILTER_RESOLVED_ONLY: _ClassVar[ListDriftAlertsRequest.ResolvedFilter]
        RESOLVED_FILTER_ALL: _ClassVar[ListDriftAlertsRequest.ResolvedFilter]
    RESOLVED_FILTER_UNSPECIFIED: ListDriftAlertsRequest.ResolvedFilter
    RESOLVED_FILTER_UNRESOLVED_ONLY: ListDriftAlertsRequest.ResolvedFilter
    RESOLVED_FILTER_RESOLVED_ONLY: ListDriftAlertsRequest.ResolvedFilter
    RESOLVED_FILTER_ALL: ListDriftAlertsRequest.ResolvedFilter
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    RESOLVED_FIELD_NUMBER: _ClassVar[int]
    UPDATED_TIME_MIN_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    UPDATED_TIME_MAX_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    severity: str
    metric: str
    resolved: ListDriftAlertsRequest.ResolvedFilter
    updated_time_min_unix_nano: int
    updated_time_max_unix_nano: int
    page_size: int
    page_token: str
    def __init__(self, severity: _Optional[str] = ..., metric: _Optional[str] = ..., resolved: _Optional[_Union[ListDriftAlertsRequest.ResolvedFilter, str]] = ..., updated_time_min_unix_nano: _Optional[int] = ..., updated_time_max_unix_nano: _Optional[int] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListDriftAlertsResponse(_message.Message):
    __slots__ = ("alerts", "next_page_token")
    ALERTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    alerts: _containers.RepeatedCompositeFieldContainer[DriftAlert]
    next_page_token: str
    def __init__(self, alerts: _Optional[_Iterable[_Union[DriftAlert, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ResolveDriftAlertRequest(_message.Message):
    __slots__ = ("alert_id",)
    ALERT_ID_FIELD_NUMBER: _ClassVar[int]
    alert_id: str
    def __init__(self, alert_id: _Optional[str] = ...) -> None: ...

class ResolveDriftAlertResponse(_message.Message):
    __slots__ = ("alert",)
    ALERT_FIELD_NUMBER: _ClassVar[int]
    alert: DriftAlert
    def __init__(self, alert: _Optional[_Union[DriftAlert, _Mapping]] = ...) -> None: ...

class SpanSelector(_message.Message):
    __slots__ = ("span_id", "span_name", "attributes")
    class AttributesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_NAME_FIELD_NUMBER: _ClassVar[int]
    ATTRIBUTES_FIELD_NUMBER: _ClassVar[int]
    span_id: str
    span_name: str
    attributes: _containers.ScalarMap[str, str]
    def __init__(self, span_id: _Optional[str] = ..., span_name: _Optional[str] = ..., attributes: _Optional[_Mapping[str, str]] = ...) -> None: ...

class Mutation(_message.Message):
    __slots__ = ("select", "target", "patch")
    SELECT_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    PATCH_FIELD_NUMBER: _ClassVar[int]
    select: SpanSelector
    target: str
    patch: str
    def __init__(self, select: _Optional[_Union[SpanSelector, _Mapping]] = ..., target: _Optional[str] = ..., patch: _Optional[str] = ...) -> None: ...

class ReplayRequest(_message.Message):
    __slots__ = ("trace_id", "mutations", "execute", "requested_by")
    TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    MUTATIONS_FIELD_NUMBER: _ClassVar[int]
    EXECUTE_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    trace_id: str
    mutations: _containers.RepeatedCompositeFieldContainer[Mutation]
    execute: bool
    requested_by: str
    def __init__(self, trace_id: _Optional[str] = ..., mutations: _Optional[_Iterable[_Union[Mutation, _Mapping]]] = ..., execute: _Optional[bool] = ..., requested_by: _Optional[str] = ...) -> None: ...

class TextDiff(_message.Message):
    __slots__ = ("path", "unified_diff")
    PATH_FIELD_NUMBER: _ClassVar[int]
    UNIFIED_DIFF_FIELD_NUMBER: _ClassVar[int]
    path: str
    unified_diff: str
    def __init__(self, path: _Optional[str] = ..., unified_diff: _Optional[str] = ...) -> None: ...

class SpanChange(_message.Message):
    __slots__ = ("span_id", "span_name", "target", "original_input", "mutated_input", "diff", "text_diffs", "error")
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_NAME_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_INPUT_FIELD_NUMBER: _ClassVar[int]
    MUTATED_INPUT_FIELD_NUMBER: _ClassVar[int]
    DIFF_FIELD_NUMBER: _ClassVar[int]
    TEXT_DIFFS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    span_id: str
    span_name: str
    target: str
    original_input: str
    mutated_input: str
    diff: str
    text_diffs: _containers.RepeatedCompositeFieldContainer[TextDiff]
    error: str
    def __init__(self, span_id: _Optional[str] = ..., span_name: _Optional[str] = ..., target: _Optional[str] = ..., original_input: _Optional[str] = ..., mutated_input: _Optional[str] = ..., diff: _Optional[str] = ..., text_diffs: _Optional[_Iterable[_Union[TextDiff, _Mapping]]] = ..., error: _Optional[str] = ...) -> None: ...

class StaleSpan(_message.Message):
    __slots__ = ("span_id", "span_name", "relation", "mutated_span_id")
    SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    SPAN_NAME_FIELD_NUMBER: _ClassVar[int]
    RELATION_FIELD_NUMBER: _ClassVar[int]
    MUTATED_SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    span_id: str
    span_name: str
    relation: str
    mutated_span_id: str
    def __init__(self, span_id: _Optional[str] = ..., span_name: _Optional[str] = ..., relation: _Optional[str] = ..., mutated_span_id: _Optional[str] = ...) -> None: ...

class ExecutedCall(_message.Message):
    __slots__ = ("source_span_id", "new_span_id", "provider", "model", "original_output", "new_output", "output_diff", "input_tokens_delta", "output_tokens_delta", "latency_delta_ms", "latency_ms", "error")
    SOURCE_SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_SPAN_ID_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    NEW_OUTPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_DIFF_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_DELTA_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_DELTA_FIELD_NUMBER: _ClassVar[int]
    LATENCY_DELTA_MS_FIELD_NUMBER: _ClassVar[int]
    LATENCY_MS_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    source_span_id: str
    new_span_id: str
    provider: str
    model: str
    original_output: str
    new_output: str
    output_diff: str
    input_tokens_delta: int
    output_tokens_delta: int
    latency_delta_ms: float
    latency_ms: float
    error: str
    def __init__(self, source_span_id: _Optional[str] = ..., new_span_id: _Optional[str] = ..., provider: _Optional[str] = ..., model: _Optional[str] = ..., original_output: _Optional[str] = ..., new_output: _Optional[str] = ..., output_diff: _Optional[str] = ..., input_tokens_delta: _Optional[int] = ..., output_tokens_delta: _Optional[int] = ..., latency_delta_ms: _Optional[float] = ..., latency_ms: _Optional[float] = ..., error: _Optional[str] = ...) -> None: ...

class ReplayResponse(_message.Message):
    __slots__ = ("replay_id", "source_trace_id", "changes", "stale", "new_trace_id", "executed")
    REPLAY_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    CHANGES_FIELD_NUMBER: _ClassVar[int]
    STALE_FIELD_NUMBER: _ClassVar[int]
    NEW_TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    EXECUTED_FIELD_NUMBER: _ClassVar[int]
    replay_id: str
    source_trace_id: str
    changes: _containers.RepeatedCompositeFieldContainer[SpanChange]
    stale: _containers.RepeatedCompositeFieldContainer[StaleSpan]
    new_trace_id: str
    executed: _containers.RepeatedCompositeFieldContainer[ExecutedCall]
    def __init__(self, replay_id: _Optional[str] = ..., source_trace_id: _Optional[str] = ..., changes: _Optional[_Iterable[_Union[SpanChange, _Mapping]]] = ..., stale: _Optional[_Iterable[_Union[StaleSpan, _Mapping]]] = ..., new_trace_id: _Optional[str] = ..., executed: _Optional[_Iterable[_Union[ExecutedCall, _Mapping]]] = ...) -> None: ...

class ReplaySummary(_message.Message):
    __slots__ = ("replay_id", "source_trace_id", "new_trace_id", "mutations", "execute", "requested_by", "created_time_unix_nano", "status", "principal", "provider_calls", "tokens")
    REPLAY_ID_FIELD_NUMBER: _ClassVar[int]
    SOURCE_TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    NEW_TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    MUTATIONS_FIELD_NUMBER: _ClassVar[int]
    EXECUTE_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PRINCIPAL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_CALLS_FIELD_NUMBER: _ClassVar[int]
    TOKENS_FIELD_NUMBER: _ClassVar[int]
    replay_id: str
    source_trace_id: str
    new_trace_id: str
    mutations: str
    execute: bool
    requested_by: str
    created_time_unix_nano: int
    status: str
    principal: str
    provider_calls: int
    tokens: int
    def __init__(self, replay_id: _Optional[str] = ..., source_trace_id: _Optional[str] = ..., new_trace_id: _Optional[str] = ..., mutations: _Optional[str] = ..., execute: _Optional[bool] = ..., requested_by: _Optional[str] = ..., created_time_unix_nano: _Optional[int] = ..., status: _Optional[str] = ..., principal: _Optional[str] = ..., provider_calls: _Optional[int] = ..., tokens: _Optional[int] = ...) -> None: ...

class ListReplaysRequest(_message.Message):
    __slots__ = ("source_trace_id", "page_size", "page_token")
    SOURCE_TRACE_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    source_trace_id: str
    page_size: int
    page_token: str
    def __init__(self, source_trace_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListReplaysResponse(_message.Message):
    __slots__ = ("replays", "next_page_token")
    REPLAYS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    replays: _containers.RepeatedCompositeFieldContainer[ReplaySummary]
    next_page_token: str
    def __init__(self, replays: _Optional[_Iterable[_Union[ReplaySummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetReplayRequest(_message.Message):
    __slots__ = ("replay_id",)
    REPLAY_ID_FIELD_NUMBER: _ClassVar[int]
    replay_id: str
    def __init__(self, replay_id: _Optional[str] = ...) -> None: ...

class GetReplayResponse(_message.Message):
    __slots__ = ("summary", "result")
    SUMMARY_FIELD_NUMBER: _ClassVar[int]
    RESULT_FIELD_NUMBER: _ClassVar[int]
    summary: ReplaySummary
    result: ReplayResponse
    def __init__(self, summary: _Optional[_Union[ReplaySummary, _Mapping]] = ..., result: _Optional[_Union[ReplayResponse, _Mapping]] = ...) -> None: ...

class ModelPrice(_message.Message):
    __slots__ = ("provider", "model_pattern", "input", "output", "cache_read", "cache_creation", "effective_from_unix_nano", "effective_to_unix_nano", "origin")
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    MODEL_PATTERN_FIELD_NUMBER: _ClassVar[int]
    INPUT_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_FIELD_NUMBER: _ClassVar[int]
    CACHE_CREATION_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_FROM_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    EFFECTIVE_TO_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    ORIGIN_FIELD_NUMBER: _ClassVar[int]
    provider: str
    model_pattern: str
    input: float
    output: float
    cache_read: float
    cache_creation: float
    effective_from_unix_nano: int
    effective_to_unix_nano: int
    origin: str
    def __init__(self, provider: _Optional[str] = ..., model_pattern: _Optional[str] = ..., input: _Optional[float] = ..., output: _Optional[float] = ..., cache_read: _Optional[float] = ..., cache_creation: _Optional[float] = ..., effective_from_unix_nano: _Optional[int] = ..., effective_to_unix_nano: _Optional[int] = ..., origin: _Optional[str] = ...) -> None: ...

class ListModelPricesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListModelPricesResponse(_message.Message):
    __slots__ = ("prices", "currency")
    PRICES_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    prices: _containers.RepeatedCompositeFieldContainer[ModelPrice]
    currency: str
    def __init__(self, prices: _Optional[_Iterable[_Union[ModelPrice, _Mapping]]] = ..., currency: _Optional[str] = ...) -> None: ...

class SessionSummary(_message.Message):
    __slots__ = ("session_id", "first_time_unix_nano", "last_time_unix_nano", "traces", "spans", "llm_calls", "input_tokens", "output_tokens", "cost_usd", "unpriced_calls", "errors", "user_ids", "service_name")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    FIRST_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    LAST_TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    TRACES_FIELD_NUMBER: _ClassVar[int]
    SPANS_FIELD_NUMBER: _ClassVar[int]
    LLM_CALLS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_CALLS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    USER_IDS_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    first_time_unix_nano: int
    last_time_unix_nano: int
    traces: int
    spans: int
    llm_calls: int
    input_tokens: int
    output_tokens: int
    cost_usd: float
    unpriced_calls: int
    errors: int
    user_ids: _containers.RepeatedScalarFieldContainer[str]
    service_name: str
    def __init__(self, session_id: _Optional[str] = ..., first_time_unix_nano: _Optional[int] = ..., last_time_unix_nano: _Optional[int] = ..., traces: _Optional[int] = ..., spans: _Optional[int] = ..., llm_calls: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., unpriced_calls: _Optional[int] = ..., errors: _Optional[int] = ..., user_ids: _Optional[_Iterable[str]] = ..., service_name: _Optional[str] = ...) -> None: ...

class SearchSessionsRequest(_message.Message):
    __slots__ = ("start_time_min_unix_nano", "start_time_max_unix_nano", "service_name", "user_id", "page_size", "page_token")
    START_TIME_MIN_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MAX_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    start_time_min_unix_nano: int
    start_time_max_unix_nano: int
    service_name: str
    user_id: str
    page_size: int
    page_token: str
    def __init__(self, start_time_min_unix_nano: _Optional[int] = ..., start_time_max_unix_nano: _Optional[int] = ..., service_name: _Optional[str] = ..., user_id: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class SearchSessionsResponse(_message.Message):
    __slots__ = ("sessions", "next_page_token")
    SESSIONS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    sessions: _containers.RepeatedCompositeFieldContainer[SessionSummary]
    next_page_token: str
    def __init__(self, sessions: _Optional[_Iterable[_Union[SessionSummary, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class GetSessionRequest(_message.Message):
    __slots__ = ("session_id", "start_time_min_unix_nano", "start_time_max_unix_nano")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MIN_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MAX_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    start_time_min_unix_nano: int
    start_time_max_unix_nano: int
    def __init__(self, session_id: _Optional[str] = ..., start_time_min_unix_nano: _Optional[int] = ..., start_time_max_unix_nano: _Optional[int] = ...) -> None: ...

class GetSessionResponse(_message.Message):
    __slots__ = ("session", "traces", "truncated")
    SESSION_FIELD_NUMBER: _ClassVar[int]
    TRACES_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    session: SessionSummary
    traces: _containers.RepeatedCompositeFieldContainer[TraceSummary]
    truncated: bool
    def __init__(self, session: _Optional[_Union[SessionSummary, _Mapping]] = ..., traces: _Optional[_Iterable[_Union[TraceSummary, _Mapping]]] = ..., truncated: _Optional[bool] = ...) -> None: ...

class GetUsageRequest(_message.Message):
    __slots__ = ("start_time_min_unix_nano", "start_time_max_unix_nano", "step_nano", "group_by", "service_name", "model", "provider", "user_id", "session_id", "max_groups")
    START_TIME_MIN_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MAX_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    STEP_NANO_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    USER_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    MAX_GROUPS_FIELD_NUMBER: _ClassVar[int]
    start_time_min_unix_nano: int
    start_time_max_unix_nano: int
    step_nano: int
    group_by: UsageGroupBy
    service_name: str
    model: str
    provider: str
    user_id: str
    session_id: str
    max_groups: int
    def __init__(self, start_time_min_unix_nano: _Optional[int] = ..., start_time_max_unix_nano: _Optional[int] = ..., step_nano: _Optional[int] = ..., group_by: _Optional[_Union[UsageGroupBy, str]] = ..., service_name: _Optional[str] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., user_id: _Optional[str] = ..., session_id: _Optional[str] = ..., max_groups: _Optional[int] = ...) -> None: ...

class UsageStats(_message.Message):
    __slots__ = ("calls", "input_tokens", "output_tokens", "cache_read_tokens", "cache_creation_tokens", "cost_usd", "unpriced_calls", "errors", "error_rate", "latency_p50_nano", "latency_p95_nano", "latency_p99_nano")
    CALLS_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_READ_TOKENS_FIELD_NUMBER: _ClassVar[int]
    CACHE_CREATION_TOKENS_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_CALLS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_NANO_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P95_NANO_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P99_NANO_FIELD_NUMBER: _ClassVar[int]
    calls: int
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_creation_tokens: int
    cost_usd: float
    unpriced_calls: int
    errors: int
    error_rate: float
    latency_p50_nano: int
    latency_p95_nano: int
    latency_p99_nano: int
    def __init__(self, calls: _Optional[int] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., cache_read_tokens: _Optional[int] = ..., cache_creation_tokens: _Optional[int] = ..., cost_usd: _Optional[float] = ..., unpriced_calls: _Optional[int] = ..., errors: _Optional[int] = ..., error_rate: _Optional[float] = ..., latency_p50_nano: _Optional[int] = ..., latency_p95_nano: _Optional[int] = ..., latency_p99_nano: _Optional[int] = ...) -> None: ...

class UsageBucket(_message.Message):
    __slots__ = ("time_unix_nano", "stats")
    TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    time_unix_nano: int
    stats: UsageStats
    def __init__(self, time_unix_nano: _Optional[int] = ..., stats: _Optional[_Union[UsageStats, _Mapping]] = ...) -> None: ...

class UsageGroup(_message.Message):
    __slots__ = ("key", "total", "buckets")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    key: str
    total: UsageStats
    buckets: _containers.RepeatedCompositeFieldContainer[UsageBucket]
    def __init__(self, key: _Optional[str] = ..., total: _Optional[_Union[UsageStats, _Mapping]] = ..., buckets: _Optional[_Iterable[_Union[UsageBucket, _Mapping]]] = ...) -> None: ...

class GetUsageResponse(_message.Message):
    __slots__ = ("total", "groups", "step_nano", "unpriced_models", "currency", "truncated")
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    STEP_NANO_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_MODELS_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    TRUNCATED_FIELD_NUMBER: _ClassVar[int]
    total: UsageStats
    groups: _containers.RepeatedCompositeFieldContainer[UsageGroup]
    step_nano: int
    unpriced_models: _containers.RepeatedScalarFieldContainer[str]
    currency: str
    truncated: bool
    def __init__(self, total: _Optional[_Union[UsageStats, _Mapping]] = ..., groups: _Optional[_Iterable[_Union[UsageGroup, _Mapping]]] = ..., step_nano: _Optional[int] = ..., unpriced_models: _Optional[_Iterable[str]] = ..., currency: _Optional[str] = ..., truncated: _Optional[bool] = ...) -> None: ...

class GetOverviewRequest(_message.Message):
    __slots__ = ("start_time_min_unix_nano", "start_time_max_unix_nano", "step_nano", "group_by", "top", "service_name")
    START_TIME_MIN_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MAX_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    STEP_NANO_FIELD_NUMBER: _ClassVar[int]
    GROUP_BY_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    SERVICE_NAME_FIELD_NUMBER: _ClassVar[int]
    start_time_min_unix_nano: int
    start_time_max_unix_nano: int
    step_nano: int
    group_by: OverviewGroupBy
    top: int
    service_name: str
    def __init__(self, start_time_min_unix_nano: _Optional[int] = ..., start_time_max_unix_nano: _Optional[int] = ..., step_nano: _Optional[int] = ..., group_by: _Optional[_Union[OverviewGroupBy, str]] = ..., top: _Optional[int] = ..., service_name: _Optional[str] = ...) -> None: ...

class RequestStats(_message.Message):
    __slots__ = ("requests", "errors", "error_rate", "latency_p50_nano", "latency_p95_nano", "latency_p99_nano")
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    ERROR_RATE_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P50_NANO_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P95_NANO_FIELD_NUMBER: _ClassVar[int]
    LATENCY_P99_NANO_FIELD_NUMBER: _ClassVar[int]
    requests: int
    errors: int
    error_rate: float
    latency_p50_nano: int
    latency_p95_nano: int
    latency_p99_nano: int
    def __init__(self, requests: _Optional[int] = ..., errors: _Optional[int] = ..., error_rate: _Optional[float] = ..., latency_p50_nano: _Optional[int] = ..., latency_p95_nano: _Optional[int] = ..., latency_p99_nano: _Optional[int] = ...) -> None: ...

class RequestBucket(_message.Message):
    __slots__ = ("time_unix_nano", "stats")
    TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    STATS_FIELD_NUMBER: _ClassVar[int]
    time_unix_nano: int
    stats: RequestStats
    def __init__(self, time_unix_nano: _Optional[int] = ..., stats: _Optional[_Union[RequestStats, _Mapping]] = ...) -> None: ...

class RequestGroup(_message.Message):
    __slots__ = ("key", "total", "buckets")
    KEY_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    BUCKETS_FIELD_NUMBER: _ClassVar[int]
    key: str
    total: RequestStats
    buckets: _containers.RepeatedCompositeFieldContainer[RequestBucket]
    def __init__(self, key: _Optional[str] = ..., total: _Optional[_Union[RequestStats, _Mapping]] = ..., buckets: _Optional[_Iterable[_Union[RequestBucket, _Mapping]]] = ...) -> None: ...

class TopEntry(_message.Message):
    __slots__ = ("key", "cost_usd", "unpriced_calls", "errors", "count")
    KEY_FIELD_NUMBER: _ClassVar[int]
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    UNPRICED_CALLS_FIELD_NUMBER: _ClassVar[int]
    ERRORS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    key: str
    cost_usd: float
    unpriced_calls: int
    errors: int
    count: int
    def __init__(self, key: _Optional[str] = ..., cost_usd: _Optional[float] = ..., unpriced_calls: _Optional[int] = ..., errors: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class TopList(_message.Message):
    __slots__ = ("name", "by_cost", "by_errors")
    NAME_FIELD_NUMBER: _ClassVar[int]
    BY_COST_FIELD_NUMBER: _ClassVar[int]
    BY_ERRORS_FIELD_NUMBER: _ClassVar[int]
    name: str
    by_cost: _containers.RepeatedCompositeFieldContainer[TopEntry]
    by_errors: _containers.RepeatedCompositeFieldContainer[TopEntry]
    def __init__(self, name: _Optional[str] = ..., by_cost: _Optional[_Iterable[_Union[TopEntry, _Mapping]]] = ..., by_errors: _Optional[_Iterable[_Union[TopEntry, _Mapping]]] = ...) -> None: ...

class GetOverviewResponse(_message.Message):
    __slots__ = ("step_nano", "start_time_min_unix_nano", "start_time_max_unix_nano", "requests", "request_groups", "usage", "top")
    STEP_NANO_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MIN_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    START_TIME_MAX_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    REQUESTS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_GROUPS_FIELD_NUMBER: _ClassVar[int]
    USAGE_FIELD_NUMBER: _ClassVar[int]
    TOP_FIELD_NUMBER: _ClassVar[int]
    step_nano: int
    start_time_min_unix_nano: int
    start_time_max_unix_nano: int
    requests: RequestStats
    request_groups: _containers.RepeatedCompositeFieldContainer[RequestGroup]
    usage: GetUsageResponse
    top: _containers.RepeatedCompositeFieldContainer[TopList]
    def __init__(self, step_nano: _Optional[int] = ..., start_time_min_unix_nano: _Optional[int] = ..., start_time_max_unix_nano: _Optional[int] = ..., requests: _Optional[_Union[RequestStats, _Mapping]] = ..., request_groups: _Optional[_Iterable[_Union[RequestGroup, _Mapping]]] = ..., usage: _Optional[_Union[GetUsageResponse, _Mapping]] = ..., top: _Optional[_Iterable[_Union[TopList, _Mapping]]] = ...) -> None: ...

class GetLogVolumeRequest(_message.Message):
    __slots__ = ("filter", "step_nano")
    FILTER_FIELD_NUMBER: _ClassVar[int]
    STEP_NANO_FIELD_NUMBER: _ClassVar[int]
    filter: LogFilter
    step_nano: int
    def __init__(self, filter: _Optional[_Union[LogFilter, _Mapping]] = ..., step_nano: _Optional[int] = ...) -> None: ...

class LogVolumeSeries(_message.Message):
    __slots__ = ("severity", "points")
    SEVERITY_FIELD_NUMBER: _ClassVar[int]
    POINTS_FIELD_NUMBER: _ClassVar[int]
    severity: str
    points: _containers.RepeatedCompositeFieldContainer[LogVolumePoint]
    def __init__(self, severity: _Optional[str] = ..., points: _Optional[_Iterable[_Union[LogVolumePoint, _Mapping]]] = ...) -> None: ...

class LogVolumePoint(_message.Message):
    __slots__ = ("time_unix_nano", "count")
    TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    time_unix_nano: int
    count: int
    def __init__(self, time_unix_nano: _Optional[int] = ..., count: _Optional[int] = ...) -> None: ...

class GetLogVolumeResponse(_message.Message):
    __slots__ = ("step_nano", "series", "total")
    STEP_NANO_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    step_nano: int
    series: _containers.RepeatedCompositeFieldContainer[LogVolumeSeries]
    total: int
    def __init__(self, step_nano: _Optional[int] = ..., series: _Optional[_Iterable[_Union[LogVolumeSeries, _Mapping]]] = ..., total: _Optional[int] = ...) -> None: ...

class TailLogsRequest(_message.Message):
    __slots__ = ("filter",)
    FILTER_FIELD_NUMBER: _ClassVar[int]
    filter: LogFilter
    def __init__(self, filter: _Optional[_Union[LogFilter, _Mapping]] = ...) -> None: ...

class TailLogsResponse(_message.Message):
    __slots__ = ("logs", "skipped")
    LOGS_FIELD_NUMBER: _ClassVar[int]
    SKIPPED_FIELD_NUMBER: _ClassVar[int]
    logs: _containers.RepeatedCompositeFieldContainer[LogRecord]
    skipped: int
    def __init__(self, logs: _Optional[_Iterable[_Union[LogRecord, _Mapping]]] = ..., skipped: _Optional[int] = ...) -> None: ...

class StreamMetricsRequest(_message.Message):
    __slots__ = ("query",)
    QUERY_FIELD_NUMBER: _ClassVar[int]
    query: QueryMetricsRequest
    def __init__(self, query: _Optional[_Union[QueryMetricsRequest, _Mapping]] = ...) -> None: ...

class StreamMetricsResponse(_message.Message):
    __slots__ = ("metrics",)
    METRICS_FIELD_NUMBER: _ClassVar[int]
    metrics: QueryMetricsResponse
    def __init__(self, metrics: _Optional[_Union[QueryMetricsResponse, _Mapping]] = ...) -> None: ...
