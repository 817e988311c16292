"""Upload sessions shared by replicas: two app instances on one database and one store,
as two `dockyard serve` processes behind a load balancer would be.

A session is written by one request at a time, whichever replica serves it: a
second request for a session in use is refused with 416 and the size that
counts, and a request that stalls past its lease loses the session to the
next one and can no longer write to it.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from datetime import datetime, timedelta

import httpx
import pytest
from sqlalchemy import update
from starlette.applications import Starlette

from dockyard.app import create_app
from dockyard.blobs.models import UploadSession
from dockyard.db.base import utcnow
from dockyard.registry import Registry
from dockyard.settings import Settings
from tests.oci.helpers import digest_of, error_codes, start_upload
from tests.servers import ADMIN_PASSWORD

MiB = 1024 * 1024


@pytest.fixture
async def replica(settings: Settings, registry_app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    """A second app on the first one's database and storage (after the first set them up)."""
    app = create_app(settings)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://registry.test",
        auth=("admin", ADMIN_PASSWORD),
    ) as c:
        yield c
    registry: Registry = app.state.registry
    await registry.close()


class Gate:
    """A request body that sends its first part, then waits to be let go."""

    def __init__(self, first: bytes, rest: bytes) -> None:
        self.first, self.rest = first, rest
        self.sent_first = asyncio.Event()
        self.go = asyncio.Event()

    async def body(self) -> AsyncIterator[bytes]:
        yield self.first
        self.sent_first.set()
        await self.go.wait()
        yield self.rest


async def test_a_session_in_use_is_refused_on_another_replica(
    client: httpx.AsyncClient, replica: httpx.AsyncClient
) -> None:
    location = await start_upload(client, "lib/shared")
    first = os.urandom(MiB)
    r = await client.patch(location, content=first)
    assert r.status_code == 202
    gate = Gate(os.urandom(5 * MiB), os.urandom(MiB))
    slow = asyncio.create_task(client.patch(location, content=gate.body()))
    await asyncio.wait_for(gate.sent_first.wait(), 10)

    r = await replica.patch(
        location, content=b"intruder", headers={"Content-Range": f"{len(first)}-{len(first) + 7}"}
    )
    assert r.status_code == 416
    assert r.headers["Range"] == f"0-{len(first) - 1}"
    r = await replica.put(location, params={"digest": digest_of(b"x")})
    assert r.status_code == 416

    gate.go.set()
    r = await slow
    assert r.status_code == 202, r.text
    data = first + gate.first + gate.rest
    assert r.headers["Range"] == f"0-{len(data) - 1}"
    # The other replica finishes what the first one wrote.
    r = await replica.put(location, params={"digest": digest_of(data)})
    assert r.status_code == 201, r.text
    r = await client.get(f"/v2/lib/shared/blobs/{digest_of(data)}")
    assert r.content == data


async def test_a_stalled_writer_loses_the_session_and_cannot_corrupt_it(
    settings: Settings, client: httpx.AsyncClient, registry: Registry
) -> None:
    registry.uploads.lease_seconds = 1.0
    replica_settings = settings.model_copy(deep=True)
    replica_settings.limits.upload_lease_seconds = 1.0
    app = create_app(replica_settings)
    replica = httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app),
        base_url="http://registry.test",
        auth=("admin", ADMIN_PASSWORD),
    )
    try:
        location = await start_upload(client, "lib/stalled")
        # The stalled request sends a whole piece (4 MiB goes to the store at once),
        # then nothing for longer than its lease.
        gate = Gate(os.urandom(4 * MiB), os.urandom(4 * MiB))
        stalled = asyncio.create_task(client.patch(location, content=gate.body()))
        await asyncio.wait_for(gate.sent_first.wait(), 10)
        await asyncio.sleep(1.5)

        mine = os.urandom(3 * MiB)
        r = await replica.put(location, params={"digest": digest_of(mine)}, content=mine)
        assert r.status_code == 201, r.text

        gate.go.set()
        r = await stalled
        assert r.status_code in (404, 416), r.text
        assert error_codes(r)[0] in ("BLOB_UPLOAD_UNKNOWN", "BLOB_UPLOAD_INVALID", "RANGE_INVALID")
        r = await client.get(f"/v2/lib/stalled/blobs/{digest_of(mine)}")
        assert r.status_code == 200
        assert r.content == mine
    finally:
        await replica.aclose()
        await app.state.registry.close()


async def test_a_lease_left_by_a_dead_replica_expires(
    client: httpx.AsyncClient, registry: Registry
) -> None:
    """A replica killed while writing leaves its lease; the session is usable again after
    it ends, with the size committed before the crash."""
    location = await start_upload(client, "lib/orphan")
    r = await client.patch(location, content=b"kept")
    upload_id = location.rsplit("/", 1)[1]

    async def leave_lease(until: datetime) -> None:
        async with registry.db.write() as conn:
            await conn.execute(
                update(UploadSession)
                .where(UploadSession.id == upload_id)
                .values(writer="dead" * 8, lease_until=until)
            )

    await leave_lease(utcnow() + timedelta(seconds=60))
    r = await client.put(location, params={"digest": digest_of(b"kept+more")}, content=b"+more")
    assert r.status_code == 416
    await leave_lease(utcnow() - timedelta(seconds=1))
    r = await client.put(location, params={"digest": digest_of(b"kept+more")}, content=b"+more")
    assert r.status_code == 201, r.text
