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
from dockyard.scanning.models import (
    CveAllowlist,
    ProjectScanner,
    Scanner,
    ScanReport,
    VulnAdvisory,
    VulnAffected,
    VulnImport,
)

__all__ = [
    "ArtifactLabel",
    "Base",
    "Blob",
    "CveAllowlist",
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
    "ProjectScanner",
    "ProjectUsage",
    "Repository",
    "RepositoryBlob",
    "RetentionOutcome",
    "RetentionPolicy",
    "Robot",
    "RobotPermission",
    "ScanReport",
    "Scanner",
    "Schedule",
    "SigningKey",
    "Tag",
    "UploadSession",
    "User",
    "UserGroup",
    "VulnAdvisory",
    "VulnAffected",
    "VulnImport",
]
