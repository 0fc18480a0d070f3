"""Settings from the environment (SCHEDGEN_ prefix); built by entrypoints and passed down, never global."""

from __future__ import annotations

import os
from pathlib import Path

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict

MIB = 1024 * 1024


def default_data_dir() -> Path:
    """Where the embedded database and files live: $XDG_DATA_HOME/schedgen or ~/.local/share/schedgen."""
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "schedgen"


class Settings(BaseSettings):
    """Every setting of the service; embedded defaults need no servers at all."""

    model_config = SettingsConfigDict(env_prefix="SCHEDGEN_", env_file=None, extra="ignore")

    # --- where things live (embedded defaults: SQLite, a local blob folder, an in-process broker)
    data_dir: Path = Field(default_factory=default_data_dir)
    database_url: str | None = None  # None: sqlite:///<data_dir>/schedgen.db
    redis_url: str | None = None  # None: in-process broker and workers
    s3_endpoint_url: str | None = None  # None and no s3_bucket: blobs in <data_dir>/blobs
    s3_bucket: str | None = None
    s3_access_key: SecretStr | None = None
    s3_secret_key: SecretStr | None = None
    s3_region: str = "us-east-1"

    # --- database pool (seeds R3)
    db_pool_size: int = 10
    db_max_overflow: int = 20  # at most 30 connections per process: API + 2 workers stay under 100
    db_pool_timeout_s: float = 30.0  # wait this long for a free connection
    db_statement_timeout_ms: int = 10_000  # PostgreSQL only
    db_connect_retries: int = 3  # at start-up
    db_connect_retry_delay_s: float = 3.0

    # --- uploads and jobs (seeds R1, R2, R11)
    max_upload_bytes: int = 10 * MIB
    max_files_per_upload: int = 3
    job_timeout_s: float = 300.0  # a job running longer is stopped and failed
    parse_timeout_s: float = 5.0  # one parse, in its sandbox
    parse_memory_bytes: int = 512 * MIB
    job_max_retries: int = 3
    job_min_backoff_ms: int = 5_000
    job_max_backoff_ms: int = 60_000
    queue_backpressure_limit: int = 500  # waiting jobs beyond which uploads get 503
    backpressure_refresh_s: float = 1.0  # each API process re-counts waiting jobs at most this often
    job_cache_ttl_s: float = 3_600.0  # finished jobs' JSON stays cached this long (R4: 1 h)
    job_cache_marker_s: float = 60.0  # after a finished job changes, nobody caches it again for this long
    cache_timeout_s: float = 0.25  # Redis socket timeout of the job cache (a slow cache is a miss)
    processing_rate_per_s: float | None = None  # distributed cap on jobs started per second; None: off
    finished_job_ttl_s: int = 3_600  # completed jobs leave the broker after 1 h
    failed_job_ttl_s: int = 86_400  # failed ones are kept 24 h
    job_row_retention_days: int = 7  # job rows (and their results) are deleted after this
    blob_max_age_s: int = 86_400  # the sweep deletes any upload older than this
    worker_heartbeat_timeout_ms: int = 30_000  # a worker silent this long is dead; its jobs go back
    reconcile_interval_s: float = 30.0
    stuck_pending_after_s: float = 60.0  # a pending job older than this, not in the queue, is re-enqueued

    # --- HTTP
    host: str = "127.0.0.1"
    port: int = 8000
    in_process_workers: int = 2  # embedded mode: worker threads inside `schedgen serve` (0: none)
    log_level: str = "INFO"

    @property
    def effective_database_url(self) -> str:
        """The database URL, defaulting to a SQLite file in the data folder."""
        return self.database_url or f"sqlite:///{self.data_dir / 'schedgen.db'}"

    @property
    def embedded(self) -> bool:
        """True when no Redis is configured: broker and workers run inside the API process."""
        return self.redis_url is None

    @property
    def uses_s3(self) -> bool:
        """True when uploads go to S3-compatible storage rather than the local data folder."""
        return self.s3_bucket is not None
