"""Node packages: node_modules/**/package.json, and package-lock.json outside node_modules."""

from __future__ import annotations

import json
import posixpath
from collections.abc import Iterator, Mapping
from typing import Any

from dockyard.scanning.inventory.errors import PackageFileError
from dockyard.scanning.packages import Package

NODE_MODULES = "node_modules"


def is_installed_manifest(path: str) -> bool:
    """Whether `path` is the package.json at the root of a package in a node_modules directory."""
    directory, name = posixpath.split(path)
    if name != "package.json":
        return False
    parent, package = posixpath.split(directory)
    if package.startswith("@"):
        return False
    if posixpath.basename(parent).startswith("@"):  # a scoped package: node_modules/@scope/name
        parent = posixpath.dirname(parent)
    return posixpath.basename(parent) == NODE_MODULES


def is_lockfile(path: str) -> bool:
    """Whether `path` is an application's package-lock.json (not one shipped inside a package)."""
    return posixpath.basename(path) == "package-lock.json" and NODE_MODULES not in path.split("/")


def package_json(content: bytes, path: str) -> list[Package]:
    """The package a package.json describes; none when it names no version (a sub-folder marker)."""
    manifest = _json_object(content)
    name, version = manifest.get("name"), manifest.get("version")
    if not isinstance(name, str) or not isinstance(version, str) or not name or not version:
        return []
    return [_package(name, version, path, _licenses(manifest))]


def package_lock(content: bytes, path: str) -> list[Package]:
    """The packages a lockfile pins: lockfileVersion 1 ("dependencies"), 2 and 3 ("packages")."""
    lock = _json_object(content)
    packages = lock.get("packages")
    entries = _v2_entries(packages) if isinstance(packages, dict) else _v1_entries(lock)
    found: dict[tuple[str, str], Package] = {}
    for name, version, entry in entries:
        found.setdefault((name, version), _package(name, version, path, _licenses(entry)))
    return list(found.values())


def _v2_entries(packages: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    for key, entry in packages.items():
        # "" is the project itself; keys outside node_modules are its workspaces; links
        # point at one of those, which is listed under its own key.
        if NODE_MODULES + "/" not in key or not isinstance(entry, dict) or entry.get("link"):
            continue
        name = entry.get("name") or key.rpartition(NODE_MODULES + "/")[2]
        version = entry.get("version")
        if isinstance(name, str) and isinstance(version, str) and name and version:
            yield name, version, entry


def _v1_entries(tree: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    # Nested "dependencies" mirror nested node_modules; walk them without recursion.
    pending = [tree.get("dependencies")]
    while pending:
        dependencies = pending.pop()
        if not isinstance(dependencies, dict):
            continue
        for name, entry in dependencies.items():
            if not isinstance(entry, dict):
                continue
            version = entry.get("version")
            if isinstance(version, str) and version:
                yield name, version, entry
            pending.append(entry.get("dependencies"))


def _package(name: str, version: str, path: str, licenses: tuple[str, ...]) -> Package:
    return Package(type="npm", name=name, version=version, path=path, licenses=licenses)


def _licenses(manifest: Mapping[str, Any]) -> tuple[str, ...]:
    """A "license" string, the older {"type": ...} object, or the older still "licenses" list."""
    declared = manifest.get("license")
    if declared is None:
        declared = manifest.get("licenses")
    items = declared if isinstance(declared, list) else [declared]
    found = []
    for item in items:
        value = item.get("type") if isinstance(item, dict) else item
        if isinstance(value, str) and value.strip():
            found.append(value.strip())
    return tuple(found)


def _json_object(content: bytes) -> dict[str, Any]:
    try:
        document = json.loads(content)
    except (ValueError, RecursionError) as error:
        raise PackageFileError(f"invalid JSON: {error}") from error
    if not isinstance(document, dict):
        raise PackageFileError("JSON document is not an object")
    return document
