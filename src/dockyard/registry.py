"""The registry's services, built once from the settings and handed to every face."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.artifacts.services import ManifestService
from dockyard.blobs.services import BlobService
from dockyard.blobs.uploads import UploadService
from dockyard.db import Database, open_database
from dockyard.projects.services import RepositoryService
from dockyard.settings import Settings
from dockyard.storage import BlobStore, FilesystemBlobStore


@dataclass(frozen=True, slots=True)
class Registry:
    settings: Settings
    db: Database
    store: BlobStore
    repositories: RepositoryService
    blobs: BlobService
    uploads: UploadService
    manifests: ManifestService

    @classmethod
    def build(cls, settings: Settings) -> Registry:
        db = open_database(settings.database_url)
        store = _blob_store(settings)
        repositories = RepositoryService(db)
        blobs = BlobService(db, store, repositories)
        return cls(
            settings=settings,
            db=db,
            store=store,
            repositories=repositories,
            blobs=blobs,
            uploads=UploadService(
                db,
                store,
                repositories,
                blobs,
                max_sessions=settings.limits.upload_sessions_per_repository,
            ),
            manifests=ManifestService(db, store, repositories, blobs),
        )

    async def close(self) -> None:
        await self.db.dispose()


def _blob_store(settings: Settings) -> BlobStore:
    if settings.storage.driver != "filesystem":
        raise ValueError(f"unknown storage driver {settings.storage.driver!r}")
    return FilesystemBlobStore(settings.blob_root, fsync=settings.storage.fsync)
