"""schemathesis against the API's own OpenAPI document, on a real dockyard process.

Every operation is called, on each backend, with generated valid and invalid input, as the admin
and as nobody; any 5xx, an undocumented status, a body that breaks the declared
schema or a wrong content type fails the test.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error

from tests.conftest import BACKENDS, backend_env
from tests.servers import ADMIN, DockyardServer


@pytest.fixture(scope="session", params=BACKENDS)
def api_server(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[DockyardServer]:
    data = tmp_path_factory.mktemp("schemathesis") / "data"
    server = DockyardServer(data, env=backend_env(request, request.param)).start()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def api_schema(api_server: DockyardServer) -> schemathesis.BaseSchema:
    schema = schemathesis.openapi.from_url(f"{api_server.url}/api/v2.0/openapi.json")
    # No text holds a NUL character: the API refuses one in a path, a parameter or a
    # body with 400 (PostgreSQL cannot store one), which tests/api/test_nul.py checks;
    # a schema that said so on every string would drown the document.
    schema.config.generation.update(allow_x00=False)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")

# POST /scanners/ping reaches out to the adapter URL it is given, and no adapter listens at
# a generated one: its answer is then 503 by design (the adapter is unavailable), which
# the server-error check would count as a failure. Its other checks still run.
REACHES_OUT = {"POST /scanners/ping": [not_a_server_error]}


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
def test_every_operation_as_the_admin(case: schemathesis.Case) -> None:
    case.call_and_validate(auth=ADMIN, excluded_checks=REACHES_OUT.get(case.operation.label))


@schema.parametrize()
@settings(
    max_examples=10,
    deadline=None,
    suppress_health_check=[HealthCheck.filter_too_much, HealthCheck.too_slow],
)
def test_every_operation_anonymously(case: schemathesis.Case) -> None:
    case.call_and_validate()
