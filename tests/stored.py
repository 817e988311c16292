"""What a registry's blob storage holds, read directly, whichever driver it uses."""

from __future__ import annotations

import shutil
from typing import Any

import boto3

from dockyard.settings import S3Settings, Settings


def _s3(settings: Settings) -> Any:
    return s3_client(settings.storage.s3)


def s3_client(s3: S3Settings) -> Any:
    """A boto3 client with the driver's endpoint and keys."""
    return boto3.client(
        "s3",
        endpoint_url=s3.endpoint,
        region_name=s3.region,
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key.get_secret_value(),
    )


def s3_keys(s3: S3Settings, prefix: str) -> list[str]:
    """Every key of the driver's bucket under ``prefix``, sorted."""
    pages = s3_client(s3).get_paginator("list_objects_v2").paginate(Bucket=s3.bucket, Prefix=prefix)
    return sorted(item["Key"] for page in pages for item in page.get("Contents", []))


def stored_keys(settings: Settings) -> list[str]:
    """Every file under the blob root, or every key under the bucket's prefix."""
    if settings.storage.driver == "s3":
        return s3_keys(settings.storage.s3, settings.storage.s3.prefix)
    root = settings.blob_root
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())


def stored_copies(settings: Settings, digest: str) -> list[bytes]:
    """The content of every stored blob (not upload) whose name holds ``digest``'s hex."""
    encoded = digest.split(":", 1)[1]
    keys = [k for k in stored_keys(settings) if encoded in k and "upload" not in k]
    if settings.storage.driver == "s3":
        client = _s3(settings)
        return [
            client.get_object(Bucket=settings.storage.s3.bucket, Key=k)["Body"].read() for k in keys
        ]
    return [(settings.blob_root / k).read_bytes() for k in keys]


def break_storage(settings: Settings) -> None:
    """Make the blob storage unusable: the blob root becomes a file, the bucket goes away."""
    if settings.storage.driver == "s3":
        client = _s3(settings)
        bucket = settings.storage.s3.bucket
        for key in stored_keys(settings):
            client.delete_object(Bucket=bucket, Key=key)
        client.delete_bucket(Bucket=bucket)
        return
    root = settings.blob_root
    if root.exists():
        shutil.rmtree(root)
    root.parent.mkdir(parents=True, exist_ok=True)
    root.write_bytes(b"not a directory")
