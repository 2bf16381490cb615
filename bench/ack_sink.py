"""A parse-and-ack OTLP/gRPC sink: what a client could get from a server that only parses each
request and answers OK (no validation, no log, no storage). The benchmarks measure it in the
same run as Vigil, as the ceiling of what the client side and gRPC allow on this machine.

    python bench/ack_sink.py --port 14317
"""

from __future__ import annotations

import argparse
import asyncio

import grpc
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

TRACE_SERVICE = "opentelemetry.proto.collector.trace.v1.TraceService"


async def serve(host: str, port: int) -> None:
    async def export(body: bytes, _: grpc.aio.ServicerContext) -> ExportTraceServiceResponse:
        ExportTraceServiceRequest.FromString(body)
        return ExportTraceServiceResponse()

    server = grpc.aio.server(options=[("grpc.max_receive_message_length", 64 * 1024 * 1024)])
    handler = grpc.method_handlers_generic_handler(
        TRACE_SERVICE,
        {
            "Export": grpc.unary_unary_rpc_method_handler(
                export,
                request_deserializer=None,
                response_serializer=ExportTraceServiceResponse.SerializeToString,
            )
        },
    )
    server.add_generic_rpc_handlers((handler,))
    server.add_insecure_port(f"{host}:{port}")
    await server.start()
    print("sink ready", flush=True)
    await server.wait_for_termination()


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    asyncio.run(serve(args.host, args.port))


if __name__ == "__main__":
    main()
