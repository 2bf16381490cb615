"""Vigil's API contract, shared by the SDK (the client) and the server: the generated stubs of
the query, admin and alerting APIs (`vigil_proto.<api>.v1`, from proto/vigil/ by
proto/generate.py) and the wire constants both sides must agree on.

A package of its own, as opentelemetry-proto is, so that the server does not import the client
SDK and the SDK does not carry the server: both depend on this one.
"""

from __future__ import annotations

# The largest message the query API sends and its clients accept: a trace of ~10,000 LLM spans
# is ~8 MB, over gRPC's default of 4 MiB. Set alike on both sides so that a large answer
# arrives instead of failing with "larger than max". grpcurl needs the same: -max-msg-sz 268435456.
MAX_MESSAGE_BYTES = 256 * 1024 * 1024
