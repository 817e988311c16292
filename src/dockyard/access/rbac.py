"""The one table of who may do what in a project, after Harbor's five project roles.

Every face asks :func:`allowed`; no route, template or command holds a rule of its own.
"""

from __future__ import annotations

from enum import IntEnum, StrEnum


class Role(IntEnum):
    """Harbor's project roles, with Harbor's ids so that its API clients find their way."""

    PROJECT_ADMIN = 1
    DEVELOPER = 2
    GUEST = 3
    MAINTAINER = 4
    LIMITED_GUEST = 5

    @property
    def label(self) -> str:
        return _LABELS[self]

    @classmethod
    def from_label(cls, label: str) -> Role:
        for role, name in _LABELS.items():
            if name == label:
                return role
        raise ValueError(f"unknown role {label!r}")


_LABELS = {
    Role.PROJECT_ADMIN: "projectAdmin",
    Role.DEVELOPER: "developer",
    Role.GUEST: "guest",
    Role.MAINTAINER: "maintainer",
    Role.LIMITED_GUEST: "limitedGuest",
}


class Action(StrEnum):
    """What can be done inside a project, as "resource:verb"."""

    PROJECT_READ = "project:read"
    PROJECT_UPDATE = "project:update"
    PROJECT_DELETE = "project:delete"
    REPOSITORY_PULL = "repository:pull"
    REPOSITORY_PUSH = "repository:push"
    REPOSITORY_DELETE = "repository:delete"
    ARTIFACT_READ = "artifact:read"
    ARTIFACT_DELETE = "artifact:delete"
    TAG_CREATE = "tag:create"
    TAG_DELETE = "tag:delete"
    MEMBER_READ = "member:read"
    MEMBER_MANAGE = "member:manage"
    ROBOT_READ = "robot:read"
    ROBOT_MANAGE = "robot:manage"
    SCAN_CREATE = "scan:create"
    WEBHOOK_READ = "webhook:read"
    WEBHOOK_MANAGE = "webhook:manage"
    POLICY_MANAGE = "policy:manage"
    LOG_READ = "log:read"
    # The project's own labels; global ones are for system admins.
    LABEL_MANAGE = "label:manage"
    # Putting labels on artifacts and taking them off.
    ARTIFACT_LABEL = "artifact-label:manage"


_READ = frozenset({Action.PROJECT_READ, Action.REPOSITORY_PULL, Action.ARTIFACT_READ})
_LIMITED_GUEST = _READ
_GUEST = _LIMITED_GUEST | {Action.MEMBER_READ, Action.LOG_READ}
_DEVELOPER = _GUEST | {Action.REPOSITORY_PUSH, Action.TAG_CREATE, Action.ARTIFACT_LABEL}
_MAINTAINER = _DEVELOPER | {
    Action.LABEL_MANAGE,
    Action.REPOSITORY_DELETE,
    Action.ARTIFACT_DELETE,
    Action.TAG_DELETE,
    Action.SCAN_CREATE,
    Action.ROBOT_READ,
    Action.WEBHOOK_READ,
    Action.POLICY_MANAGE,
}
_PROJECT_ADMIN = frozenset(Action)

PERMISSIONS: dict[Role, frozenset[Action]] = {
    Role.LIMITED_GUEST: _LIMITED_GUEST,
    Role.GUEST: _GUEST,
    Role.DEVELOPER: _DEVELOPER,
    Role.MAINTAINER: _MAINTAINER,
    Role.PROJECT_ADMIN: _PROJECT_ADMIN,
}
"""What each role may do in its project. A system admin may do everything everywhere;
anyone, logged in or not, may do what a limited guest may in a public project."""

PUBLIC = _READ

# What a robot may be given: the data plane's and the read-only actions, never
# management of members or of other robots (as on Harbor).
ROBOT_GRANTABLE = frozenset(
    {
        Action.PROJECT_READ,
        Action.REPOSITORY_PULL,
        Action.REPOSITORY_PUSH,
        Action.REPOSITORY_DELETE,
        Action.ARTIFACT_READ,
        Action.ARTIFACT_DELETE,
        Action.TAG_CREATE,
        Action.TAG_DELETE,
        Action.SCAN_CREATE,
        Action.LOG_READ,
    }
)


def permissions(roles: set[Role] | frozenset[Role], *, public: bool) -> frozenset[Action]:
    """Everything the holder of ``roles`` may do in a project."""
    granted = PUBLIC if public else frozenset[Action]()
    for role in roles:
        granted = granted | PERMISSIONS[role]
    return granted
