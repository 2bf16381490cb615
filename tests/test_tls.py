"""TLS on every listener with VIGIL_TLS_CERT_FILE/VIGIL_TLS_KEY_FILE: the stock exporters
(gRPC with the CA as credentials, HTTP with certificate_file, as OTEL_EXPORTER_OTLP_CERTIFICATE
sets them) and QueryClient reach it over https; plain-text clients do not get in."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import grpc
import pytest
from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter
from opentelemetry.sdk.trace.export import SpanExportResult

from vigil import QueryClient, QueryError

from support import RunningApp, make_settings
from test_otlp_roundtrip import record_spans

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is not installed")


def self_signed(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


def test_every_listener_speaks_tls(tmp_path: Path, chdb_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override the exporter's
    # certificate_file (a session-level verify): unset them, as on most machines.
    monkeypatch.delenv("REQUESTS_CA_BUNDLE", raising=False)
    monkeypatch.delenv("CURL_CA_BUNDLE", raising=False)
    cert, key = self_signed(tmp_path)
    app = RunningApp(
        make_settings(chdb_dir, database="tls", tls_cert_file=cert, tls_key_file=key, drift_interval_s=0)
    )
    try:
        grpc_exporter = GrpcExporter(
            endpoint=f"https://localhost:{app.ports.otlp_grpc}",
            credentials=grpc.ssl_channel_credentials(cert.read_bytes()),
        )
        http_exporter = HttpExporter(
            endpoint=f"https://localhost:{app.ports.otlp_http}/v1/traces", certificate_file=str(cert)
        )
        assert grpc_exporter.export(record_spans("tls-grpc")) == SpanExportResult.SUCCESS
        assert http_exporter.export(record_spans("tls-http")) == SpanExportResult.SUCCESS
        grpc_exporter.shutdown()
        http_exporter.shutdown()
        app.flush()
        with QueryClient(f"localhost:{app.ports.query}", tls_ca_file=str(cert)) as client:
            assert client.services() == ["tls-grpc", "tls-http"]
        with QueryClient(f"localhost:{app.ports.query}", timeout_s=5) as plain, pytest.raises(QueryError):
            plain.services()
    finally:
        app.stop()
