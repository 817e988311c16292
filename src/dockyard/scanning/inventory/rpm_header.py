"""The rpm header blob rpm stores per package: an index of tag entries, then a data store.

Layout (all integers big-endian): int32 index count, int32 data length, that many 16-byte
entries (int32 tag, type, offset into the data store, count), then the data store itself.
"""

from __future__ import annotations

import struct

from dockyard.scanning.inventory.errors import PackageFileError

NAME = 1000
VERSION = 1001
RELEASE = 1002
EPOCH = 1003
LICENSE = 1014
ARCH = 1022
SOURCERPM = 1044

_INT32 = 4
_STRING = 6
_STRING_ARRAY = 8
_I18NSTRING = 9
_ENTRY = struct.Struct(">iiii")
_PREAMBLE = struct.Struct(">ii")


def tags(blob: bytes, wanted: frozenset[int]) -> dict[int, str | int]:
    """The values of the `wanted` tags in a header blob: strings, or the first int32.

    For string arrays and translated strings only the first string counts.
    """
    if len(blob) < _PREAMBLE.size:
        raise PackageFileError("rpm header shorter than its preamble")
    count, length = _PREAMBLE.unpack_from(blob)
    store_at = _PREAMBLE.size + count * _ENTRY.size
    if count <= 0 or length < 0 or store_at + length > len(blob):
        raise PackageFileError(f"rpm header sizes out of range ({count} entries, {length} bytes)")
    store = blob[store_at : store_at + length]
    values: dict[int, str | int] = {}
    for index in range(count):
        tag, kind, offset, items = _ENTRY.unpack_from(blob, _PREAMBLE.size + index * _ENTRY.size)
        if tag not in wanted:
            continue
        if not 0 <= offset < length or items < 1:
            raise PackageFileError(f"rpm header tag {tag} points outside its data")
        if kind == _INT32:
            if offset + 4 > length:
                raise PackageFileError(f"rpm header tag {tag} runs past its data")
            values[tag] = struct.unpack_from(">I", store, offset)[0]
        elif kind in (_STRING, _STRING_ARRAY, _I18NSTRING):
            end = store.find(b"\0", offset)
            if end < 0:
                raise PackageFileError(f"rpm header tag {tag} is not NUL-terminated")
            values[tag] = store[offset:end].decode("utf-8", errors="replace")
        else:
            raise PackageFileError(f"rpm header tag {tag} has unexpected type {kind}")
    return values
