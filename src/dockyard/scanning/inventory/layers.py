"""The inventory of an image: its layers streamed lowest first, whiteouts applied, findings kept."""

from __future__ import annotations

from collections.abc import Iterable
from typing import BinaryIO

from dockyard.scanning.inventory import archive, readers
from dockyard.scanning.inventory.purls import with_purl
from dockyard.scanning.inventory.union import Changeset, Union
from dockyard.scanning.packages import Distro, Inventory, Package


def inventory(layers: Iterable[BinaryIO]) -> Inventory:
    """The distribution and packages of the filesystem that `layers` (in manifest order) build.

    Each layer may be gzip, zstd or plain tar. Raises LayerError for a layer that cannot be read.
    """
    union = Union()
    for blob in layers:
        changes = union.changeset()
        for member in archive.members(blob):
            _gather(member, changes)
        union.apply(changes)
    return _collected(union)


def _gather(member: archive.Member, changes: Changeset) -> None:
    if not changes.entry(member.path, directory=member.info.isdir()):
        return
    if member.info.islnk():
        changes.hard_link(member.path, archive.normalise(member.info.linkname))
        return
    reader = readers.reader_for(member)
    if reader is not None:
        changes.add(member.path, reader(member))


def _collected(union: Union) -> Inventory:
    distro = _distro(union)
    packages: list[Package] = []
    seen_npm: set[tuple[str, str]] = set()
    for _, findings in union.findings():
        for package in findings.packages:
            if package.type == "npm":
                # node_modules and lockfiles list the same packages over and over: one is enough.
                if (package.name, package.version) in seen_npm:
                    continue
                seen_npm.add((package.name, package.version))
            packages.append(with_purl(package, distro))
    packages.sort(key=lambda package: (package.purl, package.path))
    return Inventory(distro=distro, packages=packages)


def _distro(union: Union) -> Distro | None:
    """From etc/os-release (often a link into usr/lib), usr/lib/os-release, or alpine-release."""
    for path in (*readers.OS_RELEASE, readers.ALPINE_RELEASE):
        findings = union.resolve(path)
        if findings is not None and findings.distro is not None:
            return findings.distro
    return None
