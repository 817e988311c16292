"""Package URLs (https://github.com/package-url/purl-spec) for what the inventory found."""

from __future__ import annotations

import dataclasses

from packageurl import PackageURL

from dockyard.scanning.packages import Distro, Package


def with_purl(package: Package, distro: Distro | None) -> Package:
    """`package` with its purl; OS packages take their namespace and distro from `distro`."""
    return dataclasses.replace(package, purl=purl(package, distro))


def purl(package: Package, distro: Distro | None) -> str:
    """The package URL of one package."""
    namespace, name, version = package.namespace, package.name, package.version
    qualifiers: dict[str, str] = {}
    if package.architecture:
        qualifiers["arch"] = package.architecture
    if package.type == "deb":
        namespace = distro.id if distro else "debian"
        if distro and distro.version_id:
            qualifiers["distro"] = f"{distro.id}-{distro.version_id}"
    elif package.type == "apk":
        namespace = distro.id if distro else "alpine"
        if distro and distro.version_id:
            qualifiers["distro"] = distro.version_id
    elif package.type == "rpm":
        namespace = distro.id if distro else ""
        if distro and distro.version_id:
            qualifiers["distro"] = f"{distro.id}-{distro.version_id}"
        # The purl spec keeps the epoch out of an rpm's version, in its own qualifier.
        epoch, colon, rest = version.partition(":")
        if colon and epoch.isdigit():
            qualifiers["epoch"], version = epoch, rest
    elif package.type == "pypi":
        name = name.lower().replace("_", "-")
    elif package.type == "npm" and name.startswith("@") and "/" in name.rstrip("/"):
        namespace, _, name = name.partition("/")
    elif package.type == "golang" and "/" in name.strip("/"):
        namespace, _, name = name.strip("/").rpartition("/")
    return PackageURL(
        type=package.type,
        namespace=namespace or None,
        name=name,
        version=version or None,
        qualifiers=qualifiers or None,
    ).to_string()
