"""/users: accounts, the current user, passwords, admin flags, OIDC CLI secrets."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field

from dockyard.access.users import UserInfo
from dockyard.api.bodies import Body
from dockyard.api.deps import Acting, Caller, Id, Services, require_admin, require_login
from dockyard.api.pagination import Page, page_of, paginate
from dockyard.errors import Denied

router = APIRouter(prefix="/users", tags=["user"])


class UserResp(BaseModel):
    user_id: int
    username: str
    email: str
    realname: str
    comment: str
    sysadmin_flag: bool
    auth_source: str
    creation_time: datetime
    update_time: datetime


USERNAME = r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,254}$"


class UserCreationReq(Body):
    username: str = Field(pattern=USERNAME, max_length=255)
    password: str = Field(min_length=8, max_length=1024)
    email: str = Field(default="", max_length=255)
    realname: str = Field(default="", max_length=255)
    comment: str = Field(default="", max_length=1024)


class UserProfile(Body):
    email: str | None = Field(default=None, max_length=255)
    realname: str | None = Field(default=None, max_length=255)
    comment: str | None = Field(default=None, max_length=1024)


class PasswordReq(Body):
    old_password: str = Field(default="", max_length=1024)
    new_password: str = Field(min_length=8, max_length=1024)


class UserSysAdminFlag(Body):
    sysadmin_flag: bool


class CliSecret(BaseModel):
    secret: str


def user_resp(user: UserInfo) -> UserResp:
    return UserResp(
        user_id=user.id,
        username=user.username,
        email=user.email,
        realname=user.realname,
        comment=user.comment,
        sysadmin_flag=user.admin,
        auth_source=user.source,
        creation_time=user.created_at,
        update_time=user.updated_at,
    )


@router.get("", response_model=list[UserResp], summary="List users (system admins)")
async def list_users(
    request: Request,
    response: Response,
    registry: Services,
    caller: Caller,
    page: Annotated[Page, Depends(page_of)],
    username: Annotated[str | None, Query(max_length=255)] = None,
) -> list[UserResp]:
    require_admin(caller)
    users, total = await registry.users.search(username, offset=page.offset, limit=page.size)
    paginate(request, response, page, total)
    return [user_resp(user) for user in users]


@router.post("", status_code=201, response_class=Response, summary="Create a local user")
async def create_user(
    body: UserCreationReq, registry: Services, caller: Caller, actor: Acting
) -> Response:
    require_admin(caller)
    user = await registry.users.create(
        body.username,
        body.password,
        email=body.email,
        realname=body.realname,
        comment=body.comment,
        actor=actor,
    )
    return Response(status_code=201, headers={"Location": f"/api/v2.0/users/{user.id}"})


@router.get("/current", response_model=UserResp, summary="The caller's own account")
async def current_user(registry: Services, caller: Caller) -> UserResp:
    require_login(caller)
    if caller.kind != "user":
        raise Denied("robots have no user account")
    return user_resp(await registry.users.get(caller.name))


@router.get("/search", response_model=list[UserResp], summary="Find users by name")
async def search_users(
    request: Request,
    response: Response,
    registry: Services,
    caller: Caller,
    page: Annotated[Page, Depends(page_of)],
    username: Annotated[str, Query(min_length=1, max_length=255)],
) -> list[UserResp]:
    # Any logged-in user may look others up, to add them as project members.
    require_login(caller)
    users, total = await registry.users.search(username, offset=page.offset, limit=page.size)
    paginate(request, response, page, total)
    return [user_resp(user) for user in users]


async def _own_or_admin(registry: Services, caller: Caller, user_id: Id) -> UserInfo:
    require_login(caller)
    user = await registry.users.get_by_id(user_id) if caller.admin else None
    if user is None:
        if caller.kind != "user" or caller.id != user_id:
            raise Denied("only system admins may act on other users")
        user = await registry.users.get_by_id(user_id)
    return user


@router.get("/{user_id:int}", response_model=UserResp, summary="One user")
async def get_user(user_id: Id, registry: Services, caller: Caller) -> UserResp:
    return user_resp(await _own_or_admin(registry, caller, user_id))


@router.put("/{user_id:int}", response_class=Response, summary="Update a user's profile")
async def update_user(
    user_id: Id, body: UserProfile, registry: Services, caller: Caller, actor: Acting
) -> Response:
    user = await _own_or_admin(registry, caller, user_id)
    await registry.users.update(
        user.username,
        email=body.email,
        realname=body.realname,
        comment=body.comment,
        actor=actor,
    )
    return Response(status_code=200)


@router.delete("/{user_id:int}", response_class=Response, summary="Delete a user (system admins)")
async def delete_user(user_id: Id, registry: Services, caller: Caller, actor: Acting) -> Response:
    require_admin(caller)
    user = await registry.users.get_by_id(user_id)
    await registry.users.delete(user.username, actor)
    return Response(status_code=200)


@router.put("/{user_id:int}/password", response_class=Response, summary="Change a password")
async def change_password(
    user_id: Id, body: PasswordReq, registry: Services, caller: Caller, actor: Acting
) -> Response:
    user = await _own_or_admin(registry, caller, user_id)
    # Users changing their own password prove they know the old one.
    own = not caller.admin or caller.id == user_id
    if own and await registry.users.authenticate(user.username, body.old_password) is None:
        raise Denied("the current password is not right")
    await registry.users.set_password(user.username, body.new_password, actor)
    return Response(status_code=200)


@router.put("/{user_id:int}/sysadmin", response_class=Response, summary="Grant or revoke admin")
async def set_sysadmin(
    user_id: Id, body: UserSysAdminFlag, registry: Services, caller: Caller, actor: Acting
) -> Response:
    require_admin(caller)
    user = await registry.users.get_by_id(user_id)
    await registry.users.update(user.username, admin=body.sysadmin_flag, actor=actor)
    return Response(status_code=200)


@router.put("/{user_id:int}/cli_secret", response_model=CliSecret, summary="New OIDC CLI secret")
async def new_cli_secret(user_id: Id, registry: Services, caller: Caller) -> CliSecret:
    """A fresh secret that registry clients use as the password of an OIDC user; shown once."""
    user = await _own_or_admin(registry, caller, user_id)
    return CliSecret(secret=await registry.users.new_cli_secret(user.username))
