"""Issue 31, items 1, 3 and 9: server admin comes only from a user created --admin or the
local admin token (never from a project role or a key's scope) and nobody gives more than
they hold; sessions are revocable (token version, rotated refresh tokens, session families,
sign-out); the two secrets are independent, at least 32 bytes, and written safely."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import grpc
import pytest
from clickhouse_connect.driver.client import Client

from vigil.admin.v1 import admin_pb2, admin_pb2_grpc
from vigil.query.v1 import query_pb2, query_pb2_grpc
from vigil_auth import registry
from vigil_auth.keys import KeyHasher
from vigil_auth.passwords import hash_password
from vigil_auth.secret import SecretError, server_secret, session_secret
from vigil_query.api.server import QueryServer
from vigil_server.wiring.auth import make_authenticator
from vigil_server.wiring.query import make_query_service
from vigil_storage import apply_migrations

from support import RunningApp, credentials_changed, make_settings, run_cli

AUTH_SECRET = "sessions-test-auth-secret-0123456789-abcdef"
SESSION_SECRET = "sessions-test-session-secret-0123456789-abcdef"
MAIN = "sessmain"
SYS = f"vigil_system_{MAIN}"  # its system database (support.make_settings)
LOCAL_TOKEN = "local-admin-token-" + "x" * 40
UNAUTHENTICATED = grpc.StatusCode.UNAUTHENTICATED
DENIED = grpc.StatusCode.PERMISSION_DENIED


@pytest.fixture(scope="module")
def secured(chdb_dir: Path, ch: Client) -> Iterator[RunningApp]:
    registry.ensure(ch, SYS)
    for slug in ("alpha", "beta"):
        registry.create_project(ch, SYS, slug, main=MAIN, create_tables=partial(apply_migrations, ch))
        credentials_changed()
    registry.create_user(ch, SYS, "root", hash_password("root password"), is_admin=True)
    credentials_changed()
    app = RunningApp(
        make_settings(
            chdb_dir, database=MAIN, auth="on", auth_secret=AUTH_SECRET, session_secret=SESSION_SECRET
        )
    )
    yield app
    app.stop()


class Caller:
    """The query and admin APIs over one channel, with a credential and a project."""

    def __init__(self, target: str, token: str = "", project: str = "") -> None:
        self._channel = grpc.insecure_channel(target)
        self.query = query_pb2_grpc.QueryServiceStub(self._channel)
        self.admin = admin_pb2_grpc.AdminServiceStub(self._channel)
        self.token, self.project = token, project

    def __enter__(self) -> Caller:
        return self

    def __exit__(self, *exc: object) -> None:
        self._channel.close()

    def metadata(self) -> list[tuple[str, str]]:
        found = [("authorization", f"Bearer {self.token}")] if self.token else []
        return found + ([("x-vigil-project", self.project)] if self.project else [])

    def __call__(self, method: str, request: Any) -> Any:
        stub = self.query if hasattr(self.query, method) else self.admin
        return getattr(stub, method)(request, metadata=self.metadata(), timeout=30)

    def refused(self, method: str, request: Any) -> grpc.StatusCode:
        with pytest.raises(grpc.RpcError) as refusal:
            self(method, request)
        return refusal.value.code()

    def login(self, username: str, password: str) -> query_pb2.LoginResponse:
        session = self("Login", query_pb2.LoginRequest(username=username, password=password))
        self.token = session.access_token
        return session


def _user(ch: Client, name: str, password: str, **roles: str) -> None:
    registry.create_user(ch, SYS, name, hash_password(password), is_admin=False)
    credentials_changed()
    for project, role in roles.items():
        registry.grant(ch, SYS, name, project, role)
        credentials_changed()


def _within(seconds: float, condition: Callable[[], bool]) -> float:
    started = time.monotonic()
    while time.monotonic() - started < seconds:
        if condition():
            return time.monotonic() - started
        time.sleep(0.05)
    raise AssertionError(f"not within {seconds} s")


def _refused(caller: Caller, code: grpc.StatusCode = UNAUTHENTICATED) -> bool:
    try:
        caller("GetServices", query_pb2.GetServicesRequest())
    except grpc.RpcError as exc:
        return exc.code() == code
    return False


# --- item 1: no escalation -----------------------------------------------------------------------


def test_a_project_admin_gains_no_right_it_does_not_hold(secured: RunningApp, ch: Client) -> None:
    """The escalation of issue 31 item 1 (an admin of the default project mints an admin key
    there and uses it as a server admin) and every other path: keys, roles, SetRole."""
    _user(ch, "pat", "pat password", default="admin", alpha="admin")
    _user(ch, "mia", "mia password", alpha="member")
    _user(ch, "outsider", "outsider password")
    with Caller(secured.query_target) as pat:
        pat.login("pat", "pat password")
        assert not pat("WhoAmI", query_pb2.WhoAmIRequest()).server_admin
        # The escalation: an admin-scope key of the default project is no server admin.
        minted = pat("CreateApiKey", admin_pb2.CreateApiKeyRequest(scopes=["admin", "read"], name="x"))
        with Caller(secured.query_target, minted.secret) as key:
            assert not key("WhoAmI", query_pb2.WhoAmIRequest()).server_admin
            assert key("ListApiKeys", admin_pb2.ListApiKeysRequest()).keys  # its own project: yes
            server_only: list[tuple[str, Any]] = [
                ("ListProjects", admin_pb2.ListProjectsRequest()),
                ("CreateProject", admin_pb2.CreateProjectRequest(project="evil")),
                ("DeleteProject", admin_pb2.DeleteProjectRequest(project="beta", confirm=True)),
                ("ListUsers", admin_pb2.ListUsersRequest()),
                ("CreateUser", admin_pb2.CreateUserRequest(username="evil", password="p", admin=True)),
                ("SetPassword", admin_pb2.SetPasswordRequest(username="root", password="mine now")),
                ("DisableUser", admin_pb2.DisableUserRequest(username="root")),
                ("DeleteUser", admin_pb2.DeleteUserRequest(username="root")),
                ("SignOutEverywhere", admin_pb2.SignOutEverywhereRequest(username="root")),
                ("SetModelPrices", admin_pb2.SetModelPricesRequest(replace=True)),
            ]
            for method, request in server_only:
                assert key.refused(method, request) == DENIED, method
                assert pat.refused(method, request) == DENIED, method
            # A key acts in its own project only.
            key.project = "beta"
            assert key.refused("ListApiKeys", admin_pb2.ListApiKeysRequest()) == DENIED
            assert (
                key.refused("SetRole", admin_pb2.SetRoleRequest(username="outsider", role="admin")) == DENIED
            )
        # Another project: not a member there, so nothing.
        pat.project = "beta"
        assert pat.refused("CreateApiKey", admin_pb2.CreateApiKeyRequest(scopes=["read"])) == DENIED
        assert pat.refused("SetRole", admin_pb2.SetRoleRequest(username="pat", role="admin")) == DENIED
        assert pat.refused("SetRole", admin_pb2.SetRoleRequest(username="outsider", role="viewer")) == DENIED
        # A server admin's roles are not a project admin's to change.
        pat.project = "alpha"
        assert pat.refused("SetRole", admin_pb2.SetRoleRequest(username="root", role="")) == DENIED
        # A key of another project cannot be revoked or rotated from here.
        _, beta_key = registry.create_key(ch, SYS, KeyHasher(AUTH_SECRET.encode()), "beta", ["read"])
        credentials_changed()
        beta_id = next(k.key_id for k in registry.list_keys(ch, SYS) if k.prefix == beta_key[:12])
        assert pat.refused("RevokeApiKey", admin_pb2.RevokeApiKeyRequest(key_id=beta_id)) == (
            grpc.StatusCode.INVALID_ARGUMENT
        )
        assert pat.refused("RotateApiKey", admin_pb2.RotateApiKeyRequest(key_id=beta_id)) == (
            grpc.StatusCode.INVALID_ARGUMENT
        )
    # A member (read, replay) gives nothing: no keys, no roles, not even a viewer's.
    with Caller(secured.query_target, project="alpha") as mia:
        mia.login("mia", "mia password")
        assert mia.refused("CreateApiKey", admin_pb2.CreateApiKeyRequest(scopes=["read"])) == DENIED
        assert mia.refused("SetRole", admin_pb2.SetRoleRequest(username="mia", role="admin")) == DENIED
        assert mia.refused("SetRole", admin_pb2.SetRoleRequest(username="outsider", role="viewer")) == DENIED
    # A key that holds read only (no admin scope) gives nothing either.
    _, read_key = registry.create_key(ch, SYS, KeyHasher(AUTH_SECRET.encode()), "alpha", ["read"])
    credentials_changed()
    with Caller(secured.query_target, read_key) as reader:
        assert reader.refused("CreateApiKey", admin_pb2.CreateApiKeyRequest(scopes=["read"])) == DENIED
    # What the project admin could do stays in its project and within its role.
    with Caller(secured.query_target, project="alpha") as pat:
        pat.login("pat", "pat password")
        pat("SetRole", admin_pb2.SetRoleRequest(username="outsider", role="viewer"))
    assert registry.user(ch, SYS, "outsider").roles == {
        registry.project(ch, SYS, "alpha", main=MAIN).number: "viewer"
    }
    assert not registry.user(ch, SYS, "outsider").is_admin
    assert registry.user(ch, SYS, "root").roles == {}
    assert "evil" not in [u.username for u in registry.list_users(ch, SYS)]


# --- item 3: revocable sessions --------------------------------------------------------------------


@pytest.mark.parametrize("how", ["password", "disable", "everywhere-self", "everywhere-by-admin", "delete"])
def test_old_tokens_are_refused_within_2_s(secured: RunningApp, ch: Client, how: str) -> None:
    """After a password change, disabling, sign-out-everywhere (the user's own, or a server
    admin's for them) or deletion, done by another process straight in storage or through
    the admin API, the old access and refresh tokens get UNAUTHENTICATED within 2 s."""
    name = f"u{uuid.uuid4().hex[:8]}"
    _user(ch, name, "first password", alpha="viewer")
    with Caller(secured.query_target, project="alpha") as user:
        session = user.login(name, "first password")
        user("GetServices", query_pb2.GetServicesRequest())  # works
        if how == "password":
            registry.set_password(ch, SYS, name, hash_password("second password"))  # another process
        elif how == "disable":
            registry.disable_user(ch, SYS, name)
        elif how == "everywhere-self":
            user("SignOutEverywhere", admin_pb2.SignOutEverywhereRequest())
        elif how == "everywhere-by-admin":
            with Caller(secured.query_target) as root:
                root.login("root", "root password")
                root("SignOutEverywhere", admin_pb2.SignOutEverywhereRequest(username=name))
        else:
            registry.delete_user(ch, SYS, name)
        took = _within(2.5, lambda: _refused(user))
        print(f"{how}: the old access token was refused after {took:.2f} s")
        refresh = query_pb2.RefreshSessionRequest(refresh_token=session.refresh_token)
        assert user.refused("RefreshSession", refresh) == UNAUTHENTICATED
    with Caller(secured.query_target) as again:
        if how == "password":
            assert again.refused(
                "Login", query_pb2.LoginRequest(username=name, password="first password")
            ) == (UNAUTHENTICATED)
            again.login(name, "second password")  # a new session works
        elif how in ("disable", "delete"):
            assert again.refused(
                "Login", query_pb2.LoginRequest(username=name, password="first password")
            ) == (UNAUTHENTICATED)
        else:
            again.login(name, "first password")
    if how == "disable":
        registry.enable_user(ch, SYS, name)
        with Caller(secured.query_target) as enabled:
            _within(3, lambda: _logs_in(enabled, name, "first password"))


def _logs_in(caller: Caller, name: str, password: str) -> bool:
    try:
        caller.login(name, password)
    except grpc.RpcError:
        return False
    return True


def test_refresh_tokens_rotate_and_a_reused_one_ends_its_family(secured: RunningApp, ch: Client) -> None:
    _user(ch, "rita", "rita password", alpha="viewer")
    with Caller(secured.query_target, project="alpha") as rita:
        first = rita.login("rita", "rita password")
        other = Caller(secured.query_target, project="alpha")
        other.login("rita", "rita password")  # a second session (another browser)
        second = rita("RefreshSession", query_pb2.RefreshSessionRequest(refresh_token=first.refresh_token))
        assert second.refresh_token != first.refresh_token
        rita.token = second.access_token
        third = rita("RefreshSession", query_pb2.RefreshSessionRequest(refresh_token=second.refresh_token))
        rita.token = third.access_token
        assert not _refused(rita)
        # A thief replays the first refresh token: refused, and the whole family ends.
        reused = query_pb2.RefreshSessionRequest(refresh_token=first.refresh_token)
        assert rita.refused("RefreshSession", reused) == UNAUTHENTICATED
        took = _within(2, lambda: _refused(rita))
        print(f"the family's access token was refused {took:.2f} s after the reuse")
        latest = query_pb2.RefreshSessionRequest(refresh_token=third.refresh_token)
        assert rita.refused("RefreshSession", latest) == UNAUTHENTICATED
        # The other session is another family: untouched.
        assert not _refused(other)
        other._channel.close()
    families = ch.query(
        f"SELECT count(DISTINCT family) FROM {SYS}.vigil_sessions WHERE username = 'rita'"
    ).result_rows[0][0]
    assert families == 2


def test_sign_out_ends_only_that_session(secured: RunningApp, ch: Client) -> None:
    _user(ch, "sam", "sam password", alpha="viewer")
    with (
        Caller(secured.query_target, project="alpha") as one,
        Caller(secured.query_target, project="alpha") as two,
    ):
        first = one.login("sam", "sam password")
        two.login("sam", "sam password")
        one("SignOut", admin_pb2.SignOutRequest())
        assert _refused(one)  # at once on this server
        refresh = query_pb2.RefreshSessionRequest(refresh_token=first.refresh_token)
        assert one.refused("RefreshSession", refresh) == UNAUTHENTICATED
        assert not _refused(two)
    _, key = registry.create_key(ch, SYS, KeyHasher(AUTH_SECRET.encode()), "alpha", ["read"])
    credentials_changed()
    with Caller(secured.query_target, key) as keyed:
        assert keyed.refused("SignOut", admin_pb2.SignOutRequest()) == grpc.StatusCode.INVALID_ARGUMENT
        assert (
            keyed.refused("SignOutEverywhere", admin_pb2.SignOutEverywhereRequest(username="sam")) == DENIED
        )


def test_a_deleted_name_taken_again_accepts_no_old_token(secured: RunningApp, ch: Client) -> None:
    _user(ch, "dora", "dora password", alpha="viewer")
    with Caller(secured.query_target, project="alpha") as old, Caller(secured.query_target) as root:
        old.login("dora", "dora password")
        root.login("root", "root password")
        assert root.refused("DeleteUser", admin_pb2.DeleteUserRequest(username="root")) == (
            grpc.StatusCode.INVALID_ARGUMENT
        )
        root("DeleteUser", admin_pb2.DeleteUserRequest(username="dora"))
        assert "dora" not in [u.username for u in root("ListUsers", admin_pb2.ListUsersRequest()).users]
        root("CreateUser", admin_pb2.CreateUserRequest(username="dora", password="new dora"))
        assert registry.user(ch, SYS, "dora").roles == {}  # the old roles went with the old user
        root.project = "alpha"
        root("SetRole", admin_pb2.SetRoleRequest(username="dora", role="viewer"))
        assert _refused(old)


def test_the_session_secret_is_apart_from_the_key_secret(
    chdb_dir: Path, ch: Client, secured: RunningApp
) -> None:
    """A new session secret ends every session and voids no API key."""
    _, key = registry.create_key(ch, SYS, KeyHasher(AUTH_SECRET.encode()), "alpha", ["read"])
    credentials_changed()
    with Caller(secured.query_target) as user:
        user.login("root", "root password")
        token = user.token
    rotated = RunningApp(
        make_settings(
            chdb_dir,
            database=MAIN,
            auth="on",
            auth_secret=AUTH_SECRET,
            session_secret="another " + SESSION_SECRET,
        )
    )
    try:
        with Caller(rotated.query_target, token) as old_session, Caller(rotated.query_target, key) as keyed:
            assert _refused(old_session)
            assert not _refused(keyed)
    finally:
        rotated.stop()


def test_an_install_made_before_token_versions_upgrades(ch: Client) -> None:
    db = f"old_{uuid.uuid4().hex[:8]}"
    ch.command(f"CREATE DATABASE {db}")
    try:
        ch.command(
            f"CREATE TABLE {db}.vigil_users (username String, password_hash String, is_admin UInt8,"
            " created_ns Int64, version Int64) ENGINE = ReplacingMergeTree(version) ORDER BY username"
        )
        ch.command(f"INSERT INTO {db}.vigil_users VALUES ('old', 'hash', 1, 1, 1)")
        registry.ensure(ch, db)
        (old,) = registry.list_users(ch, db)
        assert (old.username, old.is_admin, old.token_version, old.disabled) == ("old", True, 0, False)
        assert registry.sign_out_everywhere(ch, db, "old").token_version == 1
    finally:
        ch.command(f"DROP DATABASE {db}")


# --- the local admin token -----------------------------------------------------------------------


class QueryOnly:
    """The query service alone (as `vigil query` runs it), built with a local admin token."""

    def __init__(self, settings: Any) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()
        self.auth = make_authenticator(settings, local_admin_token=LOCAL_TOKEN)

        async def start() -> int:  # the gRPC server belongs to the loop it is made on
            self.server = QueryServer(make_query_service(settings, self.auth), 0, settings.ui_dir)
            await self.auth.start()
            return await self.server.start("127.0.0.1", 0, None)

        self.target = f"127.0.0.1:{self.run(start())}"

    def run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(60)

    def stop(self) -> None:
        async def stop() -> None:
            await self.server.stop(1.0)
            await self.auth.stop()

        self.run(stop())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


@pytest.mark.parametrize("auth", ["off", "on"])
def test_the_local_admin_token(chdb_dir: Path, ch: Client, secured: RunningApp, auth: str) -> None:
    """With auth off the admin API takes the local admin token only (not everyone, as every
    other RPC does then); with auth on the token is a server admin besides users."""
    del secured  # the registry it set up
    server = QueryOnly(
        make_settings(
            chdb_dir, database=MAIN, auth=auth, auth_secret=AUTH_SECRET, session_secret=SESSION_SECRET
        )
    )
    try:
        with Caller(server.target) as anonymous:
            assert anonymous.refused("ListProjects", admin_pb2.ListProjectsRequest()) == UNAUTHENTICATED
            anonymous.token = "not-the-token"
            assert anonymous.refused("ListProjects", admin_pb2.ListProjectsRequest()) == UNAUTHENTICATED
            if auth == "off":
                anonymous("GetServices", query_pb2.GetServicesRequest())  # works
        with Caller(server.target, LOCAL_TOKEN) as local:
            assert "alpha" in [
                p.project for p in local("ListProjects", admin_pb2.ListProjectsRequest()).projects
            ]
            name = f"admin_{auth}"
            local(
                "CreateUser", admin_pb2.CreateUserRequest(username=name, password="long password", admin=True)
            )
            local.project = "beta"
            made = local("CreateApiKey", admin_pb2.CreateApiKeyRequest(scopes=["read"], name="cli"))
            assert made.key.project == "beta"
            if auth == "on":
                me = local("WhoAmI", query_pb2.WhoAmIRequest())
                assert me.server_admin and me.key_id == "local-admin"
    finally:
        server.stop()


# --- item 9: the secrets -------------------------------------------------------------------------


def test_short_secrets_are_refused_naming_the_setting(tmp_path: Path) -> None:
    for setting in ("VIGIL_AUTH_SECRET", "VIGIL_SESSION_SECRET"):
        out = run_cli(
            "serve",
            env={"VIGIL_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin", setting: "x" * 31},
            timeout=60,
        )
        assert out.returncode == 2 and setting in out.stderr and "32 bytes" in out.stderr, out.stderr
    with pytest.raises(SecretError, match="VIGIL_SESSION_SECRET"):
        session_secret("too short", tmp_path)
    assert session_secret("y" * 32, tmp_path) == b"y" * 32


def test_secret_files_are_made_whole_0600_and_a_damaged_one_is_refused(tmp_path: Path) -> None:
    data = tmp_path / "fresh"
    auth, session = server_secret("", data), session_secret("", data)
    assert len(auth) >= 32 and len(session) >= 32 and auth != session
    for name in ("auth-secret", "session-secret"):
        assert stat.S_IMODE(os.stat(data / name).st_mode) == 0o600
    assert sorted(p.name for p in data.iterdir()) == ["auth-secret", "session-secret"]  # no temporary left
    assert server_secret("", data) == auth  # kept
    for content in ("", "short"):
        (data / "session-secret").write_text(content)
        with pytest.raises(SecretError, match="session-secret"):
            session_secret("", data)


def test_the_users_commands_disable_enable_and_delete(tmp_path: Path) -> None:
    env = {"VIGIL_DATA_DIR": str(tmp_path / "data"), "PATH": "/usr/bin:/bin"}

    def vigil(*args: str) -> Any:
        out = subprocess.run(
            [sys.executable, "-m", "vigil_server.cli", *args],
            input="a long enough password\n",
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        return json.loads(out.stdout)

    assert vigil("users", "create", "ursula")["disabled"] is False
    assert vigil("users", "disable", "ursula")["disabled"] is True
    assert vigil("users", "list")[0]["disabled"] is True
    assert vigil("users", "enable", "ursula")["disabled"] is False
    assert vigil("users", "delete", "ursula")["deleted"] is True
    assert vigil("users", "list") == []
    assert stat.S_IMODE(os.stat(tmp_path / "data" / "auth-secret").st_mode) == 0o600
