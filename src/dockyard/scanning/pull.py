"""How a scanner adapter fetches the image it was asked to scan: over the Distribution
API of the registry named in the scan request, with the authorization it was given.

Layers are streamed to temporary files and checked against their digests before
anything reads them. A ``Basic`` authorization is exchanged for a token when the
registry challenges with ``Bearer`` (robot credentials, as Harbor sends them).
"""

from __future__ import annotations

import hashlib
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx
import orjson

from dockyard.scanning.reports import SCANNABLE

_ACCEPT = ", ".join(SCANNABLE)
# A manifest bigger than this is not an image manifest worth scanning.
_MANIFEST_MAX = 4 * 1024 * 1024


class PullError(Exception):
    """The image could not be fetched: the message says why, for the scan's log."""


@dataclass(frozen=True, slots=True)
class Image:
    """A fetched image: its manifest, and its layer files in order (lowest first)."""

    manifest: dict[str, Any]
    media_type: str
    layers: list[Path]
    size: int


class ImagePuller:
    def __init__(self, client: httpx.AsyncClient, *, max_bytes: int) -> None:
        self.client = client
        self.max_bytes = max_bytes

    async def pull(
        self, registry_url: str, repository: str, digest: str, authorization: str, into: Path
    ) -> Image:
        """Fetch the image manifest ``repository@digest`` and its layers into ``into``."""
        base = registry_url.rstrip("/")
        headers = {"Authorization": authorization} if authorization else {}
        url = f"{base}/v2/{repository}/manifests/{quote(digest, safe=':')}"
        response = await self._get(url, headers, {"Accept": _ACCEPT}, repository)
        body = response.content
        if len(body) > _MANIFEST_MAX:
            raise PullError(f"the manifest of {repository}@{digest} is too large")
        if _digest_of(body, digest) != digest:
            raise PullError(f"the manifest of {repository}@{digest} does not match its digest")
        try:
            manifest = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise PullError(f"the manifest of {repository}@{digest} is not JSON") from None
        media_type = str(manifest.get("mediaType") or response.headers.get("content-type", ""))
        media_type = media_type.split(";")[0].strip()
        if media_type not in SCANNABLE or not isinstance(manifest.get("layers"), list):
            raise PullError(f"{repository}@{digest} is a {media_type or 'manifest'}, not an image")
        total = sum(int(layer.get("size", 0)) for layer in manifest["layers"])
        if total > self.max_bytes:
            raise PullError(
                f"the image's layers hold {total} bytes, more than the scanner takes "
                f"({self.max_bytes})"
            )
        layers = []
        for number, layer in enumerate(manifest["layers"]):
            layer_digest = str(layer.get("digest", ""))
            path = into / f"layer-{number}"
            await self._blob(
                base, repository, layer_digest, int(layer.get("size", -1)), headers, path
            )
            layers.append(path)
        return Image(manifest, media_type, layers, total)

    async def _get(
        self, url: str, auth: dict[str, str], extra: dict[str, str], repository: str
    ) -> httpx.Response:
        try:
            response = await self.client.get(url, headers={**auth, **extra})
            if response.status_code == 401 and auth.get("Authorization", "").startswith("Basic "):
                token = await self._token(response, auth["Authorization"], repository)
                auth["Authorization"] = f"Bearer {token}"
                response = await self.client.get(url, headers={**auth, **extra})
        except httpx.HTTPError as exc:
            raise PullError(f"the registry could not be reached: {exc}") from None
        if response.status_code != 200:
            raise PullError(f"the registry answered {response.status_code} for {url}")
        return response

    async def _token(self, challenge: httpx.Response, basic: str, repository: str) -> str:
        """The Docker token flow, for a registry that answers Basic credentials with a
        Bearer challenge."""
        header = challenge.headers.get("www-authenticate", "")
        scheme, _, rest = header.partition(" ")
        if scheme.lower() != "bearer":
            raise PullError("the registry refused the credentials")
        params = dict(_challenge_params(rest))
        realm = params.pop("realm", "")
        if not realm:
            raise PullError("the registry's challenge names no token realm")
        params.setdefault("scope", f"repository:{repository}:pull")
        response = await self.client.get(realm, params=params, headers={"Authorization": basic})
        if response.status_code != 200:
            raise PullError(f"the token service answered {response.status_code}")
        body = response.json()
        token = body.get("token") or body.get("access_token")
        if not isinstance(token, str):
            raise PullError("the token service returned no token")
        return token

    async def _blob(
        self,
        base: str,
        repository: str,
        digest: str,
        size: int,
        auth: dict[str, str],
        path: Path,
    ) -> None:
        algorithm, _, _ = digest.partition(":")
        if algorithm not in ("sha256", "sha512"):
            raise PullError(f"layer digest {digest!r} is not supported")
        hasher = hashlib.new(algorithm)
        written = 0
        url = f"{base}/v2/{repository}/blobs/{digest}"
        try:
            async with self.client.stream(
                "GET", url, headers=auth, follow_redirects=True
            ) as response:
                if response.status_code != 200:
                    raise PullError(f"the registry answered {response.status_code} for {url}")
                with path.open("wb") as file:
                    async for chunk in response.aiter_bytes(1024 * 1024):
                        written += len(chunk)
                        if written > self.max_bytes:
                            raise PullError(f"layer {digest} is larger than the scanner takes")
                        hasher.update(chunk)
                        file.write(chunk)
        except httpx.HTTPError as exc:
            raise PullError(f"layer {digest} could not be fetched: {exc}") from None
        if f"{algorithm}:{hasher.hexdigest()}" != digest or (size >= 0 and written != size):
            raise PullError(f"layer {digest} does not match its digest or size")


@contextmanager
def workspace(parent: str | None = None) -> Iterator[Path]:
    """A temporary directory for one scan's layers, removed afterwards."""
    with tempfile.TemporaryDirectory(prefix="dockyard-scan-", dir=parent) as directory:
        yield Path(directory)


def open_layers(image: Image) -> list[IO[bytes]]:
    return [path.open("rb") for path in image.layers]


def _digest_of(body: bytes, expected: str) -> str:
    algorithm = expected.partition(":")[0]
    if algorithm not in ("sha256", "sha512"):
        return ""
    return f"{algorithm}:{hashlib.new(algorithm, body).hexdigest()}"


def _challenge_params(text: str) -> Iterator[tuple[str, str]]:
    """key="value" pairs of a WWW-Authenticate challenge."""
    for part in _split_commas(text):
        key, _, value = part.partition("=")
        yield key.strip().lower(), value.strip().strip('"')


def _split_commas(text: str) -> Iterator[str]:
    quoted = False
    start = 0
    for index, char in enumerate(text):
        if char == '"':
            quoted = not quoted
        elif char == "," and not quoted:
            yield text[start:index]
            start = index + 1
    if text[start:].strip():
        yield text[start:]
