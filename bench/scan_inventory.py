"""How fast the inventory reads an image: about 1 GB of layers, timed.

    python bench/scan_inventory.py [--size-mb 1024] [--layers 4] [--compression gzip|zstd|none]

The layers are written to a temporary directory first: a dpkg status of ~500 packages (taken
from this machine's when it has one), Python and Node metadata, ELF executables with Go build
info, and many files of random, incompressible bytes, as application layers hold; or, with
--content machine, this machine's own /usr files (binaries, libraries, data), which compress as
real layers do. Then the script times decompressing the blobs alone (with Python's gzip, and with
isal and zlib-ng when they are installed) and inventory() over them, and prints seconds and MB/s
(of compressed blob, and of tar stream).
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import io
import json
import random
import sys
import tarfile
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

import zstandard

from dockyard.scanning.inventory import inventory
from dockyard.scanning.inventory.archive import GZIP_MAGIC, ZSTD_MAGIC

MB = 1 << 20
PACKAGES = 500


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=1024, help="total tar size (default 1024)")
    parser.add_argument("--layers", type=int, default=4, help="number of layers (default 4)")
    parser.add_argument("--compression", choices=["gzip", "zstd", "none"], default="gzip")
    parser.add_argument(
        "--content",
        choices=["random", "machine"],
        default="random",
        help="random bytes (default), or this machine's own /usr files: binaries and libraries,"
        " which compress as real layers do and have exec bits the inventory must look behind",
    )
    parser.add_argument("--seed", type=int, default=1)
    arguments = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="dockyard-inventory-bench-") as directory:
        started = time.perf_counter()
        blobs, tar_bytes = write_layers(
            Path(directory), arguments.size_mb * MB, arguments.layers, arguments.compression,
            arguments.content, random.Random(arguments.seed),
        )  # fmt: skip
        blob_bytes = sum(path.stat().st_size for path in blobs)
        print(
            f"wrote {len(blobs)} {arguments.compression} layers: {blob_bytes / MB:.0f} MB of blobs,"
            f" {tar_bytes / MB:.0f} MB of tar, in {time.perf_counter() - started:.1f} s",
            file=sys.stderr,
        )
        implementations = _gzip_implementations() if arguments.compression == "gzip" else []
        for name, gzip_open in implementations or [("", _python_gzip)]:
            started = time.perf_counter()
            _decompress_all(blobs, gzip_open)
            label = f"decompress only ({name})" if name else "decompress only"
            _report(label, time.perf_counter() - started, blob_bytes, tar_bytes)
        started = time.perf_counter()
        with _opened(blobs) as files:
            found = inventory(files)
        _report("inventory()", time.perf_counter() - started, blob_bytes, tar_bytes)
        print(f"found {len(found.packages)} packages, distro {found.distro}")
    return 0


def _report(label: str, seconds: float, blob_bytes: int, tar_bytes: int) -> None:
    print(
        f"{label:26} {seconds:6.2f} s   {blob_bytes / MB / seconds:7.0f} MB/s of blobs"
        f"   {tar_bytes / MB / seconds:7.0f} MB/s of tar"
    )


@contextlib.contextmanager
def _opened(paths: list[Path]) -> Iterator[list[BinaryIO]]:
    """The blobs as open files, as the scanner hands over downloaded layers."""
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(path.open("rb")) for path in paths]


GzipOpen = Callable[[BinaryIO], io.BufferedIOBase]


def _python_gzip(file: BinaryIO) -> io.BufferedIOBase:
    return gzip.GzipFile(fileobj=file)


def _gzip_implementations() -> list[tuple[str, GzipOpen]]:
    """Python's gzip, and the faster ones when installed (pip install isal zlib-ng), to compare."""
    found: list[tuple[str, GzipOpen]] = [("gzip", _python_gzip)]
    with contextlib.suppress(ImportError):
        from isal import igzip

        found.append(("isal", lambda file: igzip.IGzipFile(fileobj=file)))
    with contextlib.suppress(ImportError):
        from zlib_ng import gzip_ng

        found.append(("zlib-ng", lambda file: gzip_ng.GzipNGFile(fileobj=file)))
    return found


def _decompress_all(paths: list[Path], gzip_open: GzipOpen) -> None:
    for path in paths:
        with path.open("rb") as file:
            head = file.read(4)
            file.seek(0)
            stream: io.BufferedIOBase | BinaryIO
            if head.startswith(GZIP_MAGIC):
                stream = gzip_open(file)
            elif head.startswith(ZSTD_MAGIC):
                stream = zstandard.ZstdDecompressor().stream_reader(file, read_across_frames=True)
            else:
                stream = file
            while stream.read(MB):
                pass


# -- The layers ---------------------------------------------------------------------------------


def write_layers(
    directory: Path,
    size: int,
    count: int,
    compression: str,
    content: str,
    generator: random.Random,
) -> tuple[list[Path], int]:
    paths, tar_bytes = [], 0
    machine_files = _machine_files() if content == "machine" else None
    for index in range(count):
        entries = list(_base_entries(generator)) if index == 0 else []
        entries.extend(_application_entries(size // count, index, generator, machine_files))
        path = directory / f"layer-{index}.tar"
        tar_bytes += _write_tar(path, entries)
        paths.append(_compressed(path, compression))
    return paths, tar_bytes


def _write_tar(path: Path, entries: list[tuple[str, bytes, int]]) -> int:
    with tarfile.open(path, "w", format=tarfile.PAX_FORMAT) as archive:
        for name, content, mode in entries:
            info = tarfile.TarInfo("./" + name)
            info.size, info.mode, info.mtime = len(content), mode, 1_700_000_000
            archive.addfile(info, io.BytesIO(content))
    return path.stat().st_size


def _compressed(path: Path, compression: str) -> Path:
    if compression == "none":
        return path
    target = path.with_suffix(".tar.gz" if compression == "gzip" else ".tar.zst")
    with path.open("rb") as source, target.open("wb") as sink:
        if compression == "gzip":
            # Level 1: random bytes do not compress at any level; only writing gets slower.
            with gzip.GzipFile(fileobj=sink, mode="wb", compresslevel=1, mtime=0) as writer:
                while chunk := source.read(8 * MB):
                    writer.write(chunk)
        else:
            zstandard.ZstdCompressor(level=1).copy_stream(source, sink)
    path.unlink()
    return target


def _base_entries(generator: random.Random) -> Iterator[tuple[str, bytes, int]]:
    """What a Debian base layer holds for the inventory: os-release and the dpkg status."""
    yield "usr/lib/os-release", b'ID=debian\nVERSION_ID="12"\nVERSION_CODENAME=bookworm\n', 0o644
    yield "var/lib/dpkg/status", _dpkg_status(), 0o644
    for number in range(2000):
        yield f"usr/share/doc/package-{number}/copyright", generator.randbytes(2048), 0o644


def _dpkg_status() -> bytes:
    """PACKAGES paragraphs: this machine's own where it has them, else real-shaped ones."""
    status = Path("/var/lib/dpkg/status")
    paragraphs = status.read_bytes().split(b"\n\n") if status.exists() else []
    paragraphs = [paragraph for paragraph in paragraphs if paragraph.strip()][:PACKAGES]
    for number in range(len(paragraphs), PACKAGES):
        paragraphs.append(
            f"Package: lib{number}\nStatus: install ok installed\nPriority: optional\n"
            f"Architecture: amd64\nSource: src{number} (1.{number}-1)\nVersion: 1.{number}-1\n"
            f"Description: library {number}\n a package for the benchmark\n".encode()
        )
    return b"\n\n".join(paragraphs) + b"\n"


def _application_entries(
    size: int, layer: int, generator: random.Random, machine_files: Iterator[Path] | None
) -> Iterator[tuple[str, bytes, int]]:
    """Metadata of a few ecosystems, executables, and random (or the machine's) files."""
    written = 0
    for number in range(200):
        name = f"pkg{layer}x{number}"
        metadata = f"Metadata-Version: 2.1\nName: {name}\nVersion: 1.0.{number}\n".encode()
        site = f"usr/lib/python3/dist-packages/{name}-1.0.{number}.dist-info"
        yield f"{site}/METADATA", metadata, 0o644
        manifest = json.dumps({"name": name, "version": f"2.0.{number}", "license": "MIT"})
        yield f"srv/app/node_modules/{name}/package.json", manifest.encode(), 0o644
        written += len(metadata) + len(manifest)
    executable = b"\x7fELF\x02\x01\x01" + generator.randbytes(8 * MB)
    yield f"usr/bin/tool-{layer}", executable + _go_build_info(), 0o755
    written += len(executable)
    while machine_files is not None and written < size:
        path = next(machine_files, None)
        if path is None:
            break
        content = path.read_bytes()[: size - written]
        yield f"srv/machine/{layer}{path}", content, path.stat().st_mode & 0o7777
        written += len(content)
    while written < size:
        # Mostly small files, with now and then a big one, as application layers go.
        length = generator.choice([4096, 16384, 65536, 262144, 4 * MB, 16 * MB])
        length = min(length, size - written)
        yield f"srv/app/data/{layer}/{written:012d}.bin", generator.randbytes(length), 0o644
        written += length


def _machine_files() -> Iterator[Path]:
    """This machine's binaries and libraries, each once."""
    for root in ("/usr/bin", "/usr/sbin", "/usr/lib", "/usr/local/bin", "/usr/share"):
        for path in sorted(Path(root).rglob("*")):
            try:
                if path.is_file() and not path.is_symlink():
                    yield path
            except OSError:
                continue


def _go_build_info() -> bytes:
    modules = b"path\texample.com/tool\nmod\texample.com/tool\tv1.0.0\t\n"
    version = b"go1.22.4"
    padding = bytes(-(8 * MB + 7) % 16)  # the header sits on a 16-byte boundary
    return (
        padding
        + b"\xff Go buildinf:\x08\x02"
        + bytes(16)
        + bytes([len(version)])
        + version
        + bytes([len(modules)])
        + modules
    )


if __name__ == "__main__":
    raise SystemExit(main())
