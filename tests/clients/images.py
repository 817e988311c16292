"""Building images without a network: umoci layouts, and multi-platform indexes by hand."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from tests.clients.conftest import Tools

OCI_INDEX = "application/vnd.oci.image.index.v1+json"


def umoci_image(
    tools: Tools, layout: Path, tag: str, files: dict[str, str], architecture: str = "amd64"
) -> None:
    """An image ``layout:tag`` whose one layer holds ``files`` (path -> text)."""
    if not (layout / "index.json").exists():
        tools.run("umoci", "init", "--layout", str(layout))
    tools.run("umoci", "new", "--image", f"{layout}:{tag}")
    source = layout.parent / f"{layout.name}-{tag}-files"
    for relative, text in files.items():
        (source / relative).parent.mkdir(parents=True, exist_ok=True)
        (source / relative).write_text(text)
    tools.run("umoci", "insert", "--image", f"{layout}:{tag}", str(source), "/")
    tools.run(
        "umoci",
        "config",
        "--image",
        f"{layout}:{tag}",
        "--architecture",
        architecture,
        "--os",
        "linux",
    )


def unpacked_files(tools: Tools, layout: Path, tag: str, target: Path) -> Path:
    """Unpack ``layout:tag`` into ``target`` and return its root filesystem."""
    tools.run("umoci", "unpack", "--rootless", "--image", f"{layout}:{tag}", str(target))
    return target / "rootfs"


def add_index(layout: Path, name: str, tags: dict[str, str]) -> str:
    """Write an image index over the layout's images ``tags`` (tag -> architecture) and name
    it ``name`` in the layout; return its digest."""
    index_file = layout / "index.json"
    layout_index = json.loads(index_file.read_text())
    by_tag = {
        m["annotations"]["org.opencontainers.image.ref.name"]: m for m in layout_index["manifests"]
    }
    manifests = [
        {
            **{k: by_tag[tag][k] for k in ("mediaType", "digest", "size")},
            "platform": {"architecture": architecture, "os": "linux"},
        }
        for tag, architecture in tags.items()
    ]
    body = json.dumps({"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": manifests}).encode()
    digest = hashlib.sha256(body).hexdigest()
    (layout / "blobs" / "sha256" / digest).write_bytes(body)
    layout_index["manifests"].append(
        {
            "mediaType": OCI_INDEX,
            "digest": f"sha256:{digest}",
            "size": len(body),
            "annotations": {"org.opencontainers.image.ref.name": name},
        }
    )
    index_file.write_text(json.dumps(layout_index))
    return f"sha256:{digest}"
