"""Package databases made of blank-line separated "Key: value" records (dpkg's status,
apk's installed db)."""

from __future__ import annotations

from collections.abc import Iterator


def stanzas(text: str, wanted: frozenset[str]) -> Iterator[dict[str, str]]:
    """The ``wanted`` fields of each record. A key's first value wins (apk repeats letters
    in a package's file list), and continuation lines (dpkg's, indented) are skipped: they
    only ever extend fields the inventory does not read."""
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                yield fields
            fields = {}
        elif not line[0].isspace():
            key, colon, value = line.partition(":")
            if colon and key in wanted and key not in fields:
                fields[key] = value.strip()
    if fields:
        yield fields
