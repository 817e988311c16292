"""/api/v2.0/systeminfo and /health, and what the API answers outside its routes."""

from __future__ import annotations

from importlib.metadata import version

import httpx

from dockyard.registry import Registry
from tests.stored import break_storage


async def test_systeminfo_tells_anyone_what_this_registry_is(
    anonymous: httpx.AsyncClient,
) -> None:
    r = await anonymous.get("/api/v2.0/systeminfo")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "dockyard_version": version("dockyard"),
        "auth_mode": "db_auth",
        "registry_url": "registry.test",
        "project_creation_restriction": "everyone",
        "self_registration": False,
        "read_only": False,
    }


async def test_systeminfo_names_the_configured_external_url(
    anonymous: httpx.AsyncClient, registry: Registry
) -> None:
    registry.settings.auth.external_url = "https://harbor.example.com:8443/"
    r = await anonymous.get("/api/v2.0/systeminfo")
    assert r.json()["registry_url"] == "harbor.example.com:8443"


async def test_health_reports_each_component(anonymous: httpx.AsyncClient) -> None:
    r = await anonymous.get("/api/v2.0/health")
    assert r.status_code == 200, r.text
    assert r.json() == {
        "status": "healthy",
        "components": [
            {"name": "database", "status": "healthy", "error": ""},
            {"name": "storage", "status": "healthy", "error": ""},
        ],
    }


async def test_health_is_503_when_the_blob_store_is_unusable(
    anonymous: httpx.AsyncClient, registry: Registry
) -> None:
    assert (await anonymous.get("/api/v2.0/health")).status_code == 200
    break_storage(registry.settings)
    r = await anonymous.get("/api/v2.0/health")
    assert r.status_code == 503, r.text
    body = r.json()
    assert body["status"] == "unhealthy"
    storage = [c for c in body["components"] if c["name"] == "storage"]
    assert storage[0]["status"] == "unhealthy"
    assert storage[0]["error"]
    database = [c for c in body["components"] if c["name"] == "database"]
    assert database[0]["status"] == "healthy"


async def test_an_unknown_api_path_is_404_in_the_apis_error_shape(
    client: httpx.AsyncClient,
) -> None:
    r = await client.get("/api/v2.0/no-such-thing")
    assert r.status_code == 404
    assert r.json()["errors"][0]["code"] == "NOT_FOUND"


async def test_a_wrong_method_is_405_naming_the_allowed_ones(client: httpx.AsyncClient) -> None:
    r = await client.patch("/api/v2.0/users")
    assert r.status_code == 405
    assert r.json()["errors"][0]["code"] == "METHOD_NOT_ALLOWED"
    assert set(r.headers["Allow"].split(", ")) == {"GET", "POST"}


async def test_the_openapi_document_describes_the_routes(anonymous: httpx.AsyncClient) -> None:
    r = await anonymous.get("/api/v2.0/openapi.json")
    assert r.status_code == 200
    paths = r.json()["paths"]
    for path in (
        "/users",
        "/projects",
        "/projects/{project_name_or_id}/members",
        "/robots",
        "/audit-logs",
        "/systeminfo",
        "/health",
    ):
        assert path in paths, path
    assert "422" not in paths["/users"]["post"]["responses"]
    assert "400" in paths["/users"]["post"]["responses"]
