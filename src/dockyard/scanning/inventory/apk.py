"""Alpine (and Wolfi) packages from apk's database, lib/apk/db/installed."""

from __future__ import annotations

from dockyard.scanning.inventory.stanzas import stanzas
from dockyard.scanning.packages import Package

INSTALLED = ("lib/apk/db/installed", "usr/lib/apk/db/installed")
# P: name, V: version, A: architecture, o: origin (the source package), L: license.
_FIELDS = frozenset("PVAoL")


def packages(content: bytes, path: str) -> list[Package]:
    """The packages an apk installed database lists."""
    found = []
    for fields in stanzas(content.decode("utf-8", errors="replace"), _FIELDS):
        name, version = fields.get("P", ""), fields.get("V", "")
        if not name or not version:
            continue
        license_ = fields.get("L", "")
        found.append(
            Package(
                type="apk",
                name=name,
                version=version,
                path=path,
                source_name=fields.get("o") or name,
                source_version=version,
                architecture=fields.get("A", ""),
                licenses=(license_,) if license_ else (),
            )
        )
    return found
