"""``vigil projects …``, ``vigil keys …``, ``vigil users …`` and ``vigil prices …``: the
registry and the price book, worked on
directly in storage (embedded chDB: while the server is stopped, since one process holds the
directory; a ClickHouse server: at any time, the server sees changes within seconds)."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
import time
from datetime import UTC, datetime
from typing import Any

from vigil_auth import registry
from vigil_auth.keys import SCOPES, KeyHasher
from vigil_auth.passwords import hash_password
from vigil_auth.secret import server_secret
from vigil_query.prices import store as price_book
from vigil_query.prices.book import Price, load_file
from vigil_server.app import ensure_system
from vigil_server.settings import VigilSettings
from vigil_storage import StorageError, connect


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


def run_admin_command(args: argparse.Namespace, s: VigilSettings) -> int:
    try:
        client = connect(s.dsn, connect_timeout_s=s.storage_connect_timeout_s)
        ensure_system(client, s)
        out = _run(args, s, client)
    except (registry.RegistryError, ValueError) as exc:
        print(f"vigil: {exc}", file=sys.stderr)
        return 2
    except StorageError as exc:
        print(f"vigil: {exc.reason}", file=sys.stderr)
        return 1
    print(json.dumps(out, indent=2, ensure_ascii=False))
    return 0


def _run(args: argparse.Namespace, s: VigilSettings, client: Any) -> Any:
    db, main = s.system_database, s.database
    hasher = KeyHasher(server_secret(s.auth_secret.get_secret_value(), s.data_dir))
    if args.command == "projects":
        if args.action == "create":
            return _project(
                registry.create_project(client, db, args.project, args.name, s.traces_ttl_days, main=main)
            )
        if args.action == "list":
            return [_project(p) for p in registry.list_projects(client, db, main=main)]
        if args.action == "rename":
            return _project(registry.rename_project(client, db, args.project, args.name, main=main))
        if not args.yes:
            raise ValueError(f"deleting project {args.project!r} removes all its data: add --yes to confirm")
        return _project(registry.delete_project(client, db, args.project, main=main))
    if args.command == "users":
        return _users(args, client, db)
    if args.command == "prices":
        if args.action == "import":
            written = price_book.set_prices(client, db, load_file(args.file), replace=args.replace)
            return {"written": written, "prices": len(price_book.list_prices(client, db))}
        return [_price(p) for p in price_book.list_prices(client, db)]
    if args.action == "create":
        expires = time.time_ns() + int(args.expires_days * 86400e9) if args.expires_days else 0
        scopes = [x.strip() for x in args.scopes.split(",") if x.strip()]
        record, key = registry.create_key(client, db, hasher, args.project, scopes, args.name, expires)
        return {**_key(record), "key": key, "note": "shown once: store it now"}
    if args.action == "list":
        number = registry.project(client, db, args.project, main=main).number if args.project else None
        return [_key(k) for k in registry.list_keys(client, db, number)]
    if args.action == "rotate":
        record, key = registry.rotate_key(client, db, hasher, args.key_id, args.grace_hours * 3600)
        return {**_key(record), "key": key, "note": "shown once; the old key expires after the grace period"}
    return _key(registry.revoke_key(client, db, args.key_id))


def _price(p: Price) -> dict[str, Any]:
    return {
        "origin": p.origin,
        "provider": p.provider,
        "model": p.model,
        "input": p.input,
        "output": p.output,
        "cache_read": p.cache_read,
        "cache_creation": p.cache_creation,
        "effective_from": _time(p.effective_from_ns) if p.effective_from_ns else None,
        "effective_to": _time(p.effective_to_ns) if p.effective_to_ns else None,
    }


def _users(args: argparse.Namespace, client: Any, db: str) -> Any:
    if args.action == "create":
        password = hash_password(_read_password())
        return _user(
            registry.create_user(client, db, args.username, password, is_admin=args.admin), client, db
        )
    if args.action == "list":
        return [_user(u, client, db) for u in registry.list_users(client, db)]
    if args.action == "passwd":
        return _user(
            registry.set_password(client, db, args.username, hash_password(_read_password())), client, db
        )
    if args.action == "disable":
        return _user(registry.disable_user(client, db, args.username), client, db)
    if args.action == "enable":
        return _user(registry.enable_user(client, db, args.username), client, db)
    if args.action == "delete":
        return {**_user(registry.delete_user(client, db, args.username), client, db), "deleted": True}
    if args.action == "signout":
        return _user(registry.sign_out_everywhere(client, db, args.username), client, db)
    registry.grant(client, db, args.username, args.project, args.role if args.action == "grant" else "")
    return _user(registry.user(client, db, args.username), client, db)


def _read_password() -> str:
    if sys.stdin.isatty():
        first, second = getpass.getpass("password: "), getpass.getpass("again: ")
        if first != second:
            raise ValueError("the two passwords differ")
        return first
    return sys.stdin.readline().rstrip("\n")


def _user(u: registry.User, client: Any, db: str) -> dict[str, Any]:
    slugs = {number: slug for slug, number in registry.project_numbers(client, db).items()}
    return {
        "username": u.username,
        "admin": u.is_admin,
        "disabled": u.disabled,
        "roles": {slugs.get(n, str(n)): role for n, role in u.roles.items()},
        "created": _time(u.created_ns),
    }


def _time(ns: int) -> str:
    return datetime.fromtimestamp(ns / 1e9, UTC).isoformat(timespec="seconds") if ns else ""


def _project(p: registry.Project) -> dict[str, Any]:
    return {"project": p.slug, "name": p.name, "database": p.database, "created": _time(p.created_ns)}


def _key(k: registry.ApiKey) -> dict[str, Any]:
    return {
        "key_id": k.key_id,
        "prefix": k.prefix + "…",
        "project": k.project,
        "name": k.name,
        "scopes": list(k.scopes),
        "created": _time(k.created_ns),
        "expires": _time(k.expires_ns),
        "revoked": _time(k.revoked_ns),
        "last_used": _time(k.last_used_ns),
    }
