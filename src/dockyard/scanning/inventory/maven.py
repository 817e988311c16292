"""Java artifacts in jar, war and ear archives: Maven's pom.properties, else the manifest."""

from __future__ import annotations

import io
import logging
import lzma
import zipfile
import zlib

from dockyard.scanning.inventory.errors import PackageFileError
from dockyard.scanning.packages import Package

ARCHIVE_SUFFIXES = (".jar", ".war", ".ear")
# A nested archive (Spring Boot's BOOT-INF/lib, a war's WEB-INF/lib) is read into memory too;
# all of them together are bounded so that a small archive cannot inflate to gigabytes.
NESTED_LIMIT = 64 << 20
NESTED_TOTAL_LIMIT = 1 << 30
_SMALL_FILE_LIMIT = 1 << 20
_MANIFEST = "META-INF/MANIFEST.MF"
# Everything zipfile raises on a damaged or unsupported archive member.
_ZIP_DAMAGE = (
    zipfile.BadZipFile,
    zlib.error,
    lzma.LZMAError,
    EOFError,
    OSError,
    ValueError,
    NotImplementedError,
    RuntimeError,
)

logger = logging.getLogger(__name__)


def is_archive(path: str) -> bool:
    """Whether `path` names a Java archive."""
    return path.endswith(ARCHIVE_SUFFIXES)


def packages(content: bytes, path: str) -> list[Package]:
    """The artifacts a Java archive holds, and those of the archives nested one level inside it."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(content))
        found = _artifacts(archive, path)
    except _ZIP_DAMAGE as error:
        raise PackageFileError(f"not a readable zip archive: {error}") from error
    budget = NESTED_TOTAL_LIMIT
    for info in archive.infolist():
        if not info.filename.endswith(ARCHIVE_SUFFIXES) or info.file_size > NESTED_LIMIT:
            continue
        budget -= info.file_size
        if budget < 0:
            logger.debug("skipping the rest of the archives nested in %s: too large", path)
            break
        try:
            nested = zipfile.ZipFile(io.BytesIO(archive.read(info)))
            found.extend(_artifacts(nested, path))
        except _ZIP_DAMAGE as error:
            logger.debug("skipping %s inside %s: %s", info.filename, path, error)
    return list(dict.fromkeys(found))


def _artifacts(archive: zipfile.ZipFile, path: str) -> list[Package]:
    """The Maven coordinates an archive records, or the one its manifest names."""
    found = []
    for info in archive.infolist():
        name = info.filename
        if name.startswith("META-INF/maven/") and name.endswith("/pom.properties"):
            properties = _properties(_small(archive, info))
            group, artifact = properties.get("groupId", ""), properties.get("artifactId", "")
            version = properties.get("version", "")
            if artifact and version:
                found.append(_package(group, artifact, version, path, ()))
    if found:
        return found
    try:
        manifest_info = archive.getinfo(_MANIFEST)
    except KeyError:
        return []
    manifest = _manifest(_small(archive, manifest_info))
    title = manifest.get("Implementation-Title", "")
    version = manifest.get("Implementation-Version", "")
    if not (title and version):
        title = manifest.get("Bundle-SymbolicName", "").partition(";")[0].strip()
        version = manifest.get("Bundle-Version", "")
    if not (title and version):
        return []
    license_ = manifest.get("Bundle-License", "")
    return [_package("", title, version, path, (license_,) if license_ else ())]


def _package(
    group: str, artifact: str, version: str, path: str, licenses: tuple[str, ...]
) -> Package:
    return Package(
        type="maven", namespace=group, name=artifact, version=version, path=path, licenses=licenses
    )


def _small(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> str:
    if info.file_size > _SMALL_FILE_LIMIT:
        return ""
    return archive.read(info).decode("utf-8", errors="replace")


def _properties(text: str) -> dict[str, str]:
    """A Java .properties file's "key=value" (or "key: value") lines; comments skipped."""
    found = {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith(("#", "!")):
            continue
        separator = min((at for at in (line.find("="), line.find(":")) if at >= 0), default=-1)
        if separator > 0:
            found[line[:separator].strip()] = line[separator + 1 :].strip()
    return found


def _manifest(text: str) -> dict[str, str]:
    """The main section of a jar manifest; a line starting with a space continues the one before."""
    found: dict[str, str] = {}
    key = ""
    for line in text.splitlines():
        if not line:
            break  # the main section ends at the first blank line
        if line.startswith(" ") and key:
            found[key] += line[1:]
            continue
        key, _, value = line.partition(":")
        key = key.strip()
        # Lines are cut at 72 bytes wherever that falls, so keep the value's own spaces.
        found[key] = value.removeprefix(" ")
    return {key: value.strip() for key, value in found.items()}
