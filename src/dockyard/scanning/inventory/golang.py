"""Go modules compiled into a binary, from the build info the Go linker embeds.

The build info starts with a 32-byte header at a 16-byte aligned offset: the magic
"\\xff Go buildinf:", the pointer size, a flags byte, and padding. Since Go 1.18 (flags & 2)
the Go version and the module information follow inline as varint-length-prefixed strings;
older binaries point into their data segment instead, which this reader does not follow.
"""

from __future__ import annotations

import logging

from dockyard.scanning.inventory.errors import PackageFileError
from dockyard.scanning.packages import Package

MAGIC = b"\xff Go buildinf:"
ALIGNMENT = 16
HEADER_SIZE = 32
# Where the build info's two strings end, at the latest: module lists run to tens of kilobytes.
BUILD_INFO_LIMIT = 1 << 20
# What executables start with: ELF, Mach-O (32 and 64 bit, either byte order), PE.
EXECUTABLE_MAGICS = (
    b"\x7fELF",
    b"\xcf\xfa\xed\xfe",
    b"\xce\xfa\xed\xfe",
    b"\xfe\xed\xfa\xcf",
    b"\xfe\xed\xfa\xce",
    b"MZ",
)
_INLINE = 0x2
# cmd/go frames the module information with 16 sentinel bytes at each end.
_SENTINEL = 16
_STDLIB = "stdlib"

logger = logging.getLogger(__name__)


def packages(content: bytes, path: str) -> list[Package]:
    """The main module, the dependencies and the standard library a Go binary was built with.

    `content` holds the build info at its first 16-byte aligned occurrence of the magic (a whole
    binary, or the part of it from there on). Raises PackageFileError when that is not a valid
    build info; returns nothing for the pre-1.18 pointer format.
    """
    at = _aligned_magic(content)
    if at < 0 or len(content) - at < HEADER_SIZE:
        raise PackageFileError("no Go build info header")
    pointer_size, flags = content[at + 14], content[at + 15]
    if pointer_size not in (4, 8):
        raise PackageFileError(f"Go build info with pointer size {pointer_size}")
    if not flags & _INLINE:
        logger.debug("skipping %s: Go build info from before Go 1.18", path)
        return []
    raw_version, position = _string(content, at + HEADER_SIZE)
    raw_modules, _ = _string(content, position)
    try:
        go_version = raw_version.decode("ascii")
        if len(raw_modules) > 2 * _SENTINEL and raw_modules[-_SENTINEL - 1] == ord("\n"):
            raw_modules = raw_modules[_SENTINEL:-_SENTINEL]
        modules = raw_modules.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PackageFileError(f"Go build info is not text: {error}") from error
    if not go_version.startswith(("go", "devel")):
        raise PackageFileError(f"not a Go version: {go_version[:40]!r}")
    found = _modules(modules, path)
    stdlib = Package(type="golang", name=_STDLIB, version=_stdlib_version(go_version), path=path)
    return [*found, stdlib]


def _aligned_magic(content: bytes) -> int:
    at = content.find(MAGIC)
    while at >= 0 and at % ALIGNMENT:
        at = content.find(MAGIC, at + 1)
    return at


def _string(content: bytes, position: int) -> tuple[bytes, int]:
    """A varint-length-prefixed string at `position`, and the position after it."""
    length, shift = 0, 0
    while True:
        if position >= len(content) or shift > 63:
            raise PackageFileError("Go build info string length runs off the end")
        byte = content[position]
        position += 1
        length |= (byte & 0x7F) << shift
        shift += 7
        if not byte & 0x80:
            break
    if position + length > len(content):
        raise PackageFileError("Go build info string runs off the end")
    return content[position : position + length], position + length


def _modules(text: str, path: str) -> list[Package]:
    """The "mod" and "dep" lines of runtime/debug.BuildInfo, each "=>" replacing the line before."""
    modules: list[tuple[str, str]] = []
    for line in text.splitlines():
        kind, *fields = line.split("\t")
        if kind in ("mod", "dep") and fields and fields[0]:
            modules.append((fields[0], fields[1] if len(fields) > 1 else ""))
        elif kind == "=>" and modules and fields and fields[0]:
            replaced, _ = modules[-1]
            version = fields[1] if len(fields) > 1 else ""
            if _is_directory(fields[0]) or not version:
                # Code from a local directory: the module keeps its name but not its version.
                modules[-1] = (replaced, "(devel)")
            else:
                modules[-1] = (fields[0], version)
    return [
        Package(type="golang", name=name, version=version or "(devel)", path=path)
        for name, version in modules
    ]


def _is_directory(path: str) -> bool:
    """Whether a replacement is a directory, as golang.org/x/mod's modfile.IsDirectoryPath says."""
    return path.startswith(("./", "../", "/", ".\\", "..\\")) or path in (".", "..")


def _stdlib_version(go_version: str) -> str:
    """ "1.21.5" from "go1.21.5", "go1.21.5 X:boringcrypto" or "devel go1.22-abc123 ..."."""
    for word in go_version.split():
        if word.startswith("go"):
            return word.removeprefix("go")
    return go_version
