"""Projects, API keys, users and their roles, kept in the system database.

The system database (``VIGIL_SYSTEM_DATABASE``, default ``vigil_system``) holds Vigil's
control plane and nothing else: users (with their password hashes), API keys and their
usage, memberships, projects, the price book — and every later control-plane table (alert
rules, incidents, silences, the notification outbox, actions) goes there too. No such table
lives in a telemetry database (``otel``, ``otel_<project>``): those are what Grafana, ETL
jobs and second exporters are given, and whoever can read or write a credential table can
read password hashes or make themselves a server admin. Every function here takes that
system database as ``db``; the ones that name a project's telemetry database also take the
main telemetry database as ``main``.

Each project's data lives in a database of its own (the default project's is the main
database itself; project ``acme``'s is ``<main>_acme``), with the exporter's schema, so that
isolation is structural — a query scoped to a project cannot name another one's tables — and
Grafana's OpenTelemetry mode works on one project by choosing its database. Rows are
versioned (ReplacingMergeTree, read with FINAL): a change is a new row, small tables.
"""

from __future__ import annotations

import hashlib
import re
import secrets
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from clickhouse_connect.driver.client import Client

from vigil_auth.keys import KeyHasher, check_scopes, new_key, visible_prefix
from vigil_storage.errors import translate_errors
from vigil_storage.migrate import quote_identifier

R = TypeVar("R")
DEFAULT_PROJECT = "default"
_SLUG = re.compile(r"[a-z][a-z0-9_]{0,39}")

# The registry's tables, in the order an upgrade moves them (see ``move_tables``).
TABLES = ("vigil_projects", "vigil_api_keys", "vigil_api_key_usage", "vigil_users", "vigil_members")
_DDL = (
    """CREATE TABLE IF NOT EXISTS {db}.vigil_projects (
        number UInt16, slug String, name String, created_ns Int64, deleted UInt8, version Int64
    ) ENGINE = ReplacingMergeTree(version) ORDER BY (number, slug)""",
    """CREATE TABLE IF NOT EXISTS {db}.vigil_api_keys (
        key_id String, project UInt16, name String, prefix String, hash String,
        scopes Array(String), created_ns Int64, expires_ns Int64, revoked_ns Int64, version Int64
    ) ENGINE = ReplacingMergeTree(version) ORDER BY key_id""",
    """CREATE TABLE IF NOT EXISTS {db}.vigil_api_key_usage (
        key_id String, used_ns Int64
    ) ENGINE = ReplacingMergeTree(used_ns) ORDER BY key_id""",
    """CREATE TABLE IF NOT EXISTS {db}.vigil_users (
        username String, password_hash String, is_admin UInt8, created_ns Int64, version Int64
    ) ENGINE = ReplacingMergeTree(version) ORDER BY username""",
    """CREATE TABLE IF NOT EXISTS {db}.vigil_members (
        username String, project UInt16, role String, version Int64
    ) ENGINE = ReplacingMergeTree(version) ORDER BY (username, project)""",
    # A user's session families: the one refresh token of each that may still be exchanged,
    # and when it ended (0 = live). A family's newest row is never older than the refresh
    # token lifetime (7 days) while it lives, so rows past 8 days are of dead families.
    """CREATE TABLE IF NOT EXISTS {db}.vigil_sessions (
        family String, username String, refresh_id String, ended_ns Int64, version Int64
    ) ENGINE = ReplacingMergeTree(version) ORDER BY family
    TTL toDateTime(intDiv(version, 1000000000)) + INTERVAL 8 DAY""",
)
# Columns added since the tables were first made (an install made earlier gets them at start).
_UPGRADES = (
    "ALTER TABLE {db}.vigil_users ADD COLUMN IF NOT EXISTS token_version UInt64 DEFAULT 0",
    "ALTER TABLE {db}.vigil_users ADD COLUMN IF NOT EXISTS disabled UInt8 DEFAULT 0",
    "ALTER TABLE {db}.vigil_users ADD COLUMN IF NOT EXISTS deleted UInt8 DEFAULT 0",
)
# A user's role in a project → what it may do there ('' = removed from the project).
ROLES = {
    "viewer": ("read",),
    "member": ("read", "replay", "write"),
    "admin": ("read", "replay", "write", "ingest", "admin"),
}
_USERNAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_PROJECT_COLUMNS = ("number", "slug", "name", "created_ns", "deleted", "version")
_KEY_COLUMNS = (
    "key_id", "project", "name", "prefix", "hash", "scopes", "created_ns", "expires_ns", "revoked_ns", "version",
)  # fmt: skip


@dataclass(frozen=True)
class Project:
    number: int
    slug: str
    name: str
    database: str
    created_ns: int = 0


@dataclass(frozen=True)
class ApiKey:
    key_id: str
    project: int
    name: str
    prefix: str
    hash: str
    scopes: tuple[str, ...]
    created_ns: int
    expires_ns: int  # 0 = never
    revoked_ns: int  # 0 = not revoked
    last_used_ns: int = 0  # to within a minute (the servers write it at most once a minute)

    def valid_at(self, now_ns: int) -> bool:
        return not self.revoked_ns and (not self.expires_ns or now_ns < self.expires_ns)


@dataclass(frozen=True)
class User:
    username: str
    password_hash: str
    is_admin: bool  # every scope in every project
    created_ns: int
    roles: dict[int, str]  # project number → role
    # Tokens issued at an older version are refused: bumped by a password change, disabling
    # and "sign out everywhere".
    token_version: int = 0
    disabled: bool = False  # may not log in; its sessions end


@dataclass(frozen=True)
class Snapshot:
    """Everything the authenticator holds in memory."""

    projects: list[Project]
    keys: list[ApiKey]
    users: list[User]
    ended_sessions: frozenset[str] = frozenset()  # session families ended lately


class RegistryError(ValueError):
    """A registry operation that cannot be done as asked (unknown project, bad name)."""


def ensure(client: Client, db: str) -> None:
    with translate_errors("creating the project and key tables"):
        client.command(f"CREATE DATABASE IF NOT EXISTS {quote_identifier(db)}")
        for ddl in _DDL + _UPGRADES:
            client.command(ddl.format(db=quote_identifier(db)))


def database_of(main: str, slug: str) -> str:
    return main if slug == DEFAULT_PROJECT else f"{main}_{slug}"


def list_projects(client: Client, db: str, *, main: str) -> list[Project]:
    """Every live project, the default one first (``main``: the main telemetry database)."""
    with translate_errors("listing projects"):
        rows = client.query(
            f"SELECT number, slug, name, created_ns FROM {quote_identifier(db)}.vigil_projects FINAL"
            " WHERE NOT deleted ORDER BY number"
        ).result_rows
    projects = [Project(0, DEFAULT_PROJECT, "Default", main)]
    projects += [Project(n, slug, name, database_of(main, slug), created) for n, slug, name, created in rows]
    return projects


def project_numbers(client: Client, db: str) -> dict[str, int]:
    """Every live project's slug → number (what needs no telemetry database)."""
    return {p.slug: p.number for p in list_projects(client, db, main=db)}


def project(client: Client, db: str, slug: str, *, main: str) -> Project:
    for p in list_projects(client, db, main=main):
        if p.slug == slug:
            return p
    raise RegistryError(f"no project {slug!r} (see `vigil projects list`)")


def _project_number(client: Client, db: str, slug: str) -> int:
    number = project_numbers(client, db).get(slug)
    if number is None:
        raise RegistryError(f"no project {slug!r} (see `vigil projects list`)")
    return number


def create_project(
    client: Client, db: str, slug: str, name: str = "", *, main: str, create_tables: Callable[[str], None]
) -> Project:
    """Register project ``slug``; ``create_tables(database)`` makes its telemetry tables first.

    The registry is the control plane and does not know the telemetry schema: the caller says
    how a project's tables are made (storage's migrations, with its TTL). They are made before
    the project's row is written, so that no key of it can exist, and nobody send to it, while
    its tables do not.
    """
    if not _SLUG.fullmatch(slug) or slug == DEFAULT_PROJECT:
        raise RegistryError(
            f"a project id is 1-40 lower-case letters, digits or _, starting with a letter, not {DEFAULT_PROJECT!r}; got {slug!r}"
        )
    if slug in project_numbers(client, db):
        raise RegistryError(f"project {slug!r} exists already")
    database = database_of(main, slug)
    create_tables(database)  # its tables before anyone can send to it
    q = quote_identifier(db)
    # The number is a hash of the slug (probing on to the next free one), so that two projects
    # created at the same moment by two processes — storage has no transactions — almost never
    # pick the same one; numbers of deleted projects are never reused (the write-ahead log may
    # still hold their records). After writing, another slug at our number means a collision
    # that slipped through: whoever sees it withdraws its row and tries a random number (if
    # both see it, both do), so a number that was handed out is never taken back.
    number = int.from_bytes(hashlib.sha256(slug.encode()).digest()[:2], "big") % 65535 + 1
    for _ in range(65535):
        with translate_errors("creating a project"):
            used = {
                int(r[0]) for r in client.query(f"SELECT DISTINCT number FROM {q}.vigil_projects").result_rows
            }
        while number in used:
            number = number % 65535 + 1
            if len(used) >= 65535:
                raise RegistryError("at most 65,535 projects")
        created = Project(number, slug, name or slug, database, time.time_ns())
        _put_project(client, db, created, deleted=False)
        with translate_errors("creating a project"):
            holders = client.query(
                f"SELECT DISTINCT slug FROM {q}.vigil_projects WHERE number = {{n:UInt16}}",
                parameters={"n": number},
            ).result_rows
        if [r[0] for r in holders] == [slug]:
            return created
        _put_project(client, db, created, deleted=True)
        number = secrets.randbelow(65535) + 1
    raise RegistryError("could not allocate a project number")


def rename_project(client: Client, db: str, slug: str, name: str, *, main: str) -> Project:
    found = project(client, db, slug, main=main)
    if found.number == 0:
        raise RegistryError("the default project cannot be renamed")
    renamed = Project(found.number, found.slug, name, found.database, found.created_ns)
    _put_project(client, db, renamed, deleted=False)
    return renamed


def delete_project(client: Client, db: str, slug: str, *, main: str) -> Project:
    """Delete a project, its keys and all its data (DROP DATABASE)."""
    found = project(client, db, slug, main=main)
    if found.number == 0:
        raise RegistryError("the default project cannot be deleted")
    now = time.time_ns()
    for key in list_keys(client, db, found.number):
        if not key.revoked_ns:
            _put_key(client, db, _replace(key, revoked_ns=now))
    _put_project(client, db, found, deleted=True)
    with translate_errors(f"dropping project {slug}'s data"):
        client.command(f"DROP DATABASE IF EXISTS {quote_identifier(found.database)}")
    return found


def create_key(
    client: Client,
    db: str,
    hasher: KeyHasher,
    project_slug: str,
    scopes: list[str],
    name: str = "",
    expires_ns: int = 0,
) -> tuple[ApiKey, str]:
    """A new key; returns it and the key itself, which is shown once and never stored."""
    owner = _project_number(client, db, project_slug)
    key = new_key()
    record = ApiKey(
        uuid.uuid4().hex[:16],
        owner,
        name,
        visible_prefix(key),
        hasher.digest(key),
        tuple(check_scopes(scopes)),
        time.time_ns(),
        expires_ns,
        0,
    )
    _put_key(client, db, record)
    return record, key


def list_keys(client: Client, db: str, project_number: int | None = None) -> list[ApiKey]:
    where = "" if project_number is None else f" WHERE project = {int(project_number)}"
    q = quote_identifier(db)
    with translate_errors("listing keys"):
        rows = client.query(
            f"SELECT {', '.join('k.' + c for c in _KEY_COLUMNS[:-1])}, u.used_ns"
            f" FROM (SELECT * FROM {q}.vigil_api_keys FINAL{where}) AS k"
            f" LEFT JOIN (SELECT key_id, max(used_ns) AS used_ns FROM {q}.vigil_api_key_usage GROUP BY key_id) AS u"
            " ON k.key_id = u.key_id ORDER BY k.created_ns"
        ).result_rows
    return [ApiKey(r[0], r[1], r[2], r[3], r[4], tuple(r[5]), r[6], r[7], r[8], r[9] or 0) for r in rows]


def record_usage(client: Client, db: str, used: dict[str, int]) -> None:
    """When keys were last used (key id → Unix ns)."""
    with translate_errors("saving when keys were used"):
        client.insert(
            f"{quote_identifier(db)}.vigil_api_key_usage",
            [[key_id, ns] for key_id, ns in used.items()],
            column_names=["key_id", "used_ns"],
        )


def key(client: Client, db: str, key_id: str) -> ApiKey:
    for k in list_keys(client, db):
        if k.key_id == key_id:
            return k
    raise RegistryError(f"no key {key_id!r} (see `vigil keys list`)")


def revoke_key(client: Client, db: str, key_id: str) -> ApiKey:
    revoked = _replace(key(client, db, key_id), revoked_ns=time.time_ns())
    _put_key(client, db, revoked)
    return revoked


def rotate_key(client: Client, db: str, hasher: KeyHasher, key_id: str, grace_s: float) -> tuple[ApiKey, str]:
    """A new key with the same project, scopes and name; the old one keeps working for
    ``grace_s`` seconds (while clients move over) and then expires."""
    old = key(client, db, key_id)
    if not old.valid_at(time.time_ns()):
        raise RegistryError(f"key {key_id} is revoked or expired; create a new one instead")
    slug = next(s for s, n in project_numbers(client, db).items() if n == old.project)
    new, plain = create_key(client, db, hasher, slug, list(old.scopes), old.name, old.expires_ns)
    grace_end = time.time_ns() + int(grace_s * 1e9)
    _put_key(client, db, _replace(old, expires_ns=min(old.expires_ns or grace_end, grace_end)))
    return new, plain


def _replace(k: ApiKey, **changes: int) -> ApiKey:
    return ApiKey(**{**k.__dict__, **changes})


def _put_project(client: Client, db: str, p: Project, *, deleted: bool) -> None:
    with translate_errors("saving a project"):
        client.insert(
            f"{quote_identifier(db)}.vigil_projects",
            [[p.number, p.slug, p.name, p.created_ns, int(deleted), time.time_ns()]],
            column_names=list(_PROJECT_COLUMNS),
        )


def _put_key(client: Client, db: str, k: ApiKey) -> None:
    with translate_errors("saving a key"):
        client.insert(
            f"{quote_identifier(db)}.vigil_api_keys",
            [[k.key_id, k.project, k.name, k.prefix, k.hash, list(k.scopes), k.created_ns, k.expires_ns,
              k.revoked_ns, time.time_ns()]],
            column_names=list(_KEY_COLUMNS),
        )  # fmt: skip


def create_user(client: Client, db: str, username: str, password_hash: str, *, is_admin: bool) -> User:
    if not _USERNAME.fullmatch(username):
        raise RegistryError(f"a user name is 1-64 letters, digits or . _ @ -, got {username!r}")
    if any(u.username == username for u in list_users(client, db)):
        raise RegistryError(f"user {username!r} exists already")
    # A deleted user's name may be taken again: the new user's tokens start past the old
    # one's version, so that no token of the old user is accepted for the new one.
    version = _deleted_versions(client, db).get(username, -1) + 1
    user = User(username, password_hash, is_admin, time.time_ns(), {}, version)
    _put_user(client, db, user)
    return user


def list_users(client: Client, db: str) -> list[User]:
    """Every user not deleted (disabled ones too), with their roles."""
    q = quote_identifier(db)
    with translate_errors("listing users"):
        rows = client.query(
            f"SELECT username, password_hash, is_admin, created_ns, token_version, disabled"
            f" FROM {q}.vigil_users FINAL WHERE NOT deleted ORDER BY username"
        ).result_rows
        members = client.query(
            f"SELECT username, project, role FROM {q}.vigil_members FINAL WHERE role != ''"
        ).result_rows
    roles: dict[str, dict[int, str]] = {}
    for username, project_number, role in members:
        roles.setdefault(username, {})[project_number] = role
    return [User(u, h, bool(a), c, roles.get(u, {}), int(v), bool(d)) for u, h, a, c, v, d in rows]


def user(client: Client, db: str, username: str) -> User:
    for u in list_users(client, db):
        if u.username == username:
            return u
    raise RegistryError(f"no user {username!r} (see `vigil users list`)")


def set_password(client: Client, db: str, username: str, password_hash: str) -> User:
    """A new password; every session of the user ends."""
    found = user(client, db, username)
    return _changed(client, db, found, password_hash=password_hash, token_version=found.token_version + 1)


def sign_out_everywhere(client: Client, db: str, username: str) -> User:
    """End every session of the user (their tokens are refused within seconds)."""
    found = user(client, db, username)
    return _changed(client, db, found, token_version=found.token_version + 1)


def disable_user(client: Client, db: str, username: str) -> User:
    """The user may no longer log in, and every session of theirs ends."""
    found = user(client, db, username)
    return _changed(client, db, found, disabled=True, token_version=found.token_version + 1)


def enable_user(client: Client, db: str, username: str) -> User:
    return _changed(client, db, user(client, db, username), disabled=False)


def delete_user(client: Client, db: str, username: str) -> User:
    """Remove a user, their roles and their sessions (the name may be taken again)."""
    found = user(client, db, username)
    for number in found.roles:
        _put_member(client, db, username, number, "")
    gone = User(found.username, "", found.is_admin, found.created_ns, {}, found.token_version + 1, True)
    _put_user(client, db, gone, deleted=True)
    return gone


def grant(client: Client, db: str, username: str, project_slug: str, role: str) -> None:
    """Give a user a role in a project (``role`` '' removes the user from it)."""
    if role and role not in ROLES:
        raise RegistryError(f"role must be one of {', '.join(ROLES)}, got {role!r}")
    user(client, db, username)
    _put_member(client, db, username, _project_number(client, db, project_slug), role)


def _put_member(client: Client, db: str, username: str, number: int, role: str) -> None:
    with translate_errors("saving a membership"):
        client.insert(
            f"{quote_identifier(db)}.vigil_members",
            [[username, number, role, time.time_ns()]],
            column_names=["username", "project", "role", "version"],
        )


def _changed(client: Client, db: str, u: User, **changes: object) -> User:
    changed = User(**{**u.__dict__, **changes})  # type: ignore[arg-type]
    _put_user(client, db, changed)
    return changed


def _deleted_versions(client: Client, db: str) -> dict[str, int]:
    with translate_errors("listing users"):
        rows = client.query(
            f"SELECT username, token_version FROM {quote_identifier(db)}.vigil_users FINAL WHERE deleted"
        ).result_rows
    return {u: int(v) for u, v in rows}


def _put_user(client: Client, db: str, u: User, *, deleted: bool = False) -> None:
    with translate_errors("saving a user"):
        client.insert(
            f"{quote_identifier(db)}.vigil_users",
            [[u.username, u.password_hash, int(u.is_admin), u.created_ns, u.token_version, int(u.disabled),
              int(deleted), time.time_ns()]],
            column_names=["username", "password_hash", "is_admin", "created_ns", "token_version", "disabled",
                          "deleted", "version"],
        )  # fmt: skip


# --- session families (see tokens.py) ----------------------------------------------------------


def start_session(client: Client, db: str, family: str, username: str, refresh_id: str) -> None:
    _put_session(client, db, family, username, refresh_id, 0)


def rotate_session(client: Client, db: str, family: str, presented: str, new_id: str) -> bool:
    """Exchange refresh token ``presented`` of ``family`` for ``new_id``: True if it was the
    family's current one. A refresh token used again (already exchanged, or exchanged by two
    callers at once) ends the whole family and answers False: one of the two is a thief."""
    current = _session(client, db, family)
    if current is None or current[2]:
        return False
    username, refresh_id, _ = current
    if refresh_id != presented:
        end_session(client, db, family)
        return False
    _put_session(client, db, family, username, new_id, 0)
    # Storage has no transactions: whoever sees another id after writing withdraws (if two
    # exchanged the same token at once, both see it, and the family ends).
    after = _session(client, db, family)
    if after is None or after[1] != new_id or after[2]:
        end_session(client, db, family)
        return False
    return True


def end_session(client: Client, db: str, family: str) -> None:
    current = _session(client, db, family)
    _put_session(client, db, family, current[0] if current else "", "", time.time_ns())


def ended_sessions(client: Client, db: str, since_ns: int) -> frozenset[str]:
    """Families ended since ``since_ns`` (older ones' access tokens have expired)."""
    with translate_errors("listing ended sessions"):
        rows = client.query(
            f"SELECT DISTINCT family FROM {quote_identifier(db)}.vigil_sessions"
            " WHERE ended_ns != 0 AND ended_ns >= {since:Int64}",
            parameters={"since": since_ns},
        ).result_rows
    return frozenset(r[0] for r in rows)


def _session(client: Client, db: str, family: str) -> tuple[str, str, int] | None:
    """(username, current refresh id, ended ns) of a family; None if unknown."""
    with translate_errors("reading a session"):
        rows = client.query(
            "SELECT argMax(username, version), argMax(refresh_id, version), max(ended_ns)"
            f" FROM {quote_identifier(db)}.vigil_sessions WHERE family = {{f:String}} HAVING count() > 0",
            parameters={"f": family},
        ).result_rows
    return (str(rows[0][0]), str(rows[0][1]), int(rows[0][2])) if rows else None


def _put_session(client: Client, db: str, family: str, username: str, refresh_id: str, ended_ns: int) -> None:
    with translate_errors("saving a session"):
        client.insert(
            f"{quote_identifier(db)}.vigil_sessions",
            [[family, username, refresh_id, ended_ns, time.time_ns()]],
            column_names=["family", "username", "refresh_id", "ended_ns", "version"],
        )


def stamp(client: Client, db: str) -> tuple[int, ...]:
    """Changes whenever anything in the registry does (every change is a row of a newer
    version): one cheap query instead of reading every table."""
    q = quote_identifier(db)
    tables = ("vigil_projects", "vigil_api_keys", "vigil_users", "vigil_members")  # not usage: it
    # changes with every minute of traffic and the authenticator does not read it
    # Sessions: only their ends (a refresh writes a row too, and needs no reload).
    counts = [f"(SELECT (max(version), count()) FROM {q}.{t})" for t in tables]
    counts.append(f"(SELECT (max(version), count()) FROM {q}.vigil_sessions WHERE ended_ns != 0)")
    with translate_errors("checking the registry for changes"):
        row = client.query("SELECT " + ", ".join(counts)).result_rows[0]
    return tuple(v for pair in row for v in pair)


class Link:
    """The authenticator's way to the registry: ``load`` every live project, key and user and
    the session families ended in the last ``ended_window_s`` (the access tokens' lifetime; or
    None when nothing changed since the last load), ``record_usage`` and the session families'
    changes; over one client kept between calls, dropped when it fails so that the next call
    reconnects. One thread only."""

    def __init__(
        self, connect: Callable[[], Client], db: str, *, main: str, ended_window_s: float = 86400.0
    ) -> None:
        self._connect = connect
        self._db = db
        self._main = main
        self._ended_window_ns = int(ended_window_s * 1e9)
        self._client: Client | None = None
        self._stamp: tuple[int, ...] | None = None

    def load(self) -> Snapshot | None:
        def snapshot(client: Client) -> tuple[tuple[int, ...], Snapshot | None]:
            now = stamp(client, self._db)
            if now == self._stamp:
                return now, None
            ended = ended_sessions(client, self._db, time.time_ns() - self._ended_window_ns)
            return now, Snapshot(
                list_projects(client, self._db, main=self._main),
                list_keys(client, self._db),
                list_users(client, self._db),
                ended,
            )

        self._stamp, loaded = self._call(snapshot)
        return loaded

    def record_usage(self, used: dict[str, int]) -> None:
        self._call(lambda client: record_usage(client, self._db, used))

    def start_session(self, family: str, username: str, refresh_id: str) -> None:
        self._call(lambda client: start_session(client, self._db, family, username, refresh_id))

    def rotate_session(self, family: str, presented: str, new_id: str) -> bool:
        return self._call(lambda client: rotate_session(client, self._db, family, presented, new_id))

    def end_session(self, family: str) -> None:
        self._call(lambda client: end_session(client, self._db, family))

    def _call(self, work: Callable[[Client], R]) -> R:
        client = self._connected()
        try:
            return work(client)
        except Exception:
            self._client = None
            raise

    def _connected(self) -> Client:
        if self._client is None:
            client = self._connect()
            ensure(client, self._db)
            self._client = client
        return self._client
