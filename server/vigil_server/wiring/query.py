"""The query service's part: its reader and writer, the servicers (query, admin, and alerting
where the rules run), the gRPC and web ports' Host check."""

from __future__ import annotations

import grpc

from vigil_alerting.projects import Alerting
from vigil_alerting.service import AlertingService
from vigil_auth.authenticator import Authenticator
from vigil_auth.host_guard import HostGuard
from vigil_proto.alerting.v1 import alerting_pb2, alerting_pb2_grpc
from vigil_query.api.server import QueryServer, Servicer
from vigil_query.api.service import QueryService
from vigil_query.reader import Reader, Writer
from vigil_server.alerting_split import ActiveWorker, Forwarder
from vigil_server.settings import VigilSettings
from vigil_server.worker_lease import WorkerLease


def host_guard(s: VigilSettings) -> HostGuard | None:
    """The HTTP ports' Host check, only while auth is off: with auth on, credentials protect
    the ports and the server may be reached by any name."""
    return None if s.auth_enabled else HostGuard(s.allowed_hosts)


def make_reader(s: VigilSettings) -> Reader:
    """The query service's reads on VIGIL_QUERY_DSN (a read-only user's, where one is set),
    its writes on the storage DSN, each with its own threads and clients."""
    writer = Writer(
        s.dsn,
        s.database,
        system_database=s.system_database,
        timeout_s=s.query_timeout_s,
        threads=max(1, s.query_threads // 2),
        connect_timeout_s=s.storage_connect_timeout_s,
        max_inflight=s.query_max_inflight,
    )
    return Reader(
        s.reader_dsn,
        s.database,
        writer=writer,
        system_database=s.system_database,
        timeout_s=s.query_timeout_s,
        max_rows=s.query_max_rows,
        threads=s.query_threads,
        connect_timeout_s=s.storage_connect_timeout_s,
        max_inflight=s.query_max_inflight,
        max_memory_bytes=s.query_max_memory_bytes,
    )


def make_query_service(s: VigilSettings, auth: Authenticator) -> QueryService:
    return QueryService(make_reader(s), auth, s.drift_thresholds(), s.replay_providers(), s.replay_limits())


ALERTING = alerting_pb2.DESCRIPTOR.services_by_name["AlertingService"]


def make_active_worker(s: VigilSettings) -> ActiveWorker:
    """The query role's view of the worker lease: where the active worker serves the alerting
    API (read again every lease renewal, or when the worker found there is gone)."""
    lease = WorkerLease(
        s.connect_storage,
        s.system_database,
        holder="",  # never claims: only reads
        ttl_s=s.worker_lease_ttl_s,
        renew_s=s.worker_lease_renew_s,
        cluster=s.cluster() is not None,
    )
    tls = s.tls()
    # The worker serves with the deployment's certificate: it is trusted as the root (self-signed
    # or a file that holds its CA), and must name the worker's advertised host.
    credentials = grpc.ssl_channel_credentials(tls.cert_file.read_bytes()) if tls else None
    return ActiveWorker(lease, s.worker_lease_renew_s, credentials, close_grace_s=s.shutdown_timeout_s)


def make_query_server(
    s: VigilSettings,
    auth: Authenticator,
    alerting: Alerting | None = None,
    active_worker: ActiveWorker | None = None,
) -> QueryServer:
    """The query and admin APIs; the alerting API where the rules are evaluated (``alerting``,
    role all), or forwarded to the worker that evaluates them (``active_worker``, role query)."""
    service = make_query_service(s, auth)
    servicers = []
    alerts: object | None = None
    if alerting is not None:
        alerts = AlertingService(service.reader, auth, alerting, s.rules_backtest_max_steps)
    elif active_worker is not None:
        alerts = Forwarder(ALERTING, active_worker)
    if alerts is not None:
        servicers.append(Servicer(ALERTING, alerts, alerting_pb2_grpc.add_AlertingServiceServicer_to_server))
    return QueryServer(
        service,
        s.traces_ttl_days,
        s.ui_dir,
        max_concurrent_rpcs=s.query_max_concurrent_rpcs,
        web_max_concurrent=s.web_max_concurrent,
        servicers=servicers,
    )
