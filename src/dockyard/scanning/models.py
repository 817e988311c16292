"""Scanners, the reports they made, the advisory database, and CVE allowlists."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.db.base import Base, UTCDateTime, utcnow


class Scanner(Base):
    """A registered scanner adapter (Harbor's "interrogation service")."""

    __tablename__ = "scanners"

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    name: Mapped[str] = mapped_column(String(255), unique=True)
    description: Mapped[str] = mapped_column(String(1024), default="")
    # The adapter's base URL (without /api/v1); empty for the built-in scanner, which
    # runs in this process.
    url: Mapped[str] = mapped_column(String(1024), default="")
    # "", "Basic", "Bearer" or "X-ScannerAdapter-API-Key", and the credential it sends.
    auth: Mapped[str] = mapped_column(String(32), default="")
    access_credential: Mapped[str] = mapped_column(Text, default="")
    skip_cert_verify: Mapped[bool] = mapped_column(Boolean, default=False)
    # PEM certificates the adapter's TLS certificate must chain to; empty: the system's.
    ca_bundle: Mapped[str] = mapped_column(Text, default="")
    # Send the adapter the registry's internal address rather than its external URL.
    use_internal_addr: Mapped[bool] = mapped_column(Boolean, default=False)
    disabled: Mapped[bool] = mapped_column(Boolean, default=False)
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    builtin: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ScanReport(Base):
    """The latest report of one kind (MIME type) about one artifact."""

    __tablename__ = "scan_reports"
    __table_args__ = (UniqueConstraint("manifest_id", "mime_type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    uuid: Mapped[str] = mapped_column(String(36), unique=True)
    manifest_id: Mapped[int] = mapped_column(ForeignKey("manifests.id", ondelete="CASCADE"))
    scanner_id: Mapped[int | None] = mapped_column(
        ForeignKey("scanners.id", ondelete="SET NULL"), index=True
    )
    # The scanner's name, vendor and version as the adapter reported them (JSON).
    scanner: Mapped[str] = mapped_column(Text, default="{}")
    mime_type: Mapped[str] = mapped_column(String(128))
    # Pending, Running, Success, Error, Stopped (Harbor's words).
    status: Mapped[str] = mapped_column(String(16))
    # No foreign key: finished jobs are pruned, reports stay.
    job_id: Mapped[int | None] = mapped_column(BigInteger().with_variant(Integer, "sqlite"))
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The worst severity found ("None" when nothing was), and the counts by severity (JSON).
    severity: Mapped[str] = mapped_column(String(16), default="None")
    summary: Mapped[str] = mapped_column(Text, default="{}")
    # The report itself as the adapter returned it (JSON), empty until it succeeded.
    report: Mapped[str] = mapped_column(Text, default="")
    # What went wrong, for Error and Stopped; the scan log for the API.
    log: Mapped[str] = mapped_column(Text, default="")
    # For an SBOM report: the digest of the SBOM artifact attached to the image.
    sbom_digest: Mapped[str] = mapped_column(String(160), default="")


class VulnAdvisory(Base):
    """One advisory of the vulnerability database, in what reports need of its OSV record."""

    __tablename__ = "vuln_advisories"

    id: Mapped[str] = mapped_column(String(128), primary_key=True)
    modified: Mapped[datetime] = mapped_column(UTCDateTime())
    severity: Mapped[str] = mapped_column(String(16))
    # summary, details, aliases, links, cvss, cwe_ids (JSON).
    data: Mapped[str] = mapped_column(Text)


class VulnAffected(Base):
    """An advisory's ``affected`` entry, under the ecosystem key and name it is looked up by."""

    __tablename__ = "vuln_affected"

    id: Mapped[int] = mapped_column(primary_key=True)
    advisory_id: Mapped[str] = mapped_column(
        ForeignKey("vuln_advisories.id", ondelete="CASCADE"), index=True
    )
    ecosystem: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(512))
    # The OSV ``affected`` object as the record holds it (JSON).
    entry: Mapped[str] = mapped_column(Text)


Index("ix_vuln_affected_ecosystem_name", VulnAffected.ecosystem, VulnAffected.name)


class VulnImport(Base):
    """One ``dockyard vulndb import``: what it read and what it changed."""

    __tablename__ = "vuln_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    sources: Mapped[str] = mapped_column(Text, default="[]")
    added: Mapped[int] = mapped_column(Integer, default=0)
    updated: Mapped[int] = mapped_column(Integer, default=0)
    unchanged: Mapped[int] = mapped_column(Integer, default=0)
    withdrawn: Mapped[int] = mapped_column(Integer, default=0)
    skipped: Mapped[int] = mapped_column(Integer, default=0)
    invalid: Mapped[int] = mapped_column(Integer, default=0)


class CveAllowlist(Base):
    """CVEs a project (or, with no project, the whole system) accepts, until an expiry."""

    __tablename__ = "cve_allowlists"

    id: Mapped[int] = mapped_column(primary_key=True)
    # None: the system allowlist.
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), unique=True
    )
    # The CVE ids, a JSON list of strings.
    items: Mapped[str] = mapped_column(Text, default="[]")
    # None: never expires.
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, onupdate=utcnow)


class ProjectScanner(Base):
    """The scanner a project chose; projects without a row use the system default."""

    __tablename__ = "project_scanners"

    project_id: Mapped[int] = mapped_column(
        ForeignKey("projects.id", ondelete="CASCADE"), primary_key=True
    )
    scanner_id: Mapped[int] = mapped_column(ForeignKey("scanners.id", ondelete="CASCADE"))
