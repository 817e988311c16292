"""/projects/{project}/members: users and directory groups with a role in a project."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from dockyard.access.rbac import Action, Role
from dockyard.api.bodies import MAX_ID, Body
from dockyard.api.deps import Acting, Caller, Id, Services
from dockyard.api.pagination import Page, page_of, paginate
from dockyard.api.projects import IsName, authorized, reference
from dockyard.errors import Conflict, NotFound
from dockyard.projects.members import Member
from dockyard.registry import Registry

router = APIRouter(prefix="/projects/{project_name_or_id}/members", tags=["member"])

# The body says who, in one of the shapes below; each shape forbids the fields of the
# others, so that the schema alone tells a valid body (and so does the 400 for another).


class _Exact(Body):
    model_config = ConfigDict(strict=True, extra="forbid")


class UserById(_Exact):
    user_id: int = Field(ge=1, le=MAX_ID)
    username: str | None = Field(default=None, max_length=255)


class UserByName(_Exact):
    username: str = Field(min_length=1, max_length=255)


class GroupById(_Exact):
    id: int = Field(ge=1, le=MAX_ID)
    group_name: str | None = Field(default=None, max_length=255)
    group_type: Literal[1, 3] | None = Field(default=None, description="1 LDAP, 3 OIDC")
    ldap_group_dn: str | None = Field(default=None, max_length=1024)


class LdapGroup(_Exact):
    group_type: Literal[1] = Field(description="1: an LDAP group, by its DN (ldap auth mode)")
    ldap_group_dn: str = Field(min_length=1, max_length=1024)
    group_name: str | None = Field(default=None, max_length=255)


class OidcGroup(_Exact):
    group_type: Literal[3] = Field(description="3: an OIDC group, by its groups claim value")
    group_name: str = Field(min_length=1, max_length=255)
    ldap_group_dn: str | None = Field(default=None, max_length=1024)


UserEntity = UserById | UserByName
UserGroup = GroupById | LdapGroup | OidcGroup


class UserMember(_Exact):
    role_id: int = Field(ge=1, le=5)
    member_user: UserEntity


class GroupMember(_Exact):
    role_id: int = Field(ge=1, le=5)
    member_group: UserGroup


ProjectMember = UserMember | GroupMember


class RoleRequest(Body):
    role_id: int = Field(ge=1, le=5)


class ProjectMemberEntity(BaseModel):
    id: int
    project_id: int
    entity_name: str
    entity_type: Literal["u", "g"]
    entity_id: int
    role_id: int
    role_name: str


async def _entity(registry: Registry, member: Member) -> ProjectMemberEntity:
    if member.entity_type == "u":
        try:
            name = (await registry.users.get_by_id(member.entity_id)).username
        except NotFound:
            name = f"<deleted user {member.entity_id}>"
    else:
        name = await registry.users.group_name(member.entity_id)
    return ProjectMemberEntity(
        id=member.id,
        project_id=member.project_id,
        entity_name=name,
        entity_type=member.entity_type,
        entity_id=member.entity_id,
        role_id=member.role,
        role_name=Role(member.role).label,
    )


@router.get("", response_model=list[ProjectMemberEntity], summary="Members of a project")
async def list_members(
    project_name_or_id: str,
    request: Request,
    response: Response,
    registry: Services,
    caller: Caller,
    page: Annotated[Page, Depends(page_of)],
    is_name: IsName = None,
    entityname: Annotated[str | None, Query(max_length=255)] = None,
) -> list[ProjectMemberEntity]:
    ref = reference(project_name_or_id, is_name)
    project = await authorized(registry, caller, ref, Action.MEMBER_READ)
    entities = [await _entity(registry, m) for m in await registry.members.list(project.id)]
    matching = [e for e in entities if not entityname or entityname in e.entity_name]
    paginate(request, response, page, len(matching))
    return matching[page.offset : page.offset + page.size]


@router.post("", status_code=201, response_class=Response, summary="Add a member")
async def add_member(
    project_name_or_id: str,
    body: ProjectMember,
    registry: Services,
    caller: Caller,
    actor: Acting,
    is_name: IsName = None,
) -> Response:
    ref = reference(project_name_or_id, is_name)
    project = await authorized(registry, caller, ref, Action.MEMBER_MANAGE)
    if isinstance(body, UserMember):
        user = body.member_user
        if isinstance(user, UserById):
            found = await registry.users.get_by_id(user.user_id)
        else:
            found = await registry.users.get(user.username)
        member = await registry.members.add(project.id, "u", found.id, body.role_id, actor)
    else:
        group_id = await _group_id(registry, body.member_group)
        member = await registry.members.add(project.id, "g", group_id, body.role_id, actor)
    location = f"/api/v2.0/projects/{project.id}/members/{member.id}"
    return Response(status_code=201, headers={"Location": location})


async def _group_id(registry: Registry, group: UserGroup) -> int:
    if isinstance(group, GroupById):
        await registry.users.group_name(group.id)  # NotFound for an unknown id
        return group.id
    if isinstance(group, LdapGroup):
        directory = registry.access.directory
        if directory is None:
            # A valid request this registry cannot serve in its current auth mode.
            raise Conflict("LDAP groups can be members only in auth mode ldap")
        found = await directory.find_group(group.ldap_group_dn)
        if found is None:
            raise NotFound(f"no LDAP group {group.ldap_group_dn!r}")
        return await registry.users.ensure_group("ldap", found.external_id, found.name)
    return await registry.users.ensure_group("oidc", group.group_name, group.group_name)


@router.get("/{member_id:int}", response_model=ProjectMemberEntity, summary="One member")
async def get_member(
    project_name_or_id: str,
    member_id: Id,
    registry: Services,
    caller: Caller,
    is_name: IsName = None,
) -> ProjectMemberEntity:
    ref = reference(project_name_or_id, is_name)
    project = await authorized(registry, caller, ref, Action.MEMBER_READ)
    return await _entity(registry, await registry.members.get(project.id, member_id))


@router.put("/{member_id:int}", response_class=Response, summary="Change a member's role")
async def set_role(
    project_name_or_id: str,
    member_id: Id,
    body: RoleRequest,
    registry: Services,
    caller: Caller,
    actor: Acting,
    is_name: IsName = None,
) -> Response:
    ref = reference(project_name_or_id, is_name)
    project = await authorized(registry, caller, ref, Action.MEMBER_MANAGE)
    await registry.members.set_role(project.id, member_id, body.role_id, actor)
    return Response(status_code=200)


@router.delete("/{member_id:int}", response_class=Response, summary="Remove a member")
async def remove_member(
    project_name_or_id: str,
    member_id: Id,
    registry: Services,
    caller: Caller,
    actor: Acting,
    is_name: IsName = None,
) -> Response:
    ref = reference(project_name_or_id, is_name)
    project = await authorized(registry, caller, ref, Action.MEMBER_MANAGE)
    await registry.members.remove(project.id, member_id, actor)
    return Response(status_code=200)
