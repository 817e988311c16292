"""What an image holds: its distribution and the packages installed in it.

The inventory (scanning/inventory/) produces these; the SBOM writers and the vulnerability
matcher (scanning/osv/) read them. Nothing here knows about the registry.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

# The package-URL type of each ecosystem the inventory reads (https://github.com/package-url/purl-spec).
PackageType = Literal["deb", "apk", "rpm", "pypi", "npm", "golang", "maven"]


@dataclass(frozen=True, slots=True)
class Distro:
    """The distribution an image is built on, from its os-release (or alpine-release) file."""

    # os-release ID: "debian", "ubuntu", "alpine", "rhel", "almalinux", "rocky", "fedora",
    # "opensuse-leap", "sles", "amzn", "centos", "wolfi" ...
    id: str
    # os-release VERSION_ID ("12", "22.04", "3.20.3", "9.4"); empty for rolling releases.
    version_id: str
    # os-release VERSION_CODENAME when present ("bookworm", "jammy").
    codename: str = ""
    pretty_name: str = ""


@dataclass(frozen=True, slots=True)
class Package:
    """One installed package, as its package manager or build metadata records it."""

    type: PackageType
    name: str
    version: str
    # The file in the image the package was read from (no leading slash), e.g.
    # "var/lib/dpkg/status" or "usr/lib/python3/dist-packages/idna-3.3.dist-info/METADATA".
    path: str
    # For OS packages: the source package it was built from, which is what distribution
    # advisories name (dpkg "Source:", apk "o:" origin, the rpm SOURCERPM's name).
    # Equal to name/version when the database says nothing else.
    source_name: str = ""
    source_version: str = ""
    # Maven group id; npm scope is part of name ("@babel/core"); Go module path is name.
    namespace: str = ""
    architecture: str = ""
    licenses: tuple[str, ...] = ()
    purl: str = ""


@dataclass(slots=True)
class Inventory:
    """Everything the inventory found in an image's layers, after whiteouts are applied."""

    distro: Distro | None = None
    packages: list[Package] = field(default_factory=list)
