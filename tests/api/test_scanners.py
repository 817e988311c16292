"""/scanners and a project's scanner: registering adapters, the default, the built-in one,
write-only credentials, who may, and bad input."""

from __future__ import annotations

import httpx

from dockyard.scanning.scanners import BUILTIN_UUID

SCANNERS = "/api/v2.0/scanners"


async def test_register_choose_and_remove_scanners(
    client: httpx.AsyncClient, developer: httpx.AsyncClient
) -> None:
    (builtin,) = (await client.get(SCANNERS)).json()
    assert builtin["uuid"] == BUILTIN_UUID
    assert (builtin["name"], builtin["is_default"], builtin["builtin"]) == ("dockyard", True, True)
    r = await client.get(f"{SCANNERS}/{BUILTIN_UUID}/metadata")
    assert r.status_code == 200
    assert {c["type"] for c in r.json()["capabilities"]} == {"vulnerability", "sbom"}

    body = {
        "name": "trivy",
        "url": "http://127.0.0.1:9/",
        "auth": "X-ScannerAdapter-API-Key",
        "access_credential": "s3cret",
    }
    r = await client.post(SCANNERS, json=body)
    assert r.status_code == 201, r.text
    uuid = r.headers["Location"].rsplit("/", 1)[1]
    trivy = (await client.get(f"{SCANNERS}/{uuid}")).json()
    assert trivy["url"] == "http://127.0.0.1:9"
    assert "s3cret" not in r.text + str(trivy)
    assert (await client.post(SCANNERS, json=body)).status_code == 409

    # Nothing listens at port 9: the health check says so, as a 503.
    r = await client.get(f"{SCANNERS}/{uuid}/metadata")
    assert r.status_code == 503
    assert "could not be reached" in r.json()["errors"][0]["message"]
    r = await client.post(f"{SCANNERS}/ping", json=body)
    assert r.status_code == 503
    assert "could not be reached" in r.json()["errors"][0]["message"]

    assert (await client.patch(f"{SCANNERS}/{uuid}", json={"is_default": True})).status_code == 200
    defaults = {s["name"]: s["is_default"] for s in (await client.get(SCANNERS)).json()}
    assert defaults == {"dockyard": False, "trivy": True}
    r = await client.delete(f"{SCANNERS}/{uuid}")
    assert r.status_code == 409  # the default
    r = await client.put(f"{SCANNERS}/{uuid}", json={**body, "disabled": True})
    assert r.status_code == 409  # the default cannot be disabled
    r = await client.delete(f"{SCANNERS}/{BUILTIN_UUID}")
    assert r.status_code == 409  # the built-in one, never
    await client.patch(f"{SCANNERS}/{BUILTIN_UUID}", json={"is_default": True})

    # A project's own choice; the candidates; then the scanner goes and so does the choice.
    r = await client.put("/api/v2.0/projects/library/scanner", json={"uuid": uuid})
    assert r.status_code == 200
    assert (await client.get("/api/v2.0/projects/library/scanner")).json()["name"] == "trivy"
    candidates = (await client.get("/api/v2.0/projects/library/scanner/candidates")).json()
    assert {c["name"] for c in candidates} == {"dockyard", "trivy"}
    r = await client.put(f"{SCANNERS}/{uuid}", json={**body, "name": "trivy-2", "disabled": True})
    assert r.status_code == 200
    # Disabled: the project falls back to the default.
    assert (await client.get("/api/v2.0/projects/library/scanner")).json()["name"] == "dockyard"
    assert (await client.delete(f"{SCANNERS}/{uuid}")).status_code == 200
    assert (await client.get(f"{SCANNERS}/{uuid}")).status_code == 404

    # Only system admins manage scanners; a project member reads the project's.
    assert (await developer.get(SCANNERS)).status_code == 403
    assert (await developer.post(SCANNERS, json=body)).status_code == 403
    r = await developer.put("/api/v2.0/projects/library/scanner", json={"uuid": BUILTIN_UUID})
    assert r.status_code == 403


async def test_bad_registrations(client: httpx.AsyncClient) -> None:
    for body in (
        {"name": "x", "url": "ftp://host"},
        {"name": "x", "url": "http://user:pw@host"},
        {"name": "x", "url": "https://[::1"},
        {"name": "x", "url": "http://host", "auth": "Digest"},
        {"name": "", "url": "http://host"},
        {"url": "http://host"},
    ):
        r = await client.post(SCANNERS, json=body)
        assert r.status_code == 400, (body, r.text)
    assert (await client.get(f"{SCANNERS}/not-a-uuid")).status_code == 404
    # A CA bundle is checked when it is used: the health check names what is wrong.
    r = await client.post(
        SCANNERS, json={"name": "tls", "url": "https://host", "ca_bundle": "not a certificate"}
    )
    assert r.status_code == 201
    r = await client.get(f"{r.headers['Location']}/metadata")
    assert r.status_code == 503
    assert "CA bundle holds no valid PEM certificate" in r.json()["errors"][0]["message"]
    r = await client.patch(f"{SCANNERS}/{BUILTIN_UUID}", json={"is_default": False})
    assert r.status_code == 400
    r = await client.put("/api/v2.0/projects/library/scanner", json={"uuid": "0" * 36})
    assert r.status_code == 404


async def test_a_credential_must_fit_in_a_header(client: httpx.AsyncClient) -> None:
    body = {"name": "x", "url": "http://127.0.0.1:9", "auth": "Basic", "access_credential": "é"}
    assert (await client.post(SCANNERS, json=body)).status_code == 400
    assert (await client.post(f"{SCANNERS}/ping", json=body)).status_code == 400
