"""Who may call the data plane: bearer tokens, Basic credentials, anonymous pulls.

Every endpoint is wrapped by :meth:`Gate.guard` with the registry action each
method needs (pull, push, delete). A bearer token is checked against the scopes
it carries; Basic credentials and anonymous callers against the RBAC table. A
refusal answers 401 with the ``WWW-Authenticate: Bearer`` challenge that sends
clients to the token endpoint, or 403 when the caller is known and still may not.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response

from dockyard.access.credentials import basic_credentials
from dockyard.access.principals import ANONYMOUS, Principal
from dockyard.access.rbac import Action
from dockyard.access.scopes import REGISTRY_ACTIONS
from dockyard.access.services import check
from dockyard.access.tokens import TokenClaims
from dockyard.errors import Denied, Unauthorized
from dockyard.oci.names import repository_name
from dockyard.projects.names import project_of
from dockyard.registry import Registry

Endpoint = Callable[[Request], Awaitable[Response]]

PULL = {"GET": "pull", "HEAD": "pull"}
PULL_PUSH_DELETE = {**PULL, "PUT": "push", "DELETE": "delete"}
PUSH = {m: "push" for m in ("POST", "GET", "HEAD", "PATCH", "PUT", "DELETE")}
PULL_DELETE = {**PULL, "DELETE": "delete"}
# The request scope's key for the name of the caller the gate let through.
CALLER_NAME = "dockyard.caller"
# ... and for whether pull policies (vulnerability prevention) spare it.
POLICY_EXEMPT = "dockyard.policy_exempt"


@dataclass(frozen=True, slots=True)
class Caller:
    principal: Principal
    # Set when the caller came with a bearer token: its scopes decide.
    claims: TokenClaims | None = None


class Gate:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry

    def guard(self, endpoint: Endpoint, actions: dict[str, str]) -> Endpoint:
        """``endpoint``, refused unless the caller may do the method's action on the
        repository named in the path (and pull from a mount's source repository)."""

        async def guarded(request: Request) -> Response:
            name = repository_name(request, self.registry.settings)
            caller = await self.caller(request)
            await self.require(caller, name, actions[request.method])
            # Who the audit log names for what the endpoint changes.
            request.scope[CALLER_NAME] = caller.principal.name or "anonymous"
            request.scope[POLICY_EXEMPT] = caller.principal.admin or (
                caller.claims is not None and (caller.claims.admin or caller.claims.scanner)
            )
            source = request.query_params.get("from") if request.method == "POST" else None
            if source:
                # A mount reads the source repository: no pull there, no mount (the
                # spec lets the registry fall back to an upload session then).
                try:
                    source = repository_name(request, self.registry.settings, source)
                    await self.require(caller, source, "pull")
                except (Unauthorized, Denied):
                    request.scope["dockyard.mount_denied"] = True
            return await endpoint(request)

        return guarded

    def authenticated(self, endpoint: Endpoint) -> Endpoint:
        """``endpoint`` for any caller with valid credentials (``GET /v2/``)."""

        async def guarded(request: Request) -> Response:
            caller = await self.caller(request)
            if not caller.principal.authenticated and caller.claims is None:
                raise Unauthorized()
            return await endpoint(request)

        return guarded

    def admin(self, endpoint: Endpoint) -> Endpoint:
        """``endpoint`` for system admins only (the catalog, as on Harbor)."""

        async def guarded(request: Request) -> Response:
            caller = await self.caller(request)
            if caller.claims is not None:
                if not caller.claims.allows("registry", "catalog", "*"):
                    raise _insufficient(caller, "registry:catalog:*")
            elif not caller.principal.admin:
                if not caller.principal.authenticated:
                    raise Unauthorized(scope="registry:catalog:*")
                raise Denied("only system admins may list the catalog")
            return await endpoint(request)

        return guarded

    async def caller(self, request: Request) -> Caller:
        header = request.headers.get("authorization")
        if not header:
            return Caller(ANONYMOUS)
        scheme, _, credentials = header.partition(" ")
        scheme = scheme.lower()
        if scheme == "bearer":
            claims = await self.registry.tokens.check(credentials.strip())
            if claims.robot_id is not None:
                await self.registry.access.check_robot(claims.robot_id, claims.subject)
            principal = Principal("user", claims.subject) if claims.subject else ANONYMOUS
            return Caller(principal, claims)
        if scheme == "basic":
            username, password = basic_credentials(credentials)
            return Caller(await self.registry.access.authenticate(username, password))
        raise Unauthorized(f"unsupported authorization scheme {scheme!r}")

    async def require(self, caller: Caller, name: str, action: str) -> None:
        if caller.claims is not None:
            if caller.claims.allows("repository", name, action):
                return
            # The token does not cover it: tell apart a missing project (404) from a
            # scope the client should ask for (the challenge names it).
            access = await self.registry.access.project_access(ANONYMOUS, project_of(name))
            if access.project_id is None:
                check(access, caller.principal, project_of(name), REGISTRY_ACTIONS[action])
            raise _insufficient(caller, _scope(name, action))
        project = project_of(name)
        access = await self.registry.access.project_access(caller.principal, project)
        try:
            check(access, caller.principal, project, REGISTRY_ACTIONS[action])
        except Unauthorized:
            raise Unauthorized(scope=_scope(name, action)) from None


def _insufficient(caller: Caller, scope: str) -> Unauthorized | Denied:
    """A token without the scope: 401 for an anonymous one (log in first); for a user's,
    403 with ``insufficient_scope`` as RFC 6750 says, which clients such as oras-py
    answer with a fresh token for the scope the challenge names."""
    if not caller.principal.authenticated:
        return Unauthorized(scope=scope)
    return Denied("the token does not grant this access", scope=scope)


def _scope(name: str, action: str) -> str:
    actions = "pull,push" if action == "push" else action
    return f"repository:{name}:{actions}"


__all__ = ["CALLER_NAME", "PULL", "PULL_DELETE", "PULL_PUSH_DELETE", "PUSH", "Action", "Gate"]
