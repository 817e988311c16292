"""Which files of a layer the inventory reads, and how: each format's parser behind a size cap.

A reader turns one tar member into Findings while the layer streams past. A file that cannot be
parsed, or is larger than its format's cap, yields no findings and a debug log line; only a
damaged layer (LayerError) stops the inventory.
"""

from __future__ import annotations

import logging
import posixpath
from collections.abc import Callable, Iterator

from dockyard.scanning.inventory import apk, distro, dpkg, golang, maven, npm, pypi, rpm
from dockyard.scanning.inventory.archive import Member
from dockyard.scanning.inventory.errors import PackageFileError
from dockyard.scanning.inventory.union import Entry, Findings, Symlink
from dockyard.scanning.packages import Distro, Package

OS_RELEASE = ("etc/os-release", "usr/lib/os-release")
ALPINE_RELEASE = "etc/alpine-release"

# How much of each kind of file may be held in memory at once: parsing takes a few times more.
# Real ones stay far below (a large dpkg status is 5 MB, a large rpmdb.sqlite 100 MB).
_TEXT_LIMIT = 1 << 20  # os-release, METADATA, package.json
_DATABASE_LIMIT = 64 << 20  # dpkg status, apk installed, package-lock.json
_RPM_DATABASE_LIMIT = 256 << 20
_ARCHIVE_LIMIT = 256 << 20  # jar, war, ear; the archives nested in one are read one at a time
_CHUNK = 1 << 20
# Smaller than any real executable: not worth a look for Go build info.
_EXECUTABLE_MINIMUM = 4096

Reader = Callable[[Member], Entry]
Parse = Callable[[bytes, str], list[Package]]

logger = logging.getLogger(__name__)


def reader_for(member: Member) -> Reader | None:
    """How to read `member`, or None when it holds nothing the inventory wants."""
    path, info = member.path, member.info
    if info.issym():
        return _symlink if path in OS_RELEASE else None
    if not info.isreg():
        return None
    if path in OS_RELEASE:
        return _release(distro.os_release)
    if path == ALPINE_RELEASE:
        return _release(distro.alpine_release)
    if path == dpkg.STATUS or _in_directory(path, dpkg.STATUS_D):
        if path.endswith(".md5sums"):
            return None
        return _whole(dpkg.packages, _DATABASE_LIMIT)
    if path in apk.INSTALLED:
        return _whole(apk.packages, _DATABASE_LIMIT)
    if path in rpm.DATABASES:
        return _whole(rpm.packages, _RPM_DATABASE_LIMIT)
    if pypi.is_metadata(path):
        return _whole(pypi.packages, _TEXT_LIMIT)
    if npm.is_installed_manifest(path):
        return _whole(npm.package_json, _TEXT_LIMIT)
    if npm.is_lockfile(path):
        return _whole(npm.package_lock, _DATABASE_LIMIT)
    if maven.is_archive(path):
        return _whole(maven.packages, _ARCHIVE_LIMIT)
    if info.mode & 0o111 and info.size >= _EXECUTABLE_MINIMUM:
        return _go_binary
    return None


def _in_directory(path: str, directory: str) -> bool:
    return posixpath.dirname(path) == directory


def _symlink(member: Member) -> Entry:
    target = posixpath.join("/", posixpath.dirname(member.path), member.info.linkname)
    return Symlink(posixpath.normpath(target).lstrip("/"))


def _release(parse: Callable[[bytes], Distro | None]) -> Reader:
    def read(member: Member) -> Entry:
        if member.info.size > _TEXT_LIMIT:
            logger.debug("skipping %s: %d bytes is too large", member.path, member.info.size)
            return Findings()
        return Findings(distro=parse(member.read()))

    return read


def _whole(parse: Parse, limit: int) -> Reader:
    """Read the whole file, within `limit` bytes, and parse it."""

    def read(member: Member) -> Entry:
        if member.info.size > limit:
            logger.debug("skipping %s: %d bytes is over %d", member.path, member.info.size, limit)
            return Findings()
        return _parsed(parse, member.read(), member.path)

    return read


def _parsed(parse: Parse, content: bytes, path: str) -> Findings:
    try:
        return Findings(packages=tuple(parse(content, path)))
    except PackageFileError as error:
        logger.debug("skipping %s: %s", path, error)
        return Findings()


def _go_binary(member: Member) -> Entry:
    """Stream an executable looking for Go build info, holding at most a chunk or two of it."""
    chunks = member.chunks(_CHUNK)
    first = next(chunks, b"")
    if not first.startswith(golang.EXECUTABLE_MAGICS):
        return Findings()
    for candidate in _aligned_candidates(first, chunks):
        findings = _parsed(golang.packages, candidate, member.path)
        if findings.packages:
            return findings
    return Findings()


def _aligned_candidates(first: bytes, chunks: Iterator[bytes]) -> Iterator[bytes]:
    """From each 16-byte aligned occurrence of the build info magic, up to BUILD_INFO_LIMIT bytes.

    A binary may carry the magic as a constant too (one that uses debug/buildinfo), so every
    occurrence is a candidate until one parses.
    """
    buffer = bytearray(first)
    offset = 0  # of buffer[0] in the file
    start = 0
    ended = False
    while True:
        at = buffer.find(golang.MAGIC, start)
        if at < 0:
            if ended:
                return
            # Keep only what could be the start of a magic split across two chunks.
            drop = max(len(buffer) - len(golang.MAGIC) + 1, 0)
            del buffer[:drop]
            offset += drop
            start = 0
            chunk = next(chunks, b"")
            ended = not chunk
            buffer += chunk
            continue
        start = at + 1
        if (offset + at) % golang.ALIGNMENT:
            continue
        while not ended and len(buffer) - at < golang.BUILD_INFO_LIMIT:
            chunk = next(chunks, b"")
            ended = not chunk
            buffer += chunk
        yield bytes(buffer[at : at + golang.BUILD_INFO_LIMIT])
