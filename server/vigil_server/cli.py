"""``vigil`` command line: ``serve`` (all-in-one, or ``--role``), ``query``, ``drift-detect``, ``migrate``, ``simulate`` and ``sink``."""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import logging
import os
import sys

from pydantic import ValidationError

from vigil_alerting.errors import AlertingError
from vigil_auth.secret import SecretError
from vigil_collector.wal.journal import WalLocked
from vigil_query.drift.detector import evaluate_once
from vigil_server.admin_cli import add_admin_commands, run_admin_command
from vigil_server.app import detect_drift, serve, serve_query
from vigil_server.logs import configure_logging
from vigil_server.schema_ddl import print_ddl
from vigil_server.settings import VigilSettings, deprecated_names
from vigil_server.wiring.query import make_reader
from vigil_server.wiring.schema import migrate_all
from vigil_simulator.cli import add_simulate_command, run_simulate
from vigil_simulator.sink import add_sink_command, run_sink
from vigil_storage import StorageError

log = logging.getLogger("vigil")
PRIVATE_UMASK = 0o077


def settings_errors(exc: ValidationError) -> str:
    """One line per invalid setting, without the value given: values can be secrets (a DSN's
    password, an API key)."""
    lines = []
    for error in exc.errors(include_input=False, include_url=False):
        name = ".".join(str(part) for part in error["loc"]) or "settings"
        # A setting with an alias (a deprecated name) is reported under its full new name.
        env = name.upper() if name.upper().startswith("VIGIL_") else f"VIGIL_{name.upper()}"
        lines.append(f"  {env}: {error['msg']}")
    return "\n".join(lines)


def warn_about_exposure(settings: VigilSettings) -> None:
    """Say at start, once, how a network-facing server without protection is exposed."""
    if settings.auth == "off" and settings.listens_on_network:
        log.warning(
            "authentication is off (VIGIL_AUTH=off) and the servers listen on %s: anyone who can "
            "reach them can read and write all data (the HTTP ports answer only loopback names and "
            "VIGIL_ALLOWED_HOSTS)",
            settings.listen_host,
        )
    if settings.auth_enabled and settings.listens_on_network and settings.tls() is None:
        log.warning(
            "INSECURE: authentication is on but the servers listen on %s without TLS: API keys, "
            "passwords and session tokens travel in clear text and anyone on the network path can "
            "read and reuse them; set VIGIL_TLS_CERT_FILE and VIGIL_TLS_KEY_FILE, or put a TLS "
            "proxy in front and listen on 127.0.0.1",
            settings.listen_host,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="vigil", description="OpenTelemetry tracing backend on ClickHouse.")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_cmd = sub.add_parser(
        "serve", help="run the all-in-one server (OTLP gRPC + HTTP, embedded chDB by default), or one role"
    )
    serve_cmd.add_argument(
        "--role",
        choices=("all", "collector", "query", "worker"),
        help="what this process runs (default VIGIL_ROLE, all): see docs/deploy.md",
    )
    sub.add_parser("query", help="run only the query service (gRPC :4319), e.g. against a ClickHouse server")
    drift = sub.add_parser(
        "drift-detect",
        help="run only the drift detector (every VIGIL_DRIFT_INTERVAL_S), or one pass with --once",
    )
    drift.add_argument("--once", action="store_true", help="evaluate once, print a JSON report, and exit")
    migrate = sub.add_parser("migrate", help="apply schema migrations (of every project's database) and exit")
    migrate.add_argument(
        "--print-ddl",
        action="store_true",
        help="print the DDL it would run on an empty deployment, run nothing",
    )
    migrate.add_argument(
        "--cluster",
        metavar="NAME",
        help="render for this ClickHouse cluster (default VIGIL_CLICKHOUSE_CLUSTER)",
    )
    add_admin_commands(sub)
    add_simulate_command(sub)
    add_sink_command(sub)
    args = parser.parse_args(argv)
    if args.command == "simulate":  # a client of any Vigil: the server's settings do not apply
        return run_simulate(args)
    if args.command == "sink":  # the walk-through's local receiver (docs/walkthrough.md)
        return run_sink(args)

    overrides: dict[str, str] = {}
    if args.command == "serve" and args.role:
        overrides["role"] = args.role
    if args.command == "migrate" and args.cluster is not None:
        overrides["clickhouse_cluster"] = args.cluster
    try:
        settings = VigilSettings(**overrides)
    except ValidationError as exc:
        print(f"vigil: invalid settings:\n{settings_errors(exc)}", file=sys.stderr)
        return 2
    # Every file this process makes (the log, dead letters, the secret, the embedded
    # ClickHouse's own) holds users' prompts or keys: this user's only (0600, dirs 0700).
    os.umask(PRIVATE_UMASK)
    configure_logging(settings.log_level, settings.log_format, settings.secrets())
    if args.command in ("serve", "query"):
        problem = settings.auth_problem()
        if problem:
            print(f"vigil: cannot start: {problem}", file=sys.stderr)
            return 2
        warn_about_exposure(settings)
        for message in deprecated_names():
            log.warning("%s (read under the old name for this release)", message)

    if args.command == "serve":
        try:
            asyncio.run(serve(settings))
        # The log's directory taken, a port in use, a bad secret, rules or alertmanager.yml.
        except (WalLocked, OSError, SecretError, AlertingError) as exc:
            print(f"vigil: cannot start: {exc}", file=sys.stderr)
            return 1
        return 0
    if args.command == "query":
        asyncio.run(serve_query(settings))
        return 0
    if args.command == "drift-detect":
        if not args.once:
            asyncio.run(detect_drift(settings))
            return 0
        reader = make_reader(settings)
        try:
            report = evaluate_once(reader, settings.drift_detector_config())
        except StorageError as exc:
            log.error("drift evaluation failed: %s", exc.reason)
            return 1
        finally:
            reader.close()
        print(json.dumps(dataclasses.asdict(report)))
        return 0
    if args.command == "migrate" and args.print_ddl:
        print(
            print_ddl(
                settings.database, settings.system_database, settings.traces_ttl_days, settings.cluster()
            )
        )
        return 0
    if args.command == "migrate":
        try:
            client = settings.connect_storage()
            applied = migrate_all(client, settings)
        except StorageError as exc:
            log.error("migration failed: %s", exc.reason)
            return 1
        log.info("migrations applied", extra={"applied": applied, "database": settings.database})
        return 0
    if args.command in ("projects", "keys", "users", "prices"):
        return run_admin_command(args, settings)
    return 2


if __name__ == "__main__":
    sys.exit(main())
