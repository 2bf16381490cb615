"""TLS on every listener (VIGIL_TLS_CERT_FILE and VIGIL_TLS_KEY_FILE, PEM): the same
certificate, and for the HTTP ports the same SSLContext settings, for OTLP gRPC, OTLP HTTP,
the query API and the web port."""

from __future__ import annotations

import ssl
from dataclasses import dataclass
from pathlib import Path

import grpc


@dataclass(frozen=True)
class Tls:
    cert_file: Path
    key_file: Path

    def grpc_credentials(self) -> grpc.ServerCredentials:
        return grpc.ssl_server_credentials([(self.key_file.read_bytes(), self.cert_file.read_bytes())])

    def ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        context.load_cert_chain(self.cert_file, self.key_file)
        return context
