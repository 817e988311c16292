"""How versions of each ecosystem are ordered: which class reads them, and how to compare.

Nothing here does version arithmetic: univers's classes do, and apk.py's for Alpine-style
(apk) versions, which univers's Gentoo-based AlpineLinuxVersion misreads (it rejects `_git`
snapshots such as musl's 1.2.4_git20230717). Two things are ours: which class goes with which
lookup key, and comparing through `<` and `>` only, because univers's Gentoo-based classes
override those two but inherit `<=`/`>=` from attrs, which would compare the raw strings.
"""

from __future__ import annotations

from univers.versions import (
    DebianVersion,
    GolangVersion,
    MavenVersion,
    PypiVersion,
    RpmVersion,
    SemverVersion,
    Version,
)

from dockyard.scanning.osv.apk import ApkVersion

# Keys (see ecosystems.py) by family: the part before the first ":" names the family.
_ECOSYSTEM_CLASSES: dict[str, type[Version]] = {
    "Debian": DebianVersion,
    "Ubuntu": DebianVersion,
    # Wolfi and Chainguard ship apk packages too, ordered by the same apk rules.
    "Alpine": ApkVersion,
    "Wolfi": ApkVersion,
    "Chainguard": ApkVersion,
    "Red Hat": RpmVersion,
    "AlmaLinux": RpmVersion,
    "Rocky Linux": RpmVersion,
    "SUSE": RpmVersion,
    "openSUSE": RpmVersion,
    "Mageia": RpmVersion,
    "PyPI": PypiVersion,
    "npm": SemverVersion,
    "Go": GolangVersion,
    "Maven": MavenVersion,
}


def version_class(key: str, range_type: str) -> type[Version] | None:
    """The univers class that orders a range of this type for this key; None when none does."""
    family = key.partition(":")[0]
    if range_type == "SEMVER":
        # Go's SEMVER ranges drop the "v" its module versions carry; GolangVersion accepts both.
        return GolangVersion if family == "Go" else SemverVersion
    if range_type == "ECOSYSTEM":
        return _ECOSYSTEM_CLASSES.get(family)
    return None


def parse(cls: type[Version], text: str) -> Version | None:
    """The version, or None when the class cannot read it."""
    try:
        return cls(text)
    # univers's parsers raise assorted errors on input they do not expect, not only
    # InvalidVersion; an unreadable version only means "cannot be ordered".
    except Exception:
        return None


def compare(left: Version, right: Version) -> int:
    """-1, 0 or 1 as left sorts before, with, or after right."""
    if left < right:
        return -1
    if left > right:
        return 1
    return 0
