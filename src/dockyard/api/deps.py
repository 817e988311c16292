"""What every route may depend on: the registry's services and the caller."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Request

from dockyard.access.credentials import basic_credentials
from dockyard.access.principals import ANONYMOUS, Principal
from dockyard.access.sessions import SESSION_COOKIE, SESSION_SECONDS
from dockyard.api.bodies import MAX_ID, MAX_INT
from dockyard.errors import Denied, Unauthorized
from dockyard.events.services import Actor
from dockyard.registry import Registry


def registry_of(request: Request) -> Registry:
    registry: Registry = request.app.state.registry
    return registry


async def caller_of(request: Request) -> Principal:
    """Basic credentials (users, robots, OIDC CLI secrets), the console's session, or nobody."""
    registry = registry_of(request)
    header = request.headers.get("authorization")
    if header:
        scheme, _, credentials = header.partition(" ")
        if scheme.lower() != "basic":
            raise Unauthorized("the API takes Basic credentials or a console session")
        username, password = basic_credentials(credentials)
        return await registry.access.authenticate(username, password)
    session = await registry.cookies.load(
        "session", request.cookies.get(SESSION_COOKIE), SESSION_SECONDS
    )
    if session and isinstance(session.get("user"), str):
        return await registry.access.principal_of_user(session["user"])
    return ANONYMOUS


# A row id in a path: bounded by its column's type, so that no number reaches the
# database as an overflow (PostgreSQL refuses one; a 4xx, not a 503).
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
# The id of a job: a bigint, since a queue goes through billions of them.
BigId = Annotated[int, Path(ge=1, le=MAX_INT)]

Services = Annotated[Registry, Depends(registry_of)]
Caller = Annotated[Principal, Depends(caller_of)]


def require_login(caller: Principal) -> None:
    if not caller.authenticated:
        raise Unauthorized()


def require_admin(caller: Principal) -> None:
    require_login(caller)
    if not caller.admin:
        raise Denied("only system admins may do this")


def client_ip(request: Request) -> str:
    return request.client.host if request.client else ""


def actor_of(request: Request, caller: Caller) -> Actor:
    """Who the audit log says did it: the caller, from the client's address."""
    return Actor(caller.name or "anonymous", client_ip(request))


Acting = Annotated[Actor, Depends(actor_of)]
