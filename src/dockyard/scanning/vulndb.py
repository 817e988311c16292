"""The advisory database: OSV records imported from files, and the packages they affect.

An import reads osv.dev dumps (``all.zip`` per ecosystem), single records or
directories of them, and keeps of each advisory what a report shows plus its
``affected`` entries under the ecosystem key and package name they are looked up by
(scanning/osv/ecosystems.py). It is incremental: a record whose ``modified`` is not
newer than the stored one is skipped, a withdrawn one is removed. Matching reads
only the entries of the packages an image holds and evaluates their ranges here;
it needs no network.
"""

from __future__ import annotations

import dataclasses
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import delete, func, insert, select, update

from dockyard.db import Database
from dockyard.db.base import utcnow
from dockyard.db.engine import Conn
from dockyard.db.statements import upsert
from dockyard.scanning.models import VulnAdvisory, VulnAffected, VulnImport
from dockyard.scanning.osv.advisories import Advisory, Affected, parse
from dockyard.scanning.osv.ecosystems import Lookup, ecosystem_key, lookup, normalise_name
from dockyard.scanning.osv.errors import OsvError
from dockyard.scanning.osv.matching import affected_version
from dockyard.scanning.osv.records import open_sources
from dockyard.scanning.packages import Inventory, Package

# Records written per transaction while importing.
_BATCH = 500
# Names per IN (...) while matching.
_CHUNK = 500
# Details beyond this are cut: reports show a description, not an essay.
_DETAILS_MAX = 4000


@dataclass(frozen=True, slots=True)
class ImportResult:
    id: int
    records: int
    added: int
    updated: int
    unchanged: int
    withdrawn: int
    # Records of no ecosystem the scanner matches.
    skipped: int
    # Records that are not valid OSV, with the first few reasons.
    invalid: int
    errors: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DBVersion:
    """What the database holds: for the scanner's metadata and the CLI."""

    advisories: int
    # The newest ``modified`` of the advisories held, and when the last import ended.
    modified: datetime | None
    imported_at: datetime | None


@dataclass(frozen=True, slots=True)
class Finding:
    """One advisory that affects one installed package."""

    package: Package
    advisory_id: str
    aliases: tuple[str, ...]
    severity: str
    fixed_version: str | None
    summary: str
    details: str
    links: tuple[str, ...]
    cvss: dict[str, Any]
    cwe_ids: tuple[str, ...]


Progress = Callable[[int, int], None]


# How long the database's version is remembered: the scanner's metadata reports it, and
# every scan asks for the metadata; counting a large table each time would add up.
_VERSION_SECONDS = 30.0


class VulnDB:
    def __init__(self, db: Database) -> None:
        self.db = db
        self._version: tuple[float, DBVersion] | None = None

    async def import_paths(
        self, paths: Sequence[Path], progress: Progress | None = None
    ) -> ImportResult:
        """Import OSV records from zips, files and directories; ``progress(done, total)``."""
        sources = open_sources(paths)
        total = sum(source.count for source in sources)
        async with self.db.write() as conn:
            import_id: int = await conn.scalar(
                insert(VulnImport)
                .values(sources=orjson.dumps([str(p) for p in paths]).decode())
                .returning(VulnImport.id)
            )
            known = dict((await conn.execute(select(VulnAdvisory.id, VulnAdvisory.modified))).all())
        counts: dict[str, int] = defaultdict(int)
        errors: list[str] = []
        pending: list[tuple[Advisory, list[tuple[str, str, dict[str, Any]]]]] = []
        gone: list[str] = []
        done = 0
        for source in sources:
            for _name, item in source.entries():
                done += 1
                if isinstance(item, OsvError):
                    counts["invalid"] += 1
                    if len(errors) < 20:
                        errors.append(str(item))
                else:
                    self._sort(item, known, counts, errors, pending, gone)
                if len(pending) + len(gone) >= _BATCH:
                    await self._write(pending, gone, known)
                    pending, gone = [], []
                if progress is not None and (done % 200 == 0 or done == total):
                    progress(done, total)
        await self._write(pending, gone, known)
        if progress is not None:
            progress(done, max(done, total))
        async with self.db.write() as conn:
            await conn.execute(
                update(VulnImport)
                .where(VulnImport.id == import_id)
                .values(
                    finished_at=utcnow(),
                    **{
                        key: counts[key]
                        for key in (
                            "added",
                            "updated",
                            "unchanged",
                            "withdrawn",
                            "skipped",
                            "invalid",
                        )
                    },
                )
            )
        self._version = None
        return ImportResult(
            id=import_id,
            records=done,
            added=counts["added"],
            updated=counts["updated"],
            unchanged=counts["unchanged"],
            withdrawn=counts["withdrawn"],
            skipped=counts["skipped"],
            invalid=counts["invalid"],
            errors=tuple(errors),
        )

    @staticmethod
    def _sort(
        record: dict[str, Any],
        known: dict[str, datetime],
        counts: dict[str, int],
        errors: list[str],
        pending: list[tuple[Advisory, list[tuple[str, str, dict[str, Any]]]]],
        gone: list[str],
    ) -> None:
        """Decide what one record does to the database: add, update, remove or nothing."""
        try:
            advisory = parse(record)
        except OsvError as exc:
            counts["invalid"] += 1
            if len(errors) < 20:
                errors.append(str(exc))
            return
        if advisory.withdrawn is not None:
            counts["withdrawn"] += 1
            if advisory.id in known:
                gone.append(advisory.id)
            return
        entries = list(_entries(record))
        if not entries:
            counts["skipped"] += 1
            if advisory.id in known:
                gone.append(advisory.id)
            return
        stored = known.get(advisory.id)
        if stored is not None and stored >= advisory.modified:
            counts["unchanged"] += 1
            return
        counts["updated" if stored is not None else "added"] += 1
        pending.append((advisory, entries))

    async def _write(
        self,
        pending: list[tuple[Advisory, list[tuple[str, str, dict[str, Any]]]]],
        gone: list[str],
        known: dict[str, datetime],
    ) -> None:
        if not pending and not gone:
            return
        # The same id twice in one batch (a dump and a newer file): the newest wins.
        latest: dict[str, tuple[Advisory, list[tuple[str, str, dict[str, Any]]]]] = {}
        for advisory, entries in pending:
            held = latest.get(advisory.id)
            if held is None or held[0].modified < advisory.modified:
                latest[advisory.id] = (advisory, entries)
        async with self.db.write() as conn:
            ids = list(latest) + gone
            await conn.execute(delete(VulnAffected).where(VulnAffected.advisory_id.in_(ids)))
            if gone:
                await conn.execute(delete(VulnAdvisory).where(VulnAdvisory.id.in_(gone)))
            if latest:
                await conn.execute(
                    upsert(conn, VulnAdvisory, ["id"], ["modified", "severity", "data"]),
                    [
                        {
                            "id": advisory.id,
                            "modified": advisory.modified,
                            "severity": advisory.severity.value,
                            "data": orjson.dumps(_data(advisory)).decode(),
                        }
                        for advisory, _ in latest.values()
                    ],
                )
                await conn.execute(
                    insert(VulnAffected),
                    [
                        {
                            "advisory_id": advisory.id,
                            "ecosystem": key,
                            "name": name,
                            "entry": orjson.dumps(entry).decode(),
                        }
                        for advisory, entries in latest.values()
                        for key, name, entry in entries
                    ],
                )
        for advisory, _ in latest.values():
            known[advisory.id] = advisory.modified
        for advisory_id in gone:
            known.pop(advisory_id, None)

    async def version(self) -> DBVersion:
        """What the database holds, as of at most half a minute ago (an import in this
        process shows at once)."""
        now = time.monotonic()
        if self._version is not None and now - self._version[0] < _VERSION_SECONDS:
            return self._version[1]
        async with self.db.read() as conn:
            count, modified = (
                await conn.execute(
                    select(func.count(), func.max(VulnAdvisory.modified)).select_from(VulnAdvisory)
                )
            ).one()
            imported_at = await conn.scalar(select(func.max(VulnImport.finished_at)))
        version = DBVersion(count, modified, imported_at)
        self._version = (now, version)
        return version

    async def match(self, inventory: Inventory) -> list[Finding]:
        """The advisories that affect the inventory's packages, one finding per package
        and vulnerability (CVE when the advisory names one)."""
        wanted: list[tuple[Package, Lookup]] = []
        for package in inventory.packages:
            found = lookup(package, inventory.distro)
            if found is not None:
                wanted.append((package, found))
        names: dict[str, set[str]] = defaultdict(set)
        for _, found in wanted:
            names[found.key].add(found.name)
        entries: dict[tuple[str, str], list[tuple[str, str]]] = defaultdict(list)
        async with self.db.read() as conn:
            for key, key_names in names.items():
                ordered = sorted(key_names)
                for start in range(0, len(ordered), _CHUNK):
                    rows = await conn.execute(
                        select(
                            VulnAffected.advisory_id, VulnAffected.name, VulnAffected.entry
                        ).where(
                            VulnAffected.ecosystem == key,
                            VulnAffected.name.in_(ordered[start : start + _CHUNK]),
                        )
                    )
                    for advisory_id, name, entry in rows:
                        entries[key, name].append((advisory_id, entry))
            hits: list[tuple[Package, str, str | None, str | None]] = []
            parsed: dict[tuple[str, str], Affected | None] = {}
            for package, found in wanted:
                for advisory_id, entry in entries.get((found.key, found.name), ()):
                    affected = parsed.get((advisory_id, entry), _UNSET)
                    if affected is _UNSET:
                        affected = _affected(advisory_id, entry)
                        parsed[advisory_id, entry] = affected
                    if affected is None:
                        continue
                    match = affected_version(affected, found.key, found.version)
                    if match is not None:
                        override = affected.severity.value if affected.severity else None
                        hits.append((package, advisory_id, match.fixed, override))
            advisories = await _advisories(conn, {advisory_id for _, advisory_id, _, _ in hits})
        return _findings(hits, advisories)


_UNSET: Any = object()


def _entries(record: dict[str, Any]) -> Iterable[tuple[str, str, dict[str, Any]]]:
    """The record's ``affected`` entries of ecosystems we match, with their lookup key."""
    for entry in record.get("affected") or ():
        package = entry.get("package") if isinstance(entry, dict) else None
        if not isinstance(package, dict):
            continue
        ecosystem, name = package.get("ecosystem"), package.get("name")
        if not isinstance(ecosystem, str) or not isinstance(name, str):
            continue
        key = ecosystem_key(ecosystem)
        if key is not None:
            yield key, normalise_name(key, name), entry


def _affected(advisory_id: str, entry: str) -> Affected | None:
    """One stored ``affected`` entry, parsed as the OSV parser parses a record's."""
    record = {
        "id": advisory_id,
        "modified": "1970-01-01T00:00:00Z",
        "affected": [orjson.loads(entry)],
    }
    try:
        return parse(record).affected[0]
    except (OsvError, IndexError):
        return None


def _data(advisory: Advisory) -> dict[str, Any]:
    return {
        "summary": advisory.summary,
        "details": advisory.details[:_DETAILS_MAX],
        # Distribution advisories (DSA, DLA) name the CVEs they fix in ``upstream``.
        "aliases": list(dict.fromkeys([*advisory.aliases, *advisory.upstream])),
        "links": list(advisory.links),
        "cvss": dataclasses.asdict(advisory.cvss) if advisory.cvss is not None else {},
        "cwe_ids": list(advisory.cwe_ids),
    }


async def _advisories(conn: Conn, ids: set[str]) -> dict[str, tuple[str, dict[str, Any]]]:
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    ordered = sorted(ids)
    for start in range(0, len(ordered), _CHUNK):
        rows = await conn.execute(
            select(VulnAdvisory.id, VulnAdvisory.severity, VulnAdvisory.data).where(
                VulnAdvisory.id.in_(ordered[start : start + _CHUNK])
            )
        )
        for advisory_id, severity, data in rows:
            found[advisory_id] = (severity, orjson.loads(data))
    return found


def _findings(
    hits: list[tuple[Package, str, str | None, str | None]],
    advisories: dict[str, tuple[str, dict[str, Any]]],
) -> list[Finding]:
    """One finding per (package, vulnerability id): an advisory is reported under each CVE
    it names, and the same CVE from several databases (GHSA, PYSEC) is reported once."""
    findings: dict[tuple[str, str, str, str], Finding] = {}
    for package, advisory_id, fixed, override in hits:
        held = advisories.get(advisory_id)
        if held is None:
            continue
        severity, data = held
        aliases = tuple(data.get("aliases", ()))
        cves = [advisory_id] if advisory_id.startswith("CVE-") else []
        cves += [alias for alias in aliases if alias.startswith("CVE-") and alias not in cves]
        for vulnerability in cves or [advisory_id]:
            key = (package.path, package.name, package.version, vulnerability)
            finding = Finding(
                package=package,
                advisory_id=vulnerability,
                aliases=tuple(sorted({advisory_id, *aliases} - {vulnerability})),
                severity=override or severity,
                fixed_version=fixed,
                summary=data.get("summary", ""),
                details=data.get("details", ""),
                links=tuple(data.get("links", ())),
                cvss=data.get("cvss", {}),
                cwe_ids=tuple(data.get("cwe_ids", ())),
            )
            held_finding = findings.get(key)
            if held_finding is None or _better(finding, held_finding):
                findings[key] = finding
    return sorted(
        findings.values(),
        key=lambda f: (f.package.name, f.package.version, f.advisory_id),
    )


def _better(new: Finding, old: Finding) -> bool:
    """Of two advisories for the same vulnerability, the one that says more wins."""
    return (new.severity != "Unknown", bool(new.cvss), bool(new.fixed_version)) > (
        old.severity != "Unknown",
        bool(old.cvss),
        bool(old.fixed_version),
    )
