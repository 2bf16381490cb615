"""Triage: a short root-cause analysis of every high or critical incident, on its timeline.

``Triage`` watches the incident manager (a change wakes it; it also looks every
``VIGIL_TRIAGE_POLL_S``, so incidents resumed after a restart are seen). For an incident that is
``high`` or ``critical`` and not resolved, it takes the triage lock (lock.py: one analysis per
incident at a time, none again within the interval unless the severity rises), reads the
context (context.py), and asks the configured provider through Replay's client
(``vigil_query.replay.providers``), within the caps on tokens and cost per analysis and per
hour. Without a provider, over a cap, or when the provider fails, the deterministic summary is
written instead (with the reason). The result goes on the timeline as a ``triage`` event: the
model, ``ok`` / ``summary`` / ``failed: …`` with tokens and cost, the text. Nothing here can
block the incident: the analysis runs on triage's own thread and client, and every error ends
as a timeline entry or a log line.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from clickhouse_connect.driver.client import Client
from prometheus_client import CollectorRegistry, Counter

from vigil_alerting.incidents.manager import IncidentError, IncidentManager, IncidentNotFound
from vigil_alerting.incidents.model import Incident
from vigil_alerting.incidents.store import IncidentStore
from vigil_alerting.rules.model import SEVERITY_RANK
from vigil_alerting.triage import context as ctx
from vigil_alerting.triage.lock import Claim, TriageLock
from vigil_query.analytics.prices.book import Price
from vigil_query.analytics.prices.store import list_prices
from vigil_query.replay import providers
from vigil_storage.client import close_quietly

log = logging.getLogger(__name__)
AUTO = "triage"  # the actor of an analysis nobody asked for
HIGH = SEVERITY_RANK["high"]
HOUR_NS = 3600 * 10**9
RESULTS = ("analysed", "summary", "failed", "lost", "superseded")


class TriageBusy(IncidentError):
    """An analysis of this incident is running (AnalyzeIncident: FAILED_PRECONDITION)."""


@dataclass(frozen=True, slots=True)
class TriageConfig:
    """From VigilSettings (VIGIL_TRIAGE_*)."""

    provider: str = ""  # "" (the deterministic summary), "openai" or "anthropic"
    model: str = ""
    endpoints: providers.ProviderConfig | None = None
    interval_s: float = 3600.0
    poll_s: float = 5.0
    claim_ttl_s: float = 300.0
    claim_settle_s: float = 1.0
    max_tokens: int = 16_000  # per analysis: estimated input + max output
    max_output_tokens: int = 1024
    max_cost_usd: float = 0.25
    hourly_tokens: int = 200_000
    hourly_cost_usd: float = 5.0

    def __post_init__(self) -> None:
        if self.provider and self.provider not in providers.PROVIDERS:
            raise ValueError(
                f"triage provider must be one of {', '.join(providers.PROVIDERS)}, got {self.provider!r}"
            )
        if self.provider and not self.model:
            raise ValueError("VIGIL_TRIAGE_MODEL must name a model when VIGIL_TRIAGE_PROVIDER is set")
        if self.max_output_tokens >= self.max_tokens:
            raise ValueError("VIGIL_TRIAGE_MAX_OUTPUT_TOKENS must be below VIGIL_TRIAGE_MAX_TOKENS")
        timeout = self.endpoints.timeout_s if self.endpoints else 0.0
        if self.claim_ttl_s <= timeout + self.claim_settle_s:
            raise ValueError(
                "VIGIL_TRIAGE_CLAIM_TTL_S must exceed the provider timeout plus the settle wait: a claim "
                "must outlive the analysis it guards"
            )


@dataclass(slots=True)
class Outcome:
    result: str  # one of RESULTS, or "busy" / "recent" when nothing was done
    text: str = ""
    model: str = ""
    tokens: int = 0
    cost_usd: float = 0.0
    detail: str = ""  # the timeline's result column
    trace_ids: list[str] = field(default_factory=list)


def _price(prices: list[Price], provider: str, model: str, now_ns: int) -> Price | None:
    found = [p for p in prices if p.matches(provider, model) and p.covers(now_ns)]
    return max(found, key=lambda p: p.rank) if found else None


def _cost(price: Price, input_tokens: int, output_tokens: int) -> float:
    return (input_tokens * price.input + output_tokens * price.output) / 1e6


def _text_of(result: providers.CallResult) -> str:
    return "\n".join(
        str(part.get("content", ""))
        for message in result.output_messages
        for part in message.get("parts", [])
        if part.get("type") == "text"
    ).strip()


class Triage:
    def __init__(
        self,
        manager: IncidentManager,
        connect: Callable[[], Client],
        config: TriageConfig,
        *,
        system_database: str,
        holder: str,
        registry: CollectorRegistry | None = None,
        cluster: bool = False,
        clock_ns: Callable[[], int] = time.time_ns,
    ) -> None:
        self.manager = manager
        self.config = config
        self.system_database = system_database
        self._connect = connect
        self.lock = TriageLock(
            system_database, holder, ttl_s=config.claim_ttl_s, settle_s=config.claim_settle_s, cluster=cluster,
            clock_ns=clock_ns,
        )  # fmt: skip
        self.clock_ns = clock_ns
        registry = registry if registry is not None else CollectorRegistry()
        self.total = Counter(
            "vigil_triage_analyses", "Incident triage runs by result.", ["result"], registry=registry
        )
        for result in RESULTS:
            self.total.labels(result=result)
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        self._unsubscribe: Callable[[], None] | None = None
        # (project, id) → (severity rank, until ns): decided in storage already, no need to ask again
        self._settled: dict[tuple[str, str], tuple[int, int]] = {}
        self.rounds = 0  # rounds of the loop finished (tests wait on it instead of sleeping)

    # --- lifecycle -----------------------------------------------------------------------------
    def open(self) -> None:
        client = self._connect()
        try:
            self.lock.ensure_table(client)
        finally:
            close_quietly(client)

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._unsubscribe = self.manager.subscribe(self._changed)
        self._thread = threading.Thread(target=self._loop, name="vigil-triage", daemon=True)
        self._thread.start()

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        self._wake.set()
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        if self._thread is not None:
            self._thread.join(timeout_s)
            self._thread = None

    def _changed(self, incident: Incident) -> None:
        if SEVERITY_RANK.get(incident.severity, 0) >= HIGH and incident.status != "resolved":
            self._wake.set()

    def _due(self, incident: Incident, now_ns: int) -> bool:
        rank = SEVERITY_RANK.get(incident.severity, 0)
        if rank < HIGH or incident.status == "resolved":
            return False
        settled = self._settled.get((incident.project, incident.id))
        return settled is None or rank > settled[0] or now_ns >= settled[1]

    def _loop(self) -> None:
        client: Client | None = None
        while not self._stop.is_set():
            self._wake.clear()
            try:
                for incident in self.manager.live_all():
                    if self._stop.is_set():
                        break
                    if not self._due(incident, self.clock_ns()):
                        continue
                    client = client or self._connect()
                    try:
                        self.run(client, incident, AUTO)
                    except Exception:  # one incident's trouble must not stop the others'
                        log.exception("triage of incident %s failed; retried next round", incident.id)
                        close_quietly(client)
                        client = None
            except Exception:  # storage trouble: the next round tries again on a new client
                log.exception("triage round failed")
                close_quietly(client)
                client = None
            self.rounds += 1
            self._wake.wait(self.config.poll_s)
        close_quietly(client)

    # --- one analysis ---------------------------------------------------------------------------
    def analyze(self, project: str, incident_id: str, by: str) -> Outcome:
        """AnalyzeIncident: any severity, even within the interval; refused while one runs."""
        client = self._connect()
        try:
            incident = self.manager.live_one(project, incident_id)
            if incident is None:
                incident = IncidentStore(client, self.system_database).get(project, incident_id)
            if incident is None:
                raise IncidentNotFound(f"no incident {incident_id!r} in this project")
            outcome = self.run(client, incident, by, force=True)
            if outcome.result == "busy":
                raise TriageBusy(f"an analysis of incident {incident_id} is running; try again when it ends")
            if outcome.result == "lost":
                raise TriageBusy(f"another triage runner took incident {incident_id} at the same moment")
            return outcome
        finally:
            close_quietly(client)

    def run(self, client: Client, incident: Incident, by: str, *, force: bool = False) -> Outcome:
        key = (incident.project, incident.id)
        rank = SEVERITY_RANK.get(incident.severity, 0)
        claim, decision = self.lock.acquire(
            client, incident.project, incident.id, incident.severity, self.config.interval_s, force=force
        )
        if claim is None:
            if decision.reason == "recent":
                until = decision.last_done_ns + int(self.config.interval_s * 1e9)
                self._settled[key] = (SEVERITY_RANK.get(decision.last_severity, 0), until)
            if decision.reason == "lost":
                self.total.labels(result="lost").inc()
            return Outcome(decision.reason)
        try:
            outcome = self._analyse(client, incident, claim)
        except Exception as exc:  # whatever went wrong goes on the timeline, the claim ends
            log.exception("triage of incident %s failed", incident.id)
            outcome = Outcome(
                "failed", f"Triage failed: {type(exc).__name__}: {exc}", detail=f"failed: {exc}"[:500]
            )
        if not self.lock.still_holds(client, claim):
            outcome.result = "superseded"
            log.warning(
                "triage of incident %s: the claim lapsed and was taken over; result dropped", incident.id
            )
        else:
            self.manager.record_triage(
                client, incident.project, incident.id, by=by, model=outcome.model or "summary",
                result=outcome.detail, severity=incident.severity, text=outcome.text,
            )  # fmt: skip
        self.lock.finish(client, claim, outcome.result, outcome.model, outcome.tokens, outcome.cost_usd)
        self._settled[key] = (rank, self.clock_ns() + int(self.config.interval_s * 1e9))
        self.total.labels(result=outcome.result).inc()
        return outcome

    def _analyse(self, client: Client, incident: Incident, claim: Claim) -> Outcome:
        now = self.clock_ns()
        try:
            context = ctx.gather(client, incident, now)
        except Exception as exc:  # the entry says why; the incident goes on
            return Outcome(
                "failed", f"Triage could not read the incident's telemetry: {exc}", detail=f"failed: {exc}"
            )
        c = self.config
        if not c.provider or c.endpoints is None:
            return Outcome("summary", ctx.summary(context), detail="summary", trace_ids=context.trace_ids)
        request = self._request(context)
        estimated = providers.estimated_input_tokens(request)
        refused = self._over_cap(client, estimated, now)
        if isinstance(refused, str):
            text = f"Not analysed by {c.model}: {refused}\n\n{ctx.summary(context)}"
            return Outcome("summary", text, detail=f"summary: {refused}", trace_ids=context.trace_ids)
        price = refused
        result = asyncio.run(self._send(request))
        tokens_in = (
            result.input_tokens if result.input_tokens is not None else (estimated if result.sent else 0)
        )
        tokens_out = result.output_tokens or 0
        tokens = tokens_in + tokens_out
        cost = _cost(price, tokens_in, tokens_out)
        model = f"{c.provider}/{result.response_model or c.model}"
        if result.error:
            text = f"The analysis by {c.model} failed: {result.error}\n\n{ctx.summary(context)}"
            return Outcome(
                "failed", text, model, tokens, cost, detail=f"failed: {result.error}"[:500],
                trace_ids=context.trace_ids,
            )  # fmt: skip
        detail = f"ok · {tokens_in} in + {tokens_out} out tokens · ${cost:.6f}"
        return Outcome("analysed", _text_of(result), model, tokens, cost, detail, context.trace_ids)

    def _request(self, context: ctx.Context) -> dict[str, Any]:
        """The provider's request, its context cut until the estimated input fits the cap."""
        c = self.config
        budget = c.max_tokens - c.max_output_tokens
        request: dict[str, Any] = {}
        for spans, logs, failing in (
            (40, 50, 20),
            (20, 20, 10),
            (10, 10, 5),
            (5, 5, 3),
            (2, 2, 1),
            (0, 0, 0),
        ):
            document = context.document(spans=spans, logs=logs, failing=failing)
            user = [{"role": "user", "parts": [{"type": "text", "content": ctx.prompt(document)}]}]
            system = [{"type": "text", "content": ctx.SYSTEM}]
            messages = (
                [{"role": "system", "parts": system}] if c.provider == providers.OPENAI else []
            ) + user
            request = providers.request_for(
                c.provider, {"gen_ai.request.model": c.model}, messages, system, c.max_output_tokens
            )
            if providers.estimated_input_tokens(request) <= budget:
                break
        return request

    def _over_cap(self, client: Client, estimated: int, now_ns: int) -> str | Price:
        """The reason this analysis may not be sent, or the model's price when it may."""
        c = self.config
        price = _price(list_prices(client, self.system_database), c.provider, c.model, now_ns)
        if price is None:
            return (
                f"model {c.model!r} ({c.provider}) is not in the price book, so its cost caps cannot be "
                "applied; add its price (vigil prices import)"
            )
        need = estimated + c.max_output_tokens
        if need > c.max_tokens:
            return f"the context needs {need} tokens, over VIGIL_TRIAGE_MAX_TOKENS ({c.max_tokens})"
        cost = _cost(price, estimated, c.max_output_tokens)
        if cost > c.max_cost_usd:
            return f"it could cost ${cost:.4f}, over VIGIL_TRIAGE_MAX_COST_USD (${c.max_cost_usd:g})"
        tokens, spent = self.lock.spent_since(client, now_ns - HOUR_NS)
        if tokens + need > c.hourly_tokens:
            return f"triage used {tokens} tokens in the last hour; {need} more is over VIGIL_TRIAGE_HOURLY_TOKENS"
        if spent + cost > c.hourly_cost_usd:
            return f"triage spent ${spent:.4f} in the last hour; over VIGIL_TRIAGE_HOURLY_COST_USD (${c.hourly_cost_usd:g})"
        return price

    async def _send(self, request: dict[str, Any]) -> providers.CallResult:
        assert self.config.endpoints is not None
        async with aiohttp.ClientSession() as session:
            return await providers.send(session, self.config.endpoints, self.config.provider, request)
