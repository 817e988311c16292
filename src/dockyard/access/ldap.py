"""Users who log in against an LDAP or Active Directory server (``auth.mode: ldap``).

ldap3 is synchronous, so each operation runs whole in a worker thread: a slow
directory then holds up one login, never the event loop.
"""

from __future__ import annotations

import asyncio
import math
import ssl
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from typing import Any
from urllib.parse import urlsplit

from ldap3 import BASE, LEVEL, NONE, SUBTREE, Connection, Server, Tls
from ldap3.core.exceptions import LDAPCommunicationError, LDAPException, LDAPInvalidDnError
from ldap3.utils.conv import escape_filter_chars
from ldap3.utils.dn import parse_dn

from dockyard.access.identities import ExternalGroup, ExternalIdentity
from dockyard.errors import Unavailable
from dockyard.settings import LdapSettings

_SCOPES = {"base": BASE, "onelevel": LEVEL, "subtree": SUBTREE}
# Search results that still answer the question: sizeLimitExceeded tells that a
# username is ambiguous, noSuchObject that the entry asked for is not there.
_ANSWERED = frozenset({0, 4, 32})
# Bind results that mean "these credentials may not log in", not "the server is in trouble".
_REFUSED = frozenset({48, 49, 50, 53})  # inappropriateAuth, invalidCredentials, access, unwilling


class LdapDirectory:
    """Checks passwords against the directory and reads who the user is and their groups."""

    def __init__(self, settings: LdapSettings) -> None:
        self._settings = settings

    async def authenticate(self, username: str, password: str) -> ExternalIdentity | None:
        """The identity of the user if the password is right; None for any refusal."""
        # A simple bind with a DN and an empty password is an "unauthenticated bind"
        # (RFC 4513 5.1.2) that many servers answer with success: never send one.
        if not username or not password:
            return None
        return await asyncio.to_thread(self._authenticate, username, password)

    async def find_group(self, dn: str) -> ExternalGroup | None:
        """The group at ``dn`` if it exists and matches the group filter, to add as a member."""
        try:
            parse_dn(dn)
        except LDAPInvalidDnError:
            return None  # not even a DN: nothing the server could find
        return await asyncio.to_thread(self._find_group, dn)

    async def ping(self) -> None:
        """Raise Unavailable unless the server answers and accepts the search account."""
        await asyncio.to_thread(self._ping)

    def _authenticate(self, username: str, password: str) -> ExternalIdentity | None:
        settings = self._settings
        uid = settings.uid_attribute
        user_filter = f"(&({uid}={escape_filter_chars(username)}){settings.user_filter})"
        scope, wanted = _SCOPES[settings.scope], [uid, "mail", "displayName", "cn"]
        with self._searcher() as connection:
            # Two results are enough to know the username is ambiguous.
            entries = _search(connection, settings.base_dn, user_filter, scope, wanted, 2)
            if len(entries) != 1:
                return None
            dn, attributes = entries[0]
            if not self._password_matches(dn, password):
                return None
            groups = self._groups_of(connection, dn)
        admin_dn = _normalised(settings.admin_group_dn) if settings.admin_group_dn else None
        return ExternalIdentity(
            subject=dn,
            username=_stored_username(attributes.get(uid, []), username),
            email=_first(attributes.get("mail", [])),
            realname=_first(attributes.get("displayName", [])) or _first(attributes.get("cn", [])),
            groups=groups,
            admin=any(_normalised(group.external_id) == admin_dn for group in groups),
        )

    def _password_matches(self, dn: str, password: str) -> bool:
        # A connection of its own: the search connection stays bound as the search
        # account, which may read groups the user cannot.
        with self._connection(dn, password) as connection:
            if connection.bind():
                return True
            result = connection.result
        if result["result"] in _REFUSED:
            return False
        raise Unavailable(f"the LDAP server failed the bind: {result['description']}")

    def _groups_of(self, connection: Any, user_dn: str) -> tuple[ExternalGroup, ...]:
        settings = self._settings
        if not settings.group_base_dn:
            return ()
        member = f"({settings.group_member_attribute}={escape_filter_chars(user_dn)})"
        group_filter = f"(&{settings.group_filter}{member})"
        entries = _search(connection, settings.group_base_dn, group_filter, SUBTREE, ["cn"])
        return tuple(_group(dn, attributes) for dn, attributes in entries)

    def _find_group(self, dn: str) -> ExternalGroup | None:
        group_filter = self._settings.group_filter or "(objectClass=*)"
        with self._searcher() as connection:
            entries = _search(connection, dn, group_filter, BASE, ["cn"])
        return _group(*entries[0]) if entries else None

    def _ping(self) -> None:
        with self._searcher():
            pass

    @contextmanager
    def _searcher(self) -> Iterator[Any]:
        """A connection bound as the search account (anonymous when none is configured)."""
        settings = self._settings
        password = settings.search_password.get_secret_value()
        with self._connection(settings.search_dn, password) as connection:
            if not connection.bind():
                raise Unavailable(
                    f"the LDAP search bind failed: {connection.result['description']}"
                )
            yield connection

    @contextmanager
    def _connection(self, user: str, password: str) -> Iterator[Any]:
        """An unbound connection, closed afterwards; ldap3's errors become Unavailable."""
        settings = self._settings
        validate = ssl.CERT_REQUIRED if settings.verify_certificate else ssl.CERT_NONE
        try:
            tls = Tls(validate=validate, sni=urlsplit(settings.url).hostname)
            server = Server(
                settings.url, get_info=NONE, tls=tls, connect_timeout=settings.timeout_seconds
            )
            # ldap3 packs receive_timeout into SO_RCVTIMEO as whole seconds.
            connection = Connection(
                server,
                user=user or None,
                password=password or None,
                receive_timeout=math.ceil(settings.timeout_seconds),
                read_only=True,
                raise_exceptions=False,
            )
        except LDAPException as error:
            raise Unavailable(f"the LDAP settings are unusable: {error}") from error
        try:
            yield connection
        except LDAPCommunicationError as error:  # refused, timed out, TLS handshake failed
            raise Unavailable("the LDAP server is unreachable") from error
        except LDAPException as error:
            raise Unavailable(f"the LDAP request failed: {error}") from error
        finally:
            # Unbinding a connection the server already dropped can fail; it is closed either way.
            with suppress(LDAPException):
                connection.unbind()


def _search(
    connection: Any,
    base: str,
    search_filter: str,
    scope: str,
    attributes: list[str],
    size_limit: int = 0,
) -> list[tuple[str, Any]]:
    """(DN, attributes) of each entry found; referrals (Active Directory sends them) skipped."""
    connection.search(base, search_filter, scope, attributes=attributes, size_limit=size_limit)
    if connection.result["result"] not in _ANSWERED:
        raise Unavailable(f"the LDAP search failed: {connection.result['description']}")
    return [
        (entry["dn"], entry["attributes"])
        for entry in connection.response or []
        if entry["type"] == "searchResEntry"
    ]


def _group(dn: str, attributes: Any) -> ExternalGroup:
    # A group without a cn is named by the value of its first RDN.
    return ExternalGroup(
        external_id=dn, name=_first(attributes.get("cn", [])) or parse_dn(dn)[0][1]
    )


def _stored_username(values: list[str], typed: str) -> str:
    """The uid value the user matched, as the directory spells it (uid may hold several)."""
    return next((value for value in values if value.casefold() == typed.casefold()), typed)


def _first(values: list[str]) -> str:
    # Without the schema (get_info=NONE) ldap3 gives every attribute as a list.
    return values[0] if values else ""


def _normalised(dn: str) -> str:
    """A DN in one spelling, so that ``CN=Admins, DC=x`` and ``cn=admins,dc=x`` compare equal."""
    try:
        parts = parse_dn(dn, escape=False, strip=True)
    except LDAPInvalidDnError:
        return dn.casefold()
    return ",".join(f"{kind.casefold()}={value.casefold()}" for kind, value, _ in parts)
