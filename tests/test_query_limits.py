"""Many concurrent queries: beyond VIGIL_QUERY_MAX_INFLIGHT the excess is refused at once with
RESOURCE_EXHAUSTED (retryable), the rest are answered, and ingest keeps acknowledging."""

from __future__ import annotations

import asyncio
from pathlib import Path

import grpc

from vigil.query.v1 import query_pb2, query_pb2_grpc

from support import EXPORT_METHOD, RunningApp, make_request, make_settings


def test_64_concurrent_searches_with_a_cap_of_4(chdb_dir: Path) -> None:
    running = RunningApp(make_settings(chdb_dir, database="busy", query_threads=2, query_max_inflight=4))
    try:

        async def scenario() -> tuple[list[tuple[grpc.StatusCode, str]], int]:
            async with (
                grpc.aio.insecure_channel(running.query_target) as query,
                grpc.aio.insecure_channel(running.grpc_target) as ingest,
            ):
                stub = query_pb2_grpc.QueryServiceStub(query)
                export = ingest.unary_unary(
                    EXPORT_METHOD, request_serializer=None, response_deserializer=None
                )
                for i in range(5):
                    await export(make_request(500, f"busy-{i}").SerializeToString(), timeout=30)

                async def search() -> tuple[grpc.StatusCode, str]:
                    try:
                        await stub.SearchSpans(query_pb2.SearchSpansRequest(page_size=1000), timeout=60)
                        return grpc.StatusCode.OK, ""
                    except grpc.aio.AioRpcError as exc:
                        return exc.code(), exc.details() or ""

                async def keep_ingesting() -> int:
                    acked = 0
                    for i in range(10):
                        await export(make_request(100, f"busy-more-{i}").SerializeToString(), timeout=30)
                        acked += 1
                    return acked

                *codes, acked = await asyncio.gather(*(search() for _ in range(64)), keep_ingesting())
                return codes, acked

        answers, acked = asyncio.run(scenario())
        codes = [code for code, _ in answers]
        assert set(codes) <= {grpc.StatusCode.OK, grpc.StatusCode.RESOURCE_EXHAUSTED}
        assert codes.count(grpc.StatusCode.OK) >= 4
        assert codes.count(grpc.StatusCode.RESOURCE_EXHAUSTED) >= 8  # timing decides how many exactly
        busy = next(details for code, details in answers if code == grpc.StatusCode.RESOURCE_EXHAUSTED)
        assert "the query service is busy" in busy and "retry in a moment" in busy
        assert acked == 10  # ingest acknowledged all the while
    finally:
        running.stop()
