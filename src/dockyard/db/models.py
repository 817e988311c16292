"""Every model, imported in one place so that the metadata (and Alembic) sees all tables."""

from dockyard.artifacts.models import Manifest, ManifestReference, Tag
from dockyard.blobs.models import Blob, RepositoryBlob, UploadSession
from dockyard.db.base import Base
from dockyard.projects.models import Project, Repository

__all__ = [
    "Base",
    "Blob",
    "Manifest",
    "ManifestReference",
    "Project",
    "Repository",
    "RepositoryBlob",
    "Tag",
    "UploadSession",
]
