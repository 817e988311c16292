"""Python distributions from their core metadata: *.dist-info/METADATA and *.egg-info/PKG-INFO."""

from __future__ import annotations

from email.parser import HeaderParser

from dockyard.scanning.inventory.errors import PackageFileError
from dockyard.scanning.packages import Package

_CLASSIFIER = "License :: OSI Approved :: "
# A License field longer than this is the licence's full text pasted in, not its name.
_LICENSE_NAME_LIMIT = 100


def is_metadata(path: str) -> bool:
    """Whether `path` is where an installed distribution keeps its core metadata."""
    return (
        path.endswith((".dist-info/METADATA", ".egg-info/PKG-INFO"))
        # setuptools' older layout: the egg-info is one file rather than a directory.
        or path.endswith(".egg-info")
    )


def packages(content: bytes, path: str) -> list[Package]:
    """The one distribution a core metadata file describes."""
    headers = HeaderParser().parsestr(content.decode("utf-8", errors="replace"), headersonly=True)
    name = str(headers.get("Name", "")).strip()
    version = str(headers.get("Version", "")).strip()
    if not name or not version:
        raise PackageFileError("core metadata without Name and Version")
    return [
        Package(
            type="pypi",
            name=name,
            version=version,
            path=path,
            licenses=_licenses(
                str(headers.get("License-Expression", "")),
                str(headers.get("License", "")),
                [str(value) for value in headers.get_all("Classifier", [])],
            ),
        )
    ]


def _licenses(expression: str, license_: str, classifiers: list[str]) -> tuple[str, ...]:
    """The most precise licence statement present: an SPDX expression, a name, or classifiers."""
    if expression.strip():
        return (expression.strip(),)
    license_ = license_.strip()
    is_name = len(license_) <= _LICENSE_NAME_LIMIT and "\n" not in license_
    if license_ not in ("", "UNKNOWN") and is_name:
        return (license_,)
    return tuple(
        classifier.removeprefix(_CLASSIFIER).strip()
        for classifier in classifiers
        if classifier.startswith(_CLASSIFIER)
    )
