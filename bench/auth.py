"""Bearer tokens the way docker and podman get them.

An anonymous ``GET /v2/`` answers 401 with a ``WWW-Authenticate: Bearer`` challenge
that names the token endpoint (``realm``) and the ``service``; the client GETs the
realm with Basic credentials and the scope it wants, and sends the token it gets
as ``Authorization: Bearer`` on every /v2 request. A registry that answers the
anonymous ``GET /v2/`` with 200 (Distribution as the bench runs it) needs nothing.
"""

from __future__ import annotations

import base64
import http.client
import json
import re
from dataclasses import dataclass
from urllib.parse import urlencode, urlsplit

from bench.errors import BenchError, RequestFailed

_TIMEOUT_S = 30.0
_PARAMETER = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Credentials:
    """A user's name and password."""

    username: str
    password: str

    @property
    def basic(self) -> str:
        """The ``Authorization`` value that sends them as Basic credentials."""
        pair = f"{self.username}:{self.password}".encode()
        return "Basic " + base64.b64encode(pair).decode()


@dataclass(frozen=True)
class TokenEndpoint:
    """Where a challenge sends the client: the realm's host, port and path, and the service."""

    host: str
    port: int
    path: str
    service: str

    def query(self, scopes: list[str]) -> str:
        """The path and query asking for a token with ``scopes``."""
        pairs = [("service", self.service), *(("scope", scope) for scope in scopes)]
        return f"{self.path}?{urlencode(pairs)}"


@dataclass(frozen=True)
class Token:
    """A bearer token and how long it lasts."""

    value: str
    expires_in: float

    @property
    def header(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.value}"}


def pull_push(repository: str) -> str:
    """The scope a client asks for to push to (and pull from) ``repository``."""
    return f"repository:{repository}:pull,push"


def discover(host: str, port: int) -> TokenEndpoint | None:
    """The token endpoint the anonymous ``GET /v2/`` challenge names; None if it answers 200."""
    status, headers, body = _get(host, port, "/v2/", {})
    if status == 200:
        return None
    challenge = headers.get("www-authenticate", "")
    scheme, _, parameters = challenge.partition(" ")
    if status != 401 or scheme.lower() != "bearer":
        raise RequestFailed("GET", "/v2/", status, f"no Bearer challenge ({challenge!r}). {body}")
    fields = dict(_PARAMETER.findall(parameters))
    realm = urlsplit(fields.get("realm", ""))
    if realm.scheme != "http" or not realm.hostname:
        raise BenchError(f"the challenge's realm {fields.get('realm')!r} is not a plain-HTTP URL")
    return TokenEndpoint(realm.hostname, realm.port or 80, realm.path, fields.get("service", ""))


def fetch(endpoint: TokenEndpoint, credentials: Credentials, scopes: list[str]) -> Token:
    """A token for ``scopes``, asked with Basic credentials; fails unless one is granted."""
    path = endpoint.query(scopes)
    status, _, body = _get(endpoint.host, endpoint.port, path, {"Authorization": credentials.basic})
    if status != 200:
        raise RequestFailed("GET", path, status, body)
    document = json.loads(body)
    token = document.get("token") or document.get("access_token")
    if not token:
        raise RequestFailed("GET", path, status, f"no token in {body[:200]}")
    return Token(token, float(document.get("expires_in") or 60))


def _get(
    host: str, port: int, path: str, headers: dict[str, str]
) -> tuple[int, dict[str, str], str]:
    connection = http.client.HTTPConnection(host, port, timeout=_TIMEOUT_S)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read().decode(errors="replace")
        return response.status, {k.lower(): v for k, v in response.getheaders()}, body
    except (OSError, http.client.HTTPException) as error:
        raise RequestFailed("GET", path, "no answer", repr(error)) from error
    finally:
        connection.close()
