"""The one typed Settings object: defaults, then a YAML file, then ``DOCKYARD_*`` variables.

Nested keys are spelled with a double underscore in the environment, e.g.
``DOCKYARD_LIMITS__MANIFEST_MAX_BYTES=8388608``. The YAML file is named by
``DOCKYARD_CONFIG`` or by ``dockyard serve --config``.
"""

from __future__ import annotations

import os
from contextvars import ContextVar
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict


class Limits(BaseModel):
    """Sizes and counts that bound what one request may ask for."""

    manifest_max_bytes: int = Field(default=4 * 1024 * 1024, gt=0)
    name_max_length: int = Field(default=255, gt=0)
    page_max_entries: int = Field(default=10_000, gt=0)
    # Open upload sessions one repository may hold; more get 429 TOOMANYREQUESTS.
    upload_sessions_per_repository: int = Field(default=1_000, gt=0)
    # A request writing an upload session that shows no progress this long (a
    # replica that died) loses it to the next request for the same session.
    upload_lease_seconds: float = Field(default=60.0, ge=1)


class S3Settings(BaseModel):
    """An S3-compatible object store (AWS S3, MinIO, Ceph RGW, ...): ``storage.driver: s3``."""

    bucket: str = ""
    # Keys start with this, so that one bucket can hold several registries.
    prefix: str = ""
    region: str = "us-east-1"
    # Empty means AWS itself; else e.g. https://minio.example.com:9000.
    endpoint: str = ""
    # Empty keys mean the usual AWS chain (environment, profile, instance role).
    access_key: str = ""
    secret_key: SecretStr = SecretStr("")
    # A PEM file of the CAs that sign the endpoint's certificate; empty: the system's.
    ca_bundle: str = ""
    verify_tls: bool = True
    addressing_style: Literal["auto", "path", "virtual"] = "auto"
    # Size of the parts of a multipart upload: S3 wants 5 MiB at least (but for
    # the last), and a blob has at most 10,000 parts, so 16 MiB allows 160 GiB.
    part_size: int = Field(default=16 * 1024 * 1024, ge=5 * 1024 * 1024, le=5 * 1024**3)
    # Answer blob GETs with 307 to a presigned URL of the object store, so that
    # downloads bypass dockyard. Clients must be able to reach ``endpoint``.
    redirect: bool = False
    redirect_ttl_seconds: int = Field(default=1200, ge=60, le=7 * 24 * 3600)
    max_connections: int = Field(default=64, ge=1)


class StorageSettings(BaseModel):
    """Where blob content lives."""

    driver: Literal["filesystem", "s3"] = "filesystem"
    # Empty means ``<data_dir>/blobs`` (filesystem driver).
    root: str = ""
    # fsync blob content before a push is acknowledged, so that a crash of the
    # machine cannot lose a blob whose metadata was committed.
    fsync: bool = True
    s3: S3Settings = S3Settings()


class DatabaseSettings(BaseModel):
    """Where metadata lives: an SQLAlchemy URL. Empty means SQLite in the data dir."""

    url: str = ""
    auto_migrate: bool = True
    # PostgreSQL connections each server or worker process keeps open, and how many
    # more it may open under load: size the server's max_connections for all replicas.
    # No overflow by default: an overflow connection is closed as soon as it is handed
    # back, so under steady load every request would pay a new connection (a new
    # PostgreSQL backend process); a request waits for a pooled one instead. Measured
    # with bench/ at 64 connections: manifest GET 973 req/s with 20 overflow, 1,417
    # without.
    pool_size: int = Field(default=20, ge=1, le=1000)
    max_overflow: int = Field(default=0, ge=0, le=1000)
    # How long a request waits for a free pooled connection before it gets a 503.
    pool_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)


class LdapSettings(BaseModel):
    """An LDAP or Active Directory server that users log in against (``auth.mode: ldap``)."""

    url: str = ""  # ldap://host:389 or ldaps://host:636
    # The account that searches for users and groups; empty binds anonymously.
    search_dn: str = ""
    search_password: SecretStr = SecretStr("")
    base_dn: str = ""
    uid_attribute: str = "uid"  # sAMAccountName on Active Directory
    # An extra filter a user entry must match, e.g. (objectClass=person).
    user_filter: str = ""
    scope: Literal["base", "onelevel", "subtree"] = "subtree"
    # Groups: entries under group_base_dn that name the user's DN in group_member_attribute.
    group_base_dn: str = ""
    group_filter: str = "(|(objectClass=groupOfNames)(objectClass=group))"
    group_member_attribute: str = "member"
    # Members of this group are system administrators.
    admin_group_dn: str = ""
    verify_certificate: bool = True
    timeout_seconds: float = Field(default=5.0, gt=0)


class OidcSettings(BaseModel):
    """An OpenID provider that users log in with (``auth.mode: oidc``)."""

    issuer: str = ""  # the URL its /.well-known/openid-configuration lives under
    client_id: str = ""
    client_secret: SecretStr = SecretStr("")
    scopes: list[str] = ["openid", "profile", "email"]
    username_claim: str = "preferred_username"
    groups_claim: str = "groups"
    # Members of this group (by the groups claim) are system administrators.
    admin_group: str = ""
    verify_certificate: bool = True
    # Create a user on first login; otherwise only users an admin created may log in.
    auto_onboard: bool = True


class AuthSettings(BaseModel):
    """Who may log in, and how the Docker token flow is spoken."""

    mode: Literal["db", "ldap", "oidc"] = "db"
    # The URL clients reach the registry at, for the token realm; empty means the
    # scheme and host of each request.
    external_url: str = ""
    # The token service's name (``service=`` of the challenge, the tokens' audience).
    service: str = "dockyard"
    issuer: str = "dockyard-token-service"
    token_ttl_seconds: int = Field(default=1800, ge=60, le=86400)
    # Who may create projects: "everyone" who is logged in, or system admins only.
    project_creation: Literal["everyone", "admin"] = "everyone"
    robot_prefix: str = Field(default="robot$", min_length=1, max_length=64)
    ldap: LdapSettings = LdapSettings()
    oidc: OidcSettings = OidcSettings()

    def base_url(self, scheme: str, netloc: str) -> str:
        """Where clients reach the registry: ``external_url``, else the request's own."""
        return self.external_url.rstrip("/") or f"{scheme}://{netloc}"


class JobSettings(BaseModel):
    """The background job queue: the workers each process runs, and how they hold jobs."""

    # Jobs one process runs at once.
    workers: int = Field(default=2, ge=1, le=256)
    # ``dockyard serve`` runs workers and the scheduler too; off, only ``dockyard worker`` does.
    run_in_serve: bool = True
    # How often an idle worker looks for due jobs (jobs enqueued by the same process
    # wake it at once), and how often the scheduler looks for due schedules.
    poll_seconds: float = Field(default=1.0, gt=0, le=3600)
    # A running job's worker proves it is alive this often ...
    heartbeat_seconds: float = Field(default=10.0, gt=0, le=3600)
    # ... and a job whose heartbeat is older than this is taken back and retried
    # (replicas' clocks must agree to well within this).
    lease_seconds: float = Field(default=60.0, gt=0, le=86400)
    # Runs of a job before a failure is final, unless the enqueuer says otherwise.
    max_attempts: int = Field(default=3, ge=1, le=100)
    # Back-off after a failed attempt n: about retry_base_seconds * 2**(n-1), capped.
    retry_base_seconds: float = Field(default=10.0, gt=0)
    retry_max_seconds: float = Field(default=3600.0, gt=0)
    # On shutdown, running jobs may finish this long; the rest are retried elsewhere.
    shutdown_grace_seconds: float = Field(default=10.0, ge=0)
    # Upload sessions untouched this long are abandoned: the daily uploads.purge removes them.
    upload_max_idle_hours: float = Field(default=24.0, gt=0)
    # Finished jobs are kept this long as the jobs' history; the daily job_history.prune
    # removes older ones.
    keep_finished_days: float = Field(default=30.0, gt=0, le=36500)

    @model_validator(mode="after")
    def _lease_outlives_heartbeats(self) -> JobSettings:
        if self.lease_seconds < 2 * self.heartbeat_seconds:
            raise ValueError("jobs.lease_seconds must be at least twice jobs.heartbeat_seconds")
        return self


class GCSettings(BaseModel):
    """Garbage collection (``dockyard gc``, /system/gc): the defaults of a run."""

    # Blobs used (uploaded, mounted, or asked for while unreferenced) and artifacts
    # pushed within this many minutes are never collected: a push in flight may be
    # about to reference them. Harbor keeps two hours.
    grace_minutes: float = Field(default=120.0, ge=0, le=525600)
    # Runs also delete untagged artifacts unless a run says otherwise.
    delete_untagged: bool = False


class ScanningSettings(BaseModel):
    """Vulnerability scanning: the built-in scanner and how scans through adapters run."""

    # Where outside scanner adapters pull images from: the registry's URL as they reach
    # it. Empty: auth.external_url, else http://host:port of these settings.
    registry_url: str = ""
    # A scan without a report after this long fails.
    timeout_seconds: float = Field(default=600.0, gt=0, le=86400)
    # One request to an adapter (metadata, scan, report).
    request_timeout_seconds: float = Field(default=30.0, gt=0, le=3600)
    # The built-in scanner: images whose layers hold more are refused ...
    max_image_bytes: int = Field(default=8 * 1024**3, gt=0)
    # ... and this many scans run at once in a process.
    concurrency: int = Field(default=2, ge=1, le=64)
    # Where it writes layers while it scans; empty: the system's temporary directory.
    work_dir: str = ""
    # ``dockyard scanner``: where it listens, and the key registries must send
    # (Bearer or X-ScannerAdapter-API-Key); without a key it listens on loopback only.
    scanner_host: str = "127.0.0.1"
    scanner_port: int = Field(default=8085, ge=0, le=65535)
    api_key: SecretStr | None = None


class Settings(BaseSettings):
    """Everything dockyard reads from its environment, in one place."""

    model_config = SettingsConfigDict(
        env_prefix="DOCKYARD_", env_nested_delimiter="__", extra="forbid"
    )

    host: str = "127.0.0.1"
    port: int = Field(default=5000, ge=0, le=65535)
    data_dir: Path = Path("./dockyard-data")
    # Server processes. One is the fastest on SQLite (bench, 2 cores: more
    # processes contend for the single writer and cost manifest PUTs more than
    # they give downloads); on PostgreSQL, several scale across cores.
    workers: int = Field(default=1, ge=1)
    log_level: str = "info"
    # How long an idle client connection stays open. Clients pool connections and
    # reuse them after pauses; uvicorn's 5 s default made them meet closed sockets.
    keep_alive_seconds: int = Field(default=75, ge=1)
    database: DatabaseSettings = DatabaseSettings()
    storage: StorageSettings = StorageSettings()
    limits: Limits = Limits()
    auth: AuthSettings = AuthSettings()
    jobs: JobSettings = JobSettings()
    gc: GCSettings = GCSettings()
    scanning: ScanningSettings = ScanningSettings()
    # The first start creates the ``admin`` account with this password
    # (DOCKYARD_ADMIN_PASSWORD); without one, a generated password is printed once.
    admin_password: SecretStr | None = None

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings, env_settings, _YamlSource(settings_cls))

    @property
    def database_url(self) -> str:
        return self.database.url or f"sqlite+aiosqlite:///{self.data_dir.resolve() / 'dockyard.db'}"

    def worker_environment(self, config_file: str | None) -> dict[str, str]:
        """Variables that let a server worker process rebuild these settings on its own."""
        environment = {"DOCKYARD_DATA_DIR": str(self.data_dir.resolve())}
        if config_file:
            environment["DOCKYARD_CONFIG"] = str(Path(config_file).resolve())
        if self.database.url:
            environment["DOCKYARD_DATABASE__URL"] = self.database.url
        return environment

    @property
    def blob_root(self) -> Path:
        return Path(self.storage.root) if self.storage.root else self.data_dir.resolve() / "blobs"


# The file named on the command line, for the source below while settings load.
_config_file: ContextVar[str | None] = ContextVar("dockyard_config_file", default=None)


class _YamlSource(PydanticBaseSettingsSource):
    """Reads the YAML file named by ``--config`` or ``DOCKYARD_CONFIG``, if any."""

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        path = _config_file.get() or os.environ.get("DOCKYARD_CONFIG")
        if not path:
            return {}
        with open(path, encoding="utf-8") as f:
            data = yaml.safe_load(f) or {}
        if not isinstance(data, dict):
            raise ValueError(f"{path}: the settings file must hold a mapping")
        return data


def load_settings(config_file: str | None = None, **overrides: Any) -> Settings:
    """Build the settings; keyword arguments (from the command line) win over everything."""
    token = _config_file.set(config_file)
    try:
        return Settings(**{k: v for k, v in overrides.items() if v is not None})
    finally:
        _config_file.reset(token)
