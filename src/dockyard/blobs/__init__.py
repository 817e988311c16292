"""Blobs: digests, upload sessions, repository links."""
