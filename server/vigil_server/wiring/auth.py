"""The authenticator every role shares: API keys, sessions, the registry's link."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from vigil_auth import registry
from vigil_auth.authenticator import Authenticator
from vigil_auth.keys import KeyHasher
from vigil_auth.secret import server_secret, session_secret
from vigil_auth.tokens import TokenSigner
from vigil_collector.wal.state import private_dir
from vigil_server.settings import VigilSettings


def make_authenticator(
    s: VigilSettings, failure_counter: Callable[[str], Any] | None = None, local_admin_token: str = ""
) -> Authenticator:
    private_dir(s.data_dir)  # the secrets, the log and the embedded ClickHouse live there
    # Two secrets: ending every session (a new session secret) voids no API key.
    return Authenticator(
        enabled=s.auth_enabled,
        hasher=KeyHasher(server_secret(s.auth_secret.get_secret_value(), s.data_dir)),
        signer=TokenSigner(
            session_secret(s.session_secret.get_secret_value(), s.data_dir), access_ttl_s=s.auth_token_ttl_s
        ),
        link=registry.Link(
            s.connect_storage, s.system_database, main=s.database, ended_window_s=s.auth_token_ttl_s + 60
        ),
        local_admin_token=local_admin_token,
        default_database=s.database,
        limits=s.abuse_limits(),
        on_failure=(lambda reason: failure_counter(reason).inc())
        if failure_counter
        else (lambda reason: None),
    )
