"""A 100,000-span trace (a long agent run) read back whole through QueryClient and through
grpcurl's StreamTrace, while the server process's memory stays bounded: GetTrace reads an
outline of the trace and then one page of full spans at a time."""

from __future__ import annotations

import json
import random
import subprocess
import threading
import time
from pathlib import Path

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.trace.v1.trace_pb2 import Span
from test_query_grpcurl import GRPCURL

from vigil import QueryClient
from vigil.query.v1 import query_pb2, query_pb2_grpc

from reference_payload import kv
from support import EXPORT_METHOD, ServerProcess

SPANS = 100_000
PER_REQUEST = 5_000
RSS_BUDGET_BYTES = 500 * 1024 * 1024


def _rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS")


class PeakRss:
    """The largest resident size of a process, sampled every 20 ms while in the block."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.base = _rss_bytes(pid)
        self.peak = self.base
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def _sample(self) -> None:
        while not self._stop.wait(0.02):
            self.peak = max(self.peak, _rss_bytes(self.pid))

    def __enter__(self) -> PeakRss:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.base


def _agent_trace(rng: random.Random) -> tuple[bytes, list[ExportTraceServiceRequest], set[str]]:
    """One trace: a root, then spans each under a random earlier one (a wide, deep tree),
    with the attributes of LLM calls."""
    trace_id = rng.randbytes(16)
    ids = [rng.randbytes(8) for _ in range(SPANS)]
    start = time.time_ns() - 60 * 10**9
    requests = []
    for first in range(0, SPANS, PER_REQUEST):
        request = ExportTraceServiceRequest()
        rs = request.resource_spans.add()
        rs.resource.attributes.append(kv("service.name", "long-agent"))
        ss = rs.scope_spans.add()
        for i in range(first, first + PER_REQUEST):
            parent = b"" if i == 0 else ids[rng.randrange(max(0, i - 50), i)]
            ss.spans.append(
                Span(
                    trace_id=trace_id,
                    span_id=ids[i],
                    parent_span_id=parent,
                    name=f"step-{i % 7}",
                    kind=Span.SPAN_KIND_CLIENT,
                    start_time_unix_nano=start + i * 1000,
                    end_time_unix_nano=start + i * 1000 + 900,
                    attributes=[
                        kv("gen_ai.request.model", "gpt-4o-mini"),
                        kv("gen_ai.usage.input_tokens", 120 + i % 50),
                        kv("gen_ai.usage.output_tokens", 30 + i % 20),
                        kv("input.value", json.dumps({"step": i, "question": "what next?"})),
                    ],
                )
            )
        requests.append(request)
    return trace_id, requests, {i.hex() for i in ids}


def _grpcurl_stream(target: str, trace_id: str) -> list[dict]:
    out = subprocess.run(
        [
            str(GRPCURL), "-plaintext", "-max-msg-sz", "268435456", "-max-time", "120",
            "-d", json.dumps({"traceId": trace_id}),
            target, "vigil.query.v1.QueryService/StreamTrace",
        ],
        capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr
    decoder, text, pages, at = json.JSONDecoder(), out.stdout, [], 0
    while True:
        while at < len(text) and text[at].isspace():
            at += 1
        if at == len(text):
            return pages
        page, at = decoder.raw_decode(text, at)
        pages.append(page)


def test_a_100000_span_trace_in_bounded_memory(tmp_path: Path) -> None:
    trace_id, requests, sent = _agent_trace(random.Random(100))
    server = ServerProcess(tmp_path / "data", VIGIL_DRIFT_INTERVAL_S="0")
    server.wait_ready()
    query_target = f"127.0.0.1:{server.query_port}"
    try:
        with grpc.insecure_channel(server.grpc_target) as channel:
            export = channel.unary_unary(EXPORT_METHOD, request_serializer=None, response_deserializer=None)
            for request in requests:
                export(request.SerializeToString(), timeout=60)
        del requests
        with QueryClient(query_target, timeout_s=120) as client:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline:  # until the writers have stored every span
                first = next(client.iter_trace_pages(trace_id.hex(), page_size=1), None)
                if first is not None and first.span_count == SPANS:
                    break
                time.sleep(0.5)
            else:
                raise AssertionError("the trace was not stored within 120 s")

            with PeakRss(server.proc.pid) as rss:
                trace = client.get_trace(trace_id.hex())
            got = [n.span.span_id for n in trace.spans]
            assert len(got) == SPANS and set(got) == sent
            assert trace.span_count == SPANS and len(trace.root_span_ids) == 1
            assert trace.spans[0].depth == 0 and all(n.depth > 0 for n in trace.spans[1:])
            assert rss.growth < RSS_BUDGET_BYTES, f"server RSS grew by {rss.growth / 2**20:.0f} MiB"

            client_growth = rss.growth

        with grpc.insecure_channel(
            query_target, options=[("grpc.max_receive_message_length", 2**28)]
        ) as channel:
            get_trace = query_pb2_grpc.QueryServiceStub(channel).GetTrace
            paged, token = [], ""
            while True:  # the unary RPC, page after page with the token
                page = get_trace(
                    query_pb2.GetTraceRequest(trace_id=trace_id.hex(), page_size=20_000, page_token=token),
                    timeout=60,
                )
                paged.append(len(page.spans))
                token = page.next_page_token
                if not token:
                    break
            assert paged == [20_000] * 5

        with PeakRss(server.proc.pid) as rss:
            pages = _grpcurl_stream(query_target, trace_id.hex())
        streamed = [node["span"]["span_id"] for page in pages for node in page["spans"]]
        assert len(streamed) == SPANS and set(streamed) == sent
        assert len(pages) == SPANS // 10_000
        assert rss.growth < RSS_BUDGET_BYTES, f"server RSS grew by {rss.growth / 2**20:.0f} MiB"
        print(
            f"server RSS growth: QueryClient {client_growth / 2**20:.0f} MiB, grpcurl {rss.growth / 2**20:.0f} MiB"
        )
    finally:
        server.terminate()
        server.wait()
