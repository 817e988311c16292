"""The repository name of a data-plane request, validated once."""

from __future__ import annotations

from starlette.requests import Request

from dockyard.projects.names import validate_name
from dockyard.settings import Settings


def repository_name(request: Request, settings: Settings, name: str | None = None) -> str:
    """The validated repository name from the path (or ``name``, e.g. a mount's ``from``)."""
    return validate_name(
        request.path_params["name"] if name is None else name, settings.limits.name_max_length
    )
