"""Who is calling: a bearer credential → a Principal (project, its database, scopes).

Keys and projects are held in memory (loaded with authentication off too: the writers need
every project's database for what the write-ahead log holds) and reloaded every ``refresh_s`` seconds (2 s), so a
revoked key stops working within that time and checking a key costs no query. A key not in
memory is refused at once and starts a reload in the background (at most one per
``miss_reload_s``: a flood of bad keys cannot hammer ClickHouse, and no request waits on
storage); the admin RPCs reload after each change, so a key made through them works at once,
one made by another process within the refresh. While storage is down the last
keys loaded keep ingest going; before any could be loaded, callers get a retryable error,
never an "unauthenticated" that would make exporters drop their data.

What an unauthenticated caller may cost is bounded (throttle.AbuseLimits): failures are
counted per address (throttle.py) and slow that address's answers; logins run at most
``login_max_concurrent`` at once, their Argon2 on a pool of its own (passwords.PasswordPool).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Protocol, TypeVar

from vigil_auth.errors import AuthBusy, CredentialsUnavailable, PermissionDenied, Unauthenticated
from vigil_auth.keys import ADMIN, ANY, PREFIX, SCOPES, KeyHasher
from vigil_auth.passwords import PasswordPool
from vigil_auth.registry import DEFAULT_PROJECT, ROLES, ApiKey, Project, Snapshot, User
from vigil_auth.throttle import AbuseLimits, FailureThrottle
from vigil_auth.tokens import REFRESH, Session, TokenSigner
from vigil_storage import StorageUnavailable

log = logging.getLogger(__name__)

USAGE_SAVE_S = 60.0


class RegistryLink(Protocol):
    def load(self) -> Snapshot | None: ...  # None: nothing changed since the last load
    def record_usage(self, used: dict[str, int]) -> None: ...


T = TypeVar("T")
# One answer for every bad key, so that answers tell nothing about which keys exist.
_INVALID = "invalid or expired credentials"
_MISSING = "missing credentials: send the header 'authorization: Bearer vgl_…' (an API key of the project)"


@dataclass(frozen=True)
class Principal:
    project: int
    database: str
    scopes: frozenset[str]
    key_id: str = ""
    server_admin: bool = False  # may manage projects and users

    @property
    def username(self) -> str:
        """The user of a session; "" for an API key."""
        return self.key_id.removeprefix("user:") if self.key_id.startswith("user:") else ""

    def require(self, scope: str) -> None:
        if scope == ANY:
            return
        if scope not in self.scopes and ADMIN not in self.scopes:
            raise PermissionDenied(f"this credential may {', '.join(sorted(self.scopes))}, not {scope}")


@dataclass(frozen=True)
class ProjectAccess:
    slug: str
    name: str
    role: str  # a user's role there; "" for an API key
    scopes: tuple[str, ...]


class Authenticator:
    def __init__(
        self,
        *,
        enabled: bool,
        hasher: KeyHasher,
        signer: TokenSigner,
        link: RegistryLink,
        default_database: str,
        refresh_s: float = 2.0,
        limits: AbuseLimits | None = None,
        on_failure: Callable[[str], None] = lambda reason: None,
    ) -> None:
        self.enabled = enabled
        self.hasher = hasher
        self._signer = signer
        self._link = link
        self._used: dict[str, int] = {}  # key id → last use, not yet saved
        self._usage_saved = time.monotonic()
        self._default = Principal(0, default_database, frozenset(SCOPES), server_admin=True)
        self._refresh_s = refresh_s
        self._limits = limits = limits or AbuseLimits()
        self._miss_reload_s = limits.miss_reload_s
        self._miss_reload: asyncio.Task[None] | None = None
        self._keys: dict[str, ApiKey] = {}
        self._users: dict[str, User] = {}
        self._databases: dict[int, str] = {0: default_database}
        self._numbers: dict[str, int] = {DEFAULT_PROJECT: 0}
        self._projects: dict[int, Project] = {0: Project(0, DEFAULT_PROJECT, "Default", default_database)}
        self._loaded = False
        self._last_load = 0.0
        self._reloading: asyncio.Future[None] | None = None
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="vigil-auth")
        self._task: asyncio.Task[None] | None = None
        self._throttle = FailureThrottle(
            free=limits.throttle_free,
            step_s=limits.throttle_step_s,
            max_delay_s=limits.throttle_max_delay_s,
            window_s=limits.throttle_window_s,
            max_addresses=limits.throttle_max_addresses,
        )
        self._passwords = PasswordPool(limits.password_threads)
        self._logins = 0  # Login calls in progress
        self._dummy_hash = ""  # made at start (see start)
        self._on_failure = on_failure  # counts refusals by reason (the metrics)

    async def start(self) -> None:
        # What an unknown user's password is verified against, so that the login takes as
        # long as a known user's; made now, not at the first unknown login (whose answer
        # would otherwise take a hash longer and tell that the name is unknown).
        self._dummy_hash = await self._passwords.hash(secrets.token_urlsafe(16))
        with contextlib.suppress(Exception):
            await self.reload()
        self._task = asyncio.get_running_loop().create_task(self._refresh(), name="vigil-auth-refresh")

    async def stop(self) -> None:
        for task in (self._task, self._miss_reload):
            if task is not None:
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
        if self._used:
            await self.save_usage()
        self._thread.shutdown(wait=False)
        self._passwords.close()

    def databases(self) -> list[str]:
        """Every live project's database (the drift detector's round)."""
        return list(self._databases.values())

    def database_of(self, project: int) -> str | None:
        """The database of a project (the writers' lookup); None if the project was deleted.
        Before the projects could be loaded (storage down at start) a project other than the
        default one may well exist: StorageUnavailable then, so that its records wait."""
        database = self._databases.get(project)
        if database is None and not self._loaded:
            raise StorageUnavailable(f"the projects are not loaded yet; records of project {project} wait")
        return database

    def access(self, principal: Principal) -> list[ProjectAccess]:
        """The projects ``principal`` may act in, and what it may do in each (a user's
        memberships; a key's own project; every project for a server admin), the default
        project first, then by slug. With authentication off every request acts in the
        default project."""
        if not self.enabled:
            return [ProjectAccess(DEFAULT_PROJECT, self._projects[0].name, "", SCOPES)]
        username = principal.username
        user = self._users.get(username) if username else None
        found: list[ProjectAccess] = []
        for number, p in sorted(self._projects.items(), key=lambda item: (item[0] != 0, item[1].slug)):
            if principal.server_admin:
                found.append(ProjectAccess(p.slug, p.name, "admin" if user else "", SCOPES))
            elif user is not None and user.roles.get(number):
                role = user.roles[number]
                found.append(ProjectAccess(p.slug, p.name, role, ROLES[role]))
            elif user is None and number == principal.project:
                found.append(ProjectAccess(p.slug, p.name, "", tuple(sorted(principal.scopes))))
        return found

    def slug_of(self, project: int) -> str:
        p = self._projects.get(project)
        return p.slug if p is not None else ""

    async def check(
        self, authorization: str | None, scope: str, project: str = "", peer: str = ""
    ) -> Principal:
        """The caller of a request with this ``authorization`` header (an API key, or a user's
        access token acting in ``project``, default the default project), allowed ``scope``;
        ``peer`` is the caller's address (answers to addresses that keep failing are slowed)."""
        if not self.enabled:
            return self._default
        try:
            return await self._check(authorization, scope, project)
        except (Unauthenticated, PermissionDenied) as exc:
            self._on_failure("unauthenticated" if isinstance(exc, Unauthenticated) else "permission_denied")
            delay = self._throttle.penalty_s(peer)
            if delay:
                await asyncio.sleep(delay)
            raise

    async def _check(self, authorization: str | None, scope: str, project: str) -> Principal:
        token = _bearer(authorization)
        if not token:
            raise Unauthenticated(_MISSING)
        if token.startswith(PREFIX):
            principal = await self._key_principal(token)
            if project and self._numbers.get(project) != principal.project:
                raise PermissionDenied(f"this key is not a key of project {project!r}")
        else:
            principal = await self._user_principal(
                self._signer.username(token), project or DEFAULT_PROJECT, scope
            )
        principal.require(scope)
        return principal

    async def _key_principal(self, token: str) -> Principal:
        digest = self.hasher.digest(token)
        key = await self._lookup(lambda: self._keys.get(digest))
        database = self._databases.get(key.project) if key is not None else None
        now = time.time_ns()
        if key is None or database is None or not key.valid_at(now):
            raise Unauthenticated(_INVALID)
        self._used[key.key_id] = now
        admin = key.project == 0 and ADMIN in key.scopes  # the default project's admin keys
        return Principal(key.project, database, frozenset(key.scopes), key.key_id, server_admin=admin)

    async def _user_principal(self, username: str, project: str, scope: str) -> Principal:
        user = await self._lookup(lambda: self._users.get(username))
        if user is None:
            raise Unauthenticated(_INVALID)
        number = self._numbers.get(project)
        role = user.roles.get(number, "") if number is not None else ""
        if number is None or not (user.is_admin or role):
            if scope == ANY:  # who-am-I: the user, acting in no project, may do nothing
                return Principal(-1, "", frozenset(), f"user:{username}")
            raise PermissionDenied(f"user {username} is not a member of project {project!r}")
        scopes = frozenset(SCOPES) if user.is_admin else frozenset(ROLES[role])
        return Principal(
            number, self._databases[number], scopes, f"user:{username}", server_admin=user.is_admin
        )

    async def login(self, username: str, password: str, peer: str = "") -> Session:
        """A session for a user whose password matches; Unauthenticated otherwise (the same
        answer, after the same work, for an unknown user and a wrong password: a look-up in
        memory and one Argon2 verification). Beyond ``login_max_concurrent`` logins at once
        AuthBusy, at once and without any work."""
        if not self.enabled:
            raise PermissionDenied("authentication is off (VIGIL_AUTH): there is nothing to log in to")
        if self._logins >= self._limits.login_max_concurrent:
            self._on_failure("login_busy")
            raise AuthBusy(
                f"{self._logins} logins are in progress, the most this server takes at once "
                "(VIGIL_AUTH_LOGIN_MAX_CONCURRENT); retry in a moment"
            )
        self._logins += 1
        try:
            # No reload for an unknown name: that would be work a known name does not cost
            # (and a query per guess); users made elsewhere appear with the periodic refresh.
            user = await self._lookup(lambda: self._users.get(username), reload_on_miss=False)
            stored = user.password_hash if user is not None else self._dummy_hash
            matches = await self._passwords.matches(stored, password)
        finally:
            self._logins -= 1  # before the throttle's wait: a slowed answer holds no login slot
        if not matches or user is None:
            self._on_failure("login")
            delay = self._throttle.penalty_s(peer)
            if delay:
                await asyncio.sleep(delay)
            raise Unauthenticated("invalid user name or password")
        return self._signer.issue(username)

    async def refresh(self, refresh_token: str) -> Session:
        username = self._signer.username(refresh_token, REFRESH)
        if await self._lookup(lambda: self._users.get(username)) is None:
            raise Unauthenticated(_INVALID)
        return self._signer.issue(username)

    async def _lookup(self, find: Callable[[], T | None], reload_on_miss: bool = True) -> T | None:
        """What ``find`` finds in memory, at once. A miss (perhaps something created a
        moment ago by another process) starts a reload in the background, at most one per
        miss_reload_s: the caller never waits on storage, and a flood of bad keys costs
        ClickHouse one cheap query a second."""
        found = find()
        if found is None and reload_on_miss:
            self._reload_soon()
        if not self._loaded:
            raise CredentialsUnavailable(
                "credentials cannot be checked yet (storage unreachable); retry later"
            )
        return found

    def _reload_soon(self) -> None:
        if self._miss_reload is not None and not self._miss_reload.done():
            return  # one is due already
        wait = max(0.0, self._miss_reload_s - (time.monotonic() - self._last_load))
        self._miss_reload = asyncio.get_running_loop().create_task(
            self._reload_after(wait), name="vigil-auth-miss-reload"
        )

    async def _reload_after(self, wait_s: float) -> None:
        await asyncio.sleep(wait_s)
        try:
            await self.reload()
        except Exception as exc:
            log.debug("reload after an unknown credential failed: %s", exc)

    async def reload(self) -> None:
        """Load keys and projects (one load at a time; concurrent callers share it)."""
        if self._reloading is not None:
            await asyncio.shield(self._reloading)
            return
        loop = asyncio.get_running_loop()
        self._reloading = loop.create_future()
        try:
            snapshot = await loop.run_in_executor(self._thread, self._link.load)
            if snapshot is None:
                self._reloading.set_result(None)
                return
            self._databases = {p.number: p.database for p in snapshot.projects}
            self._numbers = {p.slug: p.number for p in snapshot.projects}
            self._projects = {p.number: p for p in snapshot.projects}
            self._keys = {k.hash: k for k in snapshot.keys}
            self._users = {u.username: u for u in snapshot.users}
            self._loaded = True
            self._reloading.set_result(None)
        except Exception as exc:
            self._reloading.set_exception(exc)
            self._reloading.exception()  # retrieved: no "never retrieved" warning
            raise
        finally:
            self._last_load = time.monotonic()
            self._reloading = None

    async def _refresh(self) -> None:
        while True:
            await asyncio.sleep(self._refresh_s)
            try:
                await self.reload()
            except Exception as exc:
                log.warning("could not reload API keys (keeping the last ones): %s", exc)
            if self._used and time.monotonic() - self._usage_saved >= USAGE_SAVE_S:
                await self.save_usage()

    async def save_usage(self) -> None:
        """Write when keys were last used (at most once a minute: it is for listings)."""
        used, self._used = self._used, {}
        self._usage_saved = time.monotonic()
        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, self._link.record_usage, used)
        except Exception as exc:
            log.warning("could not save when keys were last used: %s", exc)


def _bearer(authorization: str | None) -> str:
    if not authorization:
        return ""
    scheme, _, token = authorization.strip().partition(" ")
    return token.strip() if scheme.lower() == "bearer" else ""
