"""An S3-speaking server of the test session's own, on 127.0.0.1: moto's standalone server.

No object store server installs from Debian's packages or PyPI here (MinIO,
Garage, SeaweedFS and RustFS ship neither; Ceph's radosgw needs a whole Ceph
cluster), so the tests use moto's server, which speaks S3's wire protocol over
real sockets and enforces its rules that matter to the driver: the 5 MiB
minimum of a multipart upload's non-final parts, part ETags, ranged GETs and
presigned URLs. Each test gets a bucket of its own.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import boto3
import httpx

from dockyard.settings import S3Settings
from tests.servers import free_port

ACCESS_KEY = "dockyard-test"
SECRET_KEY = "dockyard-test-secret"


class S3Server:
    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.log = Path(tempfile.mkdtemp(prefix="dockyard-s3-")) / "moto.log"
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 60.0) -> S3Server:
        with open(self.log, "ab") as log:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the S3 server exited early:\n{self.log.read_text()}")
            try:
                httpx.get(f"{self.endpoint}/", timeout=1)
                return self
            except httpx.TransportError:
                time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"the S3 server did not answer within {timeout}s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()

    def client(self) -> object:
        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            region_name="us-east-1",
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
        )

    def new_bucket(self) -> str:
        name = f"dockyard-{uuid.uuid4().hex[:12]}"
        self.client().create_bucket(Bucket=name)  # type: ignore[attr-defined]
        return name

    def settings(self, bucket: str | None = None, **overrides: object) -> S3Settings:
        """Settings of the s3 driver for a bucket of this server (a new one by default)."""
        values: dict[str, object] = {
            "bucket": bucket or self.new_bucket(),
            "endpoint": self.endpoint,
            "access_key": ACCESS_KEY,
            "secret_key": SECRET_KEY,
            "addressing_style": "path",
            "part_size": 5 * 1024 * 1024,
        }
        values.update(overrides)
        return S3Settings.model_validate(values)

    @staticmethod
    def environment(settings: S3Settings) -> dict[str, str]:
        """The DOCKYARD_* variables that give a server process these settings."""
        environment = {"DOCKYARD_STORAGE__DRIVER": "s3"}
        for name, value in settings.model_dump().items():
            if hasattr(value, "get_secret_value"):
                value = value.get_secret_value()
            environment[f"DOCKYARD_STORAGE__S3__{name.upper()}"] = (
                str(value).lower() if isinstance(value, bool) else str(value)
            )
        return environment

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Every key in ``bucket`` under ``prefix``."""
        paginator = self.client().get_paginator("list_objects_v2")  # type: ignore[attr-defined]
        return [
            item["Key"]
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]

    def multipart_uploads(self, bucket: str) -> list[str]:
        listed = self.client().list_multipart_uploads(Bucket=bucket)  # type: ignore[attr-defined]
        return [u["Key"] for u in listed.get("Uploads", [])]
