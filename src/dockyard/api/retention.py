"""/retentions: a project's tag retention policy in Harbor's shape, its runs (executions) by
hand, dry or not, and what each run kept and removed, and why.

Project maintainers and admins manage the policy and start runs (``policy:manage``);
whoever may read the project reads them. What the rules mean is the service's
(projects/retention.py).
"""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import PlainTextResponse
from pydantic import BaseModel, Field

from dockyard.access.principals import Principal
from dockyard.access.rbac import Action
from dockyard.api.bodies import MAX_ID, Body
from dockyard.api.deps import BigId, Caller, Id, Services, require_login
from dockyard.api.gc import HARBOR_STATUS
from dockyard.api.immutability import Pattern, ScopeSelectors
from dockyard.api.jobs import JobProgress
from dockyard.api.pagination import Page, page_of, paginate
from dockyard.api.projects import authorized
from dockyard.api.schedules import CheckedCron
from dockyard.errors import NotFound
from dockyard.jobs.queue import JobInfo
from dockyard.projects.retention import MAX_RULES, TEMPLATES, PolicyInfo, Rule
from dockyard.registry import Registry

router = APIRouter(prefix="/retentions", tags=["retention"])

_UNTAGGED = r'^(\{\s*"untagged"\s*:\s*(true|false)\s*\})?$'
Count = Annotated[int, Field(ge=1, le=100_000)]


class RetentionTagSelector(Body):
    kind: Literal["doublestar"] = "doublestar"
    decoration: Literal["matches", "excludes"] = "matches"
    pattern: Pattern
    extras: str = Field(
        default="",
        max_length=64,
        pattern=_UNTAGGED,
        description='Harbor\'s: "{\\"untagged\\":true}" makes the rule consider untagged artifacts',
    )

    @property
    def untagged(self) -> bool:
        return bool(self.extras) and json.loads(self.extras).get("untagged") is True


class LabelSelector(Body):
    kind: Literal["label"] = "label"
    decoration: Literal["withLabels", "withoutLabels"] = "withLabels"
    pattern: str = Field(
        min_length=1,
        max_length=1300,
        pattern=r"^[^,\x00-\x1f\x7f]{1,128}(,[^,\x00-\x1f\x7f]{1,128}){0,9}$",
        description="label names, comma-separated (at most 10): the artifact carries all "
        "of them (withLabels) or none (withoutLabels)",
    )


class _Rule(Body):
    id: int | None = Field(default=None, ge=0, le=MAX_ID, description="ignored; rules have none")
    priority: int = Field(default=0, ge=0, le=1000)
    disabled: bool = False
    action: Literal["retain"] = "retain"
    tag_selectors: list[RetentionTagSelector] = Field(min_length=1, max_length=1)
    label_selectors: list[LabelSelector] = Field(
        default_factory=list,
        max_length=1,
        description="dockyard's: consider only artifacts with (or without) these labels",
    )
    scope_selectors: ScopeSelectors

    def rule(self, template: Any, count: int) -> Rule:
        tag, repository = self.tag_selectors[0], self.scope_selectors.repository[0]
        label = self.label_selectors[0] if self.label_selectors else None
        return Rule(
            labels=tuple(label.pattern.split(",")) if label else (),
            label_decoration=label.decoration if label else "withLabels",
            template=template,
            count=count,
            repository_pattern=repository.pattern,
            repository_decoration=repository.decoration,
            tag_pattern=tag.pattern,
            tag_decoration=tag.decoration,
            untagged=tag.untagged,
            disabled=self.disabled,
            priority=self.priority,
        )


class LatestPushed(Body):
    latestPushedK: Count


class LatestPulled(Body):
    latestPulledN: Count


class DaysSincePush(Body):
    nDaysSinceLastPush: Count


class DaysSincePull(Body):
    nDaysSinceLastPull: Count


class LatestPushedRule(_Rule):
    template: Literal["latestPushedK"]
    params: LatestPushed

    def spec(self) -> Rule:
        return self.rule(self.template, self.params.latestPushedK)


class LatestPulledRule(_Rule):
    template: Literal["latestPulledN"]
    params: LatestPulled

    def spec(self) -> Rule:
        return self.rule(self.template, self.params.latestPulledN)


class DaysSincePushRule(_Rule):
    template: Literal["nDaysSinceLastPush"]
    params: DaysSincePush

    def spec(self) -> Rule:
        return self.rule(self.template, self.params.nDaysSinceLastPush)


class DaysSincePullRule(_Rule):
    template: Literal["nDaysSinceLastPull"]
    params: DaysSincePull

    def spec(self) -> Rule:
        return self.rule(self.template, self.params.nDaysSinceLastPull)


class AlwaysRule(_Rule):
    template: Literal["always"]
    params: dict[str, Any] = Field(default_factory=dict, max_length=0)

    def spec(self) -> Rule:
        return self.rule(self.template, 0)


RuleReq = Annotated[
    LatestPushedRule | LatestPulledRule | DaysSincePushRule | DaysSincePullRule | AlwaysRule,
    Field(discriminator="template"),
]


class TriggerSettings(Body):
    cron: Literal[""] | CheckedCron = Field(default="", description="empty: run by hand only")


class Trigger(Body):
    kind: Literal["Schedule"] = "Schedule"
    settings: TriggerSettings = Field(default_factory=TriggerSettings)
    references: dict[str, Any] = Field(default_factory=dict, max_length=0)


class PolicyScope(Body):
    level: Literal["project"] = "project"
    ref: int = Field(ge=1, le=MAX_ID, description="the project's id")


class PolicyReq(Body):
    id: int | None = Field(default=None, ge=0, le=MAX_ID, description="ignored")
    algorithm: Literal["or"] = "or"
    rules: list[RuleReq] = Field(default_factory=list, max_length=MAX_RULES)
    trigger: Trigger = Field(default_factory=Trigger)
    scope: PolicyScope


class PolicyUpdate(PolicyReq):
    scope: PolicyScope | None = Field(  # type: ignore[assignment]
        default=None, description="ignored: a policy stays with its project"
    )


class Selector(BaseModel):
    kind: str
    decoration: str
    pattern: str
    extras: str = ""


class RuleResp(BaseModel):
    id: int
    priority: int
    disabled: bool
    action: str = "retain"
    template: str
    params: dict[str, int]
    tag_selectors: list[Selector]
    label_selectors: list[Selector]
    scope_selectors: dict[str, list[Selector]]


class Policy(BaseModel):
    id: int
    algorithm: str = "or"
    rules: list[RuleResp]
    trigger: dict[str, Any]
    scope: dict[str, Any]


class Execution(BaseModel):
    id: int
    policy_id: int
    status: str = Field(description="Harbor's: Pending, Running, Stopped, Error, Success")
    trigger: Literal["MANUAL", "SCHEDULE"]
    dry_run: bool
    start_time: datetime | None
    end_time: datetime | None
    progress: JobProgress
    kept: int | None = Field(description="artifacts kept, once the run succeeded")
    removed: int | None = Field(description="artifacts removed (or, dry, to remove)")
    error: str | None


class Task(BaseModel):
    id: int
    execution_id: int
    repository: str
    retained: int
    removed: int
    total: int
    status: str


class ResultEntry(BaseModel):
    repository: str
    digest: str
    tags: list[str]
    action: Literal["retain", "remove"]
    reason: str


class ExecutionReq(Body):
    dry_run: bool = False


class ExecutionAction(Body):
    action: Literal["stop"]


def policy_resp(policy: PolicyInfo) -> Policy:
    rules = []
    for number, rule in enumerate(policy.rules, start=1):
        extras = json.dumps({"untagged": rule.untagged}, separators=(",", ":"))
        rules.append(
            RuleResp(
                id=number,
                priority=rule.priority,
                disabled=rule.disabled,
                template=rule.template,
                params={} if rule.template == "always" else {rule.template: rule.count},
                tag_selectors=[
                    Selector(
                        kind="doublestar",
                        decoration=rule.tag_decoration,
                        pattern=rule.tag_pattern,
                        extras=extras,
                    )
                ],
                label_selectors=[
                    Selector(
                        kind="label",
                        decoration=rule.label_decoration,
                        pattern=",".join(rule.labels),
                    )
                ]
                if rule.labels
                else [],
                scope_selectors={
                    "repository": [
                        Selector(
                            kind="doublestar",
                            decoration=rule.repository_decoration,
                            pattern=rule.repository_pattern,
                        )
                    ]
                },
            )
        )
    return Policy(
        id=policy.id,
        rules=rules,
        trigger={"kind": "Schedule", "settings": {"cron": policy.cron}, "references": {}},
        scope={"level": "project", "ref": policy.project_id},
    )


def execution_resp(job: JobInfo) -> Execution:
    result = job.result if job.status == "succeeded" and isinstance(job.result, dict) else {}
    return Execution(
        id=job.id,
        policy_id=job.payload.get("policy_id", 0),
        status=HARBOR_STATUS[job.status],
        trigger="SCHEDULE" if job.schedule_id is not None else "MANUAL",
        dry_run=bool(job.payload.get("dry_run")),
        start_time=job.started_at,
        end_time=job.finished_at,
        progress=JobProgress(
            done=job.progress.done, total=job.progress.total, message=job.progress.message
        ),
        kept=result.get("kept"),
        removed=result.get("removed"),
        error=job.error,
    )


async def _policy(
    registry: Registry, caller: Principal, policy_id: int, action: Action
) -> PolicyInfo:
    """The policy, if the caller may do ``action`` in its project (404 otherwise); even
    in a public project, only logged-in callers see a policy."""
    require_login(caller)
    policy = await registry.retention.get(policy_id)
    await authorized(registry, caller, policy.project_id, action)
    return policy


def _parameter(template: str) -> list[dict[str, Any]]:
    if template == "always":
        return []
    unit = "DAYS" if "Days" in template else "COUNT"
    return [{"type": "int", "unit": unit, "required": True}]


@router.get("/metadatas", summary="The rule templates and selectors a policy may use")
async def metadatas() -> dict[str, Any]:
    return {
        "templates": [
            {
                "rule_template": name,
                "display_text": text.replace("{n}", "N"),
                "action": "retain",
                "params": _parameter(name),
            }
            for name, text in TEMPLATES.items()
        ],
        "scope_selectors": [
            {
                "display_text": "Repositories",
                "kind": "doublestar",
                "decorations": ["repoMatches", "repoExcludes"],
            }
        ],
        "tag_selectors": [
            {"display_text": "Tags", "kind": "doublestar", "decorations": ["matches", "excludes"]}
        ],
    }


@router.post("", status_code=201, response_model=Policy, summary="Create a project's policy")
async def create_policy(
    body: PolicyReq, response: Response, registry: Services, caller: Caller
) -> Policy:
    project = await authorized(registry, caller, body.scope.ref, Action.POLICY_MANAGE)
    policy = await registry.retention.create(
        project.id, [r.spec() for r in body.rules], body.trigger.settings.cron
    )
    response.headers["Location"] = f"/api/v2.0/retentions/{policy.id}"
    return policy_resp(policy)


@router.get("/{policy_id:int}", response_model=Policy, summary="A policy")
async def get_policy(policy_id: Id, registry: Services, caller: Caller) -> Policy:
    return policy_resp(await _policy(registry, caller, policy_id, Action.PROJECT_READ))


@router.put(
    "/{policy_id:int}", response_model=Policy, summary="Replace a policy's rules and trigger"
)
async def update_policy(
    policy_id: Id, body: PolicyUpdate, registry: Services, caller: Caller
) -> Policy:
    await _policy(registry, caller, policy_id, Action.POLICY_MANAGE)
    updated = await registry.retention.update(
        policy_id, [r.spec() for r in body.rules], body.trigger.settings.cron
    )
    return policy_resp(updated)


@router.delete("/{policy_id:int}", response_class=Response, summary="Delete a policy")
async def delete_policy(policy_id: Id, registry: Services, caller: Caller) -> Response:
    await _policy(registry, caller, policy_id, Action.POLICY_MANAGE)
    await registry.retention.delete(policy_id)
    return Response(status_code=200)


@router.post(
    "/{policy_id:int}/executions",
    status_code=201,
    response_model=Execution,
    summary="Run the policy now (dry_run: report, remove nothing)",
)
async def start_execution(
    policy_id: Id, body: ExecutionReq, response: Response, registry: Services, caller: Caller
) -> Execution:
    await _policy(registry, caller, policy_id, Action.POLICY_MANAGE)
    run = await registry.retention.start(policy_id, dry_run=body.dry_run)
    response.headers["Location"] = f"/api/v2.0/retentions/{policy_id}/executions/{run.id}"
    return execution_resp(run)


@router.get(
    "/{policy_id:int}/executions", response_model=list[Execution], summary="Runs, newest first"
)
async def list_executions(
    policy_id: Id,
    request: Request,
    response: Response,
    registry: Services,
    caller: Caller,
    page: Annotated[Page, Depends(page_of)],
) -> list[Execution]:
    await _policy(registry, caller, policy_id, Action.PROJECT_READ)
    runs, total = await registry.retention.runs(policy_id, offset=page.offset, limit=page.size)
    paginate(request, response, page, total)
    return [execution_resp(run) for run in runs]


@router.get(
    "/{policy_id:int}/executions/{execution_id:int}", response_model=Execution, summary="A run"
)
async def get_execution(
    policy_id: Id, execution_id: BigId, registry: Services, caller: Caller
) -> Execution:
    await _policy(registry, caller, policy_id, Action.PROJECT_READ)
    return execution_resp(await registry.retention.run(policy_id, execution_id))


@router.patch(
    "/{policy_id:int}/executions/{execution_id:int}",
    response_model=Execution,
    summary="Stop a run (after the repository it is at)",
)
async def stop_execution(
    policy_id: Id, execution_id: BigId, body: ExecutionAction, registry: Services, caller: Caller
) -> Execution:
    await _policy(registry, caller, policy_id, Action.POLICY_MANAGE)
    await registry.retention.run(policy_id, execution_id)
    return execution_resp(await registry.jobs.cancel(execution_id))


@router.get(
    "/{policy_id:int}/executions/{execution_id:int}/tasks",
    response_model=list[Task],
    summary="A run's repositories, with what it kept and removed in each",
)
async def list_tasks(
    policy_id: Id, execution_id: BigId, registry: Services, caller: Caller
) -> list[Task]:
    await _policy(registry, caller, policy_id, Action.PROJECT_READ)
    run = await registry.retention.run(policy_id, execution_id)
    return [
        Task(
            id=number,
            execution_id=run.id,
            repository=name,
            retained=kept,
            removed=removed,
            total=kept + removed,
            status=HARBOR_STATUS[run.status],
        )
        for number, (name, kept, removed) in enumerate(
            await registry.retention.repositories(run.id), start=1
        )
    ]


@router.get(
    "/{policy_id:int}/executions/{execution_id:int}/tasks/{task_id:int}",
    response_class=PlainTextResponse,
    responses={200: {"content": {"text/plain": {}}}},
    summary="A repository's log in a run: each artifact, kept or removed, and why",
)
async def task_log(
    policy_id: Id, execution_id: BigId, task_id: Id, registry: Services, caller: Caller
) -> PlainTextResponse:
    await _policy(registry, caller, policy_id, Action.PROJECT_READ)
    run = await registry.retention.run(policy_id, execution_id)
    repositories = await registry.retention.repositories(run.id)
    if task_id > len(repositories):
        raise NotFound(f"task {task_id} of run {run.id} not found")
    name = repositories[task_id - 1][0]
    outcomes, _ = await registry.retention.outcomes(run.id, repository=name, limit=100_000)
    lines = [
        f"{'retain' if o.kept else 'remove'}\t{o.digest}\t{','.join(o.tags) or '<untagged>'}"
        f"\t{o.reason}"
        for o in outcomes
    ]
    return PlainTextResponse("\n".join([f"repository {name}", *lines]) + "\n")


@router.get(
    "/{policy_id:int}/executions/{execution_id:int}/results",
    response_model=list[ResultEntry],
    summary="What a run kept and removed (a dry run: would remove), artifact by artifact",
)
async def list_results(
    policy_id: Id,
    execution_id: BigId,
    request: Request,
    response: Response,
    registry: Services,
    caller: Caller,
    page: Annotated[Page, Depends(page_of)],
    repository: Annotated[str | None, Query(max_length=255)] = None,
) -> list[ResultEntry]:
    await _policy(registry, caller, policy_id, Action.PROJECT_READ)
    run = await registry.retention.run(policy_id, execution_id)
    outcomes, total = await registry.retention.outcomes(
        run.id, repository=repository, offset=page.offset, limit=page.size
    )
    paginate(request, response, page, total)
    return [
        ResultEntry(
            repository=o.repository,
            digest=o.digest,
            tags=list(o.tags),
            action="retain" if o.kept else "remove",
            reason=o.reason,
        )
        for o in outcomes
    ]
