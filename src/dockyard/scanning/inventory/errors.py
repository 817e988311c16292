"""What can go wrong reading an image's layers, and how far each failure reaches."""

from __future__ import annotations


class LayerError(Exception):
    """A layer blob is not a whole tar archive: unknown compression, corrupt, or truncated."""


class PackageFileError(ValueError):
    """One file that should hold package data cannot be parsed; the inventory skips only it."""
