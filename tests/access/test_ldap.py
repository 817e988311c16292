"""LdapDirectory against a real slapd: passwords, identities, groups, and a server that is down."""

from __future__ import annotations

import asyncio
import socket
import time

import pytest

from dockyard.access.identities import ExternalGroup, ExternalIdentity
from dockyard.access.ldap import LdapDirectory
from dockyard.errors import Unavailable
from tests.ldap_server import SUFFIX, SlapdServer, group_dn, user_dn
from tests.servers import free_port


@pytest.fixture
def directory(slapd: SlapdServer) -> LdapDirectory:
    return LdapDirectory(slapd.settings())


def group_dns(identity: ExternalIdentity | None) -> set[str]:
    assert identity is not None
    return {group.external_id for group in identity.groups}


async def test_right_password_gives_the_identity(directory: LdapDirectory) -> None:
    identity = await directory.authenticate("alice", "alice-secret")
    assert identity is not None
    assert identity.subject == user_dn("alice")
    assert identity.username == "alice"
    assert identity.email == "alice@dockyard.test"
    assert identity.realname == "Alice Liddell"
    assert identity.groups == (ExternalGroup(group_dn("developers"), "developers"),)
    assert identity.admin is False


async def test_groups_are_every_group_naming_the_user(directory: LdapDirectory) -> None:
    identity = await directory.authenticate("bob", "bob-secret")
    assert group_dns(identity) == {group_dn("developers"), group_dn("auditors")}
    assert identity is not None
    assert identity.email == ""
    assert identity.realname == "Bob Builder"
    assert identity.admin is False


async def test_members_of_the_admin_group_are_admins(directory: LdapDirectory) -> None:
    identity = await directory.authenticate("carol", "carol-secret")
    assert identity is not None
    assert group_dns(identity) == {group_dn("dockyard-admins")}
    assert identity.admin is True
    assert identity.realname == "Captain"  # displayName wins over cn


async def test_admin_group_dn_compares_in_any_spelling(slapd: SlapdServer) -> None:
    spelled = "CN=Dockyard-Admins, OU=Groups, DC=dockyard, DC=test"
    directory = LdapDirectory(slapd.settings(admin_group_dn=spelled))
    carol = await directory.authenticate("carol", "carol-secret")
    alice = await directory.authenticate("alice", "alice-secret")
    assert carol is not None
    assert alice is not None
    assert carol.admin is True
    assert alice.admin is False


async def test_a_user_dn_with_filter_characters_still_finds_its_groups(
    directory: LdapDirectory,
) -> None:
    identity = await directory.authenticate("erin", "erin-secret")
    assert identity is not None
    assert identity.subject == user_dn("erin")
    assert group_dns(identity) == {group_dn("auditors")}


async def test_username_is_spelled_as_the_directory_stores_it(directory: LdapDirectory) -> None:
    identity = await directory.authenticate("ALICE", "alice-secret")
    assert identity is not None
    assert identity.username == "alice"


async def test_wrong_password_is_refused(directory: LdapDirectory) -> None:
    assert await directory.authenticate("alice", "bob-secret") is None
    assert await directory.authenticate("alice", "alice-secret ") is None


async def test_empty_password_is_refused(directory: LdapDirectory) -> None:
    # An empty password would make an unauthenticated bind, which servers may accept.
    assert await directory.authenticate("alice", "") is None


async def test_unknown_user_is_refused(directory: LdapDirectory) -> None:
    assert await directory.authenticate("mallory", "alice-secret") is None
    assert await directory.authenticate("", "alice-secret") is None


@pytest.mark.parametrize(
    "username", ["*", "al*", "alice)(uid=*", "*)(|(uid=*", "alice\\", "alice\x00", "(uid=alice)"]
)
async def test_filter_characters_in_a_username_match_nothing(
    directory: LdapDirectory, username: str
) -> None:
    assert await directory.authenticate(username, "alice-secret") is None


async def test_user_filter_narrows_who_may_log_in(slapd: SlapdServer) -> None:
    directory = LdapDirectory(slapd.settings(user_filter="(mail=*)"))
    assert await directory.authenticate("bob", "bob-secret") is None
    assert await directory.authenticate("alice", "alice-secret") is not None


async def test_scope_decides_how_deep_users_are_searched(slapd: SlapdServer) -> None:
    onelevel = LdapDirectory(slapd.settings(base_dn=SUFFIX, scope="onelevel"))
    subtree = LdapDirectory(slapd.settings(base_dn=SUFFIX, scope="subtree"))
    assert await onelevel.authenticate("alice", "alice-secret") is None
    assert await subtree.authenticate("alice", "alice-secret") is not None


async def test_no_group_base_means_no_groups(slapd: SlapdServer) -> None:
    directory = LdapDirectory(slapd.settings(group_base_dn=""))
    identity = await directory.authenticate("carol", "carol-secret")
    assert identity is not None
    assert identity.groups == ()
    assert identity.admin is False


async def test_logins_run_concurrently(directory: LdapDirectory) -> None:
    results = await asyncio.gather(
        *(directory.authenticate(uid, f"{uid}-secret") for uid in ("alice", "bob", "carol") * 3)
    )
    assert [identity.username if identity else None for identity in results] == [
        "alice",
        "bob",
        "carol",
    ] * 3


async def test_find_group_by_dn(directory: LdapDirectory) -> None:
    found = await directory.find_group(group_dn("auditors"))
    assert found == ExternalGroup(group_dn("auditors"), "auditors")
    upper = await directory.find_group(group_dn("auditors").upper())
    assert upper is not None
    assert upper.name == "auditors"


@pytest.mark.parametrize(
    "dn",
    [
        f"cn=nobody,ou=groups,{SUFFIX}",  # not there
        f"uid=alice,ou=people,{SUFFIX}",  # there, but not a group
        f"cn=x,ou=nowhere,{SUFFIX}",  # under a parent that is not there
        "not a dn",
    ],
)
async def test_find_group_of_something_else_is_none(directory: LdapDirectory, dn: str) -> None:
    assert await directory.find_group(dn) is None


async def test_ping_passes_when_the_server_answers(directory: LdapDirectory) -> None:
    await directory.ping()  # raises Unavailable otherwise


async def test_ldaps_checks_the_certificate_unless_told_not_to(slapd: SlapdServer) -> None:
    verifying = LdapDirectory(slapd.settings(url=slapd.ldaps_url))
    trusting = LdapDirectory(slapd.settings(url=slapd.ldaps_url, verify_certificate=False))
    with pytest.raises(Unavailable):  # self-signed: no system trusts it
        await verifying.authenticate("alice", "alice-secret")
    identity = await trusting.authenticate("alice", "alice-secret")
    assert identity is not None
    assert identity.email == "alice@dockyard.test"


async def test_unreachable_server_is_unavailable(slapd: SlapdServer) -> None:
    directory = LdapDirectory(slapd.settings(url=f"ldap://127.0.0.1:{free_port()}"))
    with pytest.raises(Unavailable, match="unreachable"):
        await directory.authenticate("alice", "alice-secret")
    with pytest.raises(Unavailable, match="unreachable"):
        await directory.ping()
    with pytest.raises(Unavailable, match="unreachable"):
        await directory.find_group(group_dn("developers"))


async def test_a_server_that_never_answers_is_unavailable_after_the_timeout(
    slapd: SlapdServer,
) -> None:
    with socket.socket() as silent:  # accepts connections (backlog), never speaks LDAP
        silent.bind(("127.0.0.1", 0))
        silent.listen()
        url = f"ldap://127.0.0.1:{silent.getsockname()[1]}"
        directory = LdapDirectory(slapd.settings(url=url, timeout_seconds=1))
        started = time.monotonic()
        with pytest.raises(Unavailable):
            await directory.ping()
        assert time.monotonic() - started < 4


async def test_wrong_search_password_is_unavailable(slapd: SlapdServer) -> None:
    directory = LdapDirectory(slapd.settings(search_password="wrong"))
    with pytest.raises(Unavailable, match="search bind failed"):
        await directory.ping()
    with pytest.raises(Unavailable, match="search bind failed"):
        await directory.authenticate("alice", "alice-secret")
