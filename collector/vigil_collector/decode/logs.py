"""OTLP logs → rows of ``otel_logs`` as the Collector's ClickHouse exporter writes them
(docs/storage.md, docs/ingest.md): Timestamp falling back to ObservedTimestamp, ids as lower-case hex or
``''``, the Body and every attribute value rendered as pcommon's AsString (a string as is,
maps and arrays as JSON), ServiceName from the resource's ``service.name``.

A record is rejected (and reported as partial success) when its ids have the wrong length,
its times do not fit the column, or it has more attributes than allowed.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import pyarrow as pa
from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import ExportLogsServiceRequest
from opentelemetry.proto.logs.v1.logs_pb2 import LogRecord

from vigil_collector.decode.anyvalue import to_str
from vigil_collector.decode.limits import DecodeLimits
from vigil_collector.decode.otlp_json import LOG_IDS, parse_otlp_json
from vigil_collector.decode.otlp_proto import parse_proto
from vigil_collector.decode.report import PartialSuccess
from vigil_collector.decode.spans import MapColumn, add_attributes, as_timestamps
from vigil_collector.decode.validate import LATEST_TIME_NS

_ATTR_MAP = pa.map_(pa.string(), pa.string())

LOG_SCHEMA = pa.schema(
    [
        ("Timestamp", pa.timestamp("ns")),
        ("TraceId", pa.string()),
        ("SpanId", pa.string()),
        ("TraceFlags", pa.uint8()),
        ("SeverityText", pa.string()),
        ("SeverityNumber", pa.uint8()),
        ("ServiceName", pa.string()),
        ("Body", pa.string()),
        ("ResourceSchemaUrl", pa.string()),
        ("ResourceAttributes", _ATTR_MAP),
        ("ScopeSchemaUrl", pa.string()),
        ("ScopeName", pa.string()),
        ("ScopeVersion", pa.string()),
        ("ScopeAttributes", _ATTR_MAP),
        ("LogAttributes", _ATTR_MAP),
        ("EventName", pa.string()),
    ]
)


@dataclass
class DecodedLogs(PartialSuccess):
    items = "log records"
    table: pa.Table
    accepted: int
    rejected: int
    errors: list[str] = field(default_factory=list)
    truncated_values: int = 0


def parse_proto_logs(body: bytes) -> ExportLogsServiceRequest:
    return parse_proto(body, ExportLogsServiceRequest())


def parse_json_logs(body: bytes) -> ExportLogsServiceRequest:
    """OTLP/JSON logs: the protobuf JSON mapping, with trace and span ids in hex."""
    return parse_otlp_json(body, ExportLogsServiceRequest(), LOG_IDS)


def decode_logs(request: ExportLogsServiceRequest, limits: DecodeLimits) -> DecodedLogs:
    max_attrs, max_len = limits.max_attributes_per_span, limits.max_attribute_value_length
    cols: dict[str, list] = {name: [] for name in LOG_SCHEMA.names if not name.endswith("Attributes")}
    # Per record: the columns a record's own fields fill (bound once: this loop is the cost).
    timestamps, trace_ids, span_ids = cols["Timestamp"].append, cols["TraceId"].append, cols["SpanId"].append
    flags, severity_texts = cols["TraceFlags"].append, cols["SeverityText"].append
    severity_numbers, bodies, event_names = (
        cols["SeverityNumber"].append,
        cols["Body"].append,
        cols["EventName"].append,
    )
    resource_attrs, scope_attrs, log_attrs = MapColumn(), MapColumn(), MapColumn()
    errors: list[str] = []
    truncated = accepted = 0
    for ri, resource_logs in enumerate(request.resource_logs):
        resource = MapColumn()
        truncated += add_attributes(resource, resource_logs.resource.attributes, max_len)
        service = resource.first("service.name")
        for si, scope_logs in enumerate(resource_logs.scope_logs):
            scope = scope_logs.scope
            scope_column = MapColumn()
            truncated += add_attributes(scope_column, scope.attributes, max_len)
            taken = 0
            for li, record in enumerate(scope_logs.log_records):
                problem = _problem(record, max_attrs)
                if problem:
                    errors.append(f"resource_logs[{ri}].scope_logs[{si}].log_records[{li}]: {problem}")
                    continue
                taken += 1
                timestamps(record.time_unix_nano or record.observed_time_unix_nano)
                trace_ids(record.trace_id.hex())
                span_ids(record.span_id.hex())
                flags(record.flags & 0xFF)
                severity_texts(record.severity_text)
                severity_numbers(record.severity_number)
                body = record.body
                # A set string_value is the usual Body: skip WhichOneof, as add_attributes does.
                text = body.string_value
                if not text and (which := body.WhichOneof("value")) and which != "string_value":
                    text = to_str(body, which)
                bodies(text)
                event_names(record.event_name)
                truncated += add_attributes(log_attrs, record.attributes, max_len)
            # What the scope's records share, repeated once for all of them.
            accepted += taken
            cols["ServiceName"].extend([service] * taken)
            cols["ResourceSchemaUrl"].extend([resource_logs.schema_url] * taken)
            cols["ScopeSchemaUrl"].extend([scope_logs.schema_url] * taken)
            cols["ScopeName"].extend([scope.name] * taken)
            cols["ScopeVersion"].extend([scope.version] * taken)
            resource_attrs.append_map(resource, taken)
            scope_attrs.append_map(scope_column, taken)
    arrays = {
        name: as_timestamps(values) if name == "Timestamp" else pa.array(values, LOG_SCHEMA.field(name).type)
        for name, values in cols.items()
    }
    arrays["ResourceAttributes"] = resource_attrs.to_arrow()
    arrays["ScopeAttributes"] = scope_attrs.to_arrow()
    arrays["LogAttributes"] = log_attrs.to_arrow()
    table = pa.Table.from_arrays([arrays[name] for name in LOG_SCHEMA.names], schema=LOG_SCHEMA)
    return DecodedLogs(table, accepted, len(errors), errors, truncated)


def _problem(record: LogRecord, max_attributes: int) -> str | None:
    trace_id, span_id = record.trace_id, record.span_id
    if len(trace_id) not in (0, 16):
        return f"trace_id must be empty or 16 bytes, got {len(trace_id)}"
    if len(span_id) not in (0, 8):
        return f"span_id must be empty or 8 bytes, got {len(span_id)}"
    latest = max(record.time_unix_nano, record.observed_time_unix_nano)
    if latest > LATEST_TIME_NS:
        return f"time_unix_nano ({latest}) is after the latest time that can be stored (year 2262)"
    if not 0 <= record.severity_number <= 24:
        return f"severity_number must be 0-24, got {record.severity_number}"
    if len(record.attributes) > max_attributes:
        return f"{len(record.attributes)} attributes exceed the limit of {max_attributes}"
    return None
