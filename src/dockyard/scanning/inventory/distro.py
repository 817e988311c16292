"""The distribution an image is built on, from os-release(5) or Alpine's alpine-release."""

from __future__ import annotations

import shlex

from dockyard.scanning.packages import Distro


def os_release(content: bytes) -> Distro:
    """The distribution an os-release file describes (ID "linux" if absent, per os-release(5))."""
    fields: dict[str, str] = {}
    for line in content.decode("utf-8", errors="replace").splitlines():
        key, equals, value = line.strip().partition("=")
        if equals and key and not key.startswith("#"):
            fields[key] = _unquoted(value)
    return Distro(
        id=fields.get("ID", "linux"),
        version_id=fields.get("VERSION_ID", ""),
        codename=fields.get("VERSION_CODENAME", ""),
        pretty_name=fields.get("PRETTY_NAME", ""),
    )


def alpine_release(content: bytes) -> Distro | None:
    """Alpine from its etc/alpine-release ("3.20.3"), for images without an os-release."""
    version = content.decode("utf-8", errors="replace").strip()
    return Distro(id="alpine", version_id=version) if version else None


def _unquoted(value: str) -> str:
    """A value as the shell would read it: os-release allows quotes and backslash escapes."""
    try:
        words = shlex.split(value)
    except ValueError:  # an unbalanced quote: keep what is there
        return value.strip("\"'")
    return " ".join(words)
