"""Hashing and checking passwords and secrets with Argon2id, off the event loop.

One check costs tens of milliseconds of CPU by design. Registry clients that send
Basic credentials with every request would pay that each time, so a successful
check is remembered, keyed by the stored hash and a SHA-256 of the secret: a
changed password (a new hash) is never matched by the old entry.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
from collections import OrderedDict

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()
_REMEMBERED = 4096


def new_secret() -> str:
    """A random secret for a robot, an OIDC CLI secret or a generated password."""
    return secrets.token_urlsafe(24)


async def hash_secret(secret: str) -> str:
    return await asyncio.to_thread(_HASHER.hash, secret)


class SecretChecker:
    """Checks secrets against Argon2 hashes, remembering the recent successes."""

    def __init__(self) -> None:
        self._verified: OrderedDict[tuple[str, bytes], None] = OrderedDict()

    async def matches(self, stored_hash: str | None, secret: str) -> bool:
        if not stored_hash or not secret:
            return False
        key = (stored_hash, hashlib.sha256(secret.encode()).digest())
        if key in self._verified:
            self._verified.move_to_end(key)
            return True
        if not await asyncio.to_thread(_verify, stored_hash, secret):
            return False
        self._verified[key] = None
        if len(self._verified) > _REMEMBERED:
            self._verified.popitem(last=False)
        return True


def _verify(stored_hash: str, secret: str) -> bool:
    try:
        return _HASHER.verify(stored_hash, secret)
    except (VerificationError, InvalidHashError):
        return False
