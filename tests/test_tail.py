"""TailSpans (live tail) and WhoAmI, through the SDK's QueryClient against the session app:
spans sent after the tail started arrive once each (retried copies too), filtered; spans
that ended before it started do not; a bad filter is refused before the tail starts."""

from __future__ import annotations

import queue
import random
import threading
import time

import grpc
import pytest

from vigil import QueryClient, QueryError

from support import RunningApp, export_otlp, make_request


def test_the_tail_sends_new_matching_spans_once(app: RunningApp) -> None:
    rng = random.Random(5)
    old = make_request(2, "tail-svc", rng, start_ns=time.time_ns() - 120 * 10**9)
    export_otlp(app.grpc_target, old.SerializeToString())
    app.flush()

    received: queue.Queue = queue.Queue()
    with QueryClient(app.query_target) as client:
        stream = client.tail_spans(service="tail-svc")

        def read() -> None:
            for response in stream:
                received.put(response)

        reader = threading.Thread(target=read, daemon=True)
        reader.start()
        assert list(received.get(timeout=30).spans) == []  # live
        new = make_request(3, "tail-svc", rng)
        body = new.SerializeToString()
        export_otlp(app.grpc_target, body)
        export_otlp(app.grpc_target, body)  # a client's retry: the same spans again
        export_otlp(app.grpc_target, make_request(2, "tail-other", rng).SerializeToString())
        sent = {s.span_id.hex() for s in new.resource_spans[0].scope_spans[0].spans}
        seen: list[str] = []
        deadline = time.monotonic() + 30
        while set(seen) != sent and time.monotonic() < deadline:
            try:
                response = received.get(timeout=1)
            except queue.Empty:
                continue
            assert all(s.service_name == "tail-svc" for s in response.spans)
            seen += [s.span_id for s in response.spans]
        # A span sent after them comes in a later poll: by the time it is seen, a copy of
        # the retried spans sent again would have been seen too.
        marker = make_request(1, "tail-svc", rng)
        export_otlp(app.grpc_target, marker.SerializeToString())
        marker_id = marker.resource_spans[0].scope_spans[0].spans[0].span_id.hex()
        while marker_id not in seen and time.monotonic() < deadline:
            try:
                seen += [s.span_id for s in received.get(timeout=1).spans]
            except queue.Empty:
                continue
        stream.cancel()
    assert marker_id in seen
    seen.remove(marker_id)
    assert sorted(seen) == sorted(sent)


def test_a_bad_tail_filter_is_refused_at_once(app: RunningApp) -> None:
    with QueryClient(app.query_target) as client, pytest.raises(QueryError) as refused:
        next(iter(client.tail_spans(kind="sideways")))
    assert refused.value.code == grpc.StatusCode.INVALID_ARGUMENT and "span_kind" in refused.value.message


def test_whoami_with_authentication_off(app: RunningApp) -> None:
    with QueryClient(app.query_target) as client:
        me = client.whoami()
    assert not me.auth_enabled and me.project == "default"
    assert [p.slug for p in me.projects] == ["default"] and "read" in me.projects[0].scopes
