"""The jobs of which one copy runs per deployment (rules, drift detection; notifications,
actions and triage run inside the rules' loop), and the worker that runs them under the lease."""

from __future__ import annotations

import socket

from vigil_alerting.projects import Alerting
from vigil_auth.authenticator import Authenticator
from vigil_query.drift.detector import run_detector
from vigil_query.reader import Reader
from vigil_server.settings import VigilSettings
from vigil_server.wiring.alerting import alerting_job
from vigil_server.worker import Worker, WorkerJob
from vigil_server.worker_lease import WorkerLease, new_holder


def worker_jobs(
    s: VigilSettings, reader: Reader, auth: Authenticator, alerting: Alerting | None = None
) -> list[WorkerJob]:
    """The jobs of which one copy runs per deployment: in role all, in this process; in role
    worker, while it holds the worker lease (worker.py). Notifications, actions and triage
    join here as they are built. (In role all the rules start with the query service instead,
    since the alerting API it serves reads their loop: ``alerting`` is then not given.)"""
    jobs = [alerting_job(alerting)] if alerting is not None else []
    if s.drift_interval_s > 0:
        config = s.drift_detector_config()
        jobs.append(WorkerJob("drift", lambda stop: run_detector(reader, config, stop, auth.databases)))
    return jobs


def advertised_address(s: VigilSettings, port: int) -> str:
    """Where the query role reaches this worker's alerting API: VIGIL_WORKER_ADVERTISE_ADDRESS,
    else the address it binds (the host name when it binds every address) and the bound port."""
    if s.worker_advertise_address:
        return s.worker_advertise_address
    host = s.listen_host if s.listen_host not in ("0.0.0.0", "::", "") else socket.gethostname()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def make_worker(
    s: VigilSettings,
    reader: Reader,
    auth: Authenticator,
    alerting: Alerting | None = None,
    address: str = "",
) -> Worker:
    lease = WorkerLease(
        s.connect_storage,
        s.system_database,
        new_holder(s.collector_id),
        ttl_s=s.worker_lease_ttl_s,
        renew_s=s.worker_lease_renew_s,
        cluster=s.cluster() is not None,
        address=address,
    )
    return Worker(lease, worker_jobs(s, reader, auth, alerting), renew_s=s.worker_lease_renew_s)
