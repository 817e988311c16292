"""The one error type of the OSV side of the scanner."""

from __future__ import annotations


class OsvError(ValueError):
    """An OSV source or record that cannot be read; the message names the file or record."""
