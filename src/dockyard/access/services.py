"""Authentication and authorization: who a caller is, and what it may do in a project.

The faces (the data plane, the token endpoint, the management API, the CLI) ask
here; the rules themselves are the table in ``rbac.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dockyard.access.principals import ANONYMOUS, Principal
from dockyard.access.rbac import PUBLIC, Action, Role, permissions
from dockyard.access.robots import RobotService
from dockyard.access.scopes import REGISTRY_ACTIONS, Scope
from dockyard.access.users import UserService
from dockyard.db import Database
from dockyard.db.engine import Conn
from dockyard.errors import Denied, NameUnknown, Unauthorized
from dockyard.projects.members import MemberService
from dockyard.projects.names import project_of
from dockyard.projects.projects import ProjectService
from dockyard.settings import AuthSettings

if TYPE_CHECKING:
    from dockyard.access.ldap import LdapDirectory

_EVERYTHING = frozenset(Action)


@dataclass(frozen=True, slots=True)
class ProjectAccess:
    """What a caller may do in a project; ``project_id`` is None when there is no such project."""

    project_id: int | None
    public: bool
    actions: frozenset[Action]


class AccessService:
    def __init__(
        self,
        db: Database,
        settings: AuthSettings,
        users: UserService,
        robots: RobotService,
        projects: ProjectService,
        members: MemberService,
    ) -> None:
        self.db = db
        self.settings = settings
        self.users = users
        self.robots = robots
        self.projects = projects
        self.members = members
        self.directory = _directory(settings)

    async def authenticate(self, username: str, password: str) -> Principal:
        """The principal whose credentials these are; Unauthorized otherwise.

        Local accounts (the admin above all) log in with their own password in every
        auth mode, so switching the mode never locks the admin out.
        """
        principal: Principal | None
        if self.robots.is_robot_name(username):
            principal = await self.robots.authenticate(username, password)
        else:
            principal = await self.users.authenticate(username, password)
            if principal is None and self.directory is not None:
                identity = await self.directory.authenticate(username, password)
                if identity is not None:
                    principal = await self.users.onboard(identity, "ldap")
            if principal is None and self.settings.mode == "oidc":
                principal = await self.users.authenticate_cli_secret(username, password)
        if principal is None:
            raise Unauthorized("invalid username or password")
        return principal

    async def project_access(self, principal: Principal, project: str) -> ProjectAccess:
        async with self.db.read() as conn:
            return await self._project_access(conn, principal, project)

    async def _project_access(
        self, conn: Conn, principal: Principal, project: str
    ) -> ProjectAccess:
        found = await self.projects.find(conn, project)
        if found is None:
            return ProjectAccess(None, False, frozenset())
        project_id, public = found
        if principal.kind == "robot":
            assert principal.id is not None
            await self.robots.check_active(conn, principal.id, principal.name)
            granted = await self.robots.permissions_in(conn, principal.id, project_id)
            return ProjectAccess(project_id, public, granted | PUBLIC if public else granted)
        if principal.admin:
            return ProjectAccess(project_id, public, _EVERYTHING)
        if principal.kind == "user":
            assert principal.id is not None
            roles = await self.members.roles(conn, project_id, principal.id, principal.group_ids)
            return ProjectAccess(
                project_id, public, permissions({Role(r) for r in roles}, public=public)
            )
        return ProjectAccess(project_id, public, PUBLIC if public else frozenset())

    async def require(self, principal: Principal, project: str, action: Action) -> int:
        """The project's id if the caller may do ``action`` there; else NameUnknown for a
        project that does not exist, Unauthorized for an anonymous caller, Denied."""
        access = await self.project_access(principal, project)
        return check(access, principal, project, action)

    async def grant(self, principal: Principal, scopes: list[Scope]) -> list[Scope]:
        """The part of each requested scope the caller may have, for a token."""
        granted: list[Scope] = []
        by_project: dict[str, ProjectAccess] = {}
        async with self.db.read() as conn:
            for scope in scopes:
                allowed: tuple[str, ...]
                if scope.type == "registry" and scope.name == "catalog":
                    allowed = ("*",) if principal.admin and "*" in scope.actions else ()
                elif scope.type == "repository":
                    project = project_of(scope.name)
                    if project not in by_project:
                        by_project[project] = await self._project_access(conn, principal, project)
                    allowed = _registry_actions(scope.actions, by_project[project].actions)
                else:
                    allowed = ()
                granted.append(Scope(scope.type, scope.name, allowed))
        return granted

    async def principal_of_user(self, username: str) -> Principal:
        principal = await self.users.principal(username)
        if principal is None:
            raise Unauthorized(f"no user {username!r}")
        return principal

    async def check_robot(self, robot_id: int, name: str) -> None:
        async with self.db.read() as conn:
            await self.robots.check_active(conn, robot_id, name)


def _directory(settings: AuthSettings) -> LdapDirectory | None:
    if settings.mode != "ldap":
        return None
    # Imported here: ldap3 is only loaded by registries that use it.
    from dockyard.access.ldap import LdapDirectory

    return LdapDirectory(settings.ldap)


def check(access: ProjectAccess, principal: Principal, project: str, action: Action) -> int:
    if access.project_id is None:
        raise NameUnknown(f"project {project!r} does not exist", detail={"project": project})
    if action in access.actions:
        return access.project_id
    if not principal.authenticated:
        raise Unauthorized()
    raise Denied(f"{principal.name!r} may not {action.value.replace(':', ' ')} in {project!r}")


def _registry_actions(wanted: tuple[str, ...], actions: frozenset[Action]) -> tuple[str, ...]:
    if "*" in wanted:
        wanted = tuple(REGISTRY_ACTIONS)
    return tuple(a for a in wanted if a in REGISTRY_ACTIONS and REGISTRY_ACTIONS[a] in actions)


__all__ = ["ANONYMOUS", "AccessService", "ProjectAccess", "check"]
