"""Which OSV ecosystem and package name an installed package is looked up under.

Advisories are stored under a key derived from their `affected[].package.ecosystem`, and a
package is looked up under the key of its own kind and, for OS packages, of the image's
distribution release. The two meet only when they agree exactly, which is what keeps a Debian
advisory off an Ubuntu package, a bookworm advisory off a bullseye image, and an upstream
(language ecosystem) range off a distribution's patched package.

Keys:
  "Debian:12"            Debian:12
  "Ubuntu:22.04"         Ubuntu:22.04:LTS, Ubuntu:Pro:22.04:LTS, Ubuntu:24.10
  "Alpine:v3.20"         Alpine:v3.20
  "Red Hat:9"            Red Hat:enterprise_linux:9::appstream, ...::baseos, ...::crb
  "AlmaLinux:9"          AlmaLinux:9
  "Rocky Linux:9"        Rocky Linux:9
  "SUSE:15 SP5"          SUSE:Linux Enterprise Server 15 SP5, ...Module for Basesystem 15 SP5,
                         ...Server 15 SP5-LTSS (SLE files packages under the module shipping them)
  "openSUSE:Leap 15.5"   openSUSE:Leap 15.5, openSUSE:Leap 15.5 NonFree
  "openSUSE:Tumbleweed"  openSUSE:Tumbleweed
  "Mageia:9"             Mageia:9
  "Wolfi", "Chainguard"  Wolfi, Chainguard (rolling: no release)
  "PyPI", "npm", "Go"    the same
  "Maven"                Maven, Maven:<repository url>
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass

from dockyard.scanning.packages import Distro, Package

_DEBIAN = re.compile(r"Debian:(\d+)")
_UBUNTU = re.compile(r"Ubuntu:(?:Pro:)?(\d\d\.\d\d)(?::LTS)?")
_ALPINE = re.compile(r"Alpine:v(\d+\.\d+)")
_NUMBERED = re.compile(r"(AlmaLinux|Rocky Linux|Mageia):(\d+)")
# Only RHEL's own streams: EUS/AUS/E4S and layered products (OpenShift...) version differently.
_RED_HAT = re.compile(r"Red Hat:enterprise_linux:(\d+)(?:::[\w-]+)?")
# SLE products and modules; SLE Micro is a different line numbered on its own (5.5, 6.0).
_SUSE = re.compile(r"SUSE:Linux Enterprise (?!Micro\b)(?:.* )?(\d+(?: SP\d+|\.\d+)?)(?:-[\w-]+)?")
_OPENSUSE = re.compile(r"openSUSE:(Leap \d+\.\d+|Tumbleweed)(?: NonFree)?")
_ROLLING = frozenset({"Wolfi", "Chainguard"})
_LANGUAGE = frozenset({"PyPI", "npm", "Go"})

# The package types whose advisories come from the image's distribution, by key family.
_OS_FAMILIES = {
    "deb": frozenset({"Debian", "Ubuntu"}),
    "apk": frozenset({"Alpine", "Wolfi", "Chainguard"}),
    "rpm": frozenset({"Red Hat", "AlmaLinux", "Rocky Linux", "SUSE", "openSUSE", "Mageia"}),
}
_LANGUAGE_KEYS = {"pypi": "PyPI", "npm": "npm", "golang": "Go", "maven": "Maven"}
_SLE_IDS = frozenset({"sles", "sles_sap", "sled", "sle_hpc"})
# A Go toolchain version as `go version` and build info spell it: go1.21, go1.21.3, go1.22rc1.
_GO_TOOLCHAIN = re.compile(r"go(\d+)\.(\d+)(?:\.(\d+))?(?:(rc|beta)(\d+))?")


@dataclass(frozen=True, slots=True)
class Lookup:
    """What to look an installed package up by: the key, the normalised name, the version."""

    key: str
    name: str
    version: str


def ecosystem_key(osv_ecosystem: str) -> str | None:
    """The key advisories of this OSV ecosystem are stored under; None for ones we do not match."""
    ecosystem = osv_ecosystem.strip()
    if ecosystem in _LANGUAGE or ecosystem in _ROLLING:
        return ecosystem
    if ecosystem == "Maven" or ecosystem.startswith("Maven:"):
        return "Maven"
    if match := _DEBIAN.fullmatch(ecosystem):
        return f"Debian:{match[1]}"
    if match := _UBUNTU.fullmatch(ecosystem):
        return f"Ubuntu:{match[1]}"
    if match := _ALPINE.fullmatch(ecosystem):
        return f"Alpine:v{match[1]}"
    if match := _NUMBERED.fullmatch(ecosystem):
        return f"{match[1]}:{match[2]}"
    if match := _RED_HAT.fullmatch(ecosystem):
        return f"Red Hat:{match[1]}"
    if match := _SUSE.fullmatch(ecosystem):
        return f"SUSE:{match[1]}"
    if match := _OPENSUSE.fullmatch(ecosystem):
        return f"openSUSE:{match[1]}"
    return None


def normalise_name(key: str, name: str) -> str:
    """A package name as stored and looked up under the key (PEP 503 for PyPI)."""
    name = name.strip()
    if key == "PyPI":
        return re.sub(r"[-_.]+", "-", name).lower()
    return name


def distro_key(distro: Distro) -> str | None:
    """The key of a distribution release; None when OSV publishes nothing we can match for it."""
    version = distro.version_id.strip()
    major, _, rest = version.partition(".")
    minor = rest.partition(".")[0]
    match distro.id.lower():
        case "debian" if major.isdigit():
            return f"Debian:{major}"
        case "ubuntu" if major.isdigit() and minor.isdigit():
            return f"Ubuntu:{major}.{minor}"
        case "alpine" if major.isdigit() and minor[:1].isdigit():
            # An edge image reads "3.22.0_alpha20250108": its branch is still v3.22.
            return f"Alpine:v{major}.{_leading_digits(minor)}"
        case "wolfi":
            return "Wolfi"
        case "chainguard":
            return "Chainguard"
        case "rhel" if major.isdigit():
            return f"Red Hat:{major}"
        case "almalinux" if major.isdigit():
            return f"AlmaLinux:{major}"
        case "rocky" if major.isdigit():
            return f"Rocky Linux:{major}"
        case "mageia" if major.isdigit():
            return f"Mageia:{major}"
        case "opensuse-leap" if major.isdigit() and minor.isdigit():
            return f"openSUSE:Leap {major}.{minor}"
        case "opensuse-tumbleweed":
            return "openSUSE:Tumbleweed"
        case sle if sle in _SLE_IDS and major.isdigit():
            return f"SUSE:{_sle_release(int(major), minor)}"
    return None


def lookup(package: Package, distro: Distro | None) -> Lookup | None:
    """The key, name and version to look the package up by; None when nothing can match it."""
    language_key = _LANGUAGE_KEYS.get(package.type)
    if language_key is not None:
        return _language_lookup(language_key, package)
    if distro is None:
        return None
    key = distro_key(distro)
    # An OS package is only ever matched against its own distribution's advisories.
    if key is None or key.partition(":")[0] not in _OS_FAMILIES.get(package.type, ()):
        return None
    # Distribution advisories name the source package (dpkg Source:, apk origin, SOURCERPM).
    name = package.source_name or package.name
    version = package.source_version or package.version
    return Lookup(key, normalise_name(key, name), version)


def _language_lookup(key: str, package: Package) -> Lookup | None:
    name, version = package.name, package.version
    if key == "Maven" and package.namespace and ":" not in name:
        name = f"{package.namespace}:{name}"
    if key == "Go" and name in ("stdlib", "go"):
        name, version = "stdlib", _go_toolchain_version(version)
    if not name or not version:
        return None
    return Lookup(key, normalise_name(key, name), version)


def _go_toolchain_version(version: str) -> str:
    """The semver OSV records give for a Go release: go1.21 is 1.21.0, go1.22rc1 is 1.22.0-rc.1."""
    match = _GO_TOOLCHAIN.fullmatch(version.strip())
    if match is None:
        return version.strip().removeprefix("v")
    major, minor, patch, stage, number = match.groups()
    release = f"{major}.{minor}.{patch or 0}"
    return f"{release}-{stage}.{number}" if stage else release


def _sle_release(major: int, minor: str) -> str:
    """SLE's release as its product names spell it: 15.5 is "15 SP5", 15.0 is "15", 16.0 stays."""
    if major >= 16:
        return f"{major}.{minor or 0}"
    return f"{major} SP{minor}" if minor and minor != "0" else str(major)


def _leading_digits(text: str) -> str:
    return "".join(itertools.takewhile(str.isdigit, text))
