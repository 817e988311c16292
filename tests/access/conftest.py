"""The slapd the access tests log in against, one for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ldap_server import SlapdServer


@pytest.fixture(scope="session")
def slapd() -> Iterator[SlapdServer]:
    with SlapdServer() as server:
        yield server
