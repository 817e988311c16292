"""What an external directory (LDAP) or identity provider (OIDC) says about a user."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class ExternalGroup:
    # The LDAP group DN, or the OIDC group claim value.
    external_id: str
    name: str


@dataclass(frozen=True, slots=True)
class ExternalIdentity:
    # The LDAP DN, or "issuer|subject" for OIDC: stable even if the username changes.
    subject: str
    username: str
    email: str = ""
    realname: str = ""
    groups: tuple[ExternalGroup, ...] = field(default=())
    # The directory says this user is a system admin (a member of the admin group).
    admin: bool = False
