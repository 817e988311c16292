"""Fixtures of the management API's tests: the services behind the app, and callers with
a role in a project."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack

import httpx
import pytest

from dockyard.registry import Registry

MEMBER_PASSWORD = "Member-Secret-1"

# Harbor's role ids.
PROJECT_ADMIN, DEVELOPER, GUEST, MAINTAINER, LIMITED_GUEST = 1, 2, 3, 4, 5

MemberClient = Callable[..., Awaitable[httpx.AsyncClient]]


@pytest.fixture
async def member(registry_app: object, registry: Registry) -> AsyncIterator[MemberClient]:
    """``await member("u", {"app": GUEST})``: a client logged in as a new user ``u`` with
    those roles in those projects (none: a user who is a member of nothing)."""
    async with AsyncExitStack() as stack:

        async def make(username: str, roles: dict[str, int] | None = None) -> httpx.AsyncClient:
            user = await registry.users.create(username, MEMBER_PASSWORD)
            for project, role in (roles or {}).items():
                project_id = (await registry.projects.get(project)).id
                await registry.members.add(project_id, "u", user.id, role)
            transport = httpx.ASGITransport(app=registry_app)  # type: ignore[arg-type]
            return await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=transport,
                    base_url="http://registry.test",
                    auth=(username, MEMBER_PASSWORD),
                )
            )

        yield make
