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
import hmac
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
from vigil_auth.tokens import REFRESH, Claims, Session, TokenSigner
from vigil_storage import StorageUnavailable

log = logging.getLogger(__name__)

USAGE_SAVE_S = 60.0


class RegistryLink(Protocol):
    def load(self) -> Snapshot | None: ...  # None: nothing changed since the last load
    def record_usage(self, used: dict[str, int]) -> None: ...
    def start_session(self, family: str, username: str, refresh_id: str) -> None: ...
    def rotate_session(self, family: str, presented: str, new_id: str) -> bool: ...
    def end_session(self, family: str) -> None: ...


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
    # May manage projects, users and the price book: only a user created --admin and the
    # local admin token, never a project role or a key's scope.
    server_admin: bool = False
    family: str = ""  # a user's session family (what SignOut ends)

    @property
    def username(self) -> str:
        """The user of a session; "" for an API key."""
        return self.key_id.removeprefix("user:") if self.key_id.startswith("user:") else ""

    def holds(self, scope: str) -> bool:
        """May do ``scope`` in its project (the admin scope holds every scope of the project)."""
        return scope == ANY or scope in self.scopes or ADMIN in self.scopes

    def require(self, scope: str) -> None:
        if not self.holds(scope):
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
        local_admin_token: str = "",
    ) -> None:
        self.enabled = enabled
        # The bearer the local `vigil` commands send to a running server: a server admin,
        # with authentication on or off.
        self._local_admin_token = local_admin_token.encode()
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
        self._users: dict[str, User] = {}  # those that may log in (not disabled)
        self._ended: set[str] = set()  # session families ended within an access token's lifetime
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

    def local_admin(self, authorization: str | None, project: str = "") -> Principal | None:
        """The server-admin principal of the local admin token (acting in ``project``, default
        the default project) if ``authorization`` bears it; None otherwise."""
        token = _bearer(authorization).encode()
        if not self._local_admin_token or not hmac.compare_digest(token, self._local_admin_token):
            return None
        number = self._numbers.get(project or DEFAULT_PROJECT)
        if number is None:
            raise PermissionDenied(f"no project {project!r}")
        return Principal(number, self._databases[number], frozenset(SCOPES), "local-admin", server_admin=True)

    async def _check(self, authorization: str | None, scope: str, project: str) -> Principal:
        token = _bearer(authorization)
        if not token:
            raise Unauthenticated(_MISSING)
        local = self.local_admin(authorization, project)
        if local is not None:
            return local
        if token.startswith(PREFIX):
            principal = await self._key_principal(token)
            if project and self._numbers.get(project) != principal.project:
                raise PermissionDenied(f"this key is not a key of project {project!r}")
        else:
            principal = await self._user_principal(
                self._signer.claims(token), project or DEFAULT_PROJECT, scope
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
        # A key acts in its project only, whatever its scopes: never a server admin.
        return Principal(key.project, database, frozenset(key.scopes), key.key_id)

    async def _session_user(self, claims: Claims) -> User:
        """The user of a session token still valid: the user exists, is not disabled, has
        not moved to a newer token version, and the token's family has not ended."""
        # A token newer than the user held here was issued by another process after a
        # change this one has not loaded yet: a miss, which reloads.
        user = await self._lookup(lambda: self._user_at(claims.username, claims.version))
        if user is None or user.token_version != claims.version or claims.family in self._ended:
            raise Unauthenticated(_INVALID)
        return user

    def _user_at(self, username: str, version: int) -> User | None:
        user = self._users.get(username)
        return user if user is not None and user.token_version >= version else None

    async def _user_principal(self, claims: Claims, project: str, scope: str) -> Principal:
        user = await self._session_user(claims)
        username = user.username
        number = self._numbers.get(project)
        role = user.roles.get(number, "") if number is not None else ""
        if number is None or not (user.is_admin or role):
            if scope == ANY:  # who-am-I: the user, acting in no project, may do nothing
                return Principal(-1, "", frozenset(), f"user:{username}", family=claims.family)
            raise PermissionDenied(f"user {username} is not a member of project {project!r}")
        scopes = frozenset(SCOPES) if user.is_admin else frozenset(ROLES[role])
        return Principal(
            number,
            self._databases[number],
            scopes,
            f"user:{username}",
            server_admin=user.is_admin,
            family=claims.family,
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
        return await self._open_session(user)

    async def _open_session(self, user: User) -> Session:
        """A new session family for ``user``, recorded before its tokens are handed out."""
        session = self._signer.issue(user.username, user.token_version)
        await self._on_link(self._link.start_session, session.family, user.username, session.refresh_id)
        return session

    async def refresh(self, refresh_token: str) -> Session:
        """New tokens of the same family for the family's current refresh token, which is
        used up. A refresh token used again ends its whole family (the refresh and access
        tokens of whoever holds them): refresh tokens are rotated, so a second use means a
        copy is in other hands."""
        claims = self._signer.claims(refresh_token, REFRESH)
        user = await self._session_user(claims)
        session = self._signer.issue(user.username, user.token_version, claims.family)
        if not await self._on_link(
            self._link.rotate_session, claims.family, claims.token_id, session.refresh_id
        ):
            self._ended.add(claims.family)
            log.warning("a refresh token of user %s was used again: that session ended", user.username)
            raise Unauthenticated(_INVALID)
        return session

    async def end_session(self, family: str) -> None:
        """End a session family (sign out): its tokens are refused at once here, within a
        reload on other processes."""
        await self._on_link(self._link.end_session, family)
        self._ended.add(family)

    async def _on_link(self, call: Callable[..., T], *args: object) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._thread, call, *args)
        except StorageUnavailable as exc:
            raise CredentialsUnavailable(
                "sessions cannot be recorded (storage unreachable); retry later"
            ) from exc

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
            self._users = {u.username: u for u in snapshot.users if not u.disabled}
            self._ended = set(snapshot.ended_sessions)
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
