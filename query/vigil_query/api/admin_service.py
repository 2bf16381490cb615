"""AdminService: the registry's operations (projects, API keys, users) as RPCs, each
authorized here, run on a query thread with that thread's client, and answered through the
query service's one error mapping.

Who may do what: projects, users and the price book need a server admin (a user created
--admin, or the local admin token the `vigil` commands send); keys and roles need the admin
scope in the caller's project, and give no more than the caller holds there; sign-out needs
a user's session. With authentication off only the local admin token is accepted."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import grpc

from vigil_auth import grpc_calls, registry
from vigil_auth.authenticator import Authenticator, Principal
from vigil_auth.errors import PermissionDenied, Unauthenticated
from vigil_auth.keys import ADMIN, ANY
from vigil_auth.passwords import hash_password
from vigil_proto.admin.v1 import admin_pb2, admin_pb2_grpc
from vigil_query.analytics.prices import store as price_book
from vigil_query.analytics.prices.rpc import from_messages
from vigil_query.api.service import respond
from vigil_query.errors import InvalidQuery
from vigil_query.reader import Reader, Writer
from vigil_storage import apply_migrations

DEFAULT_GRACE_S = 24 * 3600
# Who may call an RPC.
SERVER, PROJECT, SESSION = "server admin", "project admin", "session"


class AdminService(admin_pb2_grpc.AdminServiceServicer):
    def __init__(self, reader: Reader, auth: Authenticator, ttl_days: int = 0) -> None:
        # Every operation runs on the writing side (the storage DSN): the reader's DSN may be
        # a read-only user's. ``db`` below is the system database, where the registry lives.
        self._writer = reader.writer
        self._main = reader.main_database  # the telemetry database projects' names derive from
        self._auth = auth
        self._ttl_days = ttl_days

    # --- projects and users: server admins -----------------------------------------------

    async def ListProjects(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._run("ListProjects", context, SERVER, lambda c, db, _: admin_pb2.ListProjectsResponse(
            projects=[_project(p) for p in registry.list_projects(c, db, main=self._main)]
        ))  # fmt: skip

    async def CreateProject(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def create(c: Any, db: str, _: Principal) -> Any:
            # Storage makes the project's telemetry tables; the registry only records it.
            made = registry.create_project(
                c,
                db,
                request.project,
                request.name,
                main=self._main,
                create_tables=lambda database: apply_migrations(c, database, self._ttl_days),
            )
            return admin_pb2.CreateProjectResponse(project=_project(made))

        return await self._run("CreateProject", context, SERVER, create, reload=True)

    async def RenameProject(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._run("RenameProject", context, SERVER, lambda c, db, _: admin_pb2.RenameProjectResponse(
            project=_project(registry.rename_project(c, db, request.project, request.name, main=self._main))
        ), reload=True)  # fmt: skip

    async def DeleteProject(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def delete(c: Any, db: str, _: Principal) -> Any:
            if not request.confirm:
                raise InvalidQuery(f"deleting project {request.project!r} removes all its data: set confirm")
            return admin_pb2.DeleteProjectResponse(
                project=_project(registry.delete_project(c, db, request.project, main=self._main))
            )

        return await self._run("DeleteProject", context, SERVER, delete, reload=True)

    async def ListUsers(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def users(c: Any, db: str, _: Principal) -> Any:
            slugs = _slugs(c, db)
            return admin_pb2.ListUsersResponse(users=[_user(u, slugs) for u in registry.list_users(c, db)])

        return await self._run("ListUsers", context, SERVER, users)

    async def CreateUser(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def create(c: Any, db: str, _: Principal) -> Any:
            made = registry.create_user(
                c, db, request.username, hash_password(request.password), is_admin=request.admin
            )
            return admin_pb2.CreateUserResponse(user=_user(made, _slugs(c, db)))

        return await self._run("CreateUser", context, SERVER, create, reload=True)

    async def SetPassword(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def change(c: Any, db: str, _: Principal) -> Any:
            changed = registry.set_password(c, db, request.username, hash_password(request.password))
            return admin_pb2.SetPasswordResponse(user=_user(changed, _slugs(c, db)))

        return await self._run("SetPassword", context, SERVER, change, reload=True)

    async def DisableUser(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._run("DisableUser", context, SERVER, lambda c, db, _: admin_pb2.DisableUserResponse(
            user=_user(registry.disable_user(c, db, request.username), _slugs(c, db))
        ), reload=True)  # fmt: skip

    async def EnableUser(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        return await self._run("EnableUser", context, SERVER, lambda c, db, _: admin_pb2.EnableUserResponse(
            user=_user(registry.enable_user(c, db, request.username), _slugs(c, db))
        ), reload=True)  # fmt: skip

    async def DeleteUser(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def delete(c: Any, db: str, caller: Principal) -> Any:
            if request.username == caller.username:
                raise registry.RegistryError("you cannot delete yourself (another server admin can)")
            return admin_pb2.DeleteUserResponse(user=_user(registry.delete_user(c, db, request.username), {}))

        return await self._run("DeleteUser", context, SERVER, delete, reload=True)

    # --- sessions: the caller's own ----------------------------------------------------------

    async def SignOut(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def work() -> Any:
            caller = await self._caller(context, SESSION)
            await self._auth.end_session(caller.family)
            return admin_pb2.SignOutResponse()

        return await respond("SignOut", work(), context)

    async def SignOutEverywhere(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        async def work() -> Any:
            caller = await self._caller(context, ANY)
            username = request.username or caller.username
            if not username:
                raise InvalidQuery("name the user whose sessions end (this credential is not a user's)")
            if username != caller.username and not caller.server_admin:
                raise PermissionDenied("ending another user's sessions needs a server admin")

            def bump(writer: Writer) -> Any:
                db = writer.system_database
                try:
                    changed = registry.sign_out_everywhere(writer.client(), db, username)
                except registry.RegistryError as exc:
                    raise InvalidQuery(str(exc)) from exc
                return admin_pb2.SignOutEverywhereResponse(user=_user(changed, _slugs(writer.client(), db)))

            answer = await self._writer.run(bump)
            await self._auth.reload()
            return answer

        return await respond("SignOutEverywhere", work(), context)

    # --- keys and roles: admins of the caller's project ------------------------------------

    async def ListApiKeys(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def keys(c: Any, db: str, caller: Principal) -> Any:
            slugs = _slugs(c, db)
            found = registry.list_keys(c, db, caller.project)
            return admin_pb2.ListApiKeysResponse(keys=[_key(k, slugs) for k in found])

        return await self._run("ListApiKeys", context, PROJECT, keys)

    async def CreateApiKey(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def create(c: Any, db: str, caller: Principal) -> Any:
            slugs = _slugs(c, db)
            _may_give(caller, list(request.scopes), "a key")
            record, secret = registry.create_key(
                c, db, self._auth.hasher, slugs[caller.project], list(request.scopes), request.name,
                request.expires_time_unix_nano,
            )  # fmt: skip
            return admin_pb2.CreateApiKeyResponse(key=_key(record, slugs), secret=secret)

        return await self._run("CreateApiKey", context, PROJECT, create, reload=True)

    async def RotateApiKey(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def rotate(c: Any, db: str, caller: Principal) -> Any:
            _may_give(caller, list(_own_key(c, db, request.key_id, caller).scopes), "a key")
            grace = request.grace_seconds or DEFAULT_GRACE_S
            record, secret = registry.rotate_key(c, db, self._auth.hasher, request.key_id, grace)
            return admin_pb2.RotateApiKeyResponse(key=_key(record, _slugs(c, db)), secret=secret)

        return await self._run("RotateApiKey", context, PROJECT, rotate, reload=True)

    async def RevokeApiKey(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def revoke(c: Any, db: str, caller: Principal) -> Any:
            _own_key(c, db, request.key_id, caller)
            return admin_pb2.RevokeApiKeyResponse(
                key=_key(registry.revoke_key(c, db, request.key_id), _slugs(c, db))
            )

        return await self._run("RevokeApiKey", context, PROJECT, revoke, reload=True)

    async def SetRole(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def grant(c: Any, db: str, caller: Principal) -> Any:
            slugs = _slugs(c, db)
            if request.role and request.role not in registry.ROLES:
                raise registry.RegistryError(
                    f"role must be one of {', '.join(registry.ROLES)}, got {request.role!r}"
                )
            _may_give(caller, list(registry.ROLES.get(request.role, ())), f"role {request.role!r}")
            if registry.user(c, db, request.username).is_admin and not caller.server_admin:
                raise PermissionDenied(
                    f"{request.username} is a server admin: only a server admin may change their roles"
                )
            registry.grant(c, db, request.username, slugs[caller.project], request.role)
            return admin_pb2.SetRoleResponse(user=_user(registry.user(c, db, request.username), slugs))

        return await self._run("SetRole", context, PROJECT, grant, reload=True)

    # --- the price book: server admins (one book for every project) ------------------------

    async def SetModelPrices(self, request: Any, context: grpc.aio.ServicerContext) -> Any:
        def write(c: Any, db: str, _: Principal) -> Any:
            prices = from_messages(list(request.prices))
            return admin_pb2.SetModelPricesResponse(
                written=price_book.set_prices(c, db, prices, replace=request.replace)
            )

        return await self._run("SetModelPrices", context, SERVER, write)

    # --- one path for all ----------------------------------------------------------------------

    async def _run(
        self,
        name: str,
        context: grpc.aio.ServicerContext,
        need: str,
        operation: Callable[[Any, str, Principal], Any],
        reload: bool = False,
    ) -> Any:
        async def work() -> Any:
            principal = await self._caller(context, need)

            def call(writer: Writer) -> Any:
                try:
                    return operation(writer.client(), writer.system_database, principal)
                except (registry.RegistryError, ValueError) as exc:
                    raise InvalidQuery(str(exc)) from exc

            answer = await self._writer.run(call)
            if reload:
                await self._auth.reload()
            return answer

        return await respond(name, work(), context)

    async def _caller(self, context: grpc.aio.ServicerContext, need: str) -> Principal:
        """The caller, once it is what ``need`` asks for (SERVER, PROJECT, SESSION or ANY)."""
        authorization = grpc_calls.metadata_value(context, "authorization")
        if not self._auth.enabled:
            # Everyone is an admin of the default project then: only the token the local
            # `vigil` commands read from the data directory may change the registry.
            local = self._auth.local_admin(
                authorization, grpc_calls.metadata_value(context, "x-vigil-project") or ""
            )
            if local is None:
                raise Unauthenticated(
                    "with VIGIL_AUTH off the admin API takes only the local admin token (the vigil commands send it)"
                )
            caller = local
        else:
            caller = await grpc_calls.caller(self._auth, context, ADMIN if need == PROJECT else ANY)
        if need == SERVER and not caller.server_admin:
            raise PermissionDenied("this needs a server admin (a user created with --admin)")
        if need == SESSION and not caller.family:
            raise InvalidQuery("this credential is not a user's session (revoke a key with RevokeApiKey)")
        return caller


def _may_give(caller: Principal, scopes: list[str], what: str) -> None:
    """Nobody gives what they do not hold in the project (server admins hold everything)."""
    missing = [s for s in scopes if not caller.holds(s)]
    if missing:
        raise PermissionDenied(
            f"you may not give {what} the scopes {', '.join(missing)}: you do not hold them here"
        )


def _own_key(client: Any, db: str, key_id: str, caller: Principal) -> registry.ApiKey:
    found = registry.key(client, db, key_id)
    if found.project != caller.project:
        raise registry.RegistryError(f"no key {key_id!r} in this project")
    return found


def _slugs(client: Any, db: str) -> dict[int, str]:
    return {number: slug for slug, number in registry.project_numbers(client, db).items()}


def _project(p: registry.Project) -> admin_pb2.Project:
    return admin_pb2.Project(
        project=p.slug, name=p.name, database=p.database, created_time_unix_nano=p.created_ns
    )


def _key(k: registry.ApiKey, slugs: dict[int, str]) -> admin_pb2.ApiKey:
    return admin_pb2.ApiKey(
        key_id=k.key_id,
        prefix=k.prefix,
        project=slugs.get(k.project, str(k.project)),
        name=k.name,
        scopes=list(k.scopes),
        created_time_unix_nano=k.created_ns,
        expires_time_unix_nano=k.expires_ns,
        revoked_time_unix_nano=k.revoked_ns,
        last_used_time_unix_nano=k.last_used_ns,
    )


def _user(u: registry.User, slugs: dict[int, str]) -> admin_pb2.User:
    return admin_pb2.User(
        username=u.username,
        admin=u.is_admin,
        roles={slugs.get(n, str(n)): role for n, role in u.roles.items()},
        created_time_unix_nano=u.created_ns,
        disabled=u.disabled,
    )
