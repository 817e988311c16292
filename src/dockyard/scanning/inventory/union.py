"""The union of an image's layers, kept only as far as the inventory cares: what it read, by path.

Layers apply lowest first, as the OCI image spec's "Applying Changesets" says: a whiteout
(".wh.NAME") removes NAME and everything under it from the layers below; an opaque whiteout
(".wh..wh..opq") removes everything the layers below hold in its directory; an entry at a path
replaces what the layers below had there and, unless it is a directory, everything under it.
Whiteouts never touch the entries of their own layer, wherever they appear in the archive.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from dockyard.scanning.inventory.errors import LayerError
from dockyard.scanning.packages import Distro, Package

WHITEOUT = ".wh."
OPAQUE = ".wh..wh..opq"


@dataclass(frozen=True, slots=True)
class Findings:
    """What one file told the inventory: the packages it lists, or the distribution it names."""

    packages: tuple[Package, ...] = ()
    distro: Distro | None = None

    def moved_to(self, path: str) -> Findings:
        """The same findings for a hard link to this file at `path`."""
        packages = tuple(dataclasses.replace(package, path=path) for package in self.packages)
        return Findings(packages, self.distro)


@dataclass(frozen=True, slots=True)
class Symlink:
    """A symbolic link the inventory may follow; target is a normalised path from the root."""

    target: str


Entry = Findings | Symlink


class Changeset:
    """One layer's effect on the entries below it, gathered while the layer streams past."""

    def __init__(self, below: Mapping[str, Entry]) -> None:
        self._below = below
        # Only a path leading to an entry below can hide one; remembering no others keeps a layer
        # of a million files as cheap as a layer of ten.
        self._watched = {prefix for path in below for prefix in _path_and_parents(path)}
        self._replaced: set[str] = set()
        self._covered: set[str] = set()
        self.added: dict[str, Entry] = {}

    def entry(self, path: str, *, directory: bool) -> bool:
        """Note the layer's entry at `path`; False when it is a whiteout, which adds nothing."""
        parent, name = posixpath.split(path)
        if name == OPAQUE:
            self._watch(parent, covered=True)
        elif name.startswith(WHITEOUT + WHITEOUT):
            # aufs bookkeeping (.wh..wh..plnk, .wh..wh.aufs): metadata, not a deletion.
            pass
        elif name.startswith(WHITEOUT):
            if name == WHITEOUT:
                raise LayerError(f"whiteout without a name to delete: {path!r}")
            target = posixpath.join(parent, name.removeprefix(WHITEOUT))
            self._watch(target, replaced=True, covered=True)
        else:
            # A later entry at a path in the same layer replaces an earlier one, as extracting does.
            self.added.pop(path, None)
            self._watch(path, replaced=True, covered=not directory)
            return True
        return False

    def add(self, path: str, entry: Entry) -> None:
        """Record what the inventory read at `path` in this layer."""
        self.added[path] = entry

    def hard_link(self, path: str, target: str) -> None:
        """Record a hard link: it holds whatever the inventory read at `target`, here or below."""
        found = self.added.get(target, self._below.get(target))
        if isinstance(found, Findings):
            self.added[path] = found.moved_to(path)

    def hides(self, path: str) -> bool:
        """Whether this layer removes or replaces the entry a lower layer has at `path`."""
        if path in self._replaced:
            return True
        return any(parent in self._covered for parent in _path_and_parents(posixpath.dirname(path)))

    def _watch(self, path: str, *, replaced: bool = False, covered: bool = False) -> None:
        if path not in self._watched:
            return
        if replaced:
            self._replaced.add(path)
        if covered:
            self._covered.add(path)


class Union:
    """The entries the inventory read, as the layers applied so far leave them."""

    def __init__(self) -> None:
        self._entries: dict[str, Entry] = {}

    def changeset(self) -> Changeset:
        """Start gathering the next layer."""
        return Changeset(self._entries)

    def apply(self, changes: Changeset) -> None:
        """Put a gathered layer on top."""
        kept = {path: entry for path, entry in self._entries.items() if not changes.hides(path)}
        kept.update(changes.added)
        self._entries = kept

    def findings(self) -> Iterator[tuple[str, Findings]]:
        """Every file's findings, in path order."""
        for path in sorted(self._entries):
            entry = self._entries[path]
            if isinstance(entry, Findings):
                yield path, entry

    def resolve(self, path: str) -> Findings | None:
        """The findings at `path`, following symbolic links as the filesystem would."""
        for _ in range(40):  # the kernel's limit on nested links (MAXSYMLINKS)
            entry = self._entries.get(path)
            if not isinstance(entry, Symlink):
                return entry
            path = entry.target
        return None


def _path_and_parents(path: str) -> Iterator[str]:
    """`path` and each directory above it, down to the root ("")."""
    while path:
        yield path
        path = posixpath.dirname(path)
    yield ""
