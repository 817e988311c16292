"""A real OpenID provider (tests/oidc/provider.mjs) as a process, and a browser that logs in.

The provider is panva's oidc-provider, pinned in tests/oidc/package-lock.json;
``OidcProvider`` installs it with ``npm ci`` when node_modules is missing or
older than the lock. Its users are alice, bob and carol, each with the password
``<name>-secret``.
"""

from __future__ import annotations

import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path
from types import TracebackType
from typing import Any

import httpx

from dockyard.settings import OidcSettings
from tests.servers import free_port

OIDC_DIR = Path(__file__).resolve().parent / "oidc"
PROVIDER_SCRIPT = OIDC_DIR / "provider.mjs"

# Reserved characters in the secret make every test check that the client
# form-encodes it for HTTP Basic (RFC 6749, 2.3.1), as oidc-provider decodes it.
DEFAULT_CLIENT_SECRET = "dockyard-test-secret:with/reserved+chars%"


def install_provider(timeout: float = 300.0) -> None:
    """Run ``npm ci`` unless node_modules is newer than package-lock.json."""
    npm = shutil.which("npm")
    if npm is None:
        raise RuntimeError("the OIDC tests need Node.js and npm (apt-get install nodejs npm)")
    lock = OIDC_DIR / "package-lock.json"
    # npm writes this file last when it has installed everything.
    installed = OIDC_DIR / "node_modules" / ".package-lock.json"
    # Test processes that start at once must not run npm ci over each other.
    with open(Path(tempfile.gettempdir()) / "dockyard-oidc-npm.lock", "w") as guard:
        fcntl.flock(guard, fcntl.LOCK_EX)
        if installed.exists() and installed.stat().st_mtime >= lock.stat().st_mtime:
            return
        result = subprocess.run(
            [npm, "ci", "--prefix", str(OIDC_DIR), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(f"npm ci failed:\n{result.stdout}\n{result.stderr}")


class OidcProvider:
    """oidc-provider on 127.0.0.1 with one confidential client that may use ``redirect_uris``."""

    def __init__(
        self,
        redirect_uris: Sequence[str],
        log: Path,
        *,
        client_id: str = "dockyard",
        client_secret: str = DEFAULT_CLIENT_SECRET,
        port: int | None = None,
    ) -> None:
        self.redirect_uris = list(redirect_uris)
        self.log = log
        self.client_id = client_id
        self.client_secret = client_secret
        self.port = port or free_port()
        self.issuer = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> OidcProvider:
        """Install if needed, start node, and poll the discovery document until it answers."""
        install_provider()
        node = shutil.which("node")
        if node is None:
            raise RuntimeError("the OIDC tests need Node.js (apt-get install nodejs)")
        environment = {
            **os.environ,
            "OIDC_PORT": str(self.port),
            "OIDC_CLIENT_ID": self.client_id,
            "OIDC_CLIENT_SECRET": self.client_secret,
            "OIDC_REDIRECT_URIS": json.dumps(self.redirect_uris),
        }
        self.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [node, str(PROVIDER_SCRIPT)], stdout=log, stderr=subprocess.STDOUT, env=environment
            )
        discovery = f"{self.issuer}/.well-known/openid-configuration"
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"oidc-provider exited early:\n{self.log.read_text()}")
            try:
                if httpx.get(discovery, timeout=1).status_code == 200:
                    return self
            except httpx.TransportError:
                pass
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(
            f"oidc-provider did not answer within {timeout}s:\n{self.log.read_text()}"
        )

    def stop(self) -> None:
        if self.process is None:
            return
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None

    def __enter__(self) -> OidcProvider:
        return self.start()

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def settings(self, **overrides: Any) -> OidcSettings:
        """Settings for dockyard's client of this provider; ``groups`` is asked for by default."""
        values: dict[str, Any] = {
            "issuer": self.issuer,
            "client_id": self.client_id,
            "client_secret": self.client_secret,
            "scopes": ["openid", "profile", "email", "groups"],
        }
        return OidcSettings(**{**values, **overrides})


class _Form:
    def __init__(self, action: str, method: str) -> None:
        self.action = action
        self.method = method
        # (name, type, value) in document order.
        self.inputs: list[tuple[str, str, str]] = []

    def has_password(self) -> bool:
        return any(kind == "password" for _, kind, _ in self.inputs)


class _FormParser(HTMLParser):
    """Collects the forms of a page and their named inputs, and the page's text."""

    def __init__(self) -> None:
        super().__init__()
        self.forms: list[_Form] = []
        self.text: list[str] = []
        self._open: _Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        if tag == "form":
            self._open = _Form(attributes.get("action", ""), attributes.get("method", "get"))
            self.forms.append(self._open)
        elif tag in ("input", "button") and self._open is not None and attributes.get("name"):
            kind = attributes.get("type", "text" if tag == "input" else "submit").lower()
            self._open.inputs.append((attributes["name"], kind, attributes.get("value", "")))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._open = None

    def handle_data(self, data: str) -> None:
        if data.strip():
            self.text.append(data.strip())


def _origin(url: httpx.URL) -> tuple[str, str, int | None]:
    return url.scheme, url.host, url.port


async def log_in(
    client: httpx.AsyncClient, authorization_url: str, username: str, password: str
) -> str:
    """Drive the provider's pages like a browser; return the redirect back to the client.

    Redirects on the provider's host are followed and its forms submitted (the
    login form with ``username`` and ``password``); the first redirect to
    another host is returned, not requested.
    """
    provider = _origin(httpx.URL(authorization_url))
    response = await client.get(authorization_url, follow_redirects=False)
    logged_in = False
    for _ in range(20):
        if response.is_redirect:
            target = response.url.join(response.headers["location"])
            if _origin(target) != provider:
                return str(target)
            response = await client.get(target, follow_redirects=False)
            continue
        page = _FormParser()
        page.feed(response.text)
        text = " ".join(page.text)
        if not page.forms:
            raise AssertionError(
                f"the provider answered {response.status_code} without a form: {text}"
            )
        form = page.forms[0]
        if form.has_password() and logged_in:
            raise AssertionError(f"the provider showed the login form again: {text}")
        data: dict[str, str] = {}
        for name, kind, value in form.inputs:
            if kind == "password":
                data[name] = password
            elif kind in ("text", "email"):
                data[name] = username
            elif kind != "submit":
                data[name] = value
        logged_in = logged_in or form.has_password()
        target = response.url.join(form.action)
        if form.method.lower() == "get":
            response = await client.get(target, params=data, follow_redirects=False)
        else:
            response = await client.post(target, data=data, follow_redirects=False)
    raise AssertionError("the provider did not redirect back within 20 steps")
