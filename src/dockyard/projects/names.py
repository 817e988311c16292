"""Repository names and tags, by the grammar of the OCI Distribution Specification."""

from __future__ import annotations

import re

from dockyard.errors import NameInvalid, TagInvalid

# The grammar as patterns, for the API's schemas too: a path component, a tag.
COMPONENT_PATTERN = r"[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*"
TAG_PATTERN = r"[a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}"
_NAME = re.compile(rf"^{COMPONENT_PATTERN}(?:/{COMPONENT_PATTERN})*$")
_TAG = re.compile(rf"^{TAG_PATTERN}$")


def validate_name(name: str, max_length: int) -> str:
    """Return the name if it is a valid repository name, else raise NameInvalid."""
    if len(name) > max_length:
        raise NameInvalid(
            f"repository name is longer than {max_length} characters",
            detail={"name": name[:max_length]},
        )
    if not _NAME.match(name):
        raise NameInvalid(
            "repository name must match "
            "[a-z0-9]+((.|_|__|-+)[a-z0-9]+)*(/[a-z0-9]+((.|_|__|-+)[a-z0-9]+)*)*",
            detail={"name": name},
        )
    return name


def validate_tag(tag: str) -> str:
    if not _TAG.match(tag):
        raise TagInvalid(
            "tag must match [a-zA-Z0-9_][a-zA-Z0-9._-]{0,127}", detail={"tag": tag[:200]}
        )
    return tag


def project_of(name: str) -> str:
    """The project a repository belongs to: its first path component."""
    return name.split("/", 1)[0]
