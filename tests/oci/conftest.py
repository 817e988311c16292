"""Fixtures of the data-plane tests: each runs on the embedded default (SQLite and
files) and on the scale-out shape (PostgreSQL and an S3 object store)."""

from __future__ import annotations
