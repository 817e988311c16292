"""The whole access matrix: every subject x every action x a public and a private project.

The expected table below is written from Harbor's documented role semantics, not read
from ``access/rbac.py`` (a test computed from the table it checks would prove nothing):

- limited guest: pull only;
- guest: pull, and read the members and the logs;
- developer: a guest's rights, plus push, create tags and put labels on artifacts;
- maintainer: a developer's, plus delete artifacts and tags, manage the project's labels,
  scan, configure policies
  (retention, immutability), read robots and webhooks;
- project admin: everything in the project, robots, members and webhooks included;
- anonymous, and a logged-in user who is no member: pull from a public project only;
- system admin: everything everywhere.

Each cell asks the real face the action goes through: the data plane (``/v2/``, with
Basic credentials and with a bearer token from ``/service/token``), the management API,
or, for actions with no endpoint yet (scan, webhooks), the decision those
endpoints will ask for: ``AccessService.project_access``. A refusal is 401 for anonymous
callers, 403 for known ones; the management API answers 404 for a private project the
caller may not even read (``api/projects.authorized``). A refused change must also have
left no trace, and an allowed one must have happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass

import httpx
import jwt
import pytest
import pytest_asyncio
from starlette.applications import Starlette

from dockyard.access.principals import ANONYMOUS, Principal
from dockyard.access.rbac import Action
from dockyard.access.robots import RobotPermissionSpec
from dockyard.app import create_app
from dockyard.db.migrate import upgrade
from dockyard.registry import Registry
from tests.conftest import BACKENDS, backend_settings, install
from tests.oci.helpers import push_image
from tests.servers import ADMIN

pytestmark = pytest.mark.asyncio(loop_scope="module")

SUBJECTS = (
    "anonymous",
    "non-member",
    "limitedGuest",
    "guest",
    "developer",
    "maintainer",
    "projectAdmin",
    "sysadmin",
)
# Harbor's role ids of the subjects that are project members.
ROLE_IDS = {"projectAdmin": 1, "developer": 2, "guest": 3, "maintainer": 4, "limitedGuest": 5}

# Columns: anon anonymous, outsider a logged-in user who is no member, limited
# limitedGuest, maint maintainer, admin projectAdmin, sys a system admin.
# yes: allowed in both projects; public: in the public project only; no: in neither.
EXPECTED_TABLE = """
action              anon    outsider  limited  guest  developer  maint  admin  sys
pull                public  public    yes      yes    yes        yes    yes    yes
pull_token          public  public    yes      yes    yes        yes    yes    yes
push                no      no        no       no     yes        yes    yes    yes
create_tag          no      no        no       no     yes        yes    yes    yes
delete_artifact     no      no        no       no     no         yes    yes    yes
delete_tag          no      no        no       no     no         yes    yes    yes
read_members        no      no        no       yes    yes        yes    yes    yes
read_logs           no      no        no       yes    yes        yes    yes    yes
read_robots         no      no        no       no     no         yes    yes    yes
create_robot        no      no        no       no     no         no     yes    yes
delete_robot        no      no        no       no     no         no     yes    yes
manage_members      no      no        no       no     no         no     yes    yes
scan                no      no        no       no     no         yes    yes    yes
configure_policies  no      no        no       no     no         yes    yes    yes
configure_webhooks  no      no        no       no     no         no     yes    yes
manage_labels       no      no        no       no     no         yes    yes    yes
label_artifact      no      no        no       no     yes        yes    yes    yes
"""
COLUMNS = {
    "anon": "anonymous",
    "outsider": "non-member",
    "limited": "limitedGuest",
    "guest": "guest",
    "developer": "developer",
    "maint": "maintainer",
    "admin": "projectAdmin",
    "sys": "sysadmin",
}


def _parse(table: str) -> dict[tuple[str, str], frozenset[str]]:
    lines = [line.split() for line in table.strip().splitlines()]
    header, rows = [COLUMNS[column] for column in lines[0][1:]], lines[1:]
    assert tuple(header) == SUBJECTS
    where = {"yes": frozenset({"public", "private"}), "public": frozenset({"public"})}
    return {
        (row[0], subject): where.get(mark, frozenset())
        for row in rows
        for subject, mark in zip(header, row[1:], strict=True)
    }


EXPECTED = _parse(EXPECTED_TABLE)
ACTIONS = tuple(dict.fromkeys(action for action, _ in EXPECTED))
VISIBILITIES = ("public", "private")
PASSWORD = "Subject-Secret-1"

# The status of an allowed request, per action with an endpoint.
ALLOWED_STATUS = {
    "pull": 200,
    "pull_token": 200,
    "push": 202,
    "create_tag": 201,
    "delete_artifact": 202,
    "delete_tag": 200,
    "read_members": 200,
    "read_logs": 200,
    "read_robots": 200,
    "create_robot": 201,
    "delete_robot": 200,
    "manage_members": 201,
    "manage_labels": 201,
    "label_artifact": 200,
    "configure_policies": 201,
}
DATA_PLANE = frozenset({"pull", "pull_token", "push", "delete_artifact"})
# The actions without an endpoint yet: the decision their endpoints will ask for.
DECISIONS = {
    "scan": Action.SCAN_CREATE,
    "configure_webhooks": Action.WEBHOOK_MANAGE,
}
assert set(ACTIONS) == set(ALLOWED_STATUS) | set(DECISIONS)


def allowed(subject: str, visibility: str, action: str) -> bool:
    return visibility in EXPECTED[(action, subject)]


def refused_status(subject: str, visibility: str, action: str) -> int:
    if subject == "anonymous":
        return 401
    if action in DATA_PLANE:
        return 403
    # Members of every role, and everyone in a public project, may read the project.
    if visibility == "private" and subject == "non-member":
        return 404
    return 403


@dataclass
class Cell:
    registry: Registry
    admin: httpx.AsyncClient
    caller: httpx.AsyncClient
    principal: Principal
    project: str
    digest: str
    robot_id: int

    @property
    def repository(self) -> str:
        return f"{self.project}/app"

    @property
    def api_artifact(self) -> str:
        return f"/api/v2.0/projects/{self.project}/repositories/app/artifacts/v1"


Step = Callable[[Cell], Awaitable[int]]
Effect = Callable[[Cell], Awaitable[bool]]


async def pull(cell: Cell) -> int:
    return (await cell.caller.get(f"/v2/{cell.repository}/manifests/v1")).status_code


async def token_for(cell: Cell, scope: str) -> tuple[str, set[str]]:
    """A token for ``scope`` from the token endpoint, and the actions it grants there."""
    r = await cell.caller.get("/service/token", params={"service": "dockyard", "scope": scope})
    assert r.status_code == 200, r.text
    token = r.json()["token"]
    claims = jwt.decode(token, options={"verify_signature": False})
    granted: set[str] = set()
    for entry in claims["access"]:
        assert (entry["type"], entry["name"]) == ("repository", scope.split(":")[1]), claims
        granted.update(entry["actions"])
    return token, granted


async def push(cell: Cell) -> int:
    return (await cell.caller.post(f"/v2/{cell.repository}/blobs/uploads/")).status_code


async def create_tag(cell: Cell) -> int:
    r = await cell.caller.post(f"{cell.api_artifact}/tags", json={"name": "v2"})
    return r.status_code


async def tag_v2_exists(cell: Cell) -> bool:
    return (await cell.admin.get(f"/v2/{cell.repository}/manifests/v2")).status_code == 200


async def delete_artifact(cell: Cell) -> int:
    return (await cell.caller.delete(f"/v2/{cell.repository}/manifests/{cell.digest}")).status_code


async def artifact_gone(cell: Cell) -> bool:
    r = await cell.admin.get(f"/v2/{cell.repository}/manifests/{cell.digest}")
    assert r.status_code in (200, 404), r.text
    return r.status_code == 404


async def delete_tag(cell: Cell) -> int:
    return (await cell.caller.delete(f"{cell.api_artifact}/tags/v1")).status_code


async def tag_v1_gone(cell: Cell) -> bool:
    r = await cell.admin.get(f"/v2/{cell.repository}/manifests/v1")
    assert r.status_code in (200, 404), r.text
    return r.status_code == 404


async def read_members(cell: Cell) -> int:
    return (await cell.caller.get(f"/api/v2.0/projects/{cell.project}/members")).status_code


async def read_logs(cell: Cell) -> int:
    return (await cell.caller.get(f"/api/v2.0/projects/{cell.project}/logs")).status_code


async def read_robots(cell: Cell) -> int:
    r = await cell.caller.get("/api/v2.0/robots", params={"project": cell.project})
    return r.status_code


async def create_robot(cell: Cell) -> int:
    body = {
        "name": "builder",
        "level": "project",
        "permissions": [
            {
                "kind": "project",
                "namespace": cell.project,
                "access": [{"resource": "repository", "action": "pull"}],
            }
        ],
    }
    return (await cell.caller.post("/api/v2.0/robots", json=body)).status_code


async def robot_created(cell: Cell) -> bool:
    r = await cell.admin.get("/api/v2.0/robots", params={"project": cell.project})
    assert r.status_code == 200, r.text
    return f"robot${cell.project}+builder" in {robot["name"] for robot in r.json()}


async def delete_robot(cell: Cell) -> int:
    return (await cell.caller.delete(f"/api/v2.0/robots/{cell.robot_id}")).status_code


async def robot_gone(cell: Cell) -> bool:
    r = await cell.admin.get(f"/api/v2.0/robots/{cell.robot_id}")
    assert r.status_code in (200, 404), r.text
    return r.status_code == 404


async def manage_members(cell: Cell) -> int:
    body = {"role_id": 3, "member_user": {"username": "bystander"}}
    r = await cell.caller.post(f"/api/v2.0/projects/{cell.project}/members", json=body)
    return r.status_code


async def member_added(cell: Cell) -> bool:
    r = await cell.admin.get(f"/api/v2.0/projects/{cell.project}/members")
    assert r.status_code == 200, r.text
    return "bystander" in {m["entity_name"] for m in r.json()}


async def _project_id(cell: Cell) -> int:
    r = await cell.admin.get(f"/api/v2.0/projects/{cell.project}")
    assert r.status_code == 200, r.text
    project_id: int = r.json()["project_id"]
    return project_id


async def manage_labels(cell: Cell) -> int:
    body = {"name": "release", "scope": "p", "project_id": await _project_id(cell)}
    return (await cell.caller.post("/api/v2.0/labels", json=body)).status_code


async def label_created(cell: Cell) -> bool:
    params = {"scope": "p", "project_id": await _project_id(cell)}
    r = await cell.admin.get("/api/v2.0/labels", params=params)
    assert r.status_code == 200, r.text
    return [label["name"] for label in r.json()] == ["release"]


async def label_artifact(cell: Cell) -> int:
    # A global label of the cell's own, made by the admin; the caller puts it on v1.
    r = await cell.admin.post("/api/v2.0/labels", json={"name": f"for-{cell.project}"})
    assert r.status_code == 201, r.text
    body = {"id": r.json()["id"]}
    return (await cell.caller.post(f"{cell.api_artifact}/labels", json=body)).status_code


async def artifact_labelled(cell: Cell) -> bool:
    r = await cell.admin.get(cell.api_artifact)
    assert r.status_code == 200, r.text
    return [label["name"] for label in r.json()["labels"]] == [f"for-{cell.project}"]


async def configure_policies(cell: Cell) -> int:
    body = {
        "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": "v*"}],
        "scope_selectors": {
            "repository": [{"kind": "doublestar", "decoration": "repoMatches", "pattern": "**"}]
        },
    }
    url = f"/api/v2.0/projects/{cell.project}/immutabletagrules"
    return (await cell.caller.post(url, json=body)).status_code


async def rule_added(cell: Cell) -> bool:
    r = await cell.admin.get(f"/api/v2.0/projects/{cell.project}/immutabletagrules")
    assert r.status_code == 200, r.text
    return len(r.json()) == 1


STEPS: dict[str, Step] = {
    "pull": pull,
    "push": push,
    "create_tag": create_tag,
    "delete_artifact": delete_artifact,
    "delete_tag": delete_tag,
    "read_members": read_members,
    "read_logs": read_logs,
    "read_robots": read_robots,
    "create_robot": create_robot,
    "delete_robot": delete_robot,
    "manage_members": manage_members,
    "manage_labels": manage_labels,
    "label_artifact": label_artifact,
    "configure_policies": configure_policies,
}
EFFECTS: dict[str, Effect] = {
    "create_tag": tag_v2_exists,
    "delete_artifact": artifact_gone,
    "delete_tag": tag_v1_gone,
    "create_robot": robot_created,
    "delete_robot": robot_gone,
    "manage_members": member_added,
    "manage_labels": label_created,
    "label_artifact": artifact_labelled,
    "configure_policies": rule_added,
}


@pytest_asyncio.fixture(scope="module", loop_scope="module", params=BACKENDS)
async def shared_app(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Starlette]:
    """One registry for the whole matrix on each backend: each cell works in a project of
    its own, so that 272 cells do not pay 272 migrations."""
    settings = await backend_settings(
        request, tmp_path_factory.mktemp("rbac"), request.param, own_database=True
    )
    settings.data_dir.mkdir(parents=True)
    await asyncio.to_thread(upgrade, settings.database_url)
    app = create_app(settings)
    registry: Registry = app.state.registry
    await install(registry)
    await registry.users.create("bystander", PASSWORD)
    yield app
    await registry.close()


_serial = itertools.count()


@pytest_asyncio.fixture(loop_scope="module")
async def world(shared_app: Starlette) -> AsyncIterator[Callable[[str, str], Awaitable[Cell]]]:
    """``await world(subject, visibility)``: a fresh public or private project with an
    image ``app:v1`` and a project robot, and a client acting as ``subject``."""
    registry: Registry = shared_app.state.registry
    admin = await registry.users.get("admin")
    async with contextlib.AsyncExitStack() as stack:

        async def connect(auth: tuple[str, str] | None) -> httpx.AsyncClient:
            return await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=shared_app),
                    base_url="http://registry.test",
                    auth=auth,
                )
            )

        async def make(subject: str, visibility: str) -> Cell:
            n = next(_serial)
            project = f"{visibility}-{n}"
            await registry.projects.create(
                project, public=visibility == "public", owner_id=admin.id
            )
            client = await connect(ADMIN)
            digest, _ = await push_image(client, f"{project}/app", "v1")
            robot = await registry.robots.create(
                "ci",
                level="project",
                permissions=[RobotPermissionSpec(project, frozenset({Action.REPOSITORY_PULL}))],
                duration_days=-1,
            )
            if subject == "anonymous":
                caller = await connect(None)
                return Cell(registry, client, caller, ANONYMOUS, project, digest, robot.robot.id)
            username = f"subject-{n}"
            user = await registry.users.create(username, PASSWORD)
            if subject == "sysadmin":
                await registry.users.update(username, admin=True)
            if subject in ROLE_IDS:
                project_id = (await registry.projects.get(project)).id
                await registry.members.add(project_id, "u", user.id, ROLE_IDS[subject])
            caller = await connect((username, PASSWORD))
            principal = await registry.access.authenticate(username, PASSWORD)
            return Cell(registry, client, caller, principal, project, digest, robot.robot.id)

        yield make


CELLS = [
    pytest.param(visibility, subject, action, id=f"{visibility}-{subject}-{action}")
    for visibility in VISIBILITIES
    for subject in SUBJECTS
    for action in ACTIONS
]


@pytest.mark.parametrize(("visibility", "subject", "action"), CELLS)
async def test_matrix(
    world: Callable[[str, str], Awaitable[Cell]], visibility: str, subject: str, action: str
) -> None:
    cell = await world(subject, visibility)
    expected = allowed(subject, visibility, action)

    if action in DECISIONS:
        access = await cell.registry.access.project_access(cell.principal, cell.project)
        assert (DECISIONS[action] in access.actions) is expected, sorted(access.actions)
        return

    if action == "pull_token":
        scope = f"repository:{cell.repository}:pull,push,delete"
        token, granted = await token_for(cell, scope)
        wanted = {"pull": "pull", "push": "push", "delete": "delete_artifact"}
        assert granted == {a for a, row in wanted.items() if allowed(subject, visibility, row)}
        r = await cell.caller.get(
            f"/v2/{cell.repository}/manifests/v1",
            headers={"Authorization": f"Bearer {token}"},
            auth=None,
        )
        status = r.status_code
    else:
        status = await STEPS[action](cell)

    want = ALLOWED_STATUS[action] if expected else refused_status(subject, visibility, action)
    assert status == want, f"{subject} {action} in the {visibility} project: {status}"
    if action in EFFECTS:
        assert await EFFECTS[action](cell) is expected
