"""vigil_replays: every Replay is stored with its mutations, full result, principal and what it
spent of the provider keys (the caps count it: caps.py); ListReplays and GetReplay read them
back."""

from __future__ import annotations

from typing import Any

from google.protobuf import json_format

from vigil_proto.query.v1 import query_pb2
from vigil_query import page_token
from vigil_query.errors import InvalidQuery, NotFound
from vigil_query.filters import check_trace_id
from vigil_query.reader import Reader, Writer, datetime_of_ns

TABLE = "vigil_replays"
COLUMNS = (
    "ReplayId",
    "SourceTraceId",
    "NewTraceId",
    "Mutations",
    "Execute",
    "RequestedBy",
    "Principal",
    "CreatedAt",
    "Status",
    "ProviderCalls",
    "Tokens",
    "Result",
)
_SUMMARY = (
    "ReplayId, SourceTraceId, NewTraceId, Mutations, Execute, RequestedBy, Principal,"
    " toUnixTimestamp64Nano(CreatedAt), Status, ProviderCalls, Tokens"
)
DEFAULT_PAGE_SIZE = 50


def save(writer: Writer, summary: query_pb2.ReplaySummary, result: query_pb2.ReplayResponse) -> None:
    row = [
        summary.replay_id,
        summary.source_trace_id,
        summary.new_trace_id,
        summary.mutations,
        int(summary.execute),
        summary.requested_by,
        summary.principal,
        datetime_of_ns(summary.created_time_unix_nano),
        summary.status,
        summary.provider_calls,
        summary.tokens,
        json_format.MessageToJson(result, indent=None),
    ]
    writer.insert(TABLE, [row], COLUMNS, "store the replay")


def _summary(row: tuple[Any, ...]) -> query_pb2.ReplaySummary:
    replay_id, source, new, mutations, execute, label, principal, created, status, calls, tokens = row
    return query_pb2.ReplaySummary(
        replay_id=replay_id,
        source_trace_id=source,
        new_trace_id=new,
        mutations=mutations,
        execute=bool(execute),
        requested_by=label,
        principal=principal,
        created_time_unix_nano=created,
        status=status,
        provider_calls=calls,
        tokens=tokens,
    )


def list_replays(reader: Reader, request: query_pb2.ListReplaysRequest) -> query_pb2.ListReplaysResponse:
    size = page_token.page_size(request.page_size, DEFAULT_PAGE_SIZE)
    clauses, params = ["1"], {}
    if request.source_trace_id:
        clauses.append("SourceTraceId = {source:String}")
        params["source"] = check_trace_id(request.source_trace_id, "source_trace_id")
    fingerprint = page_token.fingerprint(
        query_pb2.ListReplaysRequest(source_trace_id=request.source_trace_id)
    )
    if request.page_token:
        created, replay_id = page_token.decode_parts(request.page_token, fingerprint, int, str)
        clauses.append("(toUnixTimestamp64Nano(CreatedAt), ReplayId) < ({after_ns:Int64}, {after_id:String})")
        params.update(after_ns=created, after_id=replay_id)
    rows = reader.rows(
        f"SELECT {_SUMMARY} FROM {reader.db}.{TABLE} WHERE {' AND '.join(clauses)}"
        f" ORDER BY CreatedAt DESC, ReplayId DESC LIMIT {size + 1}",
        params,
        "list replays",
    )
    summaries = [_summary(r) for r in rows[:size]]
    response = query_pb2.ListReplaysResponse(replays=summaries)
    if len(rows) > size:
        last = summaries[-1]
        response.next_page_token = page_token.encode_parts(
            [last.created_time_unix_nano, last.replay_id], fingerprint
        )
    return response


def get_replay(reader: Reader, request: query_pb2.GetReplayRequest) -> query_pb2.GetReplayResponse:
    replay_id = request.replay_id.strip().lower()
    if not replay_id:
        raise InvalidQuery("replay_id is required")
    rows = reader.rows(
        f"SELECT {_SUMMARY}, Result FROM {reader.db}.{TABLE} WHERE ReplayId = {{id:String}} LIMIT 1",
        {"id": replay_id},
        "read the replay",
    )
    if not rows:
        raise NotFound(f"no replay with id {replay_id!r}")
    result = json_format.Parse(rows[0][-1], query_pb2.ReplayResponse(), ignore_unknown_fields=True)
    return query_pb2.GetReplayResponse(summary=_summary(rows[0][:-1]), result=result)
