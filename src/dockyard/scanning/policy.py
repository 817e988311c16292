"""Harbor's "prevent vulnerable images from running", and the CVE allowlists it honours.

A project with ``prevent_vul`` on refuses the pull (manifest GET) of an image or
index whose latest vulnerability report has a finding at or above the project's
``severity``, not counting CVEs the project accepts: those on its own allowlist,
or on the system's when ``reuse_sys_cve_allowlist`` is on, while the list has not
expired. An image not scanned yet is refused too, as on Harbor. System admins and
the token a scanner pulls with are never refused.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import insert, select, update

from dockyard.artifacts.services import StoredManifest
from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.db.statements import upsert
from dockyard.errors import Denied, InvalidInput
from dockyard.scanning.models import CveAllowlist, ScanReport
from dockyard.scanning.reports import VULNERABILITY_REPORT, rank, summarize, worst_item
from dockyard.scanning.scans import children

# Harbor's project severity words, and the scale's names.
THRESHOLDS = {
    "none": "Negligible",
    "low": "Low",
    "medium": "Medium",
    "high": "High",
    "critical": "Critical",
}
# A vulnerability id: CVE-2024-1234, GHSA-xxxx-xxxx-xxxx, DSA-5532-1, PYSEC-2023-74 ...
CVE_PATTERN = r"^[A-Za-z][A-Za-z0-9]*-[A-Za-z0-9][A-Za-z0-9.:_-]{0,126}$"
_CVE = re.compile(CVE_PATTERN)
MAX_ITEMS = 10000


@dataclass(frozen=True, slots=True)
class Allowlist:
    project_id: int | None
    items: tuple[str, ...]
    expires_at: datetime | None
    updated_at: datetime | None = None

    def active(self, now: datetime) -> frozenset[str]:
        """The CVEs it accepts now: none once it has expired."""
        if self.expires_at is not None and self.expires_at <= now:
            return frozenset()
        return frozenset(self.items)


def check_items(items: Sequence[str]) -> tuple[str, ...]:
    if len(items) > MAX_ITEMS:
        raise InvalidInput(f"an allowlist holds at most {MAX_ITEMS} entries")
    cleaned = []
    for item in items:
        item = item.strip()
        if not _CVE.match(item):
            raise InvalidInput(f"{item[:140]!r} is not a vulnerability id (e.g. CVE-2024-1234)")
        cleaned.append(item)
    return tuple(dict.fromkeys(cleaned))


class AllowlistService:
    def __init__(self, db: Database) -> None:
        self.db = db

    async def get(self, project_id: int | None) -> Allowlist:
        """The project's allowlist (None: the system's); empty when never set."""
        async with self.db.read() as conn:
            row = (
                await conn.execute(
                    select(CveAllowlist.items, CveAllowlist.expires_at, CveAllowlist.updated_at)
                    .where(
                        CveAllowlist.project_id.is_(None)
                        if project_id is None
                        else CveAllowlist.project_id == project_id
                    )
                    .order_by(CveAllowlist.id)
                    .limit(1)
                )
            ).one_or_none()
        if row is None:
            return Allowlist(project_id, (), None)
        return Allowlist(project_id, tuple(orjson.loads(row.items)), row.expires_at, row.updated_at)

    async def set(
        self, project_id: int | None, items: Sequence[str], expires_at: datetime | None
    ) -> Allowlist:
        cleaned = check_items(items)
        values = {"items": orjson.dumps(list(cleaned)).decode(), "expires_at": expires_at}
        async with self.db.write() as conn:
            if project_id is None:
                # NULL never conflicts with NULL: the system's row is found by hand.
                held = await conn.scalar(
                    select(CveAllowlist.id).where(CveAllowlist.project_id.is_(None)).limit(1)
                )
                if held is None:
                    await conn.execute(
                        insert(CveAllowlist),
                        {"project_id": None, **values, "updated_at": utcnow()},
                    )
                else:
                    await conn.execute(
                        update(CveAllowlist)
                        .where(CveAllowlist.id == held)
                        .values(**values, updated_at=utcnow())
                    )
            else:
                await conn.execute(
                    upsert(
                        conn, CveAllowlist, ["project_id"], ["items", "expires_at", "updated_at"]
                    ),
                    {"project_id": project_id, **values, "updated_at": utcnow()},
                )
        return await self.get(project_id)

    async def effective(self, project_id: int, metadata: dict[str, str]) -> frozenset[str]:
        """The CVEs a project accepts now."""
        now = utcnow()
        accepted = (await self.get(project_id)).active(now)
        if metadata.get("reuse_sys_cve_allowlist") == "true":
            accepted |= (await self.get(None)).active(now)
        return accepted


class PullPolicy:
    def __init__(self, db: Database, allowlists: AllowlistService) -> None:
        self.db = db
        self.allowlists = allowlists

    async def check(self, name: str, stored: StoredManifest, *, exempt: bool) -> None:
        """Denied when the project's policy refuses this pull of ``stored``."""
        # Cheap first: most projects never turn the policy on.
        if exempt or '"prevent_vul"' not in stored.project_metadata:
            return
        metadata: dict[str, str] = orjson.loads(stored.project_metadata)
        if metadata.get("prevent_vul") != "true" or stored.kind not in ("image", "index"):
            return
        threshold = THRESHOLDS.get(metadata.get("severity", "low"), "Low")
        policy = (
            f"the project's policy prevents pulls of images with vulnerabilities of severity "
            f"{threshold} or higher"
        )
        reports = await self._reports(stored)
        if reports is None:
            raise Denied(
                f"{name}@{stored.digest} cannot be pulled: it has not been scanned yet, "
                f"and {policy}"
            )
        allowed = await self.allowlists.effective(stored.project_id, metadata)
        worst = None
        for report in reports:
            summary = summarize(report, allowed)
            if summary.total and rank(summary.severity) >= rank(threshold):
                item = worst_item(report, allowed)
                if worst is None or (
                    item is not None
                    and rank(str(item.get("severity"))) > rank(str(worst.get("severity")))
                ):
                    worst = item
        if worst is not None:
            raise Denied(
                f"{name}@{stored.digest} cannot be pulled: {policy} and it has "
                f"{worst.get('id')} ({worst.get('severity')}) in {worst.get('package')} "
                f"{worst.get('version')}; ask a project admin to fix it or allow the CVE"
            )

    async def _reports(self, stored: StoredManifest) -> list[dict[str, object]] | None:
        """The latest vulnerability reports of the image (of each child image of an
        index); None when one of them has none yet."""
        async with self.db.read() as conn:
            ids = [stored.id]
            if stored.kind == "index":
                ids = await children(conn, stored.id) or [stored.id]
            rows = (
                await conn.execute(
                    select(ScanReport.manifest_id, ScanReport.report).where(
                        ScanReport.manifest_id.in_(ids),
                        ScanReport.mime_type == VULNERABILITY_REPORT,
                        # The last report that came back, also while a new scan runs.
                        ScanReport.report != "",
                    )
                )
            ).all()
        if {row.manifest_id for row in rows} != set(ids):
            return None
        return [orjson.loads(row.report) for row in rows]
