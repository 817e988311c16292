"""SBOMs of an inventory, validated by the CycloneDX schema and the SPDX tools."""

from __future__ import annotations

import importlib.metadata
import json
import re
from pathlib import Path
from typing import Any

import pytest
from cyclonedx.schema import SchemaVersion
from cyclonedx.validation.json import JsonStrictValidator
from spdx_tools.spdx.parser.parse_anything import parse_file
from spdx_tools.spdx.validation.document_validator import validate_full_spdx_document

from dockyard.scanning import sbom
from dockyard.scanning.inventory import inventory
from dockyard.scanning.packages import Inventory
from tests.scanning.images import (
    ALPINE_INSTALLED,
    DEBIAN_OS_RELEASE,
    File,
    elf,
    go_build_info,
    jar,
    layer,
    package_json,
    pom,
)

NAME = "library/app"
DIGEST = "sha256:" + "ab" * 32
SPDX_ID = re.compile(r"^SPDXRef-[A-Za-z0-9.-]+$")
GO_MODULES = (
    "path\texample.com/app\nmod\texample.com/app\tv1.4.0\t\ndep\tgolang.org/x/net\tv0.23.0\t\n"
)
DPKG_STATUS = b"""Package: libgcc-s1
Status: install ok installed
Architecture: amd64
Source: gcc-12 (12.2.0-14)
Version: 12.2.0-14

Package: bash
Status: install ok installed
Architecture: amd64
Version: 5.2.15-2+b7
"""
TRAITLETS = (
    b"Metadata-Version: 2.1\nName: traitlets\nVersion: 5.14.3\n"
    b"Classifier: License :: OSI Approved :: BSD License\n"
)


@pytest.fixture(scope="module")
def image() -> Inventory:
    """A Debian image with a little of everything: OS packages, Python, Node, Go and Java."""
    packaging = importlib.metadata.distribution("packaging")
    metadata = next(file for file in packaging.files or () if file.name == "METADATA")
    go_binary = elf((4096, go_build_info("go1.22.4", GO_MODULES)))
    return inventory(
        [
            layer(
                File("etc/os-release", DEBIAN_OS_RELEASE),
                File("var/lib/dpkg/status", DPKG_STATUS),
            ),
            layer(
                File(
                    f"usr/lib/python3/dist-packages/{metadata.parent.name}/METADATA",
                    Path(str(metadata.locate())).read_bytes(),
                ),
                File(
                    "usr/lib/python3/dist-packages/traitlets-5.14.3.dist-info/METADATA", TRAITLETS
                ),
                File(
                    "srv/node_modules/@koa/cors/package.json",
                    package_json("@koa/cors", "5.0.0", license="MIT"),
                ),
                File(
                    "srv/node_modules/old/package.json",
                    package_json("old", "1.0.0", licenses=[{"type": "BSD"}, {"type": "MIT"}]),
                ),
                File("usr/bin/app", go_binary, 0o755),
                File("usr/bin/app-copy", go_binary, 0o755),
                File(
                    "opt/lib/commons-lang3.jar",
                    jar(
                        {
                            "META-INF/maven/org.apache.commons/commons-lang3/pom.properties": pom(
                                "org.apache.commons", "commons-lang3", "3.12.0"
                            )
                        }
                    ),
                ),
            ),
        ]
    )


def _cyclonedx(found: Inventory) -> dict[str, Any]:
    return sbom.cyclonedx(found, name=NAME, digest=DIGEST, tool_version="0.1.0")


def _spdx(found: Inventory) -> dict[str, Any]:
    return sbom.spdx(found, name=NAME, digest=DIGEST, tool_version="0.1.0")


# -- CycloneDX -----------------------------------------------------------------------------------


@pytest.mark.parametrize("empty", [False, True])
def test_cyclonedx_is_valid_against_the_1_5_schema(image: Inventory, empty: bool) -> None:
    document = _cyclonedx(Inventory() if empty else image)
    errors = JsonStrictValidator(SchemaVersion.V1_5).validate_str(json.dumps(document))
    assert errors is None, errors


def test_cyclonedx_describes_the_image_and_its_packages(image: Inventory) -> None:
    document = _cyclonedx(image)
    assert document["bomFormat"] == "CycloneDX"
    assert document["specVersion"] == "1.5"
    assert re.fullmatch(r"urn:uuid:[0-9a-f-]{36}", document["serialNumber"])
    assert document["version"] == 1
    metadata = document["metadata"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", metadata["timestamp"])
    assert metadata["tools"]["components"] == [
        {"type": "application", "name": "dockyard", "version": "0.1.0"}
    ]
    assert metadata["component"] == {
        "type": "container",
        "bom-ref": f"image:{NAME}@{DIGEST}",
        "name": NAME,
        "version": DIGEST,
    }

    operating_system, *libraries = document["components"]
    assert operating_system == {
        "type": "operating-system",
        "bom-ref": "os:debian@12",
        "name": "debian",
        "version": "12",
        "description": "Debian GNU/Linux 12 (bookworm)",
    }
    assert all(component["type"] == "library" for component in libraries)
    purls = [component["purl"] for component in libraries]
    assert purls == sorted(purls)
    # One component per package; the Go modules of the two copies of the binary stay apart.
    assert len(libraries) == len(image.packages) == 13
    assert set(purls) == {package.purl for package in image.packages}
    refs = [component["bom-ref"] for component in document["components"]]
    assert len(set(refs)) == len(refs)

    by_ref = {component["bom-ref"]: component for component in libraries}
    assert by_ref["pkg:npm/%40koa/cors@5.0.0"] == {
        "type": "library",
        "bom-ref": "pkg:npm/%40koa/cors@5.0.0",
        "name": "@koa/cors",
        "version": "5.0.0",
        "purl": "pkg:npm/%40koa/cors@5.0.0",
        "licenses": [{"expression": "MIT"}],
        "properties": [
            {"name": "dockyard:package:type", "value": "npm"},
            {"name": "dockyard:package:path", "value": "srv/node_modules/@koa/cors/package.json"},
        ],
    }
    libgcc = by_ref["pkg:deb/debian/libgcc-s1@12.2.0-14?arch=amd64&distro=debian-12"]
    assert {item["name"]: item["value"] for item in libgcc["properties"]} == {
        "dockyard:package:type": "deb",
        "dockyard:package:path": "var/lib/dpkg/status",
        "dockyard:package:source_name": "gcc-12",
        "dockyard:package:source_version": "12.2.0-14",
        "dockyard:package:architecture": "amd64",
    }
    old = by_ref["pkg:npm/old@1.0.0"]
    assert old["licenses"] == [{"license": {"name": "BSD"}}, {"license": {"name": "MIT"}}]
    lang = by_ref["pkg:maven/org.apache.commons/commons-lang3@3.12.0"]
    assert (lang["group"], lang["name"]) == ("org.apache.commons", "commons-lang3")
    shared = [ref for ref in by_ref if ref.startswith("pkg:golang/stdlib@1.22.4")]
    assert len(shared) == 2
    assert all("?package-id=" in ref for ref in shared)

    image_dependencies, *others = document["dependencies"]
    assert image_dependencies == {"ref": f"image:{NAME}@{DIGEST}", "dependsOn": refs}
    assert others == [{"ref": ref, "dependsOn": []} for ref in refs]


def test_cyclonedx_is_deterministic_but_for_its_serial_number_and_time(image: Inventory) -> None:
    first, second = _cyclonedx(image), _cyclonedx(image)
    assert first["serialNumber"] != second["serialNumber"]
    for document in (first, second):
        del document["serialNumber"]
        del document["metadata"]["timestamp"]
    assert first == second


# -- SPDX ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("empty", [False, True])
def test_spdx_passes_the_spdx_tools_validation(
    image: Inventory, empty: bool, tmp_path: Path
) -> None:
    path = tmp_path / "image.spdx.json"
    path.write_text(json.dumps(_spdx(Inventory() if empty else image)))
    messages = validate_full_spdx_document(parse_file(str(path)))
    assert messages == []


def test_spdx_document_fields(image: Inventory) -> None:
    document = _spdx(image)
    assert document["spdxVersion"] == "SPDX-2.3"
    assert document["dataLicense"] == "CC0-1.0"
    assert document["SPDXID"] == "SPDXRef-DOCUMENT"
    assert document["name"] == f"{NAME}@{DIGEST}"
    assert re.fullmatch(
        r"https://dockyard\.invalid/spdx/library-app-[0-9a-f-]{36}", document["documentNamespace"]
    )
    assert document["creationInfo"]["creators"] == ["Tool: dockyard-0.1.0"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", document["creationInfo"]["created"])

    image_entry, operating_system, *packages = document["packages"]
    assert image_entry == {
        "SPDXID": "SPDXRef-Image",
        "name": NAME,
        "versionInfo": DIGEST,
        "downloadLocation": "NOASSERTION",
        "filesAnalyzed": False,
        "primaryPackagePurpose": "CONTAINER",
        "licenseConcluded": "NOASSERTION",
        "licenseDeclared": "NOASSERTION",
        "copyrightText": "NOASSERTION",
    }
    assert operating_system["SPDXID"] == "SPDXRef-OperatingSystem-debian"
    assert operating_system["primaryPackagePurpose"] == "OPERATING-SYSTEM"
    assert (operating_system["name"], operating_system["versionInfo"]) == ("debian", "12")

    ids = [entry["SPDXID"] for entry in document["packages"]]
    assert len(set(ids)) == len(ids)
    assert all(SPDX_ID.match(spdx_id) for spdx_id in ids)
    purls = [entry["externalRefs"][0]["referenceLocator"] for entry in packages]
    assert purls == sorted(purls)
    assert set(purls) == {package.purl for package in image.packages}
    for entry in packages:
        assert entry["externalRefs"] == [
            {
                "referenceCategory": "PACKAGE-MANAGER",
                "referenceType": "purl",
                "referenceLocator": entry["externalRefs"][0]["referenceLocator"],
            }
        ]
        assert entry["downloadLocation"] == "NOASSERTION"
        assert entry["licenseConcluded"] == "NOASSERTION"
        assert entry["sourceInfo"].startswith("read from ")

    assert document["relationships"] == [
        {
            "spdxElementId": "SPDXRef-DOCUMENT",
            "relationshipType": "DESCRIBES",
            "relatedSpdxElement": "SPDXRef-Image",
        },
        *(
            {
                "spdxElementId": "SPDXRef-Image",
                "relationshipType": "CONTAINS",
                "relatedSpdxElement": spdx_id,
            }
            for spdx_id in ids[1:]
        ),
    ]


def test_spdx_licenses_are_expressions_or_extracted_license_refs(image: Inventory) -> None:
    document = _spdx(image)
    declared = {
        entry["name"]: entry["licenseDeclared"]
        for entry in document["packages"]
        if entry["SPDXID"].startswith("SPDXRef-Package-")
    }
    assert declared["packaging"] == "Apache-2.0 OR BSD-2-Clause"
    assert declared["@koa/cors"] == "MIT"
    assert declared["bash"] == "NOASSERTION"
    assert re.fullmatch(r"LicenseRef-BSD-[0-9a-f]{12} AND MIT", declared["old"])
    assert re.fullmatch(r"LicenseRef-BSD-License-[0-9a-f]{12}", declared["traitlets"])
    extracted = {info["licenseId"]: info for info in document["hasExtractedLicensingInfos"]}
    assert extracted[declared["traitlets"]] == {
        "licenseId": declared["traitlets"],
        "name": "BSD License",
        "extractedText": "BSD License",
    }


def test_spdx_license_expressions_keep_their_grouping() -> None:
    alpine = inventory([layer(File("lib/apk/db/installed", ALPINE_INSTALLED))])
    document = _spdx(alpine)
    declared = {entry["name"]: entry["licenseDeclared"] for entry in document["packages"]}
    assert declared["musl"] == "MIT"
    assert declared["zlib"] == "Zlib"
    assert "hasExtractedLicensingInfos" not in document
