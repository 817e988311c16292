"""The repository name of a data-plane request, validated once."""

from __future__ import annotations

from starlette.requests import Request

from dockyard.projects.names import validate_name
from dockyard.settings import Settings

# Where the validated path name waits for the endpoint once the gate has checked it.
_VALIDATED = "dockyard.repository_name"


def repository_name(request: Request, settings: Settings, name: str | None = None) -> str:
    """The validated repository name from the path (or ``name``, e.g. a mount's ``from``)."""
    if name is not None:
        return validate_name(name, settings.limits.name_max_length)
    validated: str | None = request.scope.get(_VALIDATED)
    if validated is None:
        validated = validate_name(request.path_params["name"], settings.limits.name_max_length)
        request.scope[_VALIDATED] = validated
    return validated
