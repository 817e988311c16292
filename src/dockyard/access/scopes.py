"""Scopes of the Docker token protocol: ``repository:library/app:pull,push``.

The grammar is shared/specs/docker-auth/scope.md; a resource name may hold a
colon (a registry host with a port), so the type ends at the first colon and the
actions start after the last one.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from dockyard.access.rbac import Action

_TYPE = re.compile(r"^[a-z0-9]+(\([a-z0-9]+\))?$")
_ACTION = re.compile(r"^[a-z*]+$")

# What each registry action needs in the RBAC table.
REGISTRY_ACTIONS: dict[str, Action] = {
    "pull": Action.REPOSITORY_PULL,
    "push": Action.REPOSITORY_PUSH,
    "delete": Action.ARTIFACT_DELETE,
}


@dataclass(frozen=True, slots=True)
class Scope:
    type: str
    name: str
    actions: tuple[str, ...]

    def __str__(self) -> str:
        return f"{self.type}:{self.name}:{','.join(self.actions)}"

    def claim(self) -> dict[str, object]:
        """The scope as an entry of a token's ``access`` claim."""
        return {"type": self.type, "name": self.name, "actions": list(self.actions)}


def parse_scope(text: str) -> Scope | None:
    """A scope, or None when ``text`` is not one (such scopes are ignored, as the spec says
    a token service grants what it can)."""
    first, last = text.find(":"), text.rfind(":")
    if first <= 0 or last == first:
        return None
    kind, name, actions = text[:first], text[first + 1 : last], text[last + 1 :]
    wanted = tuple(dict.fromkeys(a for a in actions.split(",") if a))
    if not _TYPE.match(kind) or not name or not all(_ACTION.match(a) for a in wanted):
        return None
    return Scope(kind.split("(")[0], name, wanted)


def parse_scopes(values: list[str]) -> list[Scope]:
    """Every scope of the ``scope`` parameters; one parameter may hold several, space-separated."""
    scopes: list[Scope] = []
    for value in values:
        for text in value.split():
            scope = parse_scope(text)
            if scope is not None:
                scopes.append(scope)
    return scopes
