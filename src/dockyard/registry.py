"""The registry's services, built once from the settings and handed to every face."""

from __future__ import annotations

from dataclasses import dataclass

from dockyard.access.oidc import OidcClient
from dockyard.access.passwords import SecretChecker
from dockyard.access.robots import RobotService
from dockyard.access.services import AccessService
from dockyard.access.sessions import CookieSigner
from dockyard.access.tokens import TokenService
from dockyard.access.users import UserService
from dockyard.artifacts.catalog import ArtifactCatalog
from dockyard.artifacts.copy import CopyService
from dockyard.artifacts.labels import LabelService
from dockyard.artifacts.pulls import PullRecorder
from dockyard.artifacts.services import ManifestService
from dockyard.artifacts.tags import TagService
from dockyard.blobs.gc import GC_RUN, GarbageCollector
from dockyard.blobs.gc_runs import GCService
from dockyard.blobs.purge import DAILY_UPLOADS_PURGE, UPLOADS_PURGE, UploadPurge
from dockyard.blobs.services import BlobService
from dockyard.blobs.uploads import UploadService
from dockyard.db import Database, open_database
from dockyard.events.services import EventService
from dockyard.jobs.handlers import Handlers
from dockyard.jobs.prune import DAILY_JOBS_PRUNE, JOBS_PRUNE, JobPrune
from dockyard.jobs.queue import JobQueue
from dockyard.jobs.runner import JobRunner
from dockyard.jobs.schedules import ScheduleService, ScheduleSpec
from dockyard.jobs.worker import Worker
from dockyard.projects.immutability import ImmutabilityService
from dockyard.projects.members import MemberService
from dockyard.projects.projects import ProjectService
from dockyard.projects.quotas import QuotaService
from dockyard.projects.retention import RETENTION_RUN, RetentionRun, RetentionService
from dockyard.projects.services import RepositoryService
from dockyard.scanning.adapter import AdapterSettings, BuiltinScanner, adapter_app
from dockyard.scanning.loopback import Loopback
from dockyard.scanning.policy import AllowlistService, PullPolicy
from dockyard.scanning.sboms import SbomAttacher
from dockyard.scanning.scan_all import SCAN_ALL, ScanAll, ScanAllService
from dockyard.scanning.scan_jobs import ScanArtifact, ScanSettings
from dockyard.scanning.scanners import ScannerService
from dockyard.scanning.scans import SCAN_ARTIFACT, ScanService
from dockyard.scanning.vulndb import VulnDB
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
    pulls: PullRecorder
    # The management API's view of artifacts, tagging, and copying between repositories.
    catalog: ArtifactCatalog
    tags: TagService
    labels: LabelService
    immutability: ImmutabilityService
    copies: CopyService
    projects: ProjectService
    members: MemberService
    users: UserService
    robots: RobotService
    access: AccessService
    tokens: TokenService
    events: EventService
    cookies: CookieSigner
    # The OpenID provider's client, in auth mode oidc.
    oidc: OidcClient | None
    # The background job queue, its cron schedules, and the handlers of each job kind.
    jobs: JobQueue
    schedules: ScheduleService
    job_handlers: Handlers
    # Garbage collection runs, their history and schedule (the work: blobs/gc.py).
    gc: GCService
    # Each project's storage and artifact limits, and its exact usage.
    quotas: QuotaService
    # Each project's tag retention policy, its runs and what they kept and removed.
    retention: RetentionService
    # Vulnerability scanning: the advisory database, the built-in scanner, the
    # registered scanners, scans and their reports, and the policies that use them.
    vulndb: VulnDB
    builtin_scanner: BuiltinScanner
    scanners: ScannerService
    scans: ScanService
    scan_all: ScanAllService
    allowlists: AllowlistService
    pull_policy: PullPolicy
    # The app of this process, for the built-in scanner to pull images through.
    loopback: Loopback

    @classmethod
    def build(cls, settings: Settings) -> Registry:
        db = open_database(
            settings.database_url,
            pool_size=settings.database.pool_size,
            max_overflow=settings.database.max_overflow,
            pool_timeout=settings.database.pool_timeout_seconds,
        )
        store = _blob_store(settings)
        handlers = _job_handlers(settings, db, store)
        repositories = RepositoryService(db)
        quotas = QuotaService(db)
        s3 = settings.storage.s3
        blobs = BlobService(
            db,
            store,
            repositories,
            quotas,
            redirect_seconds=s3.redirect_ttl_seconds
            if settings.storage.driver == "s3" and s3.redirect
            else None,
        )
        checker = SecretChecker()
        projects = ProjectService(db)
        members = MemberService(db)
        users = UserService(db, checker)
        robots = RobotService(db, checker, settings.auth.robot_prefix)
        tokens = TokenService(db, settings.auth)
        manifests = ManifestService(db, store, repositories, blobs, quotas)
        jobs = JobQueue(db, settings.jobs)
        schedules = ScheduleService(db, handlers)
        retention = RetentionService(db, jobs, schedules)
        handlers.register(RETENTION_RUN, RetentionRun(db, retention, manifests))
        uploads = UploadService(
            db,
            store,
            repositories,
            blobs,
            quotas,
            max_sessions=settings.limits.upload_sessions_per_repository,
            lease_seconds=settings.limits.upload_lease_seconds,
        )
        scanning = settings.scanning
        vulndb = VulnDB(db)
        loopback = Loopback()
        builtin = BuiltinScanner(
            vulndb,
            AdapterSettings(
                max_image_bytes=scanning.max_image_bytes,
                concurrency=scanning.concurrency,
                work_dir=scanning.work_dir,
            ),
            loopback.client,
        )
        builtin_app = adapter_app(builtin)
        scanners = ScannerService(
            db,
            builtin_transport=lambda: Loopback.transport(builtin_app),
            timeout=scanning.request_timeout_seconds,
        )
        scans = ScanService(db, jobs, scanners)
        manifests.push_hooks.append(scans.on_push)
        scan_all = ScanAll(db, jobs, scans, window=scanning.concurrency)
        scan_all.run_here = Worker(jobs, handlers, settings.jobs, slots=1).run_one
        handlers.register(SCAN_ALL, scan_all)
        allowlists = AllowlistService(db)
        handlers.register(
            SCAN_ARTIFACT,
            ScanArtifact(
                db,
                scanners,
                tokens,
                SbomAttacher(db, uploads, manifests),
                ScanSettings(
                    registry_url=scanning.registry_url
                    or settings.auth.external_url
                    or f"http://{settings.host}:{settings.port}",
                    timeout_seconds=scanning.timeout_seconds,
                ),
            ),
        )
        return cls(
            settings=settings,
            db=db,
            store=store,
            repositories=repositories,
            blobs=blobs,
            uploads=uploads,
            manifests=manifests,
            pulls=PullRecorder(db),
            catalog=ArtifactCatalog(db),
            tags=TagService(db),
            labels=LabelService(db),
            immutability=ImmutabilityService(db),
            copies=CopyService(db, repositories, manifests, settings.limits.name_max_length),
            projects=projects,
            members=members,
            users=users,
            robots=robots,
            access=AccessService(db, settings.auth, users, robots, projects, members),
            tokens=tokens,
            events=EventService(db),
            cookies=CookieSigner(tokens),
            oidc=OidcClient(settings.auth.oidc) if settings.auth.mode == "oidc" else None,
            jobs=jobs,
            schedules=schedules,
            job_handlers=handlers,
            gc=GCService(jobs, schedules),
            quotas=quotas,
            retention=retention,
            vulndb=vulndb,
            builtin_scanner=builtin,
            scanners=scanners,
            scans=scans,
            scan_all=ScanAllService(jobs, schedules),
            allowlists=allowlists,
            pull_policy=PullPolicy(db, allowlists),
            loopback=loopback,
        )

    def job_runner(self, *, slots: int | None = None) -> JobRunner:
        """The worker and scheduler of this process, with the built-in schedules."""
        return JobRunner(
            self.jobs,
            self.schedules,
            self.job_handlers,
            self.settings.jobs,
            builtins=BUILTIN_SCHEDULES,
            slots=slots,
        )

    async def close(self) -> None:
        await self.builtin_scanner.close()
        await self.store.close()
        await self.db.dispose()


def _blob_store(settings: Settings) -> BlobStore:
    if settings.storage.driver == "s3":
        # Imported only when used: aiobotocore adds a quarter second to every start.
        from dockyard.storage.s3 import S3BlobStore

        return S3BlobStore(settings.storage.s3)
    return FilesystemBlobStore(settings.blob_root, fsync=settings.storage.fsync)


# Created on first start when missing; an admin may change or disable them after.
BUILTIN_SCHEDULES: tuple[ScheduleSpec, ...] = (DAILY_UPLOADS_PURGE, DAILY_JOBS_PRUNE)
# The job kinds that _job_handlers registers, for the API's schema to list.
JOB_KINDS: tuple[str, ...] = tuple(
    sorted((UPLOADS_PURGE, JOBS_PRUNE, GC_RUN, RETENTION_RUN, SCAN_ARTIFACT, SCAN_ALL))
)


def _job_handlers(settings: Settings, db: Database, store: BlobStore) -> Handlers:
    """Every job kind this registry runs, with the services its handler needs."""
    handlers = Handlers()
    uploads = UploadPurge(db, store, max_idle_hours=settings.jobs.upload_max_idle_hours)
    handlers.register(UPLOADS_PURGE, uploads)
    handlers.register(
        GC_RUN,
        GarbageCollector(
            db,
            store,
            uploads,
            grace_minutes=settings.gc.grace_minutes,
            delete_untagged=settings.gc.delete_untagged,
        ),
    )
    handlers.register(JOBS_PRUNE, JobPrune(db, keep_days=settings.jobs.keep_finished_days))
    return handlers
