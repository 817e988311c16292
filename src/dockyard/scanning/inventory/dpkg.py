"""Debian and Ubuntu packages from dpkg's database: var/lib/dpkg/status and distroless status.d/."""

from __future__ import annotations

from dockyard.scanning.inventory.stanzas import stanzas
from dockyard.scanning.packages import Package

STATUS = "var/lib/dpkg/status"
STATUS_D = "var/lib/dpkg/status.d"
# The Status field is "want flag state": a package is on disk when its state is "installed"
# with no error flag, whatever is wanted of it ("install", or "hold" for a held package).
_INSTALLED = ("ok", "installed")
_FIELDS = frozenset({"Package", "Status", "Version", "Architecture", "Source"})


def packages(content: bytes, path: str) -> list[Package]:
    """The installed packages a dpkg status file (or one distroless status.d file) lists."""
    # Distroless writes one control paragraph per package and no Status: all of them are installed.
    status_required = not path.startswith(STATUS_D + "/")
    found = []
    for fields in stanzas(content.decode("utf-8", errors="replace"), _FIELDS):
        name, version = fields.get("Package", ""), fields.get("Version", "")
        if not name or not version:
            continue
        if not _installed(fields.get("Status"), required=status_required):
            continue
        source_name, source_version = _source(fields.get("Source", ""), name, version)
        found.append(
            Package(
                type="deb",
                name=name,
                version=version,
                path=path,
                source_name=source_name,
                source_version=source_version,
                architecture=fields.get("Architecture", ""),
            )
        )
    return found


def _installed(status: str | None, *, required: bool) -> bool:
    if status is None:
        return not required
    return tuple(status.split()[1:]) == _INSTALLED


def _source(field: str, name: str, version: str) -> tuple[str, str]:
    """The source package a binary was built from: "Source: gcc-12 (12.2.0-14)" or just a name."""
    source_name, _, rest = field.partition(" ")
    source_version = rest.strip().removeprefix("(").removesuffix(")").strip()
    return source_name or name, source_version or version
