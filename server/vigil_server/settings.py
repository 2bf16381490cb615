"""The one settings object of the Vigil server.

Built once at start-up (``VigilSettings()``: environment variables prefixed ``VIGIL_`` and an
optional ``.env`` file) and passed down; no other module reads the environment.
"""

from __future__ import annotations

import ipaddress
import os
import socket
from collections.abc import Mapping
from pathlib import Path
from typing import Literal
from urllib.parse import unquote, urlparse

from clickhouse_connect.driver.client import Client
from dotenv import dotenv_values
from pydantic import AliasChoices, Field, SecretStr, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from vigil_alerting.actions.remediator import Remediator
from vigil_alerting.rules.builtin import SELF_RULE_NAMES
from vigil_alerting.triage.runner import TriageConfig
from vigil_auth.secret import check_length
from vigil_auth.throttle import AbuseLimits
from vigil_query.api.web_app import default_ui_dir
from vigil_query.drift.detector import DetectorConfig
from vigil_query.drift.psi import Thresholds
from vigil_query.replay.caps import Caps
from vigil_query.replay.providers import ProviderConfig, ProviderEndpoint
from vigil_query.replay.service import ReplayLimits
from vigil_server.tls import Tls
from vigil_storage import connect
from vigil_storage.cluster import Cluster
from vigil_storage.migrate import quote_identifier

MIB = 1024 * 1024


# Old environment names still read, for one release, and their new names (see deprecated_names).
DEPRECATED_NAMES = {
    "VIGIL_BATCH_MAX_SPANS": "VIGIL_BATCH_MAX_COST",
    "VIGIL_QUEUE_MAX_SPANS": "VIGIL_QUEUE_MAX_COST",
}


def deprecated_names(
    environ: Mapping[str, str] | None = None, env_file: Path | None = Path(".env")
) -> list[str]:
    """The deprecated names set in ``environ`` (default: the process's environment) or in
    ``env_file``, each as a sentence saying its new name, to warn about at start (the values
    are read under the old names all the same)."""
    names = {name.upper() for name in (os.environ if environ is None else environ)}
    if env_file is not None and env_file.is_file():
        names |= {name.upper() for name in dotenv_values(env_file)}
    return [f"{old} is deprecated: use {new}" for old, new in DEPRECATED_NAMES.items() if old in names]


class VigilSettings(BaseSettings):
    # populate_by_name: a setting with an alias (the deprecated names) is still given by its
    # field name in code and tests.
    model_config = SettingsConfigDict(
        env_prefix="VIGIL_", env_file=".env", extra="ignore", populate_by_name=True
    )

    # --- storage -------------------------------------------------------------------------
    data_dir: Path = Field(
        default=Path(".vigil-data"),
        description="Directory of the embedded ClickHouse (chDB) when storage_dsn is not set.",
    )
    storage_dsn: str = Field(
        default="",
        description=(
            "Where ClickHouse is: 'chdb:///abs/dir' for embedded chDB (the default, under data_dir) "
            "or 'http(s)://user:pass@host:8123' for a ClickHouse server."
        ),
    )
    database: str = Field(default="otel", description="Database holding otel_traces and vigil_* tables.")
    system_database: str = Field(
        default="vigil_system",
        description="Database of the control plane (users, API keys, members, projects, the price book); "
        "never a telemetry database, so that a user given those (Grafana) cannot read credentials.",
    )
    query_dsn: str = Field(
        default="",
        description="DSN of the query service's reads, e.g. a read-only ClickHouse user; default: the "
        "storage DSN. Writes (replays, alert resolutions, admin RPCs) use the storage DSN.",
    )
    traces_ttl_days: int = Field(
        default=0, ge=0, description="Drop trace partitions older than this; 0 keeps all."
    )
    storage_connect_timeout_s: float = Field(
        default=5.0, gt=0, description="Time limit of connecting to ClickHouse."
    )
    insert_timeout_s: float = Field(default=30.0, gt=0, description="Time limit of one INSERT.")

    # --- network -------------------------------------------------------------------------
    listen_host: str = Field(default="127.0.0.1", description="Address the servers bind; 0.0.0.0 for all.")
    otlp_grpc_port: int = Field(
        default=4317, ge=0, le=65535, description="OTLP/gRPC port; 0 picks a free port."
    )
    otlp_http_port: int = Field(
        default=4318, ge=0, le=65535, description="OTLP/HTTP port; 0 picks a free port."
    )
    query_port: int = Field(
        default=4319,
        ge=0,
        le=65535,
        description="Query API (gRPC) port, a worker's alerting API's too; 0 picks a free port.",
    )
    web_port: int = Field(
        default=4320,
        ge=0,
        le=65535,
        description="The web UI and the query and admin APIs over Connect; 0 picks a free port.",
    )
    ui_dir: Path = Field(
        default_factory=default_ui_dir, description="The built web UI the web port serves (make ui)."
    )

    # --- authentication ---------------------------------------------------------------------
    auth: str = Field(
        default="",
        pattern="^(on|off|)$",
        description="on: every OTLP and query request needs a credential; off: none does. Unset: off, "
        "allowed only while every listener binds a loopback address.",
    )
    auth_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Key of the API-key hashes; default: a random one in $VIGIL_DATA_DIR/auth-secret. "
        "Set it alike on every process of a deployment.",
    )
    session_secret: SecretStr = Field(
        default=SecretStr(""),
        description="Key that signs users' session tokens (≥ 32 bytes); default: a random one in "
        "$VIGIL_DATA_DIR/session-secret. Changing it ends every session and voids no API key.",
    )

    auth_token_ttl_s: int = Field(
        default=900, gt=0, description="Lifetime of a user's access token (refresh tokens: 7 days)."
    )

    # --- what unauthenticated callers may cost (docs/security/abuse-limits.md) ------------------
    auth_throttle_free: int = Field(
        default=10,
        ge=0,
        description="Failed credentials one address may present per window before its answers are slowed.",
    )
    auth_throttle_step_s: float = Field(
        default=0.1,
        ge=0,
        description="Each further failure of that address delays its answers by this much more...",
    )
    auth_throttle_max_delay_s: float = Field(default=2.0, ge=0, description="...up to this delay per answer.")
    auth_throttle_window_s: float = Field(
        default=60.0, gt=0, description="An address's failures are counted over this window."
    )
    auth_throttle_max_addresses: int = Field(
        default=10_000,
        gt=0,
        description="Addresses the failure throttle remembers (the least recently failing are forgotten).",
    )
    auth_login_max_concurrent: int = Field(
        default=8,
        gt=0,
        description="Login calls in progress at once; beyond, RESOURCE_EXHAUSTED / 429 at once.",
    )
    auth_password_threads: int = Field(
        default=1,
        ge=1,
        le=8,
        description="Threads of the pool that runs Argon2 (each hash: ~50 ms of a core, 64 MiB).",
    )
    auth_miss_reload_s: float = Field(
        default=1.0,
        gt=0,
        description="An unknown API key starts a background reload of the keys, at most one per this interval.",
    )
    otlp_grpc_max_concurrent_rpcs: int = Field(
        default=1024, gt=0, description="OTLP/gRPC calls in progress at once; beyond, RESOURCE_EXHAUSTED."
    )
    otlp_http_max_concurrent: int = Field(
        default=1024, gt=0, description="OTLP/HTTP exports in progress at once; beyond, 503 with Retry-After."
    )
    query_max_concurrent_rpcs: int = Field(
        default=256,
        gt=0,
        description="Query/admin gRPC calls (live tails included) in progress at once; beyond, RESOURCE_EXHAUSTED.",
    )
    web_max_concurrent: int = Field(
        default=256, gt=0, description="Connections and requests of the web port at once; beyond, 503."
    )

    metrics_require_key: bool = Field(
        default=True,
        description="With auth on, /metrics needs a credential with the read scope (Prometheus: a "
        "bearer `authorization` in its scrape_config).",
    )
    allowed_hosts: list[str] = Field(
        default=[],
        description="While auth is off, the HTTP ports (OTLP/HTTP, web) answer only requests whose Host "
        "is a loopback name or one of these (JSON list; '*.example.com' for the names under it, '*' "
        "for any: no DNS-rebinding protection).",
    )
    dead_letter_max_bytes: int = Field(
        default=1024 * MIB,
        gt=0,
        description="Disk the dead-letter folder may use; beyond it the oldest dead letters are "
        "deleted (counted in vigil_dead_letters_dropped_total).",
    )
    tls_cert_file: Path | None = Field(
        default=None, description="PEM certificate (chain) for TLS on every listener, with tls_key_file."
    )
    tls_key_file: Path | None = Field(default=None, description="PEM private key of tls_cert_file.")

    # --- idempotent ingest and self-monitoring------------------------------------------
    ingest_dedup_window_s: float = Field(
        default=600.0,
        ge=0,
        description="An OTLP request retried with an identical (decompressed) body for the same project "
        "within this many seconds is acknowledged and stored once, across restarts too "
        "(vigil_ingest_duplicate_requests_total); 0 turns it off.",
    )
    self_monitor_interval_s: float = Field(
        default=15.0,
        ge=0,
        description="Every this many seconds Vigil's own metrics are stored as OTLP metrics of service "
        "`vigil` in the default project (docs/runbooks/); 0 turns self-monitoring off.",
    )
    self_monitor_rules_disabled: list[str] = Field(
        default=[],
        description="Built-in self-monitoring rules not to evaluate (JSON list of names such as "
        '"vigil-dead-letters"; ["*"] for all of them).',
    )
    self_monitor_auth_failures: float = Field(
        default=100,
        ge=0,
        description="Refused credentials in 5 minutes above which vigil-auth-failures-spike fires.",
    )
    self_monitor_slow_query_s: float = Field(
        default=5.0,
        gt=0,
        description="Query p99 over 5 minutes (seconds) above which vigil-slow-queries fires.",
    )

    # --- query service -------------------------------------------------------------------
    query_timeout_s: float = Field(default=10.0, gt=0, description="ClickHouse time limit of one query.")
    query_max_rows: int = Field(default=1_000_000, gt=0, description="Row limit of one query's result.")
    query_max_memory_bytes: int = Field(
        default=2 * 1024 * MIB,
        ge=0,
        description="Memory one query may use in ClickHouse; beyond it RESOURCE_EXHAUSTED. 0 = no limit of ours.",
    )
    query_threads: int = Field(default=4, gt=0, description="Queries that run at the same time.")
    query_max_inflight: int = Field(
        default=16,
        gt=0,
        description="Query RPCs running or waiting for a thread; beyond it RESOURCE_EXHAUSTED (retry shortly).",
    )

    # --- drift detection (PSI) -------------------------------------------------------------
    drift_interval_s: float = Field(
        default=300.0, ge=0, description="How often `vigil serve` evaluates drift; 0 = no detector."
    )
    drift_metrics: list[str] = Field(
        default=["duration", "input_tokens", "output_tokens"], description="Metrics the detector evaluates."
    )
    drift_group_by: list[str] = Field(
        default=["service.name", "span.name"],
        description="Group keys: service.name, span.name, or attribute keys such as gen_ai.request.model.",
    )
    drift_bins: int = Field(default=10, ge=2, le=100, description="Bins of the PSI histograms.")
    drift_min_samples: int = Field(default=0, ge=0, description="Per window; 0 = 10 x drift_bins.")
    drift_current_s: float = Field(
        default=3600.0, gt=0, description="Current window: the last this many seconds."
    )
    drift_baseline_s: float = Field(
        default=86400.0, gt=0, description="Baseline window: this many seconds before the current one."
    )
    drift_medium: float = Field(default=0.1, gt=0, description="PSI from which drift is 'medium'.")
    drift_high: float = Field(default=0.2, gt=0, description="PSI from which drift is 'high'.")

    # --- alert rules ---------------------------------------------------------------------------
    rules_file: Path | None = Field(
        default=None,
        description="Alert rules as code: a YAML or JSON file of policies (docs/alerting.md); read-only via the API.",
    )
    rules_interval_s: float = Field(
        default=30.0, gt=0, description="Default evaluation interval of an alert rule that sets none."
    )
    rules_backtest_max_steps: int = Field(
        default=20160, ge=1, description="BacktestRule: at most this many evaluations (7 days at 30 s)."
    )

    # --- notifications (docs/notifications.md) ---------------------------------------------------
    alertmanager_config: Path | None = Field(
        default=None,
        description="An Alertmanager configuration file (alertmanager.yml): routes, receivers, inhibit rules, "
        "time intervals.",
    )
    alertmanager_url: str = Field(
        default="", description="An external Alertmanager to forward alerts to (POST {url}/api/v2/alerts)."
    )
    alertmanager_resend_s: float = Field(
        default=60.0, gt=0, description="How often firing alerts are re-sent to the external Alertmanager."
    )
    notify_external_url: str = Field(
        default="", description="Vigil's URL as users reach it: links to alerts and traces in notifications."
    )
    notify_retry_base_s: float = Field(
        default=1.0, gt=0, description="First retry delay of a notification; doubles each attempt."
    )
    notify_retry_max_s: float = Field(default=300.0, gt=0, description="Longest delay between two attempts.")
    notify_max_attempts: int = Field(
        default=10, gt=0, description="Attempts before a notification is marked failed."
    )
    notify_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Time limit of one delivery attempt (unless the receiver sets timeout).",
    )
    notify_max_in_flight: int = Field(
        default=64, gt=0, description="Delivery attempts in flight at once, over all receivers."
    )
    notify_retention_days: float = Field(
        default=30.0, gt=0, description="How long delivered notifications and the delivery log are kept."
    )
    notify_silence_refresh_s: float = Field(
        default=5.0, gt=0, description="How often the notifier re-reads silences created by other processes."
    )

    # --- incidents (docs/incidents.md) ---------------------------------------------------------
    incidents_file: Path | None = Field(
        default=None,
        description="Incident escalation policies and their receivers (YAML or JSON; docs/incidents.md).",
    )
    incidents_correlate_by: list[str] = Field(
        default=[],
        description='Alert labels that key one incident across rules (e.g. ["service.name"]); empty: rule and group.',
    )
    incidents_reopen_window_s: float = Field(
        default=3600.0,
        ge=0,
        description="A rule firing again this soon after its incident resolved reopens it.",
    )
    incidents_auto_resolve: bool = Field(
        default=True, description="An incident resolves by itself when all its alerts have resolved."
    )
    incidents_tick_s: float = Field(
        default=5.0, gt=0, description="How often escalations due are looked for."
    )
    incidents_notify_timeout_s: float = Field(
        default=10.0,
        gt=0,
        description="Timeout of one escalation notification to a receiver of VIGIL_INCIDENTS_FILE.",
    )

    # --- actions and the remediator (docs/actions.md) ----------------------------------------
    remediator_url: str = Field(
        default="",
        description="Where actions' tasks are POSTed (JSON); empty with no per-action endpoint: no actions.",
    )
    remediator_endpoints: dict[str, str | Remediator] = Field(
        default={},
        description='Per-action remediators: a URL, or {"url", "secret", "concurrency", "timeout_s"} '
        '(e.g. {"restart": "http://…"}); other actions use the default.',
    )
    remediator_secret: SecretStr = Field(
        default=SecretStr(""),
        description="HMAC-SHA256 key: each task's body is signed in X-Vigil-Signature (empty: unsigned).",
    )
    remediator_concurrency: int = Field(
        default=4, ge=1, le=1000, description="Tasks in flight at once per remediator (per URL)."
    )
    actions_timeout_s: float = Field(
        default=10.0, gt=0, description="Timeout of one task sent to a remediator."
    )
    actions_max_attempts: int = Field(
        default=5, ge=1, description="Tries of an action (on timeouts and 5xx answers) before it fails."
    )
    actions_retry_base_s: float = Field(
        default=1.0, gt=0, description="Delay before an action's second try; doubled for each further one."
    )
    actions_retry_max_s: float = Field(default=60.0, gt=0, description="Longest delay between two tries.")
    actions_poll_s: float = Field(
        default=1.0, gt=0, description="Longest the action worker sleeps before looking at its queue again."
    )

    # --- triage of high and critical incidents (docs/incidents.md, "Triage") -----------------
    triage_enabled: bool = Field(
        default=True, description="Analyse every high or critical incident (a summary without a provider)."
    )
    triage_provider: Literal["", "openai", "anthropic"] = Field(
        default="",
        description="Provider of triage analyses (Replay's base URL and key); empty: a deterministic summary.",
    )
    triage_model: str = Field(default="", description="Model of triage analyses (needed with a provider).")
    triage_interval_s: float = Field(
        default=3600.0,
        gt=0,
        description="No new analysis of an incident this soon, unless its severity rises.",
    )
    triage_poll_s: float = Field(
        default=5.0,
        gt=0,
        description="How often triage looks for high and critical incidents not yet analysed.",
    )
    triage_timeout_s: float = Field(default=60.0, gt=0, description="Time limit of one triage provider call.")
    triage_claim_ttl_s: float = Field(
        default=300.0,
        gt=0,
        description="A triage claim lapses this long after it was taken (its analyser died).",
    )
    triage_claim_settle_s: float = Field(
        default=1.0, gt=0, description="Wait between writing a triage claim and reading back who won it."
    )
    triage_max_tokens: int = Field(
        default=16000, gt=0, description="Tokens of one analysis (estimated input + max output)."
    )
    triage_max_output_tokens: int = Field(default=1024, gt=0, description="max_tokens sent with an analysis.")
    triage_max_cost_usd: float = Field(
        default=0.25, gt=0, description="Most one analysis may cost (price book)."
    )
    triage_hourly_tokens: int = Field(
        default=200000, gt=0, description="Tokens all analyses may use per hour."
    )
    triage_hourly_cost_usd: float = Field(
        default=5.0, gt=0, description="USD all analyses may cost per hour."
    )

    # --- replay: where re-executed GenAI calls go --------------------------------------------
    replay_openai_base_url: str = Field(
        default="https://api.openai.com/v1", description="OpenAI-compatible API."
    )
    replay_openai_api_key: SecretStr = Field(
        default=SecretStr(""), description="Key for the OpenAI calls Replay(execute) sends."
    )
    replay_anthropic_base_url: str = Field(
        default="https://api.anthropic.com", description="Anthropic API for re-executed calls."
    )
    replay_anthropic_api_key: SecretStr = Field(
        default=SecretStr(""), description="Key for the Anthropic calls Replay(execute) sends."
    )
    replay_timeout_s: float = Field(default=60.0, gt=0, description="Time limit of one re-executed call.")
    replay_total_timeout_s: float = Field(
        default=300.0, gt=0, description="Time limit of a whole Replay RPC; beyond it DEADLINE_EXCEEDED."
    )
    replay_max_executing: int = Field(
        default=4, gt=0, description="Replay(execute) calls running at once; beyond it RESOURCE_EXHAUSTED."
    )
    replay_calls_in_flight: int = Field(
        default=8, gt=0, description="Provider calls one executed replay has open at once."
    )
    replay_max_spans: int = Field(
        default=20_000,
        gt=0,
        description="Traces with more spans are refused by Replay (it holds the whole trace).",
    )
    # What Replay(execute) may spend of the provider keys (the span's model and max_tokens are
    # anyone's with an ingest key): beyond a cap, RESOURCE_EXHAUSTED before anything is sent.
    replay_models: list[str] = Field(
        default=[], description="Models Replay(execute) may call; empty = the models the price book prices."
    )
    replay_max_calls: int = Field(default=20, gt=0, description="Provider calls of one executed replay.")
    replay_max_tokens: int = Field(
        default=200_000,
        gt=0,
        description="Tokens of one replay: estimated input + max_tokens, summed over its calls.",
    )
    replay_max_tokens_per_call: int = Field(
        default=4096,
        gt=0,
        description="max_tokens sent with each call (a larger stored value is lowered to it).",
    )
    replay_principal_calls: int = Field(
        default=200, gt=0, description="Provider calls per principal per VIGIL_REPLAY_CAP_WINDOW_S."
    )
    replay_principal_tokens: int = Field(
        default=2_000_000, gt=0, description="Tokens per principal per VIGIL_REPLAY_CAP_WINDOW_S."
    )
    replay_cap_window_s: float = Field(
        default=3600.0, gt=0, description="The sliding window of the per-principal replay caps."
    )

    # --- ingest limits and batching --------------------------------------------------------
    max_body_bytes: int = Field(
        default=64 * MIB, gt=0, description="Cap on a request body after decompression."
    )
    max_attributes_per_span: int = Field(
        default=1024, gt=0, description="Spans with more attributes are rejected."
    )
    max_attribute_value_length: int = Field(
        default=1 * MIB,
        gt=0,
        description="Longer attribute values (in characters) are truncated and reported.",
    )
    native_decode: bool = Field(
        default=True,
        description="Let ClickHouse decode OTLP/protobuf requests itself (a fifth to a third less CPU "
        "per span than decoding in Python); requests it cannot take are decoded in Python either way.",
    )
    native_decode_min_spans: int = Field(
        default=4096,
        ge=0,
        description="Smaller batches are decoded in Python all the same: ClickHouse spends ~80 ms "
        "planning a native INSERT, whatever its size.",
    )
    native_decode_min_points: int = Field(
        default=4096,
        ge=0,
        description="The same for metrics: batches with fewer data points are decoded in Python "
        "(each point type present costs one native INSERT).",
    )
    decode_workers: int = Field(
        default=-1,
        ge=-1,
        description="Processes that decode OTLP bodies: -1 = one per CPU core, 0 = in the event loop.",
    )
    wal_dir: Path | None = Field(
        default=None,
        description="Directory of the write-ahead log (default: $VIGIL_DATA_DIR/wal); needs a persistent volume.",
    )
    wal_max_bytes: int = Field(
        default=4 * 1024 * MIB,
        gt=0,
        description="Disk the write-ahead log may use; when full, ingest answers 'retry' until the writers catch up.",
    )
    wal_pace_s: float = Field(
        default=1.5,
        ge=0,
        description="While ClickHouse is healthy but slower than the clients, new requests wait before "
        "their ack, and the amount that may wait for it is sized so that each INSERT takes about this "
        "long (collector/vigil_collector/batch/pacing.py); smaller keeps acknowledged spans fresher "
        "under such load, larger gives more throughput; 0 = never wait.",
    )
    batch_max_cost: int = Field(
        default=50_000,
        gt=0,
        validation_alias=AliasChoices("VIGIL_BATCH_MAX_COST", "VIGIL_BATCH_MAX_SPANS"),
        description="An INSERT is sent at this cost, in units of one span (a log record costs one, "
        "eight metric data points one)... (VIGIL_BATCH_MAX_SPANS, its old name, is deprecated: still "
        "read for one release, with a warning at start.)",
    )
    batch_max_bytes: int = Field(
        default=64 * MIB,
        gt=0,
        description="...or this many bytes of log records (bounds the writers' memory)...",
    )
    batch_max_wait_s: float = Field(
        default=0.25, ge=0, description="...or when the oldest waiting request is this old."
    )
    insert_concurrency: int = Field(
        default=2,
        ge=1,
        description="INSERTs that may run at once: while one is written, the next batch goes in.",
    )
    queue_max_cost: int = Field(
        default=400_000,
        gt=0,
        validation_alias=AliasChoices("VIGIL_QUEUE_MAX_COST", "VIGIL_QUEUE_MAX_SPANS"),
        description="Cost (in units of one span, as VIGIL_BATCH_MAX_COST) of requests decoded but not yet "
        "fsynced in the log; beyond it ingest answers 'retry'. (VIGIL_QUEUE_MAX_SPANS, its old name, is "
        "deprecated: still read for one release, with a warning at start.)",
    )
    queue_max_bytes: int = Field(
        default=256 * MIB,
        gt=0,
        description="Bytes of requests received but not yet fsynced in the log; beyond it ingest answers 'retry'.",
    )
    retry_after_s: int = Field(default=1, ge=1, description="Retry-After sent with 503/429 answers.")
    shutdown_timeout_s: float = Field(
        default=30.0, gt=0, description="How long in-flight requests get to commit on SIGTERM."
    )

    # --- deployment: cluster, process roles, the worker lease (docs/deploy.md) -----------------
    clickhouse_cluster: str = Field(
        default="",
        pattern=r"^([A-Za-z_][A-Za-z0-9_]*)?$",
        description="A ClickHouse cluster name (remote_servers): migrations create replicated local tables "
        "ON CLUSTER with Distributed tables over them; empty: the single-node schema.",
    )
    collector_id: str = Field(
        default_factory=socket.gethostname,
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
        description="This collector's stable identity, part of every INSERT's deduplication token so that "
        "collectors never share tokens; default the host name (a StatefulSet pod's includes its ordinal).",
    )
    role: str = Field(
        default="all",
        pattern="^(all|collector|query|worker)$",
        description="What `vigil serve` runs: all, collector (OTLP, log, writers), query (gRPC, Connect, UI) "
        "or worker (rule evaluation, notifications, drift: one active per deployment); --role overrides.",
    )
    worker_lease_ttl_s: float = Field(
        default=30.0,
        gt=0,
        description="A worker's lease lasts this long unless renewed; then another takes over.",
    )
    worker_lease_renew_s: float = Field(
        default=10.0,
        gt=0,
        description="How often the active worker renews its lease, and a standby tries to take it.",
    )
    worker_advertise_address: str = Field(
        default="",
        pattern=r"^([^\s/]+:[0-9]{1,5})?$",
        description="host:port where the query role reaches this worker's alerting API (its VIGIL_QUERY_PORT), "
        "kept on the worker lease; empty: VIGIL_LISTEN_HOST (the host name if it binds all addresses) and the port.",
    )

    # --- logging -------------------------------------------------------------------------
    log_level: str = Field(default="INFO", description="Python log level.")
    log_format: str = Field(
        default="json",
        pattern="^(json|text)$",
        description="json: a JSON object a line on stderr; text: for humans.",
    )

    @field_validator("storage_dsn", "query_dsn")
    @classmethod
    def _known_scheme(cls, value: str, info: ValidationInfo) -> str:
        if value and not value.startswith(("chdb:", "http://", "https://")):
            scheme = value.split(":", 1)[0] if ":" in value else value[:10]
            raise ValueError(f"{info.field_name} must start with chdb:, http:// or https://, not {scheme!r}")
        return value

    @field_validator("self_monitor_rules_disabled")
    @classmethod
    def _known_self_rules(cls, value: list[str]) -> list[str]:
        unknown = sorted(set(value) - {"*", *SELF_RULE_NAMES})
        if unknown:
            raise ValueError(f"unknown self-monitoring rules {unknown}; known: {', '.join(SELF_RULE_NAMES)}")
        return value

    @field_validator("auth_secret", "session_secret")
    @classmethod
    def _long_secret(cls, value: SecretStr, info: ValidationInfo) -> SecretStr:
        check_length(value.get_secret_value(), f"VIGIL_{str(info.field_name).upper()}")
        return value

    @model_validator(mode="after")
    def _system_database_apart(self) -> VigilSettings:
        for name in (self.database, self.system_database):
            quote_identifier(name)  # a plain identifier, or ValueError naming it
        if self.system_database == self.database or self.system_database.startswith(f"{self.database}_"):
            raise ValueError(
                f"VIGIL_SYSTEM_DATABASE={self.system_database} must not be VIGIL_DATABASE ({self.database}) "
                f"or a project's database ({self.database}_<project>): credentials would sit among telemetry"
            )
        return self

    @model_validator(mode="after")
    def _lease_renewed_in_time(self) -> VigilSettings:
        if self.worker_lease_renew_s >= self.worker_lease_ttl_s:
            raise ValueError("VIGIL_WORKER_LEASE_RENEW_S must be shorter than VIGIL_WORKER_LEASE_TTL_S")
        return self

    def cluster(self) -> Cluster | None:
        """The ClickHouse cluster the schema is rendered for, if any (storage/vigil_storage/cluster.py)."""
        return Cluster(self.clickhouse_cluster) if self.clickhouse_cluster else None

    @model_validator(mode="after")
    def _tls_pair(self) -> VigilSettings:
        if (self.tls_cert_file is None) != (self.tls_key_file is None):
            raise ValueError("VIGIL_TLS_CERT_FILE and VIGIL_TLS_KEY_FILE go together: set both or neither")
        for path in (self.tls_cert_file, self.tls_key_file):
            if path is not None and not path.is_file():
                raise ValueError(f"TLS file {path} does not exist")
        return self

    def connect_storage(self) -> Client:
        """A new ClickHouse client on the storage DSN (each component that runs on a thread of
        its own gets one: a client is not shared between threads)."""
        return connect(self.dsn, connect_timeout_s=self.storage_connect_timeout_s)

    def tls(self) -> Tls | None:
        if self.tls_cert_file is None or self.tls_key_file is None:
            return None
        return Tls(self.tls_cert_file, self.tls_key_file)

    @model_validator(mode="after")
    def _drift_consistent(self) -> VigilSettings:
        self.drift_detector_config()  # raises ValueError with the reason
        return self

    def triage_config(self) -> TriageConfig:
        """Raises ValueError with the reason (a provider without a model, a claim TTL too short)."""
        endpoints = self.replay_providers()
        return TriageConfig(
            provider=self.triage_provider, model=self.triage_model,
            endpoints=ProviderConfig(endpoints.openai, endpoints.anthropic, timeout_s=self.triage_timeout_s),
            interval_s=self.triage_interval_s, poll_s=self.triage_poll_s, claim_ttl_s=self.triage_claim_ttl_s,
            claim_settle_s=self.triage_claim_settle_s, max_tokens=self.triage_max_tokens,
            max_output_tokens=self.triage_max_output_tokens, max_cost_usd=self.triage_max_cost_usd,
            hourly_tokens=self.triage_hourly_tokens, hourly_cost_usd=self.triage_hourly_cost_usd,
        )  # fmt: skip

    @model_validator(mode="after")
    def _triage_consistent(self) -> VigilSettings:
        if self.triage_enabled:
            self.triage_config()
        return self

    def replay_providers(self) -> ProviderConfig:
        return ProviderConfig(
            openai=ProviderEndpoint(
                self.replay_openai_base_url, self.replay_openai_api_key.get_secret_value()
            ),
            anthropic=ProviderEndpoint(
                self.replay_anthropic_base_url, self.replay_anthropic_api_key.get_secret_value()
            ),
            timeout_s=self.replay_timeout_s,
        )

    def replay_limits(self) -> ReplayLimits:
        return ReplayLimits(
            max_executing=self.replay_max_executing,
            calls_in_flight=self.replay_calls_in_flight,
            timeout_s=self.replay_total_timeout_s,
            max_spans=self.replay_max_spans,
            caps=Caps(
                max_calls=self.replay_max_calls,
                max_tokens=self.replay_max_tokens,
                max_tokens_per_call=self.replay_max_tokens_per_call,
                principal_calls=self.replay_principal_calls,
                principal_tokens=self.replay_principal_tokens,
                window_s=self.replay_cap_window_s,
                models=tuple(self.replay_models),
            ),
        )

    def abuse_limits(self) -> AbuseLimits:
        return AbuseLimits(
            throttle_free=self.auth_throttle_free,
            throttle_step_s=self.auth_throttle_step_s,
            throttle_max_delay_s=self.auth_throttle_max_delay_s,
            throttle_window_s=self.auth_throttle_window_s,
            throttle_max_addresses=self.auth_throttle_max_addresses,
            login_max_concurrent=self.auth_login_max_concurrent,
            password_threads=self.auth_password_threads,
            miss_reload_s=self.auth_miss_reload_s,
        )

    def drift_thresholds(self) -> Thresholds:
        return Thresholds(medium=self.drift_medium, high=self.drift_high)

    def drift_detector_config(self) -> DetectorConfig:
        return DetectorConfig(
            metrics=tuple(self.drift_metrics),
            group_by=tuple(self.drift_group_by),
            bins=self.drift_bins,
            min_samples=self.drift_min_samples,
            current_s=self.drift_current_s,
            baseline_s=self.drift_baseline_s,
            interval_s=self.drift_interval_s,
            thresholds=self.drift_thresholds(),
        )

    @property
    def auth_enabled(self) -> bool:
        return self.auth == "on"

    @property
    def listens_on_network(self) -> bool:
        return not _is_loopback(self.listen_host)

    def auth_problem(self) -> str | None:
        """Why the server must not start with this authentication setting, if it must not."""
        if self.auth or not self.listens_on_network:
            return None
        return (
            f"VIGIL_LISTEN_HOST={self.listen_host} is reachable from the network but VIGIL_AUTH is not set: "
            "set VIGIL_AUTH=on (and create API keys with `vigil keys create`), or VIGIL_AUTH=off to accept "
            "requests without credentials"
        )

    def secrets(self) -> list[str]:
        """Values that must never appear in a log line: the storage password (as given and
        URL-decoded), the provider API keys and the remediators' HMAC keys."""
        password = urlparse(self.storage_dsn).password or ""
        query_password = urlparse(self.query_dsn).password or ""
        return [
            password,
            unquote(password),
            query_password,
            unquote(query_password),
            self.replay_openai_api_key.get_secret_value(),
            self.replay_anthropic_api_key.get_secret_value(),
            self.auth_secret.get_secret_value(),
            self.session_secret.get_secret_value(),
            self.remediator_secret.get_secret_value(),
            *(
                e.secret.get_secret_value()
                for e in self.remediator_endpoints.values()
                if not isinstance(e, str)
            ),
        ]

    @property
    def dsn(self) -> str:
        """The storage DSN, defaulting to embedded chDB inside data_dir."""
        if self.storage_dsn:
            return self.storage_dsn
        return f"chdb://{(self.data_dir / 'clickhouse').resolve()}"

    @property
    def reader_dsn(self) -> str:
        """The query service's reading DSN: query_dsn, else the storage DSN."""
        return self.query_dsn or self.dsn

    @property
    def resolved_wal_dir(self) -> Path:
        return (self.wal_dir or self.data_dir / "wal").resolve()

    @property
    def resolved_decode_workers(self) -> int:
        if self.decode_workers >= 0:
            return self.decode_workers
        return max(1, min(os.cpu_count() or 1, 8))

    @property
    def embedded(self) -> bool:
        return self.dsn.startswith("chdb:")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
