"""One typed page cursor for every paged RPC: a token whose parts are not what its RPC wrote
is INVALID_ARGUMENT with the same reason everywhere (it used to reach the SQL, or an
INTERNAL error, where a call site forgot to check)."""

from __future__ import annotations

import grpc
import pytest

from vigil import QueryClient, QueryError
from vigil.query.v1 import query_pb2
from vigil_query import page_token
from vigil_query.errors import InvalidQuery

from support import RunningApp


def test_parts_of_the_wrong_type_are_refused() -> None:
    fp = "f" * 16
    assert page_token.decode_parts(page_token.encode_parts([5, "a"], fp), fp, int, str) == [5, "a"]
    for parts in ([5], [5, "a", "b"], ["5", "a"], [5, 6], [True, "a"], [-1, "a"], [None, "a"]):
        with pytest.raises(InvalidQuery, match="not a token issued by this service"):
            page_token.decode_parts(page_token.encode_parts(parts, fp), fp, int, str)
    for junk in ("", "!!", "bm90IGpzb24", page_token.encode_parts([5, "a"], fp)[:-3]):
        with pytest.raises(InvalidQuery, match="not a token issued by this service"):
            page_token.decode_parts(junk, fp, int, str)
    with pytest.raises(InvalidQuery, match="different filter"):
        page_token.decode_parts(page_token.encode_parts([5, "a"], "0" * 16), fp, int, str)


def test_a_forged_drift_alert_cursor_is_invalid_argument(app: RunningApp) -> None:
    request = query_pb2.ListDriftAlertsRequest(
        resolved=query_pb2.ListDriftAlertsRequest.RESOLVED_FILTER_UNRESOLVED_ONLY
    )
    fp = page_token.fingerprint(request)
    forged = page_token.encode_parts(["not a time", 7], fp)  # the right shape, the wrong types
    with QueryClient(app.query_target) as client, pytest.raises(QueryError) as refused:
        client.drift_alerts(page_token=forged)
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT
    assert "page_token is not a token issued by this service" in refused.value.message
