"""The domain's exception types. Each face maps them to its wire format once.

The codes are those of the OCI Distribution Specification, because the data
plane is the first face and its vocabulary is the registry's vocabulary.
"""

from __future__ import annotations

from typing import Any


class DockyardError(Exception):
    """Base of every error a service raises on purpose."""

    code: str = "UNKNOWN"
    status: int = 400
    default_message: str = "request failed"

    def __init__(self, message: str | None = None, detail: Any = None) -> None:
        self.message = message or self.default_message
        self.detail = detail
        super().__init__(self.message)


class BlobUnknown(DockyardError):
    code, status, default_message = "BLOB_UNKNOWN", 404, "blob unknown to registry"


class BlobUploadInvalid(DockyardError):
    code, status, default_message = "BLOB_UPLOAD_INVALID", 400, "blob upload invalid"


class BlobUploadUnknown(DockyardError):
    code, status, default_message = "BLOB_UPLOAD_UNKNOWN", 404, "blob upload unknown to registry"


class RangeInvalid(DockyardError):
    """A chunk does not start where the upload session ends (416)."""

    code, status, default_message = "BLOB_UPLOAD_INVALID", 416, "requested range not satisfiable"

    def __init__(self, message: str | None = None, *, offset: int) -> None:
        super().__init__(message, detail={"offset": offset})
        self.offset = offset


class DigestInvalid(DockyardError):
    code, status, default_message = "DIGEST_INVALID", 400, "provided digest did not match content"


class ManifestBlobUnknown(DockyardError):
    code, status, default_message = (
        "MANIFEST_BLOB_UNKNOWN",
        400,
        "manifest references a blob or manifest unknown to this repository",
    )


class ManifestInvalid(DockyardError):
    code, status, default_message = "MANIFEST_INVALID", 400, "manifest invalid"


class ManifestUnknown(DockyardError):
    code, status, default_message = "MANIFEST_UNKNOWN", 404, "manifest unknown"


class NameInvalid(DockyardError):
    code, status, default_message = "NAME_INVALID", 400, "invalid repository name"


class NameUnknown(DockyardError):
    code, status, default_message = "NAME_UNKNOWN", 404, "repository name not known to registry"


class SizeInvalid(DockyardError):
    code, status, default_message = "SIZE_INVALID", 400, "provided length did not match content"


class TooLarge(DockyardError):
    code, status, default_message = "SIZE_INVALID", 413, "content is larger than the limit"


class TagInvalid(DockyardError):
    code, status, default_message = "MANIFEST_INVALID", 400, "invalid tag"


class PaginationInvalid(DockyardError):
    # The spec's table has no pagination code; UNSUPPORTED with a 400 says "not like this".
    code, status, default_message = "UNSUPPORTED", 400, "invalid pagination number"


class Unsupported(DockyardError):
    code, status, default_message = "UNSUPPORTED", 405, "the operation is unsupported"


class UnsupportedMediaType(DockyardError):
    code, status, default_message = "UNSUPPORTED", 415, "unsupported media type"


class Unauthorized(DockyardError):
    """No credentials, or credentials that do not check out (401)."""

    code, status, default_message = "UNAUTHORIZED", 401, "authentication required"

    def __init__(
        self, message: str | None = None, detail: Any = None, *, scope: str | None = None
    ) -> None:
        super().__init__(message, detail)
        # The token scope the data plane's challenge asks the client to get.
        self.scope = scope


class Denied(DockyardError):
    """The caller is known but may not do this (403)."""

    code, status, default_message = "DENIED", 403, "requested access to the resource is denied"

    def __init__(
        self, message: str | None = None, detail: Any = None, *, scope: str | None = None
    ) -> None:
        super().__init__(message, detail)
        # Set when a bearer token lacks this scope (RFC 6750 insufficient_scope).
        self.scope = scope


class InvalidInput(DockyardError):
    """A management request whose content breaks a rule (400)."""

    code, status, default_message = "BAD_REQUEST", 400, "invalid input"


class NotFound(DockyardError):
    """A project, user, robot or member that does not exist (404)."""

    code, status, default_message = "NOT_FOUND", 404, "not found"


class Conflict(DockyardError):
    """The resource exists already, or is in a state that forbids the change (409)."""

    code, status, default_message = "CONFLICT", 409, "conflict"


class TooManyRequests(DockyardError):
    code, status, default_message = "TOOMANYREQUESTS", 429, "too many requests"


class Unavailable(DockyardError):
    """A dependency (database, storage) is down; the client should retry.

    The spec's table has no code for this; UNAVAILABLE is Distribution's, and
    the 503 status with Retry-After is what clients act on.
    """

    code, status, default_message = "UNAVAILABLE", 503, "service temporarily unavailable"


class RangeNotSatisfiable(DockyardError):
    """A blob GET asked for bytes the blob does not have (416)."""

    code, status, default_message = "SIZE_INVALID", 416, "requested range not satisfiable"

    def __init__(self, size: int) -> None:
        super().__init__(detail={"size": size})
        self.size = size
