"""/projects/{project}/immutabletagrules: a project's immutable tag rules, in Harbor's
shape (one repository selector and one tag selector per rule, doublestar patterns).

Project maintainers and admins manage them (``policy:manage``); whoever may read the
project reads them. What they protect is enforced by the services, on the data plane
and the API alike (projects/immutability.py).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel, Field

from dockyard.access.rbac import Action
from dockyard.api.bodies import Body
from dockyard.api.deps import Acting, Caller, Id, Services
from dockyard.api.pagination import Page, page_of, paginate
from dockyard.api.projects import IsName, authorized, reference
from dockyard.projects.immutability import (
    PATTERN_CHARACTERS,
    PATTERN_MAX_LENGTH,
    RuleInfo,
    RuleSpec,
)

router = APIRouter(prefix="/projects/{project_name_or_id}/immutabletagrules", tags=["immutable"])

Pattern = Annotated[
    str,
    Field(
        min_length=1,
        max_length=PATTERN_MAX_LENGTH,
        pattern=PATTERN_CHARACTERS,
        description='a doublestar pattern: "**", "*", "?", "[a-z]", "{a,b}"',
    ),
]


class TagSelector(Body):
    kind: Literal["doublestar"] = "doublestar"
    decoration: Literal["matches", "excludes"] = "matches"
    pattern: Pattern


class RepositorySelector(Body):
    kind: Literal["doublestar"] = "doublestar"
    decoration: Literal["repoMatches", "repoExcludes"] = "repoMatches"
    pattern: Pattern


class ScopeSelectors(Body):
    repository: list[RepositorySelector] = Field(min_length=1, max_length=1)


class ImmutableRuleReq(Body):
    priority: int = Field(default=0, ge=0, le=1000)
    disabled: bool = False
    action: Literal["immutable"] = "immutable"
    template: Literal["immutable_template"] = "immutable_template"
    tag_selectors: list[TagSelector] = Field(min_length=1, max_length=1)
    scope_selectors: ScopeSelectors

    def spec(self) -> RuleSpec:
        tag = self.tag_selectors[0]
        repository = self.scope_selectors.repository[0]
        return RuleSpec(
            repository_pattern=repository.pattern,
            repository_decoration=repository.decoration,
            tag_pattern=tag.pattern,
            tag_decoration=tag.decoration,
            disabled=self.disabled,
            priority=self.priority,
        )


class Selector(BaseModel):
    kind: str
    decoration: str
    pattern: str


class ImmutableRule(BaseModel):
    id: int
    project_id: int
    priority: int
    disabled: bool
    action: str = "immutable"
    template: str = "immutable_template"
    tag_selectors: list[Selector]
    scope_selectors: dict[str, list[Selector]]
    creation_time: datetime
    update_time: datetime


def rule_resp(rule: RuleInfo) -> ImmutableRule:
    return ImmutableRule(
        id=rule.id,
        project_id=rule.project_id,
        priority=rule.priority,
        disabled=rule.disabled,
        tag_selectors=[
            Selector(kind="doublestar", decoration=rule.tag_decoration, pattern=rule.tag_pattern)
        ],
        scope_selectors={
            "repository": [
                Selector(
                    kind="doublestar",
                    decoration=rule.repository_decoration,
                    pattern=rule.repository_pattern,
                )
            ]
        },
        creation_time=rule.created_at,
        update_time=rule.updated_at,
    )


@router.get("", response_model=list[ImmutableRule], summary="A project's immutable tag rules")
async def list_rules(
    project_name_or_id: str,
    request: Request,
    response: Response,
    registry: Services,
    caller: Caller,
    page: Annotated[Page, Depends(page_of)],
    is_name: IsName = None,
) -> list[ImmutableRule]:
    ref = reference(project_name_or_id, is_name)
    project = await authorized(registry, caller, ref, Action.PROJECT_READ)
    rules = await registry.immutability.rules(project.id)
    paginate(request, response, page, len(rules))
    return [rule_resp(rule) for rule in rules[page.offset : page.offset + page.size]]


@router.post("", status_code=201, response_model=ImmutableRule, summary="Add a rule")
async def create_rule(
    project_name_or_id: str,
    body: ImmutableRuleReq,
    response: Response,
    registry: Services,
    caller: Caller,
    actor: Acting,
    is_name: IsName = None,
) -> ImmutableRule:
    ref = reference(project_name_or_id, is_name)
    project = await authorized(registry, caller, ref, Action.POLICY_MANAGE)
    rule = await registry.immutability.create(project.id, project.name, body.spec(), actor=actor)
    response.headers["Location"] = f"/api/v2.0/projects/{project.name}/immutabletagrules/{rule.id}"
    return rule_resp(rule)


@router.put(
    "/{immutable_rule_id:int}", response_model=ImmutableRule, summary="Change or disable a rule"
)
async def update_rule(
    project_name_or_id: str,
    immutable_rule_id: Id,
    body: ImmutableRuleReq,
    registry: Services,
    caller: Caller,
    actor: Acting,
    is_name: IsName = None,
) -> ImmutableRule:
    ref = reference(project_name_or_id, is_name)
    project = await authorized(registry, caller, ref, Action.POLICY_MANAGE)
    rule = await registry.immutability.update(
        project.id, project.name, immutable_rule_id, body.spec(), actor=actor
    )
    return rule_resp(rule)


@router.delete("/{immutable_rule_id:int}", response_class=Response, summary="Delete a rule")
async def delete_rule(
    project_name_or_id: str,
    immutable_rule_id: Id,
    registry: Services,
    caller: Caller,
    actor: Acting,
    is_name: IsName = None,
) -> Response:
    ref = reference(project_name_or_id, is_name)
    project = await authorized(registry, caller, ref, Action.POLICY_MANAGE)
    await registry.immutability.delete(project.id, project.name, immutable_rule_id, actor=actor)
    return Response(status_code=200)
