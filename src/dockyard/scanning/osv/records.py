"""Where OSV records come from: an osv.dev all.zip dump, a directory of records, or one file.

A Source lists its records when it is opened, so a caller knows the count before reading
(for a progress bar), then reads them one at a time: a dump holds hundreds of thousands.
"""

from __future__ import annotations

import zipfile
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import orjson

from dockyard.scanning.osv.errors import OsvError

SourceKind = Literal["zip", "directory", "file"]


@dataclass(frozen=True, slots=True)
class Source:
    """One place records come from, with the names of the records it holds."""

    path: Path
    kind: SourceKind
    # Zip member names, paths relative to the directory, or the file's own name.
    names: tuple[str, ...]

    @property
    def count(self) -> int:
        """How many records the source holds, known before any is read."""
        return len(self.names)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        """Each record in turn; the first unreadable one raises OsvError."""
        for _name, record in self.entries():
            if isinstance(record, OsvError):
                raise record
            yield record

    def entries(self) -> Iterator[tuple[str, dict[str, Any] | OsvError]]:
        """Each record's name with the record, or with the error that kept it from being read."""
        if self.kind == "zip":
            yield from self._zip_entries()
            return
        for name in self.names:
            file = self.path if self.kind == "file" else self.path / name
            try:
                data = file.read_bytes()
            except OSError as exc:
                yield name, OsvError(f"{file}: cannot be read ({exc.strerror or exc})")
                continue
            yield name, _decode(data, str(file))

    def _zip_entries(self) -> Iterator[tuple[str, dict[str, Any] | OsvError]]:
        try:
            archive = zipfile.ZipFile(self.path)
        except (OSError, zipfile.BadZipFile) as exc:
            raise OsvError(f"{self.path}: not a readable zip archive ({exc})") from exc
        with archive:
            for name in self.names:
                where = f"{name} in {self.path}"
                try:
                    data = archive.read(name)
                except (OSError, zipfile.BadZipFile, zlib.error) as exc:
                    yield name, OsvError(f"{where}: cannot be read ({exc})")
                    continue
                yield name, _decode(data, where)


def open_sources(paths: Sequence[Path]) -> list[Source]:
    """Open each path: a zip of *.json records, a directory walked for *.json, or one file."""
    return [_open(Path(path)) for path in paths]


def _open(path: Path) -> Source:
    if not path.exists():
        raise OsvError(f"{path}: no such file or directory")
    if path.is_dir():
        names = sorted(
            file.relative_to(path).as_posix() for file in path.rglob("*.json") if file.is_file()
        )
        return Source(path, "directory", tuple(names))
    if path.suffix.lower() == ".zip" or zipfile.is_zipfile(path):
        return Source(path, "zip", _zip_names(path))
    return Source(path, "file", (path.name,))


def _zip_names(path: Path) -> tuple[str, ...]:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
    except (OSError, zipfile.BadZipFile) as exc:
        raise OsvError(f"{path}: not a readable zip archive ({exc})") from exc
    return tuple(
        member.filename
        for member in members
        if not member.is_dir() and member.filename.lower().endswith(".json")
    )


def _decode(data: bytes, where: str) -> dict[str, Any] | OsvError:
    """A record from its bytes, or the error saying why it is not one."""
    try:
        record = orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        return OsvError(f"{where}: not JSON ({exc})")
    if not isinstance(record, dict):
        return OsvError(f"{where}: an OSV record is a JSON object, not {type(record).__name__}")
    return record
