"""Red Hat, Fedora, SUSE... packages from an rpm database in SQLite (rpm 4.16 and later)."""

from __future__ import annotations

import logging
import sqlite3

from dockyard.scanning.inventory import rpm_header
from dockyard.scanning.inventory.errors import PackageFileError
from dockyard.scanning.packages import Package

DATABASES = ("var/lib/rpm/rpmdb.sqlite", "usr/lib/sysimage/rpm/rpmdb.sqlite")
_SQLITE_MAGIC = b"SQLite format 3\0"
_WANTED = frozenset(
    {
        rpm_header.NAME,
        rpm_header.VERSION,
        rpm_header.RELEASE,
        rpm_header.EPOCH,
        rpm_header.LICENSE,
        rpm_header.ARCH,
        rpm_header.SOURCERPM,
    }
)
# rpm records imported signing keys as packages; they are not software.
_PSEUDO_PACKAGES = frozenset({"gpg-pubkey"})

logger = logging.getLogger(__name__)


def packages(content: bytes, path: str) -> list[Package]:
    """The packages an rpmdb.sqlite lists, gpg-pubkey entries left out."""
    found = []
    for number, blob in _header_blobs(content):
        try:
            values = rpm_header.tags(blob, _WANTED)
        except PackageFileError as error:
            logger.debug("skipping rpm header %s in %s: %s", number, path, error)
            continue
        package = _package(values, path)
        if package is not None:
            found.append(package)
    return found


def _header_blobs(content: bytes) -> list[tuple[int, bytes]]:
    if not content.startswith(_SQLITE_MAGIC):
        raise PackageFileError("not an SQLite database")
    # rpm runs its database in WAL mode. A copy in memory has no -wal file beside it, and SQLite
    # refuses to read such a copy unless the header (bytes 18 and 19) says rollback journal.
    database = bytearray(content)
    database[18:20] = b"\x01\x01"
    connection = sqlite3.connect(":memory:")
    try:
        connection.deserialize(database)
        # The database comes from an image anyone may push: read a plain table, never a view
        # (whose query could run forever) or anything the schema might call.
        connection.execute("PRAGMA trusted_schema = OFF")
        kind = connection.execute(
            "SELECT type FROM sqlite_master WHERE name = 'Packages'"
        ).fetchone()
        if kind != ("table",):
            raise PackageFileError("rpm database without a Packages table")
        rows = connection.execute("SELECT hnum, blob FROM Packages ORDER BY hnum").fetchall()
    except sqlite3.Error as error:
        raise PackageFileError(f"unreadable rpm database: {error}") from error
    finally:
        connection.close()
    return [(number, bytes(blob)) for number, blob in rows if isinstance(blob, bytes)]


def _package(values: dict[int, str | int], path: str) -> Package | None:
    name = str(values.get(rpm_header.NAME, ""))
    version = str(values.get(rpm_header.VERSION, ""))
    if not name or not version or name in _PSEUDO_PACKAGES:
        return None
    epoch = values.get(rpm_header.EPOCH)
    prefix = f"{epoch}:" if epoch is not None else ""
    release = values.get(rpm_header.RELEASE)
    full_version = f"{prefix}{version}-{release}" if release else f"{prefix}{version}"
    source_name, source_version = _source(str(values.get(rpm_header.SOURCERPM, "")))
    license_ = str(values.get(rpm_header.LICENSE, ""))
    return Package(
        type="rpm",
        name=name,
        version=full_version,
        path=path,
        source_name=source_name or name,
        # A source rpm's file name carries no epoch; its binaries share the spec's.
        source_version=f"{prefix}{source_version}" if source_version else full_version,
        architecture=str(values.get(rpm_header.ARCH, "")),
        licenses=(license_,) if license_ else (),
    )


def _source(sourcerpm: str) -> tuple[str, str]:
    """("bash", "5.2.26-3.fc40") from "bash-5.2.26-3.fc40.src.rpm"; empty when it is not one."""
    stem = sourcerpm.removesuffix(".src.rpm").removesuffix(".nosrc.rpm")
    if stem == sourcerpm:
        return "", ""
    parts = stem.rsplit("-", 2)
    if len(parts) != 3 or not all(parts):
        return "", ""
    return parts[0], f"{parts[1]}-{parts[2]}"
