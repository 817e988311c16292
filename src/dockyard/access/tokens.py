"""Bearer tokens of the Docker token protocol: signed JWTs that carry granted scopes.

The signing key is an ES256 key kept in the database, so that every replica signs
and checks with the same one; the first replica to start creates it. A token is
checked once and the result remembered until it expires: the registry checks the
same token on every request of a pull, and a signature check costs more than
the rest of a manifest HEAD.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import secrets
import time
from collections import OrderedDict
from dataclasses import dataclass

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import select

from dockyard.access.models import SigningKey
from dockyard.access.principals import Principal
from dockyard.access.scopes import Scope
from dockyard.db import Database
from dockyard.db.statements import insert_ignore
from dockyard.errors import Unauthorized
from dockyard.settings import AuthSettings

_KEY_NAME = "token-es256"
_REMEMBERED = 8192
_ROBOT_CLAIM = "dockyard/robot"
# Marks a token the registry gave a scanner adapter for one scan: it may pull what the
# project's vulnerability policy would refuse to others.
_SCANNER_CLAIM = "dockyard/scanner"
SCANNER_SUBJECT = "dockyard-scanner"
# Marks a token issued to a system admin, whom pull policies do not stop.
_ADMIN_CLAIM = "dockyard/admin"


@dataclass(frozen=True, slots=True)
class IssuedToken:
    token: str
    expires_in: int
    issued_at: str


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """What a checked token says: who, and which (type, name, action) it may do."""

    subject: str
    robot_id: int | None
    access: frozenset[tuple[str, str, str]]
    expires_at: float
    scanner: bool = False
    admin: bool = False

    def allows(self, kind: str, name: str, action: str) -> bool:
        return (kind, name, action) in self.access or (kind, name, "*") in self.access


class TokenService:
    def __init__(self, db: Database, settings: AuthSettings) -> None:
        self.db = db
        self.settings = settings
        self._key: tuple[ec.EllipticCurvePrivateKey, str] | None = None
        self._key_lock = asyncio.Lock()
        self._checked: OrderedDict[str, TokenClaims] = OrderedDict()

    async def issue(self, principal: Principal, scopes: list[Scope]) -> IssuedToken:
        key, kid = await self._signing_key()
        now = int(time.time())
        ttl = self.settings.token_ttl_seconds
        claims: dict[str, object] = {
            "iss": self.settings.issuer,
            "sub": principal.name,
            "aud": self.settings.service,
            "iat": now,
            "nbf": now - 1,
            "exp": now + ttl,
            "jti": secrets.token_urlsafe(16),
            "access": [scope.claim() for scope in scopes],
        }
        if principal.kind == "robot":
            claims[_ROBOT_CLAIM] = principal.id
        if principal.admin:
            claims[_ADMIN_CLAIM] = True
        token = jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})
        issued_at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
        return IssuedToken(token, ttl, issued_at)

    async def issue_for_scanner(self, repository: str, ttl_seconds: int) -> str:
        """A pull-only token for one repository, for the scanner adapter of one scan."""
        key, kid = await self._signing_key()
        now = int(time.time())
        claims: dict[str, object] = {
            "iss": self.settings.issuer,
            "sub": SCANNER_SUBJECT,
            "aud": self.settings.service,
            "iat": now,
            "nbf": now - 1,
            "exp": now + ttl_seconds,
            "jti": secrets.token_urlsafe(16),
            "access": [{"type": "repository", "name": repository, "actions": ["pull"]}],
            _SCANNER_CLAIM: True,
        }
        return jwt.encode(claims, key, algorithm="ES256", headers={"kid": kid})

    async def check(self, token: str) -> TokenClaims:
        """The claims of a token this service issued; Unauthorized when it is not valid."""
        claims = self._checked.get(token)
        if claims is not None:
            if claims.expires_at > time.time():
                return claims
            del self._checked[token]
            raise Unauthorized("the token has expired")
        key, _ = await self._signing_key()
        try:
            payload = jwt.decode(
                token,
                key.public_key(),
                algorithms=["ES256"],
                audience=self.settings.service,
                issuer=self.settings.issuer,
                options={"require": ["exp", "sub", "access"]},
            )
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"invalid token: {exc}") from None
        claims = _claims_of(payload)
        self._checked[token] = claims
        if len(self._checked) > _REMEMBERED:
            self._checked.popitem(last=False)
        return claims

    async def derived_secret(self, label: str) -> bytes:
        """A secret for another purpose (signing session cookies), derived from the key that
        every replica shares, so that it needs no storage of its own."""
        key, _ = await self._signing_key()
        der = key.private_bytes(
            serialization.Encoding.DER,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return hmac.new(der, label.encode(), hashlib.sha256).digest()

    async def _signing_key(self) -> tuple[ec.EllipticCurvePrivateKey, str]:
        if self._key is None:
            async with self._key_lock:
                if self._key is None:
                    self._key = await self._load_or_create_key()
        return self._key

    async def _load_or_create_key(self) -> tuple[ec.EllipticCurvePrivateKey, str]:
        query = select(SigningKey.private_pem).where(SigningKey.name == _KEY_NAME)
        async with self.db.read() as conn:
            pem = await conn.scalar(query)
        if pem is None:
            fresh = ec.generate_private_key(ec.SECP256R1())
            fresh_pem = fresh.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            ).decode()
            async with self.db.write() as conn:
                # Another replica may have won the race: its key is the one to use.
                await conn.execute(
                    insert_ignore(conn, SigningKey, ["name"]),
                    {"name": _KEY_NAME, "private_pem": fresh_pem},
                )
                pem = await conn.scalar(query)
        key = serialization.load_pem_private_key(pem.encode(), password=None)
        assert isinstance(key, ec.EllipticCurvePrivateKey)
        return key, key_id(key.public_key())


def key_id(public_key: ec.EllipticCurvePublicKey) -> str:
    """The libtrust key id that CNCF Distribution expects in a token's ``kid`` header:
    the first 240 bits of the SHA-256 of the DER public key, base32, in groups of four."""
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    encoded = base64.b32encode(hashlib.sha256(der).digest()[:30]).decode()
    return ":".join(encoded[i : i + 4] for i in range(0, len(encoded), 4))


def _claims_of(payload: dict[str, object]) -> TokenClaims:
    access: set[tuple[str, str, str]] = set()
    entries = payload.get("access")
    if not isinstance(entries, list):
        raise Unauthorized("invalid token: access is not a list")
    for entry in entries:
        if not isinstance(entry, dict):
            raise Unauthorized("invalid token: an access entry is not an object")
        kind, name, actions = entry.get("type"), entry.get("name"), entry.get("actions")
        if not isinstance(kind, str) or not isinstance(name, str) or not isinstance(actions, list):
            raise Unauthorized("invalid token: malformed access entry")
        access.update((kind, name, str(action)) for action in actions)
    robot = payload.get(_ROBOT_CLAIM)
    exp = payload["exp"]
    assert isinstance(exp, int | float)  # PyJWT checked it is a number
    return TokenClaims(
        subject=str(payload["sub"]),
        robot_id=robot if isinstance(robot, int) else None,
        access=frozenset(access),
        expires_at=float(exp),
        scanner=payload.get(_SCANNER_CLAIM) is True,
        admin=payload.get(_ADMIN_CLAIM) is True,
    )
