"""scanning: scanners, scan reports, the advisory database, CVE allowlists

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-29 14:49:42
"""

from collections.abc import Sequence
from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

import dockyard.db.base

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "scanners",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("name", sa.String(length=255), nullable=False),
        sa.Column("description", sa.String(length=1024), nullable=False),
        sa.Column("url", sa.String(length=1024), nullable=False),
        sa.Column("auth", sa.String(length=32), nullable=False),
        sa.Column("access_credential", sa.Text(), nullable=False),
        sa.Column("skip_cert_verify", sa.Boolean(), nullable=False),
        sa.Column("ca_bundle", sa.Text(), nullable=False),
        sa.Column("use_internal_addr", sa.Boolean(), nullable=False),
        sa.Column("disabled", sa.Boolean(), nullable=False),
        sa.Column("is_default", sa.Boolean(), nullable=False),
        sa.Column("builtin", sa.Boolean(), nullable=False),
        sa.Column("created_at", dockyard.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("updated_at", dockyard.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scanners")),
        sa.UniqueConstraint("name", name=op.f("uq_scanners_name")),
        sa.UniqueConstraint("uuid", name=op.f("uq_scanners_uuid")),
    )
    op.create_table(
        "vuln_advisories",
        sa.Column("id", sa.String(length=128), nullable=False),
        sa.Column("modified", dockyard.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("data", sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vuln_advisories")),
    )
    op.create_table(
        "vuln_imports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("started_at", dockyard.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("finished_at", dockyard.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("sources", sa.Text(), nullable=False),
        sa.Column("added", sa.Integer(), nullable=False),
        sa.Column("updated", sa.Integer(), nullable=False),
        sa.Column("unchanged", sa.Integer(), nullable=False),
        sa.Column("withdrawn", sa.Integer(), nullable=False),
        sa.Column("skipped", sa.Integer(), nullable=False),
        sa.Column("invalid", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vuln_imports")),
    )
    op.create_table(
        "vuln_affected",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("advisory_id", sa.String(length=128), nullable=False),
        sa.Column("ecosystem", sa.String(length=128), nullable=False),
        sa.Column("name", sa.String(length=512), nullable=False),
        sa.Column("entry", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["advisory_id"],
            ["vuln_advisories.id"],
            name=op.f("fk_vuln_affected_advisory_id_vuln_advisories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_vuln_affected")),
    )
    with op.batch_alter_table("vuln_affected", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_vuln_affected_advisory_id"), ["advisory_id"], unique=False
        )
        batch_op.create_index(
            "ix_vuln_affected_ecosystem_name", ["ecosystem", "name"], unique=False
        )

    op.create_table(
        "cve_allowlists",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("project_id", sa.Integer(), nullable=True),
        sa.Column("items", sa.Text(), nullable=False),
        sa.Column("expires_at", dockyard.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("updated_at", dockyard.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_cve_allowlists_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_cve_allowlists")),
        sa.UniqueConstraint("project_id", name=op.f("uq_cve_allowlists_project_id")),
    )
    op.create_table(
        "project_scanners",
        sa.Column("project_id", sa.Integer(), nullable=False),
        sa.Column("scanner_id", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["project_id"],
            ["projects.id"],
            name=op.f("fk_project_scanners_project_id_projects"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scanner_id"],
            ["scanners.id"],
            name=op.f("fk_project_scanners_scanner_id_scanners"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("project_id", name=op.f("pk_project_scanners")),
    )
    op.create_table(
        "scan_reports",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("uuid", sa.String(length=36), nullable=False),
        sa.Column("manifest_id", sa.Integer(), nullable=False),
        sa.Column("scanner_id", sa.Integer(), nullable=True),
        sa.Column("scanner", sa.Text(), nullable=False),
        sa.Column("mime_type", sa.String(length=128), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("job_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("started_at", dockyard.db.base.UTCDateTime(timezone=True), nullable=False),
        sa.Column("ended_at", dockyard.db.base.UTCDateTime(timezone=True), nullable=True),
        sa.Column("severity", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("log", sa.Text(), nullable=False),
        sa.Column("sbom_digest", sa.String(length=160), nullable=False),
        sa.ForeignKeyConstraint(
            ["manifest_id"],
            ["manifests.id"],
            name=op.f("fk_scan_reports_manifest_id_manifests"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["scanner_id"],
            ["scanners.id"],
            name=op.f("fk_scan_reports_scanner_id_scanners"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scan_reports")),
        sa.UniqueConstraint(
            "manifest_id", "mime_type", name=op.f("uq_scan_reports_manifest_id_mime_type")
        ),
        sa.UniqueConstraint("uuid", name=op.f("uq_scan_reports_uuid")),
    )
    with op.batch_alter_table("scan_reports", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_scan_reports_scanner_id"), ["scanner_id"], unique=False
        )

    # The built-in scanner is always registered, the default until an admin picks another.
    scanners = sa.table(
        "scanners",
        *(
            sa.column(name)
            for name in (
                "uuid",
                "name",
                "description",
                "url",
                "auth",
                "access_credential",
                "skip_cert_verify",
                "ca_bundle",
                "use_internal_addr",
                "disabled",
                "is_default",
                "builtin",
                "created_at",
                "updated_at",
            )
        ),
    )
    now = datetime.now(UTC)
    op.bulk_insert(
        scanners,
        [
            {
                "uuid": "00000000-0000-4000-8000-00000000d0c4",
                "name": "dockyard",
                "description": "The scanner built into dockyard: offline, OSV advisories",
                "url": "",
                "auth": "",
                "access_credential": "",
                "skip_cert_verify": False,
                "ca_bundle": "",
                "use_internal_addr": True,
                "disabled": False,
                "is_default": True,
                "builtin": True,
                "created_at": now,
                "updated_at": now,
            }
        ],
    )


def downgrade() -> None:
    with op.batch_alter_table("scan_reports", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_scan_reports_scanner_id"))

    op.drop_table("scan_reports")
    op.drop_table("project_scanners")
    op.drop_table("cve_allowlists")
    with op.batch_alter_table("vuln_affected", schema=None) as batch_op:
        batch_op.drop_index("ix_vuln_affected_ecosystem_name")
        batch_op.drop_index(batch_op.f("ix_vuln_affected_advisory_id"))

    op.drop_table("vuln_affected")
    op.drop_table("vuln_imports")
    op.drop_table("vuln_advisories")
    op.drop_table("scanners")
