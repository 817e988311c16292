"""Signed cookies: the console's login session and an OIDC login in flight.

The content is signed (itsdangerous) with a secret derived from the token key,
so that any replica can read a cookie another replica set; it holds no secret
of its own beyond what its owner already has (a username, the PKCE verifier of
their own login).
"""

from __future__ import annotations

from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from dockyard.access.tokens import TokenService

SESSION_COOKIE = "dockyard_session"
OIDC_COOKIE = "dockyard_oidc"
SESSION_SECONDS = 8 * 3600
OIDC_LOGIN_SECONDS = 600


class CookieSigner:
    def __init__(self, tokens: TokenService) -> None:
        self.tokens = tokens
        self._serializers: dict[str, URLSafeTimedSerializer] = {}

    async def _serializer(self, purpose: str) -> URLSafeTimedSerializer:
        if purpose not in self._serializers:
            secret = await self.tokens.derived_secret(f"cookie:{purpose}")
            self._serializers[purpose] = URLSafeTimedSerializer(secret, salt=purpose)
        return self._serializers[purpose]

    async def sign(self, purpose: str, value: dict[str, Any]) -> str:
        return (await self._serializer(purpose)).dumps(value)

    async def load(self, purpose: str, cookie: str | None, max_age: int) -> dict[str, Any] | None:
        """The signed value, or None when the cookie is missing, forged or too old."""
        if not cookie:
            return None
        try:
            value = (await self._serializer(purpose)).loads(cookie, max_age=max_age)
        except BadSignature:  # SignatureExpired is one too
            return None
        return value if isinstance(value, dict) else None
