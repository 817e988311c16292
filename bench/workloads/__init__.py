"""Every workload, in the order they run against each target."""

from __future__ import annotations

from bench.rows import Workload
from bench.workloads.downloads import DOWNLOAD_CONCURRENT, DOWNLOAD_SINGLE
from bench.workloads.manifest_push import MANIFEST_PUT
from bench.workloads.memory import MEMORY
from bench.workloads.reads import BASE, BLOB_HEAD, MANIFEST_GET, TAGS_LIST
from bench.workloads.tokens import TOKEN
from bench.workloads.uploads import UPLOAD_CHUNKED, UPLOAD_LARGE, UPLOAD_MEDIUM, UPLOAD_SMALL

WORKLOADS: list[Workload] = [
    UPLOAD_SMALL,
    UPLOAD_MEDIUM,
    UPLOAD_LARGE,
    UPLOAD_CHUNKED,
    DOWNLOAD_SINGLE,
    DOWNLOAD_CONCURRENT,
    MANIFEST_PUT,
    BASE,
    MANIFEST_GET,
    BLOB_HEAD,
    TAGS_LIST,
    TOKEN,
    MEMORY,
]
