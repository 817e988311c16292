"""An OSV record (https://ossf.github.io/osv-schema/) read into frozen dataclasses.

Only what the scanner uses is kept. `id` and `modified` are required; every other field may be
missing, but a field that is present with the wrong type is an error, so a malformed record is
refused whole rather than half-read.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, cast

from dockyard.scanning.osv.errors import OsvError
from dockyard.scanning.osv.severity import Cvss, Severity, choose, read_cvss

RangeType = Literal["SEMVER", "ECOSYSTEM", "GIT"]
EventKind = Literal["introduced", "fixed", "last_affected", "limit"]

_RANGE_TYPES: tuple[RangeType, ...] = ("SEMVER", "ECOSYSTEM", "GIT")
_EVENT_KINDS: tuple[EventKind, ...] = ("introduced", "fixed", "last_affected", "limit")
# Where distributions put a per-package rating: Ubuntu's priority, Debian's urgency, OSS-Fuzz's
# and GitHub's severity word.
_AFFECTED_WORD_KEYS = ("ubuntu_priority", "priority", "urgency", "severity")
CANONICAL_PAGE = "https://osv.dev/vulnerability/{id}"


@dataclass(frozen=True, slots=True)
class Event:
    """One point of a range's timeline: the version where the package became affected, etc."""

    kind: EventKind
    version: str


@dataclass(frozen=True, slots=True)
class Range:
    """Events in one ordering: SEMVER, the ecosystem's own (ECOSYSTEM), or commits (GIT)."""

    type: RangeType
    events: tuple[Event, ...]
    repo: str = ""


@dataclass(frozen=True, slots=True)
class Affected:
    """One affected package of a record: its ranges and its enumerated versions."""

    # As in the record ("Debian:12", "Ubuntu:Pro:22.04:LTS"); empty for GIT-only entries.
    ecosystem: str
    name: str
    purl: str
    ranges: tuple[Range, ...]
    versions: tuple[str, ...]
    # The entry's own rating when it has one; None means the advisory's applies.
    severity: Severity | None = None


@dataclass(frozen=True, slots=True)
class Advisory:
    """A vulnerability record as the scanner uses it."""

    id: str
    modified: datetime
    published: datetime | None
    withdrawn: datetime | None
    aliases: tuple[str, ...]
    related: tuple[str, ...]
    # Distributions list the CVEs an advisory bundles here rather than in aliases.
    upstream: tuple[str, ...]
    summary: str
    details: str
    severity: Severity
    cvss: Cvss | None
    cwe_ids: tuple[str, ...]
    # The osv.dev page first, then the record's references.
    links: tuple[str, ...]
    affected: tuple[Affected, ...]


def parse(record: Mapping[str, Any]) -> Advisory:
    """The advisory a raw OSV record describes; OsvError names what is missing or mistyped."""
    advisory_id = record.get("id")
    if not isinstance(advisory_id, str) or not advisory_id.strip():
        raise OsvError(f"an OSV record needs an 'id' string, got {advisory_id!r}")
    advisory_id = advisory_id.strip()
    fields = _Fields(record, advisory_id)
    modified = fields.date("modified")
    if modified is None:
        raise OsvError(f"{advisory_id}: an OSV record needs a 'modified' date")
    affected = tuple(
        _affected(item, f"{advisory_id}: affected[{index}]")
        for index, item in enumerate(fields.objects("affected"))
    )
    database = fields.mapping("database_specific")
    entries = _severity_entries(fields.objects("severity"), advisory_id)
    cvss = read_cvss(entries)
    severity = choose(cvss, [*_words(database, ("severity",)), *_priorities(entries)])
    if severity is Severity.UNKNOWN:
        # Debian and Ubuntu rate each package rather than the record; the record reads as
        # its most severe package so a list of advisories still sorts sensibly.
        severity = max(
            (a.severity for a in affected if a.severity is not None), default=Severity.UNKNOWN
        )
    return Advisory(
        id=advisory_id,
        modified=modified,
        published=fields.date("published"),
        withdrawn=fields.date("withdrawn"),
        aliases=fields.strings("aliases"),
        related=fields.strings("related"),
        upstream=fields.strings("upstream"),
        summary=fields.string("summary"),
        details=fields.string("details"),
        severity=severity,
        cvss=cvss,
        cwe_ids=_Fields(database, f"{advisory_id}: database_specific").strings("cwe_ids"),
        links=_links(advisory_id, fields.objects("references")),
        affected=affected,
    )


def effective_severity(advisory: Advisory, affected: Affected) -> Severity:
    """The severity a match against this affected entry carries: its own, else the advisory's."""
    return affected.severity if affected.severity is not None else advisory.severity


def parse_date(text: str) -> datetime:
    """An RFC 3339 time stamp, with or without fractional seconds; naive ones are taken as UTC."""
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError as exc:
        raise OsvError(f"not an RFC 3339 time stamp: {text!r}") from exc
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


class _Fields:
    """Typed access to one JSON object's fields, with errors that say where they are."""

    def __init__(self, data: Mapping[str, Any], where: str) -> None:
        self.data = data
        self.where = where

    def _wrong(self, key: str, expected: str) -> OsvError:
        found = type(self.data[key]).__name__
        return OsvError(f"{self.where}: '{key}' must be {expected}, not {found}")

    def string(self, key: str) -> str:
        value = self.data.get(key)
        if value is None:
            return ""
        if not isinstance(value, str):
            raise self._wrong(key, "a string")
        return value

    def strings(self, key: str) -> tuple[str, ...]:
        value = self.data.get(key)
        if value is None:
            return ()
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self._wrong(key, "a list of strings")
        return tuple(value)

    def mapping(self, key: str) -> Mapping[str, Any]:
        value = self.data.get(key)
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self._wrong(key, "an object")
        return cast(Mapping[str, Any], value)

    def objects(self, key: str) -> list[Mapping[str, Any]]:
        value = self.data.get(key)
        if value is None:
            return []
        if not isinstance(value, list) or not all(isinstance(item, dict) for item in value):
            raise self._wrong(key, "a list of objects")
        return cast(list[Mapping[str, Any]], value)

    def date(self, key: str) -> datetime | None:
        value = self.data.get(key)
        if value is None:
            return None
        if not isinstance(value, str):
            raise self._wrong(key, "an RFC 3339 string")
        try:
            return parse_date(value)
        except OsvError as exc:
            raise OsvError(f"{self.where}: '{key}' is {exc}") from exc


def _affected(item: Mapping[str, Any], where: str) -> Affected:
    fields = _Fields(item, where)
    package = _Fields(fields.mapping("package"), f"{where}.package")
    ranges = tuple(
        _range(entry, f"{where}.ranges[{index}]")
        for index, entry in enumerate(fields.objects("ranges"))
    )
    entries = _severity_entries(fields.objects("severity"), where)
    words = [
        *_priorities(entries),
        *_words(fields.mapping("ecosystem_specific"), _AFFECTED_WORD_KEYS),
        *_words(fields.mapping("database_specific"), _AFFECTED_WORD_KEYS),
    ]
    severity = choose(read_cvss(entries), words)
    return Affected(
        ecosystem=package.string("ecosystem"),
        name=package.string("name"),
        purl=package.string("purl"),
        ranges=ranges,
        versions=fields.strings("versions"),
        severity=None if severity is Severity.UNKNOWN else severity,
    )


def _range(item: Mapping[str, Any], where: str) -> Range:
    fields = _Fields(item, where)
    range_type = item.get("type")
    if range_type not in _RANGE_TYPES:
        raise OsvError(
            f"{where}: 'type' must be one of {', '.join(_RANGE_TYPES)}, not {range_type!r}"
        )
    events = tuple(
        _event(entry, f"{where}.events[{index}]")
        for index, entry in enumerate(fields.objects("events"))
    )
    return Range(cast(RangeType, range_type), events, fields.string("repo"))


def _event(item: Mapping[str, Any], where: str) -> Event:
    kinds = [kind for kind in _EVENT_KINDS if kind in item]
    if len(kinds) != 1:
        raise OsvError(f"{where}: an event holds exactly one of {', '.join(_EVENT_KINDS)}")
    version = item[kinds[0]]
    if not isinstance(version, str) or not version:
        raise OsvError(f"{where}: '{kinds[0]}' must be a version string, not {version!r}")
    return Event(kinds[0], version)


def _severity_entries(items: list[Mapping[str, Any]], where: str) -> list[tuple[str, str]]:
    """(type, score) of each severity entry; "Ubuntu" entries carry a priority word."""
    entries = []
    for index, item in enumerate(items):
        fields = _Fields(item, f"{where}: severity[{index}]")
        entries.append((fields.string("type"), fields.string("score")))
    return entries


def _priorities(entries: list[tuple[str, str]]) -> list[str]:
    """The priority words of "Ubuntu" severity entries (the only non-CVSS type OSV defines)."""
    return [score for kind, score in entries if kind == "Ubuntu"]


def _words(data: Mapping[str, Any], keys: tuple[str, ...]) -> list[str]:
    """The severity words a database-defined object holds under the given keys."""
    return [data[key] for key in keys if isinstance(data.get(key), str)]


def _links(advisory_id: str, references: list[Mapping[str, Any]]) -> tuple[str, ...]:
    links = [CANONICAL_PAGE.format(id=advisory_id)]
    for index, reference in enumerate(references):
        url = _Fields(reference, f"{advisory_id}: references[{index}]").string("url")
        if url and url not in links:
            links.append(url)
    return tuple(links)
