"""The job queue's tables: one row per job run, and the cron schedules that enqueue them."""

from __future__ import annotations

from datetime import datetime
from typing import Literal, get_args

from sqlalchemy import BigInteger, Boolean, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from dockyard.db.base import Base, UTCDateTime, utcnow

# 64-bit ids on PostgreSQL, where a busy queue may pass 2**31 runs; SQLite's integers are
# 64 bits anyway, and only a column declared INTEGER numbers itself there.
BigId = BigInteger().with_variant(Integer(), "sqlite")

JobStatus = Literal["queued", "running", "succeeded", "failed", "cancelled"]
QUEUED: JobStatus = "queued"
RUNNING: JobStatus = "running"
SUCCEEDED: JobStatus = "succeeded"
FAILED: JobStatus = "failed"
CANCELLED: JobStatus = "cancelled"
STATUSES: tuple[JobStatus, ...] = get_args(JobStatus)


class Job(Base):
    """A unit of background work, from enqueued to finished.

    A worker holds a running job by its lease: ``claimed_by`` and ``attempts`` as
    they were when it claimed the job, kept alive by ``heartbeat_at``.
    """

    __tablename__ = "jobs"
    # What a worker's claim asks for: the queued jobs that are due, oldest first.
    __table_args__ = (Index("ix_jobs_status_run_after", "status", "run_after"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(16), default=QUEUED)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    # Not claimed before this: the enqueuer's delay, or the back-off after a failure.
    run_after: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    claimed_by: Mapped[str | None] = mapped_column(String(255))
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    progress_done: Mapped[int] = mapped_column(BigInteger, default=0)
    progress_total: Mapped[int | None] = mapped_column(BigInteger)
    progress_message: Mapped[str] = mapped_column(String(1024), default="")
    result: Mapped[str | None] = mapped_column(Text)
    error: Mapped[str | None] = mapped_column(Text)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    # No foreign key: the history of a job outlives the schedule that fired it.
    schedule_id: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class Schedule(Base):
    """A cron expression that enqueues a job of ``kind`` with ``payload`` at each run."""

    __tablename__ = "schedules"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(128), unique=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[str] = mapped_column(Text, default="{}")
    cron: Mapped[str] = mapped_column(String(255))
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    # The run to fire next; None while disabled, or when no date matches the expression.
    # Replicas race for it by compare-and-set.
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
