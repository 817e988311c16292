"""The slapd and the OpenID provider the access tests log in against, one each per session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.ldap_server import SlapdServer
from tests.oidc_server import OidcProvider
from tests.servers import free_port

# Where the in-process app's OIDC callback is: the tests' base URL.
REDIRECT_URI = "http://registry.test/c/oidc/callback"


@pytest.fixture(scope="session")
def slapd() -> Iterator[SlapdServer]:
    with SlapdServer() as server:
        yield server


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    # A second redirect URI on 127.0.0.1, for tests that run dockyard as a real server.
    local_redirect = f"http://127.0.0.1:{free_port()}/c/oidc/callback"
    log = tmp_path_factory.mktemp("oidc") / "provider.log"
    with OidcProvider([REDIRECT_URI, local_redirect], log) as provider:
        yield provider
