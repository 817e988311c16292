"""Whether a version is affected, by the OSV schema's evaluation algorithm.

https://ossf.github.io/osv-schema/#evaluation: a version is affected when it is listed in
`versions`, or lies in any range. Within a range, events are sorted by version ("0" sorting
before every version, a limit containing "*" after every one) and walked in order: an
`introduced` at or below the version opens, a `fixed` at or below it closes, a
`last_affected` strictly below it closes; a range with `limit` events only counts for
versions below one of them. GIT ranges need the repository's history and are skipped.

A version, or an event, that the ecosystem's univers class cannot read leaves its range
unevaluated: that range neither matches nor raises, and the `versions` list still applies.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from enum import Enum

from univers.versions import Version

from dockyard.scanning.osv.advisories import Advisory, Affected, Range
from dockyard.scanning.osv.ecosystems import Lookup, ecosystem_key, normalise_name
from dockyard.scanning.osv.versions import compare, parse, version_class


@dataclass(frozen=True, slots=True)
class Match:
    """An affected entry a version falls in, and the version that fixes it."""

    affected: Affected
    # The first `fixed` event above the `introduced` that opened the matching span; None
    # when the span is unfixed, ends in `last_affected`, or the match came from `versions`.
    fixed: str | None
    # That `introduced` event's version; None for a match from the `versions` list.
    introduced: str | None


class _Edge(Enum):
    """The two event versions that are not versions: introduced "0" and limit "*"."""

    MIN = -1
    MAX = 1


_Bound = Version | _Edge


def affected_version(affected: Affected, key: str, version: str) -> Match | None:
    """Whether the version of the package under `key` is affected by this entry, and how."""
    for range_ in affected.ranges:
        cls = version_class(key, range_.type)
        target = parse(cls, version) if cls is not None else None
        if cls is None or target is None:
            continue
        span = _span(range_, cls, target)
        if span is not None:
            return Match(affected, fixed=span[1], introduced=span[0])
    if _listed(affected.versions, key, version):
        return Match(affected, fixed=None, introduced=None)
    return None


def match_advisory(advisory: Advisory, query: Lookup) -> Match | None:
    """The first entry of the advisory that affects the looked-up package; never a withdrawn one."""
    if advisory.withdrawn is not None:
        return None
    for affected in advisory.affected:
        key = ecosystem_key(affected.ecosystem)
        if key is None or key != query.key or normalise_name(key, affected.name) != query.name:
            continue
        match = affected_version(affected, key, query.version)
        if match is not None:
            return match
    return None


def _span(range_: Range, cls: type[Version], target: Version) -> tuple[str, str | None] | None:
    """(introduced, fixed) of the span holding the target, or None when it lies in none."""
    bounds: list[tuple[str, str, _Bound]] = []
    for event in range_.events:
        bound: _Bound | None
        if event.kind == "introduced" and event.version == "0":
            bound = _Edge.MIN
        elif event.kind == "limit" and "*" in event.version:
            bound = _Edge.MAX
        else:
            bound = parse(cls, event.version)
        if bound is None:
            return None
        bounds.append((event.kind, event.version, bound))
    limits = [bound for kind, _, bound in bounds if kind == "limit"]
    if limits and not any(_compare(target, limit) < 0 for limit in limits):
        return None
    # A stable sort: events at the same version keep the record's order, as the spec's does.
    ordered = sorted(bounds, key=functools.cmp_to_key(_by_bound))
    opened: int | None = None
    for index, (kind, _, bound) in enumerate(ordered):
        position = _compare(target, bound)
        if kind == "introduced" and position >= 0:
            opened = index
        elif (kind == "fixed" and position >= 0) or (kind == "last_affected" and position > 0):
            opened = None
    if opened is None:
        return None
    fixed = None
    for kind, version, _ in ordered[opened + 1 :]:
        if kind in ("fixed", "last_affected"):
            fixed = version if kind == "fixed" else None
            break
    return ordered[opened][1], fixed


def _by_bound(left: tuple[str, str, _Bound], right: tuple[str, str, _Bound]) -> int:
    return _compare(left[2], right[2])


def _compare(left: _Bound, right: _Bound) -> int:
    if isinstance(left, _Edge) or isinstance(right, _Edge):
        return _edge_rank(left) - _edge_rank(right)
    return compare(left, right)


def _edge_rank(bound: _Bound) -> int:
    return bound.value if isinstance(bound, _Edge) else 0


def _listed(versions: tuple[str, ...], key: str, version: str) -> bool:
    """Whether the version is in the list, as written or as the ecosystem reads it."""
    if not versions:
        return False
    # Go module versions carry a "v" that OSV's lists leave out.
    candidates = {version, version.removeprefix("v")} if key == "Go" else {version}
    if any(listed in candidates for listed in versions):
        return True
    cls = version_class(key, "ECOSYSTEM")
    target = parse(cls, version) if cls is not None else None
    if cls is None or target is None:
        return False
    for listed in versions:
        parsed = parse(cls, listed)
        if parsed is not None and compare(parsed, target) == 0:
            return True
    return False
