"""Logging users in with an OpenID provider: the authorization-code flow with PKCE.

The flow spans two requests, so the client keeps no per-login state: ``begin``
returns what the caller must keep (in a signed cookie) until the provider
redirects back, and ``complete`` checks the callback against it, exchanges the
code and turns the verified claims into an ``ExternalIdentity``. The provider's
discovery metadata and signing keys are fetched on first use and kept; the keys
are fetched again once when an ID token names a key id we do not know, which is
how providers rotate them.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx

# authlib ships no type information; these two helpers return str.
from authlib.common.security import generate_token  # type: ignore[import-untyped]
from authlib.oauth2.rfc7636 import create_s256_code_challenge  # type: ignore[import-untyped]
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError, JoseError
from joserfc.jwk import KeySet

from dockyard.access.identities import ExternalGroup, ExternalIdentity
from dockyard.errors import Unauthorized, Unavailable
from dockyard.settings import OidcSettings

# Asymmetric algorithms only: an ID token must be signed by the provider's key,
# never by a secret the client knows too.
_ALGORITHMS = ("RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512")
_CLOCK_SKEW_SECONDS = 60
_TIMEOUT_SECONDS = 10.0


@dataclass(frozen=True, slots=True)
class OidcLogin:
    """One login in flight: send the browser to ``url``, keep the rest until the callback."""

    url: str
    state: str
    nonce: str
    code_verifier: str


@dataclass(frozen=True, slots=True)
class _Metadata:
    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str | None


class OidcClient:
    """A relying party of one OpenID provider, as configured in ``auth.oidc``."""

    def __init__(
        self, settings: OidcSettings, *, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.settings = settings
        # Tests pass a transport that sees (and alters) what the provider answers.
        self._transport = transport
        self._metadata: _Metadata | None = None
        self._keys: KeySet | None = None

    async def begin(self, redirect_uri: str) -> OidcLogin:
        """Start a login: the provider URL to redirect to, and the secrets that bind its answer."""
        metadata = await self._discover()
        state, nonce, code_verifier = generate_token(32), generate_token(32), generate_token(64)
        scopes = list(dict.fromkeys(["openid", *self.settings.scopes]))
        params = {
            "response_type": "code",
            "client_id": self.settings.client_id,
            "redirect_uri": redirect_uri,
            "scope": " ".join(scopes),
            "state": state,
            "nonce": nonce,
            "code_challenge": create_s256_code_challenge(code_verifier),
            "code_challenge_method": "S256",
        }
        url = httpx.URL(metadata.authorization_endpoint).copy_merge_params(params)
        return OidcLogin(str(url), state, nonce, code_verifier)

    async def complete(
        self, redirect_uri: str, login: OidcLogin, callback_params: Mapping[str, str]
    ) -> ExternalIdentity:
        """Check the provider's redirect back to us and return who logged in."""
        # The state comes first: an error response with someone else's state is forged too.
        state = callback_params.get("state", "").encode()
        if not login.state or not secrets.compare_digest(state, login.state.encode()):
            raise Unauthorized("the login state does not match; start the login again")
        if "error" in callback_params:
            error = callback_params["error"]
            reason = callback_params.get("error_description") or error
            raise Unauthorized(f"the OpenID provider refused the login: {reason}", {"error": error})
        metadata = await self._discover()
        # RFC 9207: an "iss" parameter names the provider that answered (mix-up defence).
        if callback_params.get("iss", metadata.issuer) != metadata.issuer:
            raise Unauthorized("the login answer comes from another OpenID provider")
        code = callback_params.get("code")
        if not code:
            raise Unauthorized("the OpenID provider sent no authorization code")
        tokens = await self._exchange(metadata, redirect_uri, login, code)
        id_token, access_token = tokens.get("id_token"), tokens.get("access_token")
        if not isinstance(id_token, str) or not isinstance(access_token, str):
            raise Unauthorized("the OpenID provider returned no ID token or access token")
        claims = await self._verify(metadata, id_token, login.nonce)
        if metadata.userinfo_endpoint:
            userinfo = await self._userinfo(metadata.userinfo_endpoint, access_token)
            if userinfo.get("sub") != claims["sub"]:
                raise Unauthorized("the userinfo answer is about another subject")
            claims = {**userinfo, **claims}
        return self._identity(metadata.issuer, claims)

    def _identity(self, issuer: str, claims: Mapping[str, Any]) -> ExternalIdentity:
        sub: str = claims["sub"]
        username = claims.get(self.settings.username_claim)
        names = _strings(claims.get(self.settings.groups_claim))
        email, realname = claims.get("email"), claims.get("name")
        admin_group = self.settings.admin_group
        return ExternalIdentity(
            subject=f"{issuer}|{sub}",
            username=username if isinstance(username, str) and username else sub,
            email=email if isinstance(email, str) else "",
            realname=realname if isinstance(realname, str) else "",
            groups=tuple(ExternalGroup(external_id=name, name=name) for name in names),
            admin=bool(admin_group) and admin_group in names,
        )

    async def _discover(self) -> _Metadata:
        if self._metadata is not None:
            return self._metadata
        issuer = self.settings.issuer.rstrip("/")
        document = await self._get_json(f"{issuer}/.well-known/openid-configuration")
        try:
            metadata = _Metadata(
                issuer=str(document["issuer"]),
                authorization_endpoint=str(document["authorization_endpoint"]),
                token_endpoint=str(document["token_endpoint"]),
                jwks_uri=str(document["jwks_uri"]),
                userinfo_endpoint=document.get("userinfo_endpoint") or None,
            )
        except KeyError as missing:
            raise Unavailable(f"the OpenID configuration of {issuer} lacks {missing}") from None
        # OpenID Connect Discovery 1.0, section 4.3; a trailing slash is a common slip.
        if metadata.issuer.rstrip("/") != issuer:
            raise Unavailable(f"{issuer} says its issuer is {metadata.issuer}")
        self._metadata = metadata
        return metadata

    async def _signing_keys(self, metadata: _Metadata, *, refresh: bool = False) -> KeySet:
        if self._keys is None or refresh:
            document = await self._get_json(metadata.jwks_uri)
            try:
                self._keys = KeySet.import_key_set(document)  # type: ignore[arg-type]
            except (JoseError, KeyError, TypeError, ValueError) as error:
                raise Unavailable(f"the OpenID provider's keys are unusable: {error}") from None
        return self._keys

    async def _verify(self, metadata: _Metadata, id_token: str, nonce: str) -> dict[str, Any]:
        """Check the ID token's signature and claims (OpenID Connect Core 1.0, 3.1.3.7)."""
        try:
            try:
                keys = await self._signing_keys(metadata)
                token = jwt.decode(id_token, keys, algorithms=_ALGORITHMS)
            except InvalidKeyIdError:
                keys = await self._signing_keys(metadata, refresh=True)
                token = jwt.decode(id_token, keys, algorithms=_ALGORITHMS)
            jwt.JWTClaimsRegistry(
                leeway=_CLOCK_SKEW_SECONDS,
                iss={"essential": True, "value": metadata.issuer},
                sub={"essential": True},
                aud={"essential": True, "value": self.settings.client_id},
                exp={"essential": True},
                iat={"essential": True},
                nonce={"essential": True, "value": nonce},
            ).validate(token.claims)
        except JoseError as error:
            raise Unauthorized(f"the ID token is not valid: {error}") from None
        claims = token.claims
        audience = claims["aud"]
        several = isinstance(audience, list) and len(audience) > 1
        if several and claims.get("azp") != self.settings.client_id:
            raise Unauthorized("the ID token was issued to another client")
        return claims

    async def _exchange(
        self, metadata: _Metadata, redirect_uri: str, login: OidcLogin, code: str
    ) -> dict[str, Any]:
        # RFC 6749, 2.3.1: the id and secret are form-encoded before they go into Basic.
        auth = httpx.BasicAuth(
            quote(self.settings.client_id, safe=""),
            quote(self.settings.client_secret.get_secret_value(), safe=""),
        )
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": redirect_uri,
            "code_verifier": login.code_verifier,
        }
        response = await self._request("POST", metadata.token_endpoint, auth=auth, data=form)
        if response.status_code in (400, 401):
            answer = _json_or_empty(response)
            reason = answer.get("error_description") or answer.get("error") or response.text
            raise Unauthorized(f"the OpenID provider refused the code: {reason}")
        return _json(response)

    async def _userinfo(self, endpoint: str, access_token: str) -> dict[str, Any]:
        headers = {"Authorization": f"Bearer {access_token}"}
        response = await self._request("GET", endpoint, headers=headers)
        if response.status_code in (401, 403):
            raise Unauthorized("the OpenID provider refused its own access token")
        return _json(response)

    async def _get_json(self, url: str) -> dict[str, Any]:
        return _json(await self._request("GET", url))

    async def _request(self, method: str, url: str, **kwargs: Any) -> httpx.Response:
        # A client per call: logins are rare, and nothing needs closing on shutdown.
        verify = self.settings.verify_certificate
        try:
            async with httpx.AsyncClient(
                verify=verify, timeout=_TIMEOUT_SECONDS, transport=self._transport
            ) as http:
                return await http.request(method, url, **kwargs)
        except httpx.HTTPError as error:
            raise Unavailable(f"the OpenID provider cannot be reached: {error!r}") from None


def _strings(claim: Any) -> list[str]:
    """A claim that holds one string or a list of them (providers differ), as a list."""
    if isinstance(claim, str):
        return [claim]
    if isinstance(claim, list):
        return [value for value in claim if isinstance(value, str)]
    return []


def _json(response: httpx.Response) -> dict[str, Any]:
    """The JSON object of a successful answer; anything else means the provider is broken."""
    where = f"{response.request.method} {response.request.url}"
    if response.is_error:
        raise Unavailable(f"the OpenID provider answered {response.status_code} to {where}")
    document = _json_or_empty(response)
    if not document:
        raise Unavailable(f"the OpenID provider sent no JSON object to {where}")
    return document


def _json_or_empty(response: httpx.Response) -> dict[str, Any]:
    try:
        document = response.json()
    except ValueError:
        return {}
    return document if isinstance(document, dict) else {}
