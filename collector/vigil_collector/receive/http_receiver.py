"""OTLP/HTTP: ``POST /v1/traces`` and ``/v1/logs`` (port 4318; services.py), protobuf or JSON,
identity, gzip or deflate.

Responses use the request's content type (OTLP spec): the signal's Export…Response on
success, a google.rpc.Status with the reason on failure. aiohttp's own request
decompression is off (``auto_decompress=False`` in vigil_server.app): ``decode_body``
inflates instead, so the size cap holds while inflating. The credential is checked before
the body is read; at most ``max_concurrent`` exports run at once (beyond: 503, retry).
"""

from __future__ import annotations

import functools
import logging
import uuid

import grpc
from aiohttp import web
from google.protobuf import json_format
from google.rpc import status_pb2

from vigil_auth.authenticator import Authenticator
from vigil_auth.errors import AuthError
from vigil_auth.keys import INGEST
from vigil_collector.errors import BodyTooLarge, IngestError, Overloaded, UnsupportedMedia
from vigil_collector.pipeline import Pipeline
from vigil_collector.receive.body import decode_body
from vigil_collector.receive.services import SERVICES, OtlpService
from vigil_collector.receive.status_map import grpc_status, http_status, retryable

log = logging.getLogger(__name__)

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_PROTOBUF_ALIASES = {PROTOBUF, "application/protobuf"}


class OtlpHttpReceiver:
    def __init__(
        self,
        pipeline: Pipeline,
        auth: Authenticator,
        *,
        max_body_bytes: int,
        retry_after_s: int,
        max_concurrent: int | None = None,
    ) -> None:
        self._max_concurrent = max_concurrent
        self._running = 0  # exports in progress
        self._pipeline = pipeline
        self._auth = auth
        self._max_body_bytes = max_body_bytes
        self._retry_after_s = retry_after_s

    def add_routes(self, app: web.Application) -> None:
        for service in SERVICES:
            app.router.add_post(service.http_path, functools.partial(self._limited, service))

    async def _limited(self, service: OtlpService, request: web.Request) -> web.Response:
        if self._max_concurrent is not None and self._running >= self._max_concurrent:
            busy = Overloaded(
                f"{self._running} OTLP/HTTP requests are in progress, the most this server takes at "
                "once (VIGIL_OTLP_HTTP_MAX_CONCURRENT); retry shortly"
            )
            request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:16]
            return self._error(busy, request.content_type == JSON, request_id)
        self._running += 1
        try:
            return await self.export(service, request)
        finally:
            self._running -= 1

    async def export(self, service: OtlpService, request: web.Request) -> web.Response:
        request_id = request.headers.get("X-Request-Id") or uuid.uuid4().hex[:16]
        mime = request.content_type
        as_json = mime == JSON
        try:
            if not as_json and mime not in _PROTOBUF_ALIASES:
                raise UnsupportedMedia(f"unsupported Content-Type {mime!r}; use {PROTOBUF} or {JSON}")
            principal = await self._auth.check(
                request.headers.get("Authorization"), INGEST, peer=request.remote or ""
            )
            body = await self._read(request)
            export = self._pipeline.export_json if as_json else self._pipeline.export_proto
            result = await export(body, "http", principal.project, service.signal)
        except (IngestError, AuthError) as exc:
            level = logging.WARNING if retryable(exc) else logging.INFO
            log.log(level, "OTLP/HTTP export refused: %s", exc.reason, extra={"request_id": request_id})
            return self._error(exc, as_json, request_id)
        except Exception:  # a bug: the client gets a request id, the log the traceback
            log.exception("OTLP/HTTP export failed (request id %s)", request_id)
            status = status_pb2.Status(
                code=grpc.StatusCode.INTERNAL.value[0], message=f"internal error (request id {request_id})"
            )
            return self._message(500, status, as_json, request_id)
        return self._message(200, service.response(result), as_json, request_id)

    async def _read(self, request: web.Request) -> bytes:
        length = request.content_length
        if length is not None and length > self._max_body_bytes:
            raise BodyTooLarge(
                f"request body of {length} bytes exceeds the limit of {self._max_body_bytes} bytes"
            )
        try:
            raw = await request.read()  # client_max_size caps chunked bodies too
        except web.HTTPRequestEntityTooLarge:
            raise BodyTooLarge(f"request body exceeds the limit of {self._max_body_bytes} bytes") from None
        return decode_body(raw, request.headers.get("Content-Encoding"), self._max_body_bytes)

    def _error(self, exc: IngestError | AuthError, as_json: bool, request_id: str) -> web.Response:
        status = status_pb2.Status(code=grpc_status(exc).value[0], message=exc.reason)
        response = self._message(http_status(exc), status, as_json, request_id)
        if isinstance(exc, AuthError) and http_status(exc) == 401:
            response.headers["WWW-Authenticate"] = 'Bearer realm="vigil"'
        if retryable(exc):
            response.headers["Retry-After"] = str(self._retry_after_s)
        return response

    @staticmethod
    def _message(status: int, message, as_json: bool, request_id: str) -> web.Response:
        headers = {"X-Request-Id": request_id}
        if as_json:
            body = json_format.MessageToJson(message, indent=None).encode()
            return web.Response(status=status, body=body, content_type=JSON, headers=headers)
        return web.Response(
            status=status, body=message.SerializeToString(), content_type=PROTOBUF, headers=headers
        )
