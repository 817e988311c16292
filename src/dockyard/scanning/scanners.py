"""Scanner registrations: the adapters the registry may send scans to, the system's
default, each project's choice, and reaching each one.

The built-in scanner is always registered (created on first use, never deleted);
it has no URL and is reached in this process through the same adapter API.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx
from sqlalchemy import delete, select, update

from dockyard.db import Database
from dockyard.db.engine import Conn
from dockyard.db.statements import insert_ignore, upsert
from dockyard.errors import Conflict, InvalidInput, NotFound
from dockyard.scanning.client import AdapterClient, Endpoint, Metadata
from dockyard.scanning.models import ProjectScanner, Scanner

BUILTIN_UUID = "00000000-0000-4000-8000-00000000d0c4"
BUILTIN_NAME = "dockyard"
Auth = Literal["", "Basic", "Bearer", "X-ScannerAdapter-API-Key"]
AUTHS: tuple[str, ...] = ("", "Basic", "Bearer", "X-ScannerAdapter-API-Key")
PING_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class ScannerInfo:
    id: int
    uuid: str
    name: str
    description: str
    url: str
    auth: str
    skip_cert_verify: bool
    use_internal_addr: bool
    disabled: bool
    is_default: bool
    builtin: bool
    has_ca_bundle: bool
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class ScannerSpec:
    """What an admin registers; the credential is write-only."""

    name: str
    url: str
    description: str = ""
    auth: Auth = ""
    access_credential: str = ""
    skip_cert_verify: bool = False
    ca_bundle: str = ""
    use_internal_addr: bool = False
    disabled: bool = False


def check_url(url: str) -> str:
    """An adapter's base URL: http(s), a host, no credentials, query or fragment."""
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - a port out of range raises here
    except ValueError:
        raise InvalidInput("the scanner URL is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise InvalidInput("the scanner URL must be an http:// or https:// URL with a host")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise InvalidInput("the scanner URL may not carry credentials, a query or a fragment")
    return url.rstrip("/")


class ScannerService:
    def __init__(
        self,
        db: Database,
        *,
        builtin_transport: Callable[[], httpx.AsyncBaseTransport],
        timeout: float = 30.0,
    ) -> None:
        self.db = db
        self._builtin_transport = builtin_transport
        self.timeout = timeout

    async def candidates(self) -> list[ScannerInfo]:
        """The scanners a project may choose: the enabled ones."""
        return [scanner for scanner in await self.list() if not scanner.disabled]

    async def list(self) -> list[ScannerInfo]:
        async with self.db.read() as conn:
            rows = await conn.execute(select(Scanner).order_by(Scanner.id))
            return [_info(row) for row in rows]

    async def get(self, scanner_uuid: str) -> ScannerInfo:
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(Scanner).where(Scanner.uuid == scanner_uuid))
            ).one_or_none()
        if row is None:
            raise NotFound(f"scanner {scanner_uuid} not found")
        return _info(row)

    async def create(self, spec: ScannerSpec) -> ScannerInfo:
        values = _values(spec)
        new_uuid = str(uuid.uuid4())
        async with self.db.write() as conn:
            if await self._name_taken(conn, spec.name, None):
                raise Conflict(f"a scanner named {spec.name!r} exists already")
            await conn.execute(
                insert_ignore(conn, Scanner, ["uuid"]),
                {**values, "uuid": new_uuid, "is_default": False, "builtin": False},
            )
        return await self.get(new_uuid)

    async def update(self, scanner_uuid: str, spec: ScannerSpec) -> ScannerInfo:
        held = await self.get(scanner_uuid)
        if held.builtin:
            raise Conflict("the built-in scanner cannot be changed")
        values = _values(spec)
        if not spec.access_credential:
            # Write-only: an update that leaves it out keeps the stored one.
            values.pop("access_credential")
        async with self.db.write() as conn:
            if await self._name_taken(conn, spec.name, held.id):
                raise Conflict(f"a scanner named {spec.name!r} exists already")
            if held.is_default and spec.disabled:
                raise Conflict("the default scanner cannot be disabled")
            await conn.execute(update(Scanner).where(Scanner.id == held.id).values(**values))
        return await self.get(scanner_uuid)

    async def delete(self, scanner_uuid: str) -> ScannerInfo:
        held = await self.get(scanner_uuid)
        if held.builtin:
            raise Conflict("the built-in scanner cannot be deleted")
        if held.is_default:
            raise Conflict("the default scanner cannot be deleted: make another the default")
        async with self.db.write() as conn:
            await conn.execute(delete(Scanner).where(Scanner.id == held.id))
        return held

    async def set_default(self, scanner_uuid: str) -> None:
        held = await self.get(scanner_uuid)
        if held.disabled:
            raise Conflict("a disabled scanner cannot be the default")
        async with self.db.write() as conn:
            await conn.execute(update(Scanner).values(is_default=Scanner.id == held.id))

    async def get_by_id(self, scanner_id: int) -> ScannerInfo:
        async with self.db.read() as conn:
            row = (
                await conn.execute(select(Scanner).where(Scanner.id == scanner_id))
            ).one_or_none()
        if row is None:
            raise NotFound("the scanner was deleted")
        return _info(row)

    async def for_project(self, project_id: int) -> ScannerInfo | None:
        """The project's scanner: its own choice when enabled, else the system default."""
        async with self.db.read() as conn:
            return await scanner_for(conn, project_id)

    async def project_choice(self, project_id: int) -> ScannerInfo | None:
        """The scanner a project chose itself, if any."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(Scanner)
                    .join(ProjectScanner, ProjectScanner.scanner_id == Scanner.id)
                    .where(ProjectScanner.project_id == project_id)
                )
            ).one_or_none()
        return None if row is None else _info(row)

    async def set_for_project(self, project_id: int, scanner_uuid: str) -> None:
        held = await self.get(scanner_uuid)
        if held.disabled:
            raise Conflict("a disabled scanner cannot be chosen")
        async with self.db.write() as conn:
            await conn.execute(
                upsert(conn, ProjectScanner, ["project_id"], ["scanner_id"]),
                {"project_id": project_id, "scanner_id": held.id},
            )

    def _builtin_client(self) -> AdapterClient:
        """The built-in scanner's adapter API, reached through this process."""
        return AdapterClient(
            Endpoint("http://dockyard-scanner.internal"),
            timeout=self.timeout,
            transport=self._builtin_transport(),
        )

    async def ping(self, spec: ScannerSpec) -> Metadata:
        """Reach an adapter before registering it: its metadata, or AdapterError."""
        _values(spec)  # the checks registering it would make
        endpoint = Endpoint(
            spec.url, spec.auth, spec.access_credential, spec.skip_cert_verify, spec.ca_bundle
        )
        # An admin waits on this one: an adapter that takes longer is as good as down.
        async with AdapterClient(endpoint, timeout=min(self.timeout, PING_SECONDS)) as client:
            return await client.metadata()

    async def connect(self, scanner_uuid: str) -> AdapterClient:
        """A client of a registered scanner, with its stored credential and CA bundle."""
        held = await self.get(scanner_uuid)
        if held.builtin:
            return self._builtin_client()
        async with self.db.read() as conn:
            credential, ca_bundle = (
                await conn.execute(
                    select(Scanner.access_credential, Scanner.ca_bundle).where(
                        Scanner.id == held.id
                    )
                )
            ).one()
        endpoint = Endpoint(held.url, held.auth, credential, held.skip_cert_verify, ca_bundle)
        return AdapterClient(endpoint, timeout=self.timeout)

    async def metadata(self, scanner_uuid: str) -> Metadata:
        async with await self.connect(scanner_uuid) as client:
            return await client.metadata()

    @staticmethod
    async def _name_taken(conn: Any, name: str, own_id: int | None) -> bool:
        found = await conn.scalar(select(Scanner.id).where(Scanner.name == name))
        return found is not None and found != own_id


async def scanner_for(conn: Conn, project_id: int) -> ScannerInfo | None:
    """In ``conn``: the project's enabled choice, else the enabled system default."""
    chosen = (
        await conn.execute(
            select(Scanner)
            .join(ProjectScanner, ProjectScanner.scanner_id == Scanner.id)
            .where(ProjectScanner.project_id == project_id, ~Scanner.disabled)
        )
    ).one_or_none()
    if chosen is None:
        chosen = (await conn.execute(select(Scanner).where(Scanner.is_default))).one_or_none()
    return None if chosen is None or chosen.disabled else _info(chosen)


def _values(spec: ScannerSpec) -> dict[str, Any]:
    name = spec.name.strip()
    if not 1 <= len(name) <= 255:
        raise InvalidInput("a scanner's name is 1 to 255 characters")
    if not all(" " <= char <= "~" for char in spec.access_credential):
        raise InvalidInput("the access credential goes in an HTTP header: printable ASCII only")
    if spec.auth not in AUTHS:
        raise InvalidInput(f"auth must be one of: {', '.join(a or 'none' for a in AUTHS)}")
    return {
        "name": name,
        "url": check_url(spec.url),
        "description": spec.description,
        "auth": spec.auth,
        "access_credential": spec.access_credential,
        "skip_cert_verify": spec.skip_cert_verify,
        "ca_bundle": spec.ca_bundle,
        "use_internal_addr": spec.use_internal_addr,
        "disabled": spec.disabled,
    }


def _info(row: Any) -> ScannerInfo:
    scanner = row
    return ScannerInfo(
        id=scanner.id,
        uuid=scanner.uuid,
        name=scanner.name,
        description=scanner.description,
        url=scanner.url,
        auth=scanner.auth,
        skip_cert_verify=scanner.skip_cert_verify,
        use_internal_addr=scanner.use_internal_addr,
        disabled=scanner.disabled,
        is_default=scanner.is_default,
        builtin=scanner.builtin,
        has_ca_bundle=bool(scanner.ca_bundle),
        created_at=scanner.created_at,
        updated_at=scanner.updated_at,
    )
