"""What a registry's blob storage holds, read directly, whichever driver it uses."""

from __future__ import annotations

import shutil

import boto3

from dockyard.settings import Settings


def _s3(settings: Settings) -> object:
    s3 = settings.storage.s3
    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        region_name=s3.region,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key.get_secret_value(),
    )


def stored_keys(settings: Settings) -> list[str]:
    """Every file under the blob root, or every key under the bucket's prefix."""
    if settings.storage.driver == "s3":
        client = _s3(settings)
        pages = client.get_paginator("list_objects_v2").paginate(  # type: ignore[attr-defined]
            Bucket=settings.storage.s3.bucket, Prefix=settings.storage.s3.prefix
        )
        return sorted(item["Key"] for page in pages for item in page.get("Contents", []))
    root = settings.blob_root
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def stored_copies(settings: Settings, digest: str) -> list[bytes]:
    """The content of every stored blob (not upload) whose name holds ``digest``'s hex."""
    encoded = digest.split(":", 1)[1]
    keys = [k for k in stored_keys(settings) if encoded in k and "upload" not in k]
    if settings.storage.driver == "s3":
        client = _s3(settings)
        return [
            client.get_object(Bucket=settings.storage.s3.bucket, Key=k)["Body"].read()  # type: ignore[attr-defined]
            for k in keys
        ]
    return [(settings.blob_root / k).read_bytes() for k in keys]


def break_storage(settings: Settings) -> None:
    """Make the blob storage unusable: the blob root becomes a file, the bucket goes away."""
    if settings.storage.driver == "s3":
        client = _s3(settings)
        bucket = settings.storage.s3.bucket
        for key in stored_keys(settings):
            client.delete_object(Bucket=bucket, Key=key)  # type: ignore[attr-defined]
        client.delete_bucket(Bucket=bucket)  # type: ignore[attr-defined]
        return
    root = settings.blob_root
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    root.write_bytes(b"not a directory")
