"""``vigil projects …``, ``vigil keys …``, ``vigil users …`` and ``vigil prices …``: clients of
the admin API, so that the same rules hold whoever changes the registry.

They reach it one of two ways (see local_admin.py): a ``vigil serve`` running on this data
directory is asked through the endpoint it published there; otherwise the command starts the
query service's servicers in-process on a loopback port, over the storage itself (a stopped
data directory, or a ClickHouse server that other processes use at the same time), and asks
them the same way."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import json
import sys
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any

import grpc

from vigil_auth import registry
from vigil_auth.keys import SCOPES
from vigil_proto.admin.v1 import admin_pb2, admin_pb2_grpc
from vigil_proto.query.v1 import query_pb2, query_pb2_grpc
from vigil_query.analytics.prices.book import load_file
from vigil_query.analytics.prices.rpc import to_message
from vigil_query.api.server import QueryServer
from vigil_server import local_admin
from vigil_server.settings import VigilSettings
from vigil_server.wiring.auth import make_authenticator
from vigil_server.wiring.query import make_query_server
from vigil_server.wiring.schema import ensure_system
from vigil_storage import StorageError

# How long a published endpoint may take to answer before it is taken for a stale file (a
# server killed without cleaning up).
_REACH_S = 3.0
_CALL_S = 120.0


def add_admin_commands(sub: Any) -> None:
    projects = sub.add_parser("projects", help="create, list, rename or delete projects").add_subparsers(
        dest="action", required=True
    )
    create = projects.add_parser("create", help="a new project with its own database")
    create.add_argument("project", help="its id: lower-case letters, digits and _, e.g. checkout")
    create.add_argument("--name", default="", help="display name (default: the id)")
    projects.add_parser("list", help="every project")
    rename = projects.add_parser("rename", help="change a project's display name")
    rename.add_argument("project")
    rename.add_argument("name")
    delete = projects.add_parser("delete", help="delete a project, its keys and ALL its data")
    delete.add_argument("project")
    delete.add_argument("--yes", action="store_true", help="confirm: the data cannot be recovered")

    keys = sub.add_parser("keys", help="create, list, rotate or revoke API keys").add_subparsers(
        dest="action", required=True
    )
    kc = keys.add_parser("create", help="a new key (printed once)")
    kc.add_argument("--project", default=registry.DEFAULT_PROJECT)
    kc.add_argument("--scopes", default="ingest", help=f"comma-separated, of {','.join(SCOPES)}")
    kc.add_argument("--name", default="", help="what the key is for")
    kc.add_argument("--expires-days", type=float, default=0, help="0 = never")
    kl = keys.add_parser("list", help="keys (their prefixes, never the keys)")
    kl.add_argument("--project", default="")
    kr = keys.add_parser("rotate", help="a new key; the old one works for the grace period, then expires")
    kr.add_argument("key_id")
    kr.add_argument("--grace-hours", type=float, default=24)
    kv = keys.add_parser("revoke", help="refuse a key from now on (within seconds on running servers)")
    kv.add_argument("key_id")

    users = sub.add_parser("users", help="create, list users, set passwords, grant roles").add_subparsers(
        dest="action", required=True
    )
    uc = users.add_parser("create", help="a new user (the password is read from stdin, or asked for)")
    uc.add_argument("username")
    uc.add_argument("--admin", action="store_true", help="every right in every project")
    users.add_parser("list", help="users and their roles")
    up = users.add_parser("passwd", help="set a user's password (from stdin, or asked for)")
    up.add_argument("username")
    ug = users.add_parser("grant", help="give a user a role in a project")
    ug.add_argument("username")
    ug.add_argument("--project", default=registry.DEFAULT_PROJECT)
    ug.add_argument("--role", required=True, choices=list(registry.ROLES))
    ur = users.add_parser("revoke", help="remove a user from a project")
    ur.add_argument("username")
    ur.add_argument("--project", default=registry.DEFAULT_PROJECT)
    for action, help_text in (
        ("disable", "the user may no longer log in; their sessions end"),
        ("enable", "let a disabled user log in again"),
        ("delete", "remove a user, their roles and sessions"),
        ("signout", "end every session of a user"),
    ):
        users.add_parser(action, help=help_text).add_argument("username")

    prices = sub.add_parser("prices", help="the model price book (cost of LLM calls)").add_subparsers(
        dest="action", required=True
    )
    prices.add_parser("list", help="every price: the defaults shipped with Vigil and the ones imported")
    pi = prices.add_parser("import", help="add or change prices from a JSON file (see docs/llm-analytics.md)")
    pi.add_argument("file")
    pi.add_argument("--replace", action="store_true", help="also remove imported prices not in the file")


class AdminUnreachable(Exception):
    """Neither a running server nor the storage could be reached; the message says what to do."""


class _Api:
    """The admin and query stubs over one channel, every call with the server-admin token and,
    where it acts in a project, ``x-vigil-project``."""

    def __init__(self, channel: grpc.Channel, token: str) -> None:
        self.admin = admin_pb2_grpc.AdminServiceStub(channel)
        self.query = query_pb2_grpc.QueryServiceStub(channel)
        self._token = token

    def call(self, method: Callable[..., Any], request: Any, project: str = "") -> Any:
        metadata = [("authorization", f"Bearer {self._token}")]
        if project:
            metadata.append(("x-vigil-project", project))
        return method(request, metadata=metadata, timeout=_CALL_S)


def run_admin_command(args: argparse.Namespace, s: VigilSettings) -> int:
    try:
        with admin_api(s) as api:
            out = _run(args, api)
    except AdminUnreachable as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 1
    except ValueError as exc:  # refused before asking (a price file, a password)
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    except grpc.RpcError as exc:
        code, details = exc.code(), exc.details()  # type: ignore[attr-defined]
        print(f"vigil: {details}", file=sys.stderr)
        return 1 if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED) else 2
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


@contextlib.contextmanager
def admin_api(s: VigilSettings) -> Iterator[_Api]:
    """The admin API of the server running on this data directory, or of one started here."""
    published = local_admin.read(s.data_dir)
    if published is not None:
        channel = _channel(published.target, published.tls, s)
        try:
            grpc.channel_ready_future(channel).result(timeout=_REACH_S)
        except grpc.FutureTimeoutError:
            channel.close()
        else:
            try:
                yield _Api(channel, published.token)
            finally:
                channel.close()
            return
    with _in_process(s) as (target, token), grpc.insecure_channel(target) as channel:
        yield _Api(channel, token)


def _channel(target: str, tls: bool, s: VigilSettings) -> grpc.Channel:
    if not tls:
        return grpc.insecure_channel(target)
    roots = s.tls_cert_file.read_bytes() if s.tls_cert_file else None
    # The certificate names the server's public name, not the loopback address asked here.
    return grpc.secure_channel(
        target, grpc.ssl_channel_credentials(roots), options=[("grpc.ssl_target_name_override", "localhost")]
    )


@contextlib.contextmanager
def _in_process(s: VigilSettings) -> Iterator[tuple[str, str]]:
    """The query service's servicers on a loopback port of this process, over the storage."""
    _open_storage(s)
    token = local_admin.new_token()
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="vigil-admin", daemon=True)
    thread.start()

    def run(coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, loop).result()

    auth = make_authenticator(s, local_admin_token=token)

    async def build() -> QueryServer:  # gRPC's asyncio server belongs to the loop it is made on
        return make_query_server(s, auth)

    server = run(build())
    try:
        run(auth.start())
        port = run(server.start("127.0.0.1", 0))
        yield f"127.0.0.1:{port}", token
    finally:
        run(server.stop(grace_s=0))
        run(auth.stop())
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
        loop.close()


def _open_storage(s: VigilSettings) -> None:
    """Create the registry's and the price book's tables, or say in one line why the storage
    cannot be used from here."""
    if s.embedded and local_admin.held(s.resolved_wal_dir):
        raise AdminUnreachable(_held_message(s))
    try:
        client = s.connect_storage()
        try:
            ensure_system(client, s)
        finally:
            client.close()
    except StorageError as exc:
        if s.embedded and "lock" in exc.reason.lower():
            raise AdminUnreachable(_held_message(s)) from None
        raise AdminUnreachable(
            f"cannot reach the storage ({exc.reason}): start ClickHouse or check VIGIL_STORAGE_DSN"
        ) from None


def _held_message(s: VigilSettings) -> str:
    return (
        f"the data directory {s.data_dir} is held by another process (a `vigil serve` still starting?) "
        f"and no server answers at the endpoint it publishes ({s.data_dir / local_admin.FILE_NAME}): "
        "wait until it has started, or stop it"
    )


def _run(args: argparse.Namespace, api: _Api) -> Any:
    if args.command == "projects":
        return _projects(args, api)
    if args.command == "users":
        return _users(args, api)
    if args.command == "prices":
        return _prices(args, api)
    return _keys(args, api)


def _projects(args: argparse.Namespace, api: _Api) -> Any:
    a = api.admin
    if args.action == "create":
        made = api.call(a.CreateProject, admin_pb2.CreateProjectRequest(project=args.project, name=args.name))
        return _project(made.project)
    if args.action == "list":
        return [_project(p) for p in api.call(a.ListProjects, admin_pb2.ListProjectsRequest()).projects]
    if args.action == "rename":
        renamed = api.call(
            a.RenameProject, admin_pb2.RenameProjectRequest(project=args.project, name=args.name)
        )
        return _project(renamed.project)
    if not args.yes:
        raise ValueError(f"deleting project {args.project!r} removes all its data: add --yes to confirm")
    deleted = api.call(a.DeleteProject, admin_pb2.DeleteProjectRequest(project=args.project, confirm=True))
    return _project(deleted.project)


def _keys(args: argparse.Namespace, api: _Api) -> Any:
    a = api.admin
    if args.action == "create":
        expires = time.time_ns() + int(args.expires_days * 86400e9) if args.expires_days else 0
        scopes = [x.strip() for x in args.scopes.split(",") if x.strip()]
        request = admin_pb2.CreateApiKeyRequest(scopes=scopes, name=args.name, expires_time_unix_nano=expires)
        made = api.call(a.CreateApiKey, request, project=args.project)
        return {**_key(made.key), "key": made.secret, "note": "shown once: store it now"}
    if args.action == "list":
        return [_key(k) for k in _all_keys(api, args.project)]
    project = _project_of_key(api, args.key_id)
    if args.action == "rotate":
        request = admin_pb2.RotateApiKeyRequest(
            key_id=args.key_id, grace_seconds=int(args.grace_hours * 3600)
        )
        made = api.call(a.RotateApiKey, request, project=project)
        return {
            **_key(made.key),
            "key": made.secret,
            "note": "shown once; the old key expires after the grace period",
        }
    revoked = api.call(a.RevokeApiKey, admin_pb2.RevokeApiKeyRequest(key_id=args.key_id), project=project)
    return _key(revoked.key)


def _all_keys(api: _Api, project: str = "") -> list[admin_pb2.ApiKey]:
    """The keys of one project, or of every project (the admin API lists a project at a time)."""
    projects = [project] if project else [p.project for p in api.call(
        api.admin.ListProjects, admin_pb2.ListProjectsRequest()
    ).projects]  # fmt: skip
    found = [
        k for p in projects for k in api.call(api.admin.ListApiKeys, admin_pb2.ListApiKeysRequest(), p).keys
    ]
    return sorted(found, key=lambda k: k.created_time_unix_nano)


def _project_of_key(api: _Api, key_id: str) -> str:
    for k in _all_keys(api):
        if k.key_id == key_id:
            return k.project
    raise ValueError(f"no key {key_id!r} (see `vigil keys list`)")


def _users(args: argparse.Namespace, api: _Api) -> Any:
    a = api.admin
    if args.action == "create":
        request = admin_pb2.CreateUserRequest(
            username=args.username, password=_read_password(), admin=args.admin
        )
        return _user(api.call(a.CreateUser, request).user)
    if args.action == "list":
        return [_user(u) for u in api.call(a.ListUsers, admin_pb2.ListUsersRequest()).users]
    if args.action == "passwd":
        request = admin_pb2.SetPasswordRequest(username=args.username, password=_read_password())
        return _user(api.call(a.SetPassword, request).user)
    if args.action == "disable":
        return _user(api.call(a.DisableUser, admin_pb2.DisableUserRequest(username=args.username)).user)
    if args.action == "enable":
        return _user(api.call(a.EnableUser, admin_pb2.EnableUserRequest(username=args.username)).user)
    if args.action == "delete":
        deleted = api.call(a.DeleteUser, admin_pb2.DeleteUserRequest(username=args.username)).user
        return {**_user(deleted), "deleted": True}
    if args.action == "signout":
        request = admin_pb2.SignOutEverywhereRequest(username=args.username)
        return _user(api.call(a.SignOutEverywhere, request).user)
    role = args.role if args.action == "grant" else ""
    granted = api.call(a.SetRole, admin_pb2.SetRoleRequest(username=args.username, role=role), args.project)
    return _user(granted.user)


def _prices(args: argparse.Namespace, api: _Api) -> Any:
    if args.action == "import":
        prices = [to_message(p) for p in load_file(args.file)]  # refused here with the file's reason
        request = admin_pb2.SetModelPricesRequest(prices=prices, replace=args.replace)
        written = api.call(api.admin.SetModelPrices, request).written
        listed = api.call(api.query.ListModelPrices, query_pb2.ListModelPricesRequest()).prices
        return {"written": written, "prices": len(listed)}
    return [_price(p) for p in api.call(api.query.ListModelPrices, query_pb2.ListModelPricesRequest()).prices]


def _price(p: query_pb2.ModelPrice) -> dict[str, Any]:
    return {
        "origin": p.origin,
        "provider": p.provider,
        "model": p.model_pattern,
        "input": p.input,
        "output": p.output,
        "cache_read": p.cache_read,
        "cache_creation": p.cache_creation,
        "effective_from": _time(p.effective_from_unix_nano) or None,
        "effective_to": _time(p.effective_to_unix_nano) or None,
    }


def _read_password() -> str:
    if sys.stdin.isatty():
        first, second = getpass.getpass("password: "), getpass.getpass("again: ")
        if first != second:
            raise ValueError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def _user(u: admin_pb2.User) -> dict[str, Any]:
    return {
        "username": u.username,
        "admin": u.admin,
        "disabled": u.disabled,
        "roles": dict(sorted(u.roles.items())),
        "created": _time(u.created_time_unix_nano),
    }


def _time(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="seconds") if ns else ""


def _project(p: admin_pb2.Project) -> dict[str, Any]:
    return {
        "project": p.project,
        "name": p.name,
        "database": p.database,
        "created": _time(p.created_time_unix_nano),
    }


def _key(k: admin_pb2.ApiKey) -> dict[str, Any]:
    return {
        "key_id": k.key_id,
        "prefix": k.prefix + "…",
        "project": k.project,
        "name": k.name,
        "scopes": list(k.scopes),
        "created": _time(k.created_time_unix_nano),
        "expires": _time(k.expires_time_unix_nano),
        "revoked": _time(k.revoked_time_unix_nano),
        "last_used": _time(k.last_used_time_unix_nano),
    }
