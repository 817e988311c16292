"""Credentials as clients send them in an ``Authorization`` header."""

from __future__ import annotations

import base64
import binascii

from dockyard.errors import Unauthorized


def basic_credentials(encoded: str) -> tuple[str, str]:
    """(username, password) of a Basic authorization value; Unauthorized when malformed."""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        raise Unauthorized("malformed Basic credentials") from None
    username, sep, password = decoded.partition(":")
    if not sep or not username:
        raise Unauthorized("malformed Basic credentials")
    return username, password
