"""Software bills of materials for an image's inventory: CycloneDX 1.5 and SPDX 2.3, as JSON.

Both list the image, its distribution and one entry per package, ordered by package URL so that
two documents for the same image differ only in their serial number (or namespace) and time.
"""

from __future__ import annotations

import functools
import hashlib
import re
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

# license-expression ships no type information; its SPDX license list is what validators use.
import license_expression  # type: ignore[import-untyped]

from dockyard.scanning.packages import Distro, Inventory, Package

_PROPERTY_PREFIX = "dockyard:package:"
_NOASSERTION = "NOASSERTION"


def cyclonedx(inventory: Inventory, *, name: str, digest: str, tool_version: str) -> dict[str, Any]:
    """A CycloneDX 1.5 document: the image as metadata.component, depending on every component."""
    image_ref = f"image:{name}@{digest}"
    components: list[dict[str, Any]] = []
    if inventory.distro is not None:
        components.append(_cyclonedx_os(inventory.distro))
    components.extend(_cyclonedx_library(package, ref) for ref, package in _packages(inventory))
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "serialNumber": uuid.uuid4().urn,
        "version": 1,
        "metadata": {
            "timestamp": _now(),
            "tools": {
                "components": [{"type": "application", "name": "dockyard", "version": tool_version}]
            },
            "component": {
                "type": "container",
                "bom-ref": image_ref,
                "name": name,
                "version": digest,
            },
        },
        "components": components,
        "dependencies": [
            {"ref": image_ref, "dependsOn": [component["bom-ref"] for component in components]},
            *({"ref": component["bom-ref"], "dependsOn": []} for component in components),
        ],
    }


def spdx(inventory: Inventory, *, name: str, digest: str, tool_version: str) -> dict[str, Any]:
    """An SPDX 2.3 document that DESCRIBES the image, which CONTAINS its distro and packages."""
    image_id = "SPDXRef-Image"
    packages: list[dict[str, Any]] = [
        _spdx_package(image_id, name, digest, purpose="CONTAINER"),
    ]
    if inventory.distro is not None:
        distro = inventory.distro
        packages.append(
            _spdx_package(
                _spdx_id("OperatingSystem", distro.id),
                distro.id,
                distro.version_id,
                purpose="OPERATING-SYSTEM",
            )
        )
    extracted: dict[str, str] = {}
    for ref, package in _packages(inventory):
        entry = _spdx_package(
            _spdx_id("Package", package.type, package.name, _short_hash(ref)),
            package.name,
            package.version,
            purpose="LIBRARY",
            license_=_spdx_license(package.licenses, extracted),
        )
        entry["externalRefs"] = [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": package.purl,
            }
        ]
        entry["sourceInfo"] = f"read from {package.path}"
        packages.append(entry)
    document: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": f"{name}@{digest}",
        "documentNamespace": f"https://dockyard.invalid/spdx/{_slug(name)}-{uuid.uuid4()}",
        "creationInfo": {"created": _now(), "creators": [f"Tool: dockyard-{tool_version}"]},
        "packages": packages,
        "relationships": [
            {
                "spdxElementId": "SPDXRef-DOCUMENT",
                "relationshipType": "DESCRIBES",
                "relatedSpdxElement": image_id,
            },
            *(
                {
                    "spdxElementId": image_id,
                    "relationshipType": "CONTAINS",
                    "relatedSpdxElement": entry["SPDXID"],
                }
                for entry in packages[1:]
            ),
        ],
    }
    if extracted:
        document["hasExtractedLicensingInfos"] = [
            {"licenseId": license_id, "name": text, "extractedText": text}
            for license_id, text in sorted(extracted.items())
        ]
    return document


def _packages(inventory: Inventory) -> Iterator[tuple[str, Package]]:
    """Each distinct package with a reference unique in the document, in package URL order.

    The reference is the package URL, qualified with a package-id where two files (say, two
    binaries built with one module) list the same package.
    """
    packages = sorted(
        {(package.purl, package.path): package for package in inventory.packages}.values(),
        key=lambda package: (package.purl, package.path),
    )
    shared = Counter(package.purl for package in packages)
    for package in packages:
        ref = package.purl
        if shared[ref] > 1:
            separator = "&" if "?" in ref else "?"
            ref = f"{ref}{separator}package-id={_short_hash(package.path)}"
        yield ref, package


def _cyclonedx_os(distro: Distro) -> dict[str, Any]:
    component: dict[str, Any] = {
        "type": "operating-system",
        "bom-ref": f"os:{distro.id}@{distro.version_id}",
        "name": distro.id,
        "version": distro.version_id,
    }
    if distro.pretty_name:
        component["description"] = distro.pretty_name
    return component


def _cyclonedx_library(package: Package, ref: str) -> dict[str, Any]:
    component: dict[str, Any] = {"type": "library", "bom-ref": ref}
    if package.namespace:
        component["group"] = package.namespace
    component.update(name=package.name, version=package.version, purl=package.purl)
    expressions = [_spdx_expression(text) for text in package.licenses]
    if len(expressions) == 1 and expressions[0] is not None:
        component["licenses"] = [{"expression": expressions[0]}]
    elif package.licenses:
        component["licenses"] = [{"license": {"name": text}} for text in package.licenses]
    properties = {
        "type": package.type,
        "path": package.path,
        "source_name": package.source_name,
        "source_version": package.source_version,
        "architecture": package.architecture,
    }
    component["properties"] = [
        {"name": _PROPERTY_PREFIX + key, "value": value}
        for key, value in properties.items()
        if value
    ]
    return component


def _spdx_package(
    spdx_id: str, name: str, version: str, *, purpose: str, license_: str = _NOASSERTION
) -> dict[str, Any]:
    entry: dict[str, Any] = {"SPDXID": spdx_id, "name": name}
    if version:
        entry["versionInfo"] = version
    entry.update(
        {
            "downloadLocation": _NOASSERTION,
            "filesAnalyzed": False,
            "primaryPackagePurpose": purpose,
            "licenseConcluded": _NOASSERTION,
            "licenseDeclared": license_,
            "copyrightText": _NOASSERTION,
        }
    )
    return entry


def _spdx_license(licenses: tuple[str, ...], extracted: dict[str, str]) -> str:
    """The licenses a package declares as one SPDX expression; LicenseRef-s for free-form names."""
    if not licenses:
        return _NOASSERTION
    terms = []
    for text in licenses:
        expression = _spdx_expression(text)
        if expression is None:
            expression = f"LicenseRef-{_slug(text)[:48]}-{_short_hash(text)}"
            extracted[expression] = text
        terms.append(f"({expression})" if len(licenses) > 1 and " " in expression else expression)
    return " AND ".join(terms)


@functools.lru_cache(maxsize=4096)  # images repeat a few licenses over and over
def _spdx_expression(text: str) -> str | None:
    """`text` as a normalised SPDX license expression, or None when it is not one.

    Package managers record SPDX expressions ("MIT AND BSD-2-Clause"), names ("MIT License")
    and older short forms ("GPLv2+"); only the first kind is an SBOM license expression.
    """
    info = _spdx_licensing().validate(text)
    return None if info.errors else str(info.normalized_expression)


@functools.cache
def _spdx_licensing() -> Any:
    return license_expression.get_spdx_licensing()


def _spdx_id(*parts: str) -> str:
    """SPDXRef-... from `parts`, in the letters, digits, "." and "-" an SPDX id may hold."""
    return "SPDXRef-" + "-".join(_slug(part) for part in parts if part)


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.-]+", "-", text).strip("-") or "x"


def _short_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
