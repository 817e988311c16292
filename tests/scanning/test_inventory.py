"""The inventory of image layers, checked against real package data wherever this machine has it.

Real data: this machine's dpkg database and os-release, its Python distributions' metadata, npm's
own node_modules, Go binaries on the PATH, jars in the local Maven repository, and an rpm
database built by rpm itself. Alpine, whose packages this machine cannot fetch, is written in
its real database format.
"""

from __future__ import annotations

import contextlib
import gzip
import importlib.metadata
import io
import json
import logging
import os
import platform
import random
import re
import shutil
import sqlite3
import subprocess
import tarfile
import textwrap
import zipfile
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from packageurl import PackageURL

from dockyard.scanning.inventory import (
    LayerError,
    PackageFileError,
    apk,
    distro,
    dpkg,
    golang,
    inventory,
    maven,
    npm,
    pypi,
    rpm,
    rpm_header,
)
from dockyard.scanning.packages import Distro, Inventory, Package
from tests.scanning.images import (
    ALPINE_INSTALLED,
    ALPINE_OS_RELEASE,
    DEBIAN_OS_RELEASE,
    Dir,
    File,
    HardLink,
    Symlink,
    Unseekable,
    compress,
    elf,
    go_build_info,
    jar,
    layer,
    opaque,
    package_json,
    pom,
    tar,
    whiteout,
)


def _by_type(found: Inventory, type_: str) -> list[Package]:
    return [package for package in found.packages if package.type == type_]


def _pairs(packages: list[Package]) -> set[tuple[str, str]]:
    return {(package.name, package.version) for package in packages}


# -- Debian: this machine's own dpkg database ---------------------------------------------------


def _dpkg_query(*fields: str) -> list[tuple[str, ...]]:
    if shutil.which("dpkg-query") is None:
        pytest.fail("this machine has no dpkg database: the test command runs on Debian")
    output = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Abbrev}|" + "|".join(fields) + "\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rows = [line.split("|") for line in output.splitlines()]
    # "ii" installed, "hi" installed and held: the second letter is the package's state.
    return [tuple(row[1:]) for row in rows if row[0][1:2] == "i" and not row[0][2:].strip()]


def _machine_os_release() -> bytes:
    return Path("/etc/os-release").resolve().read_bytes()


def test_this_machines_dpkg_database_is_read_as_dpkg_query_reads_it() -> None:
    installed = _dpkg_query("${Package}", "${Version}", "${Architecture}")
    sources = _dpkg_query("${Package}", "${Architecture}", "${source:Package}", "${source:Version}")
    status = Path("/var/lib/dpkg/status").read_bytes()
    found = inventory(
        [
            layer(
                Symlink("etc/os-release", "../usr/lib/os-release"),
                File("usr/lib/os-release", _machine_os_release()),
            ),
            layer(File("var/lib/dpkg/status", status)),
        ]
    )

    debs = _by_type(found, "deb")
    assert Counter((p.name, p.version, p.architecture) for p in debs) == Counter(installed)
    assert {(p.name, p.architecture, p.source_name, p.source_version) for p in debs} == set(sources)
    assert all(package.path == "var/lib/dpkg/status" for package in debs)
    # A binary package whose source is named differently, as on every Debian system.
    libc6 = next(package for package in debs if package.name == "libc6")
    assert libc6.source_name == "glibc"

    release = platform.freedesktop_os_release()
    assert found.distro == Distro(
        id=release["ID"],
        version_id=release.get("VERSION_ID", ""),
        codename=release.get("VERSION_CODENAME", ""),
        pretty_name=release.get("PRETTY_NAME", ""),
    )
    for package in debs:
        purl = PackageURL.from_string(package.purl)
        assert (purl.type, purl.namespace, purl.name, purl.version) == (
            "deb",
            release["ID"],
            package.name,
            package.version,
        )
        assert purl.qualifiers == {
            "arch": package.architecture,
            "distro": f"{release['ID']}-{release['VERSION_ID']}",
        }


def _real_paragraph(name: str) -> bytes:
    """One package's paragraph from this machine's dpkg status, as dpkg wrote it."""
    status = (
        Path("/var/lib/dpkg/status").read_bytes() if Path("/var/lib/dpkg/status").exists() else b""
    )
    for paragraph in status.split(b"\n\n"):
        if paragraph.startswith(f"Package: {name}\n".encode()):
            return paragraph + b"\n"
    pytest.fail(f"this machine has no dpkg package {name}")


def test_dpkg_lists_only_packages_whose_status_is_installed() -> None:
    libc6 = _real_paragraph("libc6")
    held = _real_paragraph("bash").replace(b"install ok installed", b"hold ok installed")
    removed = _real_paragraph("base-files").replace(
        b"Status: install ok installed", b"Status: deinstall ok config-files"
    )
    half = _real_paragraph("dpkg").replace(
        b"install ok installed", b"install reinstreq half-installed"
    )
    status = b"\n".join([removed, libc6, held, half])
    found = inventory([layer(File("var/lib/dpkg/status", status))])
    assert [package.name for package in found.packages] == ["bash", "libc6"]


def test_distroless_status_d_files_list_one_package_each() -> None:
    # Distroless images keep each package's control paragraph, without Status, in status.d/.
    libc6 = re.sub(rb"Status: [^\n]*\n", b"", _real_paragraph("libc6"))
    base_files = re.sub(rb"Status: [^\n]*\n", b"", _real_paragraph("base-files"))
    found = inventory(
        [
            layer(
                File("etc/os-release", DEBIAN_OS_RELEASE),
                File("var/lib/dpkg/status.d/libc6", libc6),
                File(
                    "var/lib/dpkg/status.d/libc6.md5sums", b"d41d8cd98f00b204e9800998ecf8427e  x\n"
                ),
                File("var/lib/dpkg/status.d/base-files", base_files),
            )
        ]
    )
    by_name = {package.name: package for package in found.packages}
    assert set(by_name) == {"libc6", "base-files"}
    assert by_name["libc6"].path == "var/lib/dpkg/status.d/libc6"
    assert by_name["libc6"].source_name == "glibc"


def test_dpkg_source_field_with_and_without_version() -> None:
    status = textwrap.dedent(
        """\
        Package: libgcc-s1
        Status: install ok installed
        Architecture: amd64
        Multi-Arch: same
        Source: gcc-12 (12.2.0-14)
        Version: 12.2.0-14
        Description: GCC support library
         Shared version of the support library.

        Package: libssl3
        Status: install ok installed
        Architecture: amd64
        Source: openssl
        Version: 3.0.15-1~deb12u1

        Package: bash
        Status: install ok installed
        Architecture: amd64
        Version: 5.2.15-2+b7
        """
    ).encode()
    found = inventory([layer(File("etc/os-release", DEBIAN_OS_RELEASE), File(dpkg.STATUS, status))])
    assert [(p.name, p.source_name, p.source_version, p.purl) for p in found.packages] == [
        (
            "bash",
            "bash",
            "5.2.15-2+b7",
            "pkg:deb/debian/bash@5.2.15-2%2Bb7?arch=amd64&distro=debian-12",
        ),
        (
            "libgcc-s1",
            "gcc-12",
            "12.2.0-14",
            "pkg:deb/debian/libgcc-s1@12.2.0-14?arch=amd64&distro=debian-12",
        ),
        (
            "libssl3",
            "openssl",
            "3.0.15-1~deb12u1",
            "pkg:deb/debian/libssl3@3.0.15-1~deb12u1?arch=amd64&distro=debian-12",
        ),
    ]


# -- Alpine --------------------------------------------------------------------------------------


def test_alpine_installed_database() -> None:
    found = inventory(
        [
            layer(
                File("etc/alpine-release", b"3.20.3\n"),
                Symlink("etc/os-release", "../usr/lib/os-release"),
                File("usr/lib/os-release", ALPINE_OS_RELEASE),
                File("lib/apk/db/installed", ALPINE_INSTALLED),
            )
        ]
    )
    assert found.distro == Distro("alpine", "3.20.3", "", "Alpine Linux v3.20")
    assert [(p.name, p.version, p.source_name, p.licenses, p.purl) for p in found.packages] == [
        (
            "busybox",
            "1.36.1-r29",
            "busybox",
            ("GPL-2.0-only",),
            "pkg:apk/alpine/busybox@1.36.1-r29?arch=x86_64&distro=3.20.3",
        ),
        (
            "libcrypto3",
            "3.3.2-r0",
            "openssl",
            ("Apache-2.0",),
            "pkg:apk/alpine/libcrypto3@3.3.2-r0?arch=x86_64&distro=3.20.3",
        ),
        (
            "musl",
            "1.2.5-r0",
            "musl",
            ("MIT",),
            "pkg:apk/alpine/musl@1.2.5-r0?arch=x86_64&distro=3.20.3",
        ),
        (
            "ssl_client",
            "1.36.1-r29",
            "busybox",
            ("GPL-2.0-only",),
            "pkg:apk/alpine/ssl_client@1.36.1-r29?arch=x86_64&distro=3.20.3",
        ),
        (
            "zlib",
            "1.3.1-r1",
            "zlib",
            ("Zlib",),
            "pkg:apk/alpine/zlib@1.3.1-r1?arch=x86_64&distro=3.20.3",
        ),
    ]
    assert {package.source_version for package in found.packages} == {
        package.version for package in found.packages
    }


def test_alpine_release_names_the_distro_when_os_release_is_missing() -> None:
    found = inventory([layer(File("etc/alpine-release", b"3.20.3\n"))])
    assert found.distro == Distro("alpine", "3.20.3")


# -- RPM: a database written by rpm itself -------------------------------------------------------

HELLO_SPEC = """\
Name: hello-dockyard
Version: 1.2.3
Release: 4.fc40
Epoch: 2
Summary: A package built for the inventory tests
License: MIT AND Apache-2.0
BuildArch: noarch
%description
Built by the dockyard tests.
%package -n libhello-dockyard
Summary: Its library subpackage
License: MIT
%description -n libhello-dockyard
Built by the dockyard tests.
%files
%files -n libhello-dockyard
"""
ZLIB_SPEC = """\
Name: zlib-dockyard
Version: 1.3.1
Release: 1.fc40
Summary: A package without an epoch
License: Zlib
BuildArch: noarch
%description
Built by the dockyard tests.
%files
"""


def _run(*command: str, **environment: str) -> str:
    result = subprocess.run(
        command,
        capture_output=True,
        text=True,
        env={**os.environ, **environment},
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


@pytest.fixture(scope="module")
def rpmdb(tmp_path_factory: pytest.TempPathFactory) -> tuple[bytes, list[str]]:
    """An rpmdb.sqlite holding two built packages and an imported gpg key, and `rpm -qa`'s view."""
    if shutil.which("rpmbuild") is None or shutil.which("rpm") is None:
        pytest.fail("rpm and rpmbuild are not installed: the test command installs rpm")
    root = tmp_path_factory.mktemp("rpm")
    for name, spec in (("hello", HELLO_SPEC), ("zlib", ZLIB_SPEC)):
        (root / f"{name}.spec").write_text(spec)
        _run(
            "rpmbuild", "-bb", "--nodeps", "--define", f"_topdir {root / 'build'}",
            str(root / f"{name}.spec"),
        )  # fmt: skip
    database = root / "db"
    database.mkdir()
    backend = ("--define", "_db_backend sqlite")
    _run("rpm", *backend, "--dbpath", str(database), "--initdb")
    rpms = sorted(str(path) for path in (root / "build" / "RPMS").rglob("*.rpm"))
    _run("rpm", *backend, "-i", "--justdb", "--nodeps", "--dbpath", str(database), *rpms)
    if shutil.which("gpg") is not None:
        home = root / "gnupg"
        home.mkdir(mode=0o700)
        _run(
            "gpg", "--batch", "--homedir", str(home), "--passphrase", "", "--quick-gen-key",
            "Dockyard Test <test@example.invalid>", "rsa2048", "default", "never",
        )  # fmt: skip
        key = _run("gpg", "--homedir", str(home), "--armor", "--export")
        (root / "key.asc").write_text(key)
        _run("rpm", *backend, "--dbpath", str(database), "--import", str(root / "key.asc"))
    query = "%{NAME}|%{EPOCH}|%{VERSION}|%{RELEASE}|%{ARCH}|%{SOURCERPM}|%{LICENSE}\\n"
    listed = _run("rpm", *backend, "--dbpath", str(database), "-qa", "--qf", query).splitlines()
    return (database / "rpmdb.sqlite").read_bytes(), listed


@pytest.mark.parametrize("path", rpm.DATABASES)
def test_rpm_sqlite_database_written_by_rpm(rpmdb: tuple[bytes, list[str]], path: str) -> None:
    content, listed = rpmdb
    fedora = b'NAME="Fedora Linux"\nVERSION_ID=40\nID=fedora\nPRETTY_NAME="Fedora Linux 40"\n'
    found = inventory([layer(File("etc/os-release", fedora), File(path, content))])

    expected = set()
    for line in listed:
        name, epoch, version, release, arch, sourcerpm, license_ = line.split("|")
        if name == "gpg-pubkey":
            continue
        prefix = "" if epoch == "(none)" else f"{epoch}:"
        source_name = sourcerpm.removesuffix(".src.rpm").rsplit("-", 2)[0]
        expected.add((name, f"{prefix}{version}-{release}", arch, source_name, license_))
    assert any(line.startswith("gpg-pubkey|") for line in listed) or shutil.which("gpg") is None
    assert {
        (p.name, p.version, p.architecture, p.source_name, p.licenses[0]) for p in found.packages
    } == expected
    assert expected == {
        ("hello-dockyard", "2:1.2.3-4.fc40", "noarch", "hello-dockyard", "MIT AND Apache-2.0"),
        ("libhello-dockyard", "2:1.2.3-4.fc40", "noarch", "hello-dockyard", "MIT"),
        ("zlib-dockyard", "1.3.1-1.fc40", "noarch", "zlib-dockyard", "Zlib"),
    }
    by_name = {package.name: package for package in found.packages}
    assert by_name["libhello-dockyard"].source_version == "2:1.2.3-4.fc40"
    assert by_name["hello-dockyard"].purl == (
        "pkg:rpm/fedora/hello-dockyard@1.2.3-4.fc40?arch=noarch&distro=fedora-40&epoch=2"
    )
    assert by_name["zlib-dockyard"].purl == (
        "pkg:rpm/fedora/zlib-dockyard@1.3.1-1.fc40?arch=noarch&distro=fedora-40"
    )


# -- Python: this interpreter's installed distributions ----------------------------------------


def _metadata_file(distribution: importlib.metadata.Distribution) -> Path | None:
    for file in distribution.files or ():
        if file.name in ("METADATA", "PKG-INFO") and file.parent.name.endswith(
            (".dist-info", ".egg-info")
        ):
            return Path(str(file.locate()))
    return None


def test_every_installed_python_distribution() -> None:
    files, expected = [], set()
    for distribution in importlib.metadata.distributions():
        located = _metadata_file(distribution)
        if located is None or not located.exists():
            continue
        path = f"usr/local/lib/python3.11/site-packages/{located.parent.name}/{located.name}"
        files.append(File(path, located.read_bytes()))
        expected.add((distribution.metadata["Name"], distribution.version))
    assert len(expected) > 20
    found = inventory([layer(*files)])
    assert _pairs(found.packages) == expected
    assert {package.type for package in found.packages} == {"pypi"}


@pytest.mark.parametrize("name", ["packaging", "attrs"])
def test_python_license_expression_and_purl(name: str) -> None:
    distribution = importlib.metadata.distribution(name)
    located = _metadata_file(distribution)
    assert located is not None
    path = f"usr/lib/python3/dist-packages/{located.parent.name}/METADATA"
    found = inventory([layer(File(path, located.read_bytes()))])
    assert found.packages == [
        Package(
            type="pypi",
            name=distribution.metadata["Name"],
            version=distribution.version,
            path=path,
            licenses=(distribution.metadata["License-Expression"],),
            purl=f"pkg:pypi/{name}@{distribution.version}",
        )
    ]


def test_python_licenses_from_license_field_or_classifiers() -> None:
    metadata = textwrap.dedent(
        """\
        Metadata-Version: 2.1
        Name: Typing_Extensions
        Version: 4.12.2
        License: PSF-2.0

        Long description.
        """
    ).encode()
    classifiers_only = textwrap.dedent(
        """\
        Metadata-Version: 2.1
        Name: aiosqlite
        Version: 0.22.1
        Classifier: Development Status :: 5 - Production/Stable
        Classifier: License :: OSI Approved :: MIT License
        """
    ).encode()
    # The licence's whole text folded into the License field, as traitlets' METADATA has it.
    full_text = (
        b"Metadata-Version: 2.1\nName: traitlets\nVersion: 5.14.3\n"
        b"License: BSD 3-Clause License\n        \n        - Copyright (c) 2001-, IPython\n"
        b"Classifier: License :: OSI Approved :: BSD License\n"
    )
    # The single-file egg-info setuptools wrote before it used a directory.
    egg = b"Metadata-Version: 1.0\nName: wsgiref\nVersion: 0.1.2\nLicense: PSF or ZPL\n"
    found = inventory(
        [
            layer(
                File("app/lib/typing_extensions-4.12.2.dist-info/METADATA", metadata),
                File("app/lib/aiosqlite-0.22.1.dist-info/METADATA", classifiers_only),
                File("app/lib/traitlets-5.14.3.dist-info/METADATA", full_text),
                File("usr/lib/python2.7/wsgiref.egg-info", egg),
                File("app/lib/PyJWT-2.6.0.egg-info/PKG-INFO", b"Name: PyJWT\nVersion: 2.6.0\n"),
            )
        ]
    )
    assert [(p.name, p.version, p.licenses, p.purl) for p in found.packages] == [
        ("aiosqlite", "0.22.1", ("MIT License",), "pkg:pypi/aiosqlite@0.22.1"),
        ("PyJWT", "2.6.0", (), "pkg:pypi/pyjwt@2.6.0"),
        ("traitlets", "5.14.3", ("BSD License",), "pkg:pypi/traitlets@5.14.3"),
        ("Typing_Extensions", "4.12.2", ("PSF-2.0",), "pkg:pypi/typing-extensions@4.12.2"),
        ("wsgiref", "0.1.2", ("PSF or ZPL",), "pkg:pypi/wsgiref@0.1.2"),
    ]


# -- Node ----------------------------------------------------------------------------------------

NPM_ROOT = Path("/usr/lib/node_modules/npm")


def _npm_ls(root: Path) -> set[tuple[str, str]]:
    """What npm itself says is installed under `root`, the package included."""
    tree = json.loads(
        subprocess.run(
            ["npm", "ls", "--all", "--json"], cwd=root, capture_output=True, text=True, timeout=120
        ).stdout
    )
    found = {(tree["name"], tree["version"])}
    pending = [tree]
    while pending:
        for name, child in (pending.pop().get("dependencies") or {}).items():
            if "version" in child:
                found.add((name, child["version"]))
            pending.append(child)
    return found


def _real_shaped_node_modules() -> tuple[list[File], set[tuple[str, str]]]:
    """An application's node_modules as npm installs it, for machines without npm."""
    files = [
        File("app/node_modules/express/package.json", package_json("express", "4.19.2")),
        File("app/node_modules/@babel/core/package.json", package_json("@babel/core", "7.24.5")),
        File(
            "app/node_modules/express/node_modules/debug/package.json",
            package_json("debug", "2.6.9"),
        ),
        File("app/node_modules/debug/package.json", package_json("debug", "4.3.4")),
    ]
    return files, {
        ("express", "4.19.2"),
        ("@babel/core", "7.24.5"),
        ("debug", "2.6.9"),
        ("debug", "4.3.4"),
    }


def test_node_modules_package_json_as_npm_ls_lists_them() -> None:
    if shutil.which("npm") is not None and NPM_ROOT.is_dir():
        files = [
            File(str(path).lstrip("/"), path.read_bytes())
            for path in NPM_ROOT.rglob("package.json")
            if path.is_file()
        ]
        expected = _npm_ls(NPM_ROOT)
    else:
        files, expected = _real_shaped_node_modules()
    # GNU tar's long names, as node_modules paths often need.
    blob = io.BytesIO(gzip.compress(tar(*files)))
    found = inventory([blob])
    assert _pairs(found.packages) == expected
    assert len(found.packages) == len(expected)
    assert {package.type for package in found.packages} == {"npm"}


def test_npm_scoped_package_purl_and_licenses() -> None:
    found = inventory(
        [
            layer(
                File(
                    "srv/node_modules/@koa/cors/package.json",
                    b'{"name": "@koa/cors", "version": "5.0.0", "license": "MIT"}',
                ),
                File(
                    "srv/node_modules/old/package.json",
                    package_json("old", "1.0.0", licenses=[{"type": "BSD"}, {"type": "MIT"}]),
                ),
                # A folder marker inside a package, not a package.
                File("srv/node_modules/old/lib/package.json", b'{"type": "module"}'),
                File(
                    "srv/node_modules/old/esm/package.json", b'{"name": "esm", "version": "9.9.9"}'
                ),
            )
        ]
    )
    assert [(p.name, p.version, p.licenses, p.purl) for p in found.packages] == [
        ("@koa/cors", "5.0.0", ("MIT",), "pkg:npm/%40koa/cors@5.0.0"),
        ("old", "1.0.0", ("BSD", "MIT"), "pkg:npm/old@1.0.0"),
    ]


def test_package_lock_v3_from_this_repository() -> None:
    content = (Path(__file__).parent.parent / "oidc" / "package-lock.json").read_bytes()
    lock = json.loads(content)
    assert lock["lockfileVersion"] == 3
    expected = {
        (key.rpartition("node_modules/")[2], entry["version"])
        for key, entry in lock["packages"].items()
        if key.startswith("node_modules/")
    }
    found = inventory([layer(File("srv/app/package-lock.json", content))])
    assert _pairs(found.packages) == expected
    assert ("@koa/cors", "5.0.0") in expected
    cors = next(package for package in found.packages if package.name == "@koa/cors")
    assert cors.licenses == ("MIT",)


def test_package_lock_v1_and_v2_shapes_and_deduplication() -> None:
    v1 = {
        "name": "web",
        "version": "1.0.0",
        "lockfileVersion": 1,
        "requires": True,
        "dependencies": {
            "ms": {"version": "2.1.3", "resolved": "https://registry.npmjs.org/ms/-/ms-2.1.3.tgz"},
            "debug": {
                "version": "2.6.9",
                "requires": {"ms": "2.0.0"},
                "dependencies": {"ms": {"version": "2.0.0"}},
            },
        },
    }
    v2 = {
        "name": "api",
        "version": "2.0.0",
        "lockfileVersion": 2,
        "requires": True,
        "packages": {
            "": {"name": "api", "version": "2.0.0", "dependencies": {"ms": "^2.1.3"}},
            "node_modules/ms": {"version": "2.1.3", "license": "MIT"},
            "node_modules/@types/node": {"version": "20.12.7", "license": "MIT"},
            "node_modules/local": {"resolved": "packages/local", "link": True},
            "packages/local": {"name": "local", "version": "0.0.1"},
        },
        "dependencies": {"ms": {"version": "2.1.3"}, "@types/node": {"version": "20.12.7"}},
    }
    found = inventory(
        [
            layer(
                File("srv/web/package-lock.json", json.dumps(v1).encode()),
                File("srv/api/package-lock.json", json.dumps(v2).encode()),
                File("srv/api/node_modules/ms/package.json", b'{"name":"ms","version":"2.1.3"}'),
                # npm's hidden lockfile inside node_modules repeats the tree: not read.
                File("srv/api/node_modules/.package-lock.json", json.dumps(v2).encode()),
            )
        ]
    )
    assert sorted((p.name, p.version) for p in found.packages) == [
        ("@types/node", "20.12.7"),
        ("debug", "2.6.9"),
        ("ms", "2.0.0"),
        ("ms", "2.1.3"),
    ]


# -- Go binaries ---------------------------------------------------------------------------------

GO_BINARY_CANDIDATES = (
    "docker-registry",
    "skopeo",
    "podman",
    "kubectl",
    "docker",
    "nats-server",
    "anthoscli",
    "/usr/lib/google-cloud-sdk/bin/kubectl",
)


def _go_binaries() -> list[Path]:
    found: dict[Path, Path] = {}
    for candidate in GO_BINARY_CANDIDATES:
        where = shutil.which(candidate) if "/" not in candidate else candidate
        if where and Path(where).is_file():
            real = Path(where).resolve()
            if golang.MAGIC in real.read_bytes() and real.stat().st_size < 200 << 20:
                found.setdefault(real, real)
    return list(found)


def _go_version_m(binary: Path) -> tuple[str, set[tuple[str, str]]]:
    """The Go version and modules of `binary` as `go version -m` prints them, else as `strings`
    finds its build info text (which `go version -m` prints verbatim)."""
    if shutil.which("go") is not None:
        lines = _run("go", "version", "-m", str(binary)).splitlines()
        version = lines[0].split(": ", 1)[1].strip()
        lines = [line.strip() for line in lines[1:]]
    else:
        text = _run("strings", "-n", "4", str(binary)).splitlines()
        versions = {line for line in text if re.fullmatch(r"go1\.\d+(\.\d+)?", line)}
        assert len(versions) == 1, versions
        version = versions.pop()
        # The module text can sit in the binary twice (the build info and runtime.modinfo).
        start = next(index for index, line in enumerate(text) if line.startswith("path\t"))
        lines = []
        for line in text[start + 1 :]:
            if not line.startswith(("mod\t", "dep\t", "=>\t", "build\t")):
                break
            lines.append(line)
    modules: list[tuple[str, str]] = []
    for line in lines:
        kind, *fields = line.split("\t")
        if kind in ("mod", "dep"):
            modules.append((fields[0], fields[1]))
        elif kind == "=>" and fields[0].startswith(("./", "../", "/")):
            # Replaced by a local directory: the code is the module's, at no release.
            modules[-1] = (modules[-1][0], "(devel)")
        elif kind == "=>":
            modules[-1] = (fields[0], fields[1])
    return version, {*modules, ("stdlib", version.removeprefix("go"))}


def test_real_go_binaries() -> None:
    binaries = _go_binaries()
    if not binaries:
        pytest.fail(
            "no Go binary on this machine: the test command installs docker-registry, skopeo "
            "and podman"
        )
    found = inventory(
        [
            layer(
                *(
                    File(f"usr/bin/{binary.name}", binary.read_bytes(), 0o755)
                    for binary in binaries
                ),
                compression="none",
            )
        ]
    )
    for binary in binaries:
        version, modules = _go_version_m(binary)
        reported = [p for p in found.packages if p.path == f"usr/bin/{binary.name}"]
        assert _pairs(reported) == modules, binary
        assert {package.type for package in reported} == {"golang"}
        stdlib = next(package for package in reported if package.name == "stdlib")
        assert stdlib.purl == f"pkg:golang/stdlib@{version.removeprefix('go')}"


APP_MODULES = "\n".join(
    [
        "path\texample.com/app/cmd/app",
        "mod\texample.com/app\t(devel)\t",
        "dep\tgithub.com/google/uuid\tv1.6.0\th1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=",
        "dep\tgolang.org/x/net\tv0.20.0\th1:aCL9BSgETF1k+blQaTUBY8bZ6XjoVZzEoHnpXE4Ta/w=",
        "=>\tgolang.org/x/net\tv0.23.0\th1:7EYJ93RZ9vYSZAIb2x3lnuvqO5zneoD6IvWjuhfxjTs=",
        "dep\tgithub.com/acme/internal\tv1.0.0\t",
        "=>\t../internal\t",
        "dep\tcnrm.googlesource.com/cnrm\tv0.0.0\t",
        "=>\t./private_repos/cnrm.googlesource.com/cnrm/\t(devel)\t",
        "build\t-compiler=gc",
        "build\tGOOS=linux",
        "",
    ]
)


def test_go_build_info_with_replacements_and_a_stray_magic() -> None:
    binary = elf(
        # A copy of the magic as a constant (as debug/buildinfo has), not on a 16-byte boundary...
        (1001, golang.MAGIC + b"\x08\x02"),
        # ...and one on a boundary that is not build info either.
        (2048, golang.MAGIC + b"\x08\x02" + bytes(16) + b"\xff\xff\xff\xff\x0f"),
        (8192, go_build_info("go1.21.5 X:boringcrypto", APP_MODULES)),
    )
    found = inventory([layer(File("app", binary, 0o755))])
    assert [(p.name, p.version, p.purl) for p in found.packages] == [
        (
            "cnrm.googlesource.com/cnrm",
            "(devel)",
            "pkg:golang/cnrm.googlesource.com/cnrm@%28devel%29",
        ),
        ("example.com/app", "(devel)", "pkg:golang/example.com/app@%28devel%29"),
        ("github.com/acme/internal", "(devel)", "pkg:golang/github.com/acme/internal@%28devel%29"),
        ("github.com/google/uuid", "v1.6.0", "pkg:golang/github.com/google/uuid@v1.6.0"),
        ("golang.org/x/net", "v0.23.0", "pkg:golang/golang.org/x/net@v0.23.0"),
        ("stdlib", "1.21.5", "pkg:golang/stdlib@1.21.5"),
    ]
    assert {package.path for package in found.packages} == {"app"}


def test_go_binary_needs_an_exec_bit_and_an_executable_format() -> None:
    info = go_build_info("go1.22.1", "mod\texample.com/tool\tv1.2.3\t\n")
    found = inventory(
        [
            layer(
                File("usr/share/doc/not-executable", elf((4096, info)), 0o644),
                File("usr/bin/script", b"#!/bin/sh\n" + bytes(4086) + info, 0o755),
                File("usr/bin/tool", elf((4096, info)), 0o755),
            )
        ]
    )
    assert [(p.path, p.name, p.version) for p in found.packages] == [
        ("usr/bin/tool", "example.com/tool", "v1.2.3"),
        ("usr/bin/tool", "stdlib", "1.22.1"),
    ]


def test_go_build_info_spanning_stream_chunks() -> None:
    # The header and its strings straddle the 1 MiB chunks the binary is read in.
    offset = (1 << 20) - 16
    info = go_build_info("go1.20.14", "mod\texample.com/big\tv0.1.0\t\n")
    found = inventory([layer(File("big", elf((offset, info), size=3 << 20), 0o755))])
    assert _pairs(found.packages) == {("example.com/big", "v0.1.0"), ("stdlib", "1.20.14")}


def test_go_binary_from_before_go_1_18_is_skipped() -> None:
    pointer_format = golang.MAGIC + bytes([8, 0]) + (0x4A1000).to_bytes(8, "little") * 2
    found = inventory([layer(File("old", elf((4096, pointer_format)), 0o755))])
    assert found.packages == []


# -- Java ----------------------------------------------------------------------------------------

COMMONS_LANG_POM = b"""#Generated by Maven
#Tue Feb 28 13:05:01 UTC 2023
artifactId=commons-lang3
groupId=org.apache.commons
version=3.12.0
"""
COMMONS_LANG_MANIFEST = b"""Manifest-Version: 1.0\r
Created-By: Maven JAR Plugin 3.3.0\r
Build-Jdk-Spec: 1.8\r
Implementation-Title: Apache Commons Lang\r
Implementation-Version: 3.12.0\r
Bundle-SymbolicName: org.apache.commons.lang3\r
Bundle-Version: 3.12.0\r
\r
"""


def test_jar_with_pom_properties() -> None:
    library = jar(
        {
            "META-INF/MANIFEST.MF": COMMONS_LANG_MANIFEST,
            "META-INF/maven/org.apache.commons/commons-lang3/pom.properties": COMMONS_LANG_POM,
            "META-INF/maven/org.apache.commons/commons-lang3/pom.xml": b"<project/>",
            "org/apache/commons/lang3/StringUtils.class": b"\xca\xfe\xba\xbe",
        }
    )
    found = inventory([layer(File("opt/app/lib/commons-lang3-3.12.0.jar", library))])
    assert found.packages == [
        Package(
            type="maven",
            namespace="org.apache.commons",
            name="commons-lang3",
            version="3.12.0",
            path="opt/app/lib/commons-lang3-3.12.0.jar",
            purl="pkg:maven/org.apache.commons/commons-lang3@3.12.0",
        )
    ]


def test_fat_jar_with_nested_jars_one_level_deep() -> None:
    nested = jar(
        {"META-INF/maven/org.apache.commons/commons-lang3/pom.properties": COMMONS_LANG_POM}
    )
    deeper = jar(
        {"META-INF/maven/com.example/too-deep/pom.properties": pom("com.example", "too-deep", "1")}
    )
    osgi = jar(
        {
            "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\n"
            b"Bundle-SymbolicName: org.eclipse.equinox.common; singleton:=tr\r\n"
            b" ue\r\nBundle-Version: 3.18.200.v20231106-1826\r\n"
            b"Bundle-License: EPL-2.0\r\n\r\n"
        }
    )
    launcher = b"Main-Class: org.springframework.boot.loader.launch.JarLauncher\r\n"
    application = jar(
        {
            "META-INF/MANIFEST.MF": b"Manifest-Version: 1.0\r\n" + launcher + b"\r\n",
            "META-INF/maven/com.example/demo/pom.properties": pom(
                "com.example", "demo", "0.0.1-SNAPSHOT"
            ),
            "BOOT-INF/lib/commons-lang3-3.12.0.jar": nested,
            "BOOT-INF/lib/org.eclipse.equinox.common.jar": osgi,
            "BOOT-INF/lib/wrapper.jar": jar({"lib/too-deep.jar": deeper}),
        }
    )
    found = inventory([layer(File("app.jar", application))])
    assert [(p.namespace, p.name, p.version, p.licenses, p.path) for p in found.packages] == [
        ("com.example", "demo", "0.0.1-SNAPSHOT", (), "app.jar"),
        ("org.apache.commons", "commons-lang3", "3.12.0", (), "app.jar"),
        ("", "org.eclipse.equinox.common", "3.18.200.v20231106-1826", ("EPL-2.0",), "app.jar"),
    ]


def test_jar_with_only_an_implementation_manifest() -> None:
    manifest = COMMONS_LANG_MANIFEST
    found = inventory([layer(File("lib/lang.war", jar({"META-INF/MANIFEST.MF": manifest})))])
    assert [(p.name, p.version) for p in found.packages] == [("Apache Commons Lang", "3.12.0")]


def test_jars_of_the_local_maven_repository() -> None:
    repository = Path.home() / ".m2" / "repository"
    jars = sorted(repository.rglob("*.jar"))[:40] if repository.is_dir() else []
    jars = [path for path in jars if path.stat().st_size < 8 << 20]
    if not jars:
        pytest.skip("no local Maven repository (~/.m2/repository) on this machine")
    found = inventory([layer(*(File(f"opt/{path.name}", path.read_bytes()) for path in jars))])
    with_pom = 0
    for path in jars:
        # The repository layout is the coordinates: group/as/dirs/artifact/version/file.jar.
        version_dir = path.parent
        artifact_dir = version_dir.parent
        group = ".".join(artifact_dir.parent.relative_to(repository).parts)
        coordinates = (group, artifact_dir.name, version_dir.name)
        reported = {
            (p.namespace, p.name, p.version) for p in found.packages if p.path == f"opt/{path.name}"
        }
        with zipfile.ZipFile(path) as archive:
            if any(name.endswith("/pom.properties") for name in archive.namelist()):
                with_pom += 1
                assert coordinates in reported, path
    assert with_pom > 0


# -- Whiteouts and layer order -------------------------------------------------------------------

APP_METADATA = b"Metadata-Version: 2.1\nName: app\nVersion: 1.0\n"


def _metadata(name: str, version: str) -> bytes:
    return f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n".encode()


def test_a_package_database_deleted_by_a_whiteout_is_not_reported() -> None:
    found = inventory(
        [
            layer(File("lib/apk/db/installed", ALPINE_INSTALLED)),
            layer(whiteout("lib/apk/db/installed")),
        ]
    )
    assert found.packages == []


def test_a_whiteout_of_a_directory_removes_everything_under_it() -> None:
    site = "usr/lib/python3/site-packages"
    found = inventory(
        [
            layer(
                File(f"{site}/a-1.dist-info/METADATA", _metadata("a", "1")),
                File(f"{site}/b-1.dist-info/METADATA", _metadata("b", "1")),
                File("opt/c-1.dist-info/METADATA", _metadata("c", "1")),
            ),
            layer(whiteout("usr/lib/python3")),
        ]
    )
    assert _pairs(found.packages) == {("c", "1")}


def test_a_whiteout_applies_only_to_lower_layers() -> None:
    site = "srv/site-packages"
    found = inventory(
        [
            layer(File(f"{site}/a-1.dist-info/METADATA", _metadata("a", "1"))),
            # The layer deletes the old directory and puts a new one in its place, whiteout last.
            layer(
                File(f"{site}/a-2.dist-info/METADATA", _metadata("a", "2")),
                whiteout(f"{site}/a-2.dist-info"),
                whiteout(f"{site}/a-1.dist-info"),
            ),
        ]
    )
    assert _pairs(found.packages) == {("a", "2")}


@pytest.mark.parametrize("opaque_first", [True, False])
def test_an_opaque_directory_hides_lower_contents_but_keeps_its_own(opaque_first: bool) -> None:
    site = "usr/lib/python3/site-packages"
    new = File(f"{site}/b-2.dist-info/METADATA", _metadata("b", "2"))
    marker = opaque(site)
    found = inventory(
        [
            layer(
                File(f"{site}/a-1.dist-info/METADATA", _metadata("a", "1")),
                File(f"{site}/b-1.dist-info/METADATA", _metadata("b", "1")),
                File("usr/lib/python3/other/c-1.dist-info/METADATA", _metadata("c", "1")),
            ),
            layer(Dir(site), *((marker, new) if opaque_first else (new, marker))),
        ]
    )
    assert _pairs(found.packages) == {("b", "2"), ("c", "1")}


def test_an_opaque_root_hides_every_lower_layer() -> None:
    found = inventory(
        [
            layer(File("a-1.dist-info/METADATA", _metadata("a", "1"))),
            layer(File(".wh..wh..opq"), File("b-1.dist-info/METADATA", _metadata("b", "1"))),
        ]
    )
    assert _pairs(found.packages) == {("b", "1")}


def test_a_file_replaced_in_an_upper_layer_reports_the_upper_version() -> None:
    upgraded = ALPINE_INSTALLED.replace(b"V:1.3.1-r1", b"V:1.3.1-r2")
    found = inventory(
        [
            layer(File("lib/apk/db/installed", ALPINE_INSTALLED)),
            layer(File("etc/motd", b"hello")),
            layer(File("lib/apk/db/installed", upgraded)),
        ]
    )
    zlib = [package for package in found.packages if package.name == "zlib"]
    assert [package.version for package in zlib] == ["1.3.1-r2"]
    assert len(found.packages) == 5


def test_an_upper_file_that_no_longer_parses_still_replaces_the_lower_one() -> None:
    found = inventory(
        [
            layer(File("srv/node_modules/x/package.json", b'{"name":"x","version":"1.0.0"}')),
            layer(File("srv/node_modules/x/package.json", b"{not json")),
        ]
    )
    assert found.packages == []


def test_a_non_directory_hides_what_lower_layers_had_under_its_path() -> None:
    found = inventory(
        [
            layer(
                File("opt/venv/lib/a-1.dist-info/METADATA", _metadata("a", "1")),
                File("opt/other/lib/b-1.dist-info/METADATA", _metadata("b", "1")),
                File("opt/keep/c-1.dist-info/METADATA", _metadata("c", "1")),
            ),
            layer(File("opt/venv", b"now a file"), Symlink("opt/other", "/opt/keep")),
        ]
    )
    assert _pairs(found.packages) == {("c", "1")}


def test_a_directory_replaces_a_lower_file_at_its_path() -> None:
    found = inventory(
        [
            layer(File("opt/x.egg-info", _metadata("x", "1"))),
            layer(Dir("opt/x.egg-info"), File("opt/x.egg-info/PKG-INFO", _metadata("x", "2"))),
        ]
    )
    assert _pairs(found.packages) == {("x", "2")}


def test_os_release_through_symlinks_across_layers() -> None:
    found = inventory(
        [
            layer(Symlink("etc/os-release", "../usr/lib/os-release")),
            layer(File("usr/lib/os-release", DEBIAN_OS_RELEASE)),
        ]
    )
    assert found.distro == Distro("debian", "12", "bookworm", "Debian GNU/Linux 12 (bookworm)")
    absolute = inventory(
        [
            layer(
                Symlink("etc/os-release", "/usr/lib/os-release"),
                File("usr/lib/os-release", ALPINE_OS_RELEASE),
            )
        ]
    )
    assert absolute.distro is not None
    assert absolute.distro.id == "alpine"
    # The os-release deleted in an upper layer leaves only alpine-release.
    deleted = inventory(
        [
            layer(
                File("etc/os-release", DEBIAN_OS_RELEASE), File("etc/alpine-release", b"3.19.1\n")
            ),
            layer(whiteout("etc/os-release")),
        ]
    )
    assert deleted.distro == Distro("alpine", "3.19.1")


def test_a_hard_link_holds_what_its_target_holds() -> None:
    binary = elf((4096, go_build_info("go1.22.1", "mod\texample.com/tool\tv1.2.3\t\n")))
    found = inventory(
        [
            layer(
                File("usr/bin/tool", binary, 0o755), HardLink("usr/bin/tool-alias", "usr/bin/tool")
            ),
            layer(whiteout("usr/bin/tool")),
        ]
    )
    assert {(p.path, p.name) for p in found.packages} == {
        ("usr/bin/tool-alias", "example.com/tool"),
        ("usr/bin/tool-alias", "stdlib"),
    }


# -- Compression ---------------------------------------------------------------------------------


@pytest.mark.parametrize("compression", ["gzip", "zstd", "none"])
@pytest.mark.parametrize("seekable", [True, False])
def test_layers_in_every_compression(compression: Any, seekable: bool) -> None:
    entries = (
        File("etc/alpine-release", b"3.20.3\n"),
        File("lib/apk/db/installed", ALPINE_INSTALLED),
        File("var/cache/noise.bin", random.Random(7).randbytes(300_000)),
        File("usr/lib/python3.12/site-packages/app-1.0.dist-info/METADATA", APP_METADATA),
    )
    blob = compress(tar(*entries), compression)
    stream: Any = io.BytesIO(blob) if seekable else io.BufferedReader(Unseekable(blob))
    found = inventory([stream])
    assert len(found.packages) == 6
    assert found.distro == Distro("alpine", "3.20.3")


def test_a_gnu_format_tar_with_long_names() -> None:
    long_dir = "/".join(["node_modules/@scope/deep"] + ["node_modules/pkg"] * 8)
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.GNU_FORMAT) as archive:
        content = b'{"name":"pkg","version":"1.0.0"}'
        info = tarfile.TarInfo(f"{long_dir}/package.json")
        info.size = len(content)
        archive.addfile(info, io.BytesIO(content))
    found = inventory([io.BytesIO(buffer.getvalue())])
    assert [(p.name, p.path) for p in found.packages] == [("pkg", f"{long_dir}/package.json")]


# -- Broken input --------------------------------------------------------------------------------


def _sample_layer() -> bytes:
    return tar(
        File("lib/apk/db/installed", ALPINE_INSTALLED),
        File("var/cache/noise.bin", random.Random(3).randbytes(200_000)),
        File("usr/lib/app-1.0.dist-info/METADATA", APP_METADATA),
    )


def _member_offsets() -> list[int]:
    """Where each member's header starts in the sample layer, then where its last member ends."""
    with tarfile.open(fileobj=io.BytesIO(_sample_layer())) as archive:
        members = archive.getmembers()
    last = members[-1]
    end = last.offset_data + -(-last.size // tarfile.BLOCKSIZE) * tarfile.BLOCKSIZE
    return [member.offset for member in members] + [end]


def _corrupt(data: bytes, at: int) -> bytes:
    return data[:at] + bytes(byte ^ 0x5A for byte in data[at : at + 64]) + data[at + 64 :]


@pytest.mark.parametrize(
    "blob",
    [
        pytest.param(
            lambda: _corrupt(compress(_sample_layer(), "gzip"), 20_000), id="corrupt-gzip"
        ),
        pytest.param(lambda: compress(_sample_layer(), "gzip")[:-100], id="truncated-gzip"),
        pytest.param(lambda: compress(_sample_layer(), "gzip")[:10], id="gzip-header-only"),
        pytest.param(lambda: _corrupt(compress(_sample_layer(), "zstd"), 5_000), id="corrupt-zstd"),
        pytest.param(lambda: compress(_sample_layer(), "zstd")[:-50], id="truncated-zstd"),
        pytest.param(lambda: _sample_layer()[:150_000], id="truncated-tar-mid-file"),
        pytest.param(
            lambda: _sample_layer()[: _member_offsets()[1] + 100], id="truncated-tar-mid-header"
        ),
        pytest.param(lambda: _sample_layer()[: _member_offsets()[-1]], id="tar-without-its-end"),
        pytest.param(
            lambda: _corrupt(_sample_layer(), _member_offsets()[2]), id="corrupt-tar-header"
        ),
        pytest.param(lambda: b"", id="empty"),
        pytest.param(lambda: random.Random(1).randbytes(4096), id="garbage"),
    ],
)
def test_a_broken_layer_raises_layer_error(blob: Callable[[], bytes]) -> None:
    with pytest.raises(LayerError):
        inventory([layer(File("etc/alpine-release", b"3.20.3\n")), io.BytesIO(blob())])


def test_a_tar_cut_exactly_between_members_is_a_broken_layer() -> None:
    whole = tar(File("a-1.dist-info/METADATA", _metadata("a", "1")), File("b", b"x" * 700))
    second_header = whole.index(b"./b")
    assert second_header % tarfile.BLOCKSIZE == 0
    with pytest.raises(LayerError, match="truncated or corrupt"):
        inventory([io.BytesIO(whole[:second_header])])


def test_a_corrupt_tar_header_after_the_first_member_is_a_broken_layer() -> None:
    whole = tar(File("a", b"1"), File("b", b"2"), File("c", b"3"))
    damaged = bytearray(whole)
    second = whole.index(b"./b")
    damaged[second + 148 : second + 156] = b"9999999\0"  # the header checksum
    with pytest.raises(LayerError):
        inventory([io.BytesIO(bytes(damaged))])


def test_a_whiteout_without_a_name_is_a_broken_layer() -> None:
    with pytest.raises(LayerError, match="whiteout"):
        inventory([layer(File("etc/.wh."))])


def test_an_empty_tar_is_an_empty_layer() -> None:
    found = inventory([io.BytesIO(bytes(2 * tarfile.BLOCKSIZE)), layer(File("etc/motd", b"hi"))])
    assert found == Inventory()


def test_unparseable_package_files_are_skipped_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    broken_go = elf((4096, golang.MAGIC + bytes([8, 2]) + bytes(16) + b"\xff\xff\xff\xff\x7f"))
    caplog.set_level(logging.DEBUG, logger="dockyard.scanning.inventory")
    found = inventory(
        [
            layer(
                File("usr/bin/broken-go", broken_go, 0o755),
                File("var/lib/rpm/rpmdb.sqlite", b"SQLite format 3\0" + bytes(4000)),
                File("usr/lib/sysimage/rpm/rpmdb.sqlite", random.Random(2).randbytes(8192)),
                File("srv/node_modules/bad/package.json", b'{"name": "bad", "version": '),
                File("srv/node_modules/list/package.json", b"[1, 2]"),
                File("srv/package-lock.json", b"\xff\xfe garbage"),
                File("opt/broken.jar", b"PK\x03\x04 not really a zip"),
                File("opt/x-1.dist-info/METADATA", b"Metadata-Version: 2.1\nSummary: no name\n"),
                File("lib/apk/db/installed", ALPINE_INSTALLED),
            )
        ]
    )
    assert len(found.packages) == 5
    for path in (
        "usr/bin/broken-go",
        "var/lib/rpm/rpmdb.sqlite",
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
        "srv/node_modules/bad/package.json",
        "srv/node_modules/list/package.json",
        "srv/package-lock.json",
        "opt/broken.jar",
        "opt/x-1.dist-info/METADATA",
    ):
        assert f"skipping {path}" in caplog.text


def test_an_rpm_database_whose_packages_is_a_view_is_skipped() -> None:
    # A view's query could run forever: a pushed image must not make the scanner spin.
    connection = sqlite3.connect(":memory:")
    connection.execute(
        "CREATE VIEW Packages AS WITH RECURSIVE n(hnum, blob) AS"
        " (SELECT 1, x'00' UNION ALL SELECT hnum + 1, blob FROM n) SELECT * FROM n"
    )
    found = inventory([layer(File("var/lib/rpm/rpmdb.sqlite", connection.serialize()))])
    assert found.packages == []


def test_files_over_their_size_cap_are_skipped(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from dockyard.scanning.inventory import readers

    monkeypatch.setattr(readers, "_TEXT_LIMIT", 16)
    caplog.set_level(logging.DEBUG, logger="dockyard.scanning.inventory")
    found = inventory([layer(File("opt/a-1.dist-info/METADATA", APP_METADATA))])
    assert found.packages == []
    assert "is over 16" in caplog.text


def test_a_garbage_rpm_header_skips_only_that_package(rpmdb: tuple[bytes, list[str]]) -> None:
    content, _ = rpmdb
    database = bytearray(content)
    database[18:20] = b"\x01\x01"  # rollback journal, as rpm.py explains
    connection = sqlite3.connect(":memory:")
    connection.deserialize(bytes(database))
    rows = connection.execute("SELECT hnum, blob FROM Packages").fetchall()
    zlib_row = next(number for number, blob in rows if b"zlib-dockyard\0" in blob)
    garbage = b"\x00\x00\x00\x05\x00\x00\x00\x00garbage"
    connection.execute("UPDATE Packages SET blob = ? WHERE hnum = ?", (garbage, zlib_row))
    connection.commit()
    found = rpm.packages(connection.serialize(), "var/lib/rpm/rpmdb.sqlite")
    assert {package.name for package in found} == {"hello-dockyard", "libhello-dockyard"}


# -- Every parser fails only with PackageFileError -----------------------------------------------

PARSERS: list[tuple[Callable[[bytes, str], list[Package]], bytes]] = [
    (dpkg.packages, b"Package: a\nStatus: install ok installed\nVersion: 1\nSource: b (2)\n"),
    (apk.packages, ALPINE_INSTALLED[:600]),
    (pypi.packages, APP_METADATA),
    (npm.package_json, b'{"name": "x", "version": "1.0.0", "license": {"type": "MIT"}}'),
    (npm.package_lock, b'{"lockfileVersion": 2, "packages": {"node_modules/a": {"version": "1"}}}'),
    (golang.packages, go_build_info("go1.21.5", APP_MODULES)),
    (maven.packages, jar({"META-INF/maven/g/a/pom.properties": pom("g", "a", "1")})),
]


@pytest.mark.parametrize(
    ("parse", "sample"),
    PARSERS,
    ids=[f"{parse.__module__}.{parse.__name__}" for parse, _ in PARSERS],
)
def test_parsers_raise_nothing_but_package_file_error_on_damaged_input(
    parse: Callable[[bytes, str], list[Package]], sample: bytes
) -> None:
    assert parse(sample, "sample")
    generator = random.Random(11)
    for _ in range(300):
        damaged = bytearray(sample)
        for _ in range(generator.randint(1, 8)):
            damaged[generator.randrange(len(damaged))] = generator.randrange(256)
        cut = bytes(damaged[: generator.randint(0, len(damaged))])
        for candidate in (bytes(damaged), cut):
            with contextlib.suppress(PackageFileError):
                parse(candidate, "sample")


def test_rpm_header_rejects_damaged_blobs() -> None:
    generator = random.Random(5)
    wanted = frozenset({rpm_header.NAME, rpm_header.EPOCH})
    for _ in range(500):
        blob = generator.randbytes(generator.randint(0, 200))
        with contextlib.suppress(PackageFileError):
            rpm_header.tags(blob, wanted)
    with pytest.raises(PackageFileError):
        rpm_header.tags(
            b"\x00\x00\x00\x01\x00\x00\x00\x10"
            + b"\x00\x00\x03\xe8\x00\x00\x00\x06\x00\x00\x00\x20\x00\x00\x00\x01"
            + bytes(16),
            wanted,
        )


def test_os_release_parsing() -> None:
    assert distro.os_release(b"# comment\nID='opensuse-leap'\nVERSION_ID=\"15.6\"\n") == Distro(
        "opensuse-leap", "15.6"
    )
    assert distro.os_release(b'NAME="Unbalanced\n') == Distro("linux", "")
    assert distro.alpine_release(b"\n") is None


def test_the_inventory_is_deterministic() -> None:
    def layers() -> list[io.BytesIO]:
        return [
            layer(
                File("lib/apk/db/installed", ALPINE_INSTALLED),
                File("etc/alpine-release", b"3.20.3"),
            ),
            layer(File("app/node_modules/a/package.json", b'{"name":"a","version":"1.0.0"}')),
        ]

    assert inventory(layers()) == inventory(layers())
