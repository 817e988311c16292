"""Every model, imported in one place so that the metadata (and Alembic) sees all tables."""

from dockyard.access.models import (
    GroupMembership,
    Robot,
    RobotPermission,
    SigningKey,
    User,
    UserGroup,
)
from dockyard.artifacts.models import ArtifactLabel, Label, Manifest, ManifestReference, Tag
from dockyard.blobs.models import Blob, RepositoryBlob, UploadSession
from dockyard.db.base import Base
from dockyard.events.models import Event
from dockyard.jobs.models import Job, Schedule
from dockyard.projects.models import (
    ImmutableRule,
    Project,
    ProjectBlob,
    ProjectMember,
    ProjectUsage,
    Repository,
    RetentionOutcome,
    RetentionPolicy,
)

__all__ = [
    "ArtifactLabel",
    "Base",
    "Blob",
    "Event",
    "GroupMembership",
    "ImmutableRule",
    "Job",
    "Label",
    "Manifest",
    "ManifestReference",
    "Project",
    "ProjectBlob",
    "ProjectMember",
    "ProjectUsage",
    "Repository",
    "RepositoryBlob",
    "RetentionOutcome",
    "RetentionPolicy",
    "Robot",
    "RobotPermission",
    "Schedule",
    "SigningKey",
    "Tag",
    "UploadSession",
    "User",
    "UserGroup",
]
