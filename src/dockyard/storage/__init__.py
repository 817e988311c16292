"""Blob storage drivers behind one protocol."""

from dockyard.storage.base import BlobStore, UploadDataLost
from dockyard.storage.filesystem import FilesystemBlobStore

__all__ = ["BlobStore", "FilesystemBlobStore", "UploadDataLost"]
