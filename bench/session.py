"""One target's run: its process, the shared blob source, fixtures pushed once, and the
bearer tokens its requests carry when the target asks for them."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bench import auth
from bench.client import RegistryClient
from bench.payload import BlobSource
from bench.plan import Plan
from bench.services import S3Bucket
from bench.targets import RegistryProcess

T = TypeVar("T")


@dataclass
class Session:
    """What a workload needs to measure one target."""

    target: RegistryProcess
    plan: Plan
    source: BlobSource
    workdir: Path
    wrk: str = "wrk"
    # The bucket a target on the S3 server stores its blobs in.
    s3: S3Bucket | None = None
    # What the report must say about how this target's rows ran (set up differently...).
    remarks: list[str] = field(default_factory=list)
    _fixtures: dict[str, Any] = field(default_factory=dict)
    # Per repository: the token and when to fetch a new one (time.monotonic()).
    _tokens: dict[str, tuple[auth.Token, float]] = field(default_factory=dict)

    @property
    def address(self) -> str:
        return f"{self.target.host}:{self.target.port}"

    def url(self, path: str) -> str:
        """The absolute URL of ``path`` on the target."""
        return f"http://{self.address}{path}"

    def client(self, repository: str) -> RegistryClient:
        """A fresh keep-alive client for ``repository`` (with its token, if any); one per thread."""
        return RegistryClient(self.target.host, self.target.port, self.authorization(repository))

    def anonymous_client(self) -> RegistryClient:
        """A fresh keep-alive client that sends no credentials."""
        return RegistryClient(self.target.host, self.target.port)

    @property
    def token_endpoint(self) -> auth.TokenEndpoint | None:
        """Where the target's challenge sends clients; None if it takes anonymous requests."""
        if self.target.credentials is None:
            return None
        return self.once(
            "token-endpoint", lambda: auth.discover(self.target.host, self.target.port)
        )

    def authorization(self, repository: str) -> dict[str, str]:
        """The ``Authorization`` header a client pushing to and pulling from ``repository``
        sends: a bearer token from the token endpoint, as docker gets one; none for a
        target without authentication."""
        endpoint = self.token_endpoint
        if endpoint is None or self.target.credentials is None:
            return {}
        token, renew_at = self._tokens.get(repository, (None, 0.0))
        if token is None or time.monotonic() >= renew_at:
            token = auth.fetch(endpoint, self.target.credentials, [auth.pull_push(repository)])
            # Renewed at half its lifetime, so that no timed request carries an expired one.
            self._tokens[repository] = (token, time.monotonic() + token.expires_in / 2)
        return token.header

    def once(self, name: str, make: Callable[[], T]) -> T:
        """A fixture made on first use and shared by the workloads that need it."""
        if name not in self._fixtures:
            self._fixtures[name] = make()
        value: T = self._fixtures[name]
        return value

    def remark(self, message: str) -> None:
        """Something the report lists under the table, for this target; on stderr too."""
        self.remarks.append(message)
        self.say(message)

    def say(self, message: str) -> None:
        """Progress, on stderr."""
        print(f"[{self.target.title}] {message}", file=sys.stderr, flush=True)
