"""Tag retention, as on Harbor: a policy per project, rules combined with OR, run by hand
or by schedule, with dry runs; each run records what it kept and removed, and why.

A rule names the repositories it covers (a doublestar pattern, matching or
excluding, over the name inside the project), the artifacts it considers there
(those with a tag that its tag pattern matches or, when it says so, untagged ones;
and, when it names labels, only those carrying all of them, or none of them), and
which of those it retains:

- ``latestPushedK``: the K most recently pushed;
- ``latestPulledN``: the N most recently pulled (never pulled counts as oldest);
- ``nDaysSinceLastPush``: those pushed within the last N days;
- ``nDaysSinceLastPull``: those pulled within the last N days;
- ``always``: all of them.

In a repository that some enabled rule covers, an artifact that some rule considers
is kept when any rule retains it, and removed (with all its tags) otherwise. What no
rule considers is left alone, and so are repositories no rule covers. Accessories
(signatures, SBOMs of a subject that is there) and the children of an index follow
what they belong to and are never considered on their own. An artifact with an
immutable tag is never removed. Pushed means the artifact's push or the last push
of one of its tags; pulled is the pull time that pulls record (artifacts/pulls.py).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy import case, delete, func, insert, select, update
from wcmatch import glob

from dockyard.artifacts.models import ArtifactLabel, Label, Manifest, ManifestReference, Tag
from dockyard.artifacts.services import ManifestService
from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.errors import Conflict, Denied, InvalidInput, ManifestUnknown, NotFound
from dockyard.events.services import Actor
from dockyard.jobs.handlers import JobContext
from dockyard.jobs.queue import JobInfo, JobQueue
from dockyard.jobs.schedules import ScheduleService
from dockyard.projects.immutability import enabled_rules, immutable_tags
from dockyard.projects.models import Project, Repository, RetentionOutcome, RetentionPolicy

RETENTION_RUN = "retention.run"
# Rules a policy may hold (Harbor's console allows 15).
MAX_RULES = 15
_FLAGS = glob.GLOBSTAR | glob.BRACE

Template = Literal[
    "latestPushedK", "latestPulledN", "nDaysSinceLastPush", "nDaysSinceLastPull", "always"
]
# Each template's parameter (the same name, as on Harbor), and what it retains.
TEMPLATES: dict[str, str] = {
    "latestPushedK": "the {n} most recently pushed artifacts",
    "latestPulledN": "the {n} most recently pulled artifacts",
    "nDaysSinceLastPush": "the artifacts pushed within the last {n} days",
    "nDaysSinceLastPull": "the artifacts pulled within the last {n} days",
    "always": "always",
}
RETENTION_ACTOR = Actor("retention")


@dataclass(frozen=True, slots=True)
class Rule:
    """One rule, as a policy holds it."""

    template: Template
    count: int = 0  # K, N, or days; unused by "always"
    repository_pattern: str = "**"
    repository_decoration: Literal["repoMatches", "repoExcludes"] = "repoMatches"
    tag_pattern: str = "**"
    tag_decoration: Literal["matches", "excludes"] = "matches"
    untagged: bool = False
    # Label names the artifact must all carry (withLabels) or carry none of (withoutLabels).
    labels: tuple[str, ...] = ()
    label_decoration: Literal["withLabels", "withoutLabels"] = "withLabels"
    disabled: bool = False
    priority: int = 0

    def covers(self, repository: str) -> bool:
        matched = _matches(repository, self.repository_pattern)
        return matched if self.repository_decoration == "repoMatches" else not matched

    def considers(self, tags: Sequence[str], labels: Sequence[str] = ()) -> bool:
        if self.labels:
            carried = set(labels)
            if self.label_decoration == "withLabels":
                if not carried.issuperset(self.labels):
                    return False
            elif carried.intersection(self.labels):
                return False
        if not tags:
            return self.untagged
        matched = any(_matches(tag, self.tag_pattern) for tag in tags)
        return (
            matched
            if self.tag_decoration == "matches"
            else not all(_matches(tag, self.tag_pattern) for tag in tags)
        )

    def describe(self) -> str:
        what = TEMPLATES[self.template].format(n=self.count)
        untagged = ", untagged included" if self.untagged else ""
        labels = f", {self.label_decoration} {','.join(self.labels)}" if self.labels else ""
        return (
            f"retain {what} of repositories {self.repository_decoration} "
            f"{self.repository_pattern!r}, tags {self.tag_decoration} {self.tag_pattern!r}"
            f"{untagged}{labels}"
        )


def _matches(name: str, pattern: str) -> bool:
    return bool(glob.globmatch(name, pattern, flags=_FLAGS))


def check_rules(rules: Sequence[Rule]) -> list[Rule]:
    if len(rules) > MAX_RULES:
        raise InvalidInput(f"a retention policy holds at most {MAX_RULES} rules")
    for rule in rules:
        if rule.template not in TEMPLATES:
            raise InvalidInput(
                f"unknown rule template {rule.template!r}: one of {', '.join(TEMPLATES)}"
            )
        if rule.template != "always" and not 1 <= rule.count <= 100_000:
            raise InvalidInput(f"{rule.template} takes a number from 1 to 100000")
        if len(rule.labels) > 10 or not all(1 <= len(name) <= 128 for name in rule.labels):
            raise InvalidInput("a rule names at most 10 labels, each 1 to 128 characters")
        for pattern in (rule.repository_pattern, rule.tag_pattern):
            if not 1 <= len(pattern) <= 255:
                raise InvalidInput("a pattern has 1 to 255 characters")
            try:
                glob.translate(pattern, flags=_FLAGS)
            except Exception as exc:  # wcmatch's own (braces past its limit) too
                raise InvalidInput(f"invalid pattern {pattern!r}: {exc}") from None
    return sorted(rules, key=lambda r: r.priority)


@dataclass(frozen=True, slots=True)
class Artifact:
    """An artifact as retention sees it."""

    id: int
    digest: str
    tags: tuple[str, ...]
    pushed_at: datetime
    pulled_at: datetime | None
    labels: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Outcome:
    repository: str  # the full name
    digest: str
    tags: tuple[str, ...]
    kept: bool
    reason: str


def decide(
    rules: Sequence[Rule],
    repository: str,
    artifacts: Sequence[Artifact],
    now: datetime,
    immutable: dict[str, str] | None = None,
) -> list[Outcome]:
    """What the rules do with the artifacts of one repository (its full name): an
    outcome for each artifact some rule considers, kept or not and why.
    ``immutable``: tag -> why it cannot be removed."""
    inside = repository.split("/", 1)[-1]
    rules = [r for r in rules if not r.disabled and r.covers(inside)]
    if not rules:
        return []
    kept: dict[int, str] = {}
    considered: dict[int, list[int]] = {}
    for index, rule in enumerate(rules, start=1):
        candidates = [a for a in artifacts if rule.considers(a.tags, a.labels)]
        for a in candidates:
            considered.setdefault(a.id, []).append(index)
        for a in _retained(rule, candidates, now):
            kept.setdefault(a.id, f"retained by rule {index}: {rule.describe()}")
    outcomes = []
    for a in artifacts:
        if a.id not in considered:
            continue
        reason = kept.get(a.id)
        locked = [t for t in a.tags if t in (immutable or {})]
        if reason is None and locked and immutable:
            reason = f"kept: tag {locked[0]!r} is immutable ({immutable[locked[0]]})"
        if reason is None:
            numbers = ", ".join(str(n) for n in considered[a.id])
            outcomes.append(
                Outcome(repository, a.digest, a.tags, False, f"retained by none of rules {numbers}")
            )
        else:
            outcomes.append(Outcome(repository, a.digest, a.tags, True, reason))
    return outcomes


def _retained(rule: Rule, candidates: list[Artifact], now: datetime) -> list[Artifact]:
    if rule.template == "always":
        return candidates
    if rule.template == "latestPushedK":
        ordered = sorted(candidates, key=lambda a: (a.pushed_at, a.id), reverse=True)
        return ordered[: rule.count]
    if rule.template == "latestPulledN":
        never = datetime.min.replace(tzinfo=now.tzinfo)
        ordered = sorted(
            candidates, key=lambda a: (a.pulled_at or never, a.pushed_at, a.id), reverse=True
        )
        return ordered[: rule.count]
    since = now - timedelta(days=rule.count)
    if rule.template == "nDaysSinceLastPush":
        return [a for a in candidates if a.pushed_at >= since]
    return [a for a in candidates if a.pulled_at is not None and a.pulled_at >= since]


@dataclass(frozen=True, slots=True)
class PolicyInfo:
    id: int
    project_id: int
    rules: list[Rule]
    cron: str
    created_at: datetime
    updated_at: datetime


@dataclass(slots=True)
class RunReport:
    kept: int = 0
    removed: int = 0


def _rules_json(rules: Sequence[Rule]) -> str:
    return json.dumps(
        [
            {
                "template": r.template,
                "count": r.count,
                "repository_pattern": r.repository_pattern,
                "repository_decoration": r.repository_decoration,
                "tag_pattern": r.tag_pattern,
                "tag_decoration": r.tag_decoration,
                "untagged": r.untagged,
                "labels": list(r.labels),
                "label_decoration": r.label_decoration,
                "disabled": r.disabled,
                "priority": r.priority,
            }
            for r in rules
        ]
    )


def _policy(row: Any) -> PolicyInfo:
    return PolicyInfo(
        id=row.id,
        project_id=row.project_id,
        rules=[Rule(**{**r, "labels": tuple(r.get("labels", ()))}) for r in json.loads(row.rules)],
        cron=row.cron,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


_POLICY_COLUMNS = (
    RetentionPolicy.id,
    RetentionPolicy.project_id,
    RetentionPolicy.rules,
    RetentionPolicy.cron,
    RetentionPolicy.created_at,
    RetentionPolicy.updated_at,
)


class RetentionService:
    def __init__(self, db: Database, jobs: JobQueue, schedules: ScheduleService) -> None:
        self.db = db
        self.jobs = jobs
        self.schedules = schedules

    # Policies

    async def create(self, project_id: int, rules: Sequence[Rule], cron: str = "") -> PolicyInfo:
        rules = check_rules(rules)
        now = utcnow()
        async with self.db.write() as conn:
            if await conn.scalar(select(Project.id).where(Project.id == project_id)) is None:
                raise NotFound(f"project {project_id} not found")
            taken = await conn.scalar(
                select(RetentionPolicy.id).where(RetentionPolicy.project_id == project_id)
            )
            if taken is not None:
                raise Conflict(f"the project has a retention policy already ({taken})")
            policy_id = await conn.scalar(
                insert(RetentionPolicy)
                .values(
                    project_id=project_id,
                    rules=_rules_json(rules),
                    cron="",
                    created_at=now,
                    updated_at=now,
                )
                .returning(RetentionPolicy.id)
            )
        return await self.update(policy_id, rules, cron)

    async def get(self, policy_id: int) -> PolicyInfo:
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(*_POLICY_COLUMNS).where(RetentionPolicy.id == policy_id))
            ).first()
        if row is None:
            raise NotFound(f"retention policy {policy_id} not found")
        return _policy(row)

    async def of_project(self, project_id: int) -> PolicyInfo | None:
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(*_POLICY_COLUMNS).where(RetentionPolicy.project_id == project_id)
                )
            ).first()
        return _policy(row) if row is not None else None

    async def update(self, policy_id: int, rules: Sequence[Rule], cron: str) -> PolicyInfo:
        """Replace a policy's rules and schedule (``cron`` empty: by hand only)."""
        rules = check_rules(rules)
        await self.get(policy_id)
        name = f"retention-{policy_id}"
        try:
            schedule = await self.schedules.get_by_name(name)
        except NotFound:
            schedule = None
        if cron:
            if schedule is None:
                await self.schedules.create(name, RETENTION_RUN, cron, {"policy_id": policy_id})
            else:
                await self.schedules.update(schedule.id, cron=cron, enabled=True)
        elif schedule is not None:
            await self.schedules.delete(schedule.id)
        async with self.db.write() as conn:
            await conn.execute(
                update(RetentionPolicy)
                .where(RetentionPolicy.id == policy_id)
                .values(rules=_rules_json(rules), cron=cron, updated_at=utcnow())
            )
        return await self.get(policy_id)

    async def delete(self, policy_id: int) -> None:
        await self.update(policy_id, [], "")
        async with self.db.write() as conn:
            await conn.execute(delete(RetentionPolicy).where(RetentionPolicy.id == policy_id))

    # Runs

    async def start(self, policy_id: int, *, dry_run: bool) -> JobInfo:
        await self.get(policy_id)
        job_id = await self.jobs.enqueue(
            RETENTION_RUN, {"policy_id": policy_id, "dry_run": dry_run}, max_attempts=1
        )
        return await self.jobs.get(job_id)

    async def runs(
        self, policy_id: int, *, offset: int = 0, limit: int = 100
    ) -> tuple[list[JobInfo], int]:
        """The policy's runs, newest first (its scheduled ones included)."""
        await self.get(policy_id)
        jobs, _ = await self.jobs.search(kind=RETENTION_RUN, offset=0, limit=100_000)
        mine = [j for j in jobs if j.payload.get("policy_id") == policy_id]
        return mine[offset : offset + limit], len(mine)

    async def run(self, policy_id: int, run_id: int) -> JobInfo:
        job = await self.jobs.get(run_id)
        if job.kind != RETENTION_RUN or job.payload.get("policy_id") != policy_id:
            raise NotFound(f"retention run {run_id} of policy {policy_id} not found")
        return job

    async def outcomes(
        self, run_id: int, *, repository: str | None = None, offset: int = 0, limit: int = 100
    ) -> tuple[list[Outcome], int]:
        """What a run did (or, dry, would do), by repository and artifact; and how many."""
        conditions = [RetentionOutcome.job_id == run_id]
        if repository is not None:
            conditions.append(RetentionOutcome.repository == repository)
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(
                        RetentionOutcome.repository,
                        RetentionOutcome.digest,
                        RetentionOutcome.tags,
                        RetentionOutcome.kept,
                        RetentionOutcome.reason,
                    )
                    .where(*conditions)
                    .order_by(RetentionOutcome.id)
                    .offset(offset)
                    .limit(limit)
                )
            ).all()
            total = await conn.scalar(
                select(func.count()).select_from(RetentionOutcome).where(*conditions)
            )
        return [
            Outcome(r.repository, r.digest, tuple(json.loads(r.tags)), r.kept, r.reason)
            for r in rows
        ], int(total or 0)

    async def repositories(self, run_id: int) -> list[tuple[str, int, int]]:
        """Per repository of a run: (name, kept, removed)."""
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(
                        RetentionOutcome.repository,
                        func.sum(case((RetentionOutcome.kept, 1), else_=0)),
                        func.count(),
                    )
                    .where(RetentionOutcome.job_id == run_id)
                    .group_by(RetentionOutcome.repository)
                    .order_by(RetentionOutcome.repository)
                )
            ).all()
        return [(name, int(kept or 0), int(total) - int(kept or 0)) for name, kept, total in rows]

    async def artifacts(self, repository_id: int) -> list[Artifact]:
        """A repository's artifacts that retention considers on their own."""
        child = (
            select(ManifestReference.digest)
            .join(Manifest, Manifest.id == ManifestReference.manifest_id)
            .where(Manifest.repository_id == repository_id, ManifestReference.kind == "manifest")
        )
        subjects = select(Manifest.digest).where(Manifest.repository_id == repository_id)
        async with self.db.read() as conn:
            rows = (
                await conn.execute(
                    select(Manifest.id, Manifest.digest, Manifest.created_at, Manifest.pulled_at)
                    .where(
                        Manifest.repository_id == repository_id,
                        Manifest.digest.not_in(child),
                        (Manifest.subject_digest.is_(None))
                        | Manifest.subject_digest.not_in(subjects),
                    )
                    .order_by(Manifest.id)
                )
            ).all()
            tags = (
                await conn.execute(
                    select(Tag.manifest_id, Tag.name, Tag.updated_at)
                    .where(Tag.repository_id == repository_id)
                    .order_by(Tag.name)
                )
            ).all()
            labelled = (
                await conn.execute(
                    select(ArtifactLabel.manifest_id, Label.name)
                    .join(Label, Label.id == ArtifactLabel.label_id)
                    .join(Manifest, Manifest.id == ArtifactLabel.manifest_id)
                    .where(Manifest.repository_id == repository_id)
                )
            ).all()
        carried: dict[int, list[str]] = {}
        for manifest_id, label in labelled:
            carried.setdefault(manifest_id, []).append(label)
        names: dict[int, list[str]] = {}
        latest: dict[int, datetime] = {}
        for manifest_id, name, updated_at in tags:
            names.setdefault(manifest_id, []).append(name)
            latest[manifest_id] = max(latest.get(manifest_id, updated_at), updated_at)
        return [
            Artifact(
                row.id,
                row.digest,
                tuple(names.get(row.id, ())),
                max(row.created_at, latest.get(row.id, row.created_at)),
                row.pulled_at,
                tuple(carried.get(row.id, ())),
            )
            for row in rows
        ]


class RetentionRun:
    """The ``retention.run`` handler. Payload: ``policy_id``, ``dry_run``."""

    def __init__(self, db: Database, service: RetentionService, manifests: ManifestService) -> None:
        self.db = db
        self.service = service
        self.manifests = manifests

    async def __call__(self, job: JobContext) -> dict[str, Any]:
        policy_id = job.payload.get("policy_id")
        if isinstance(policy_id, bool) or not isinstance(policy_id, int):
            raise InvalidInput("policy_id must be a policy's id")
        dry_run = job.flag("dry_run", False)
        policy = await self.service.get(policy_id)
        async with self.db.read() as conn:
            repositories = (
                await conn.execute(
                    select(Repository.id, Repository.name)
                    .where(Repository.project_id == policy.project_id)
                    .order_by(Repository.name)
                )
            ).all()
            locks = await enabled_rules(conn, policy.project_id)
        now = utcnow()
        report = RunReport()
        await job.progress(0, len(repositories), "starting")
        for done, (repository_id, name) in enumerate(repositories, start=1):
            artifacts = await self.service.artifacts(repository_id)
            inside = name.split("/", 1)[-1]
            every_tag = [t for a in artifacts for t in a.tags]
            immutable = {
                tag: f"immutable tag rule {rule.id}"
                for tag, rule in immutable_tags(locks, inside, every_tag).items()
            }
            outcomes = decide(policy.rules, name, artifacts, now, immutable)
            if not dry_run:
                outcomes = [await self._apply(o) for o in outcomes]
            await self._record(job.job.id, outcomes, report)
            await job.progress(
                done,
                len(repositories),
                f"{name}: kept {report.kept}, {'would remove' if dry_run else 'removed'} "
                f"{report.removed} so far",
            )
        return {
            "dry_run": dry_run,
            "policy_id": policy_id,
            "repositories": len(repositories),
            "kept": report.kept,
            "removed": report.removed,
        }

    async def _apply(self, outcome: Outcome) -> Outcome:
        if outcome.kept:
            return outcome
        try:
            await self.manifests.delete_artifact(
                outcome.repository, outcome.digest, RETENTION_ACTOR
            )
        except ManifestUnknown:
            return Outcome(
                outcome.repository,
                outcome.digest,
                outcome.tags,
                False,
                f"{outcome.reason}; deleted meanwhile by someone else",
            )
        except Denied as exc:  # an immutable tag put on it since the plan
            return Outcome(outcome.repository, outcome.digest, outcome.tags, True, exc.message)
        return outcome

    async def _record(self, job_id: int, outcomes: list[Outcome], report: RunReport) -> None:
        if not outcomes:
            return
        for o in outcomes:
            if o.kept:
                report.kept += 1
            else:
                report.removed += 1
        async with self.db.write() as conn:
            await conn.execute(
                insert(RetentionOutcome),
                [
                    {
                        "job_id": job_id,
                        "repository": o.repository,
                        "digest": o.digest,
                        "tags": json.dumps(list(o.tags)),
                        "kept": o.kept,
                        "reason": o.reason[:1024],
                    }
                    for o in outcomes
                ],
            )
