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
    parse_nice: int = Field(default=10, ge=0, le=19)  # parses yield the CPU to requests on a shared host
    job_max_retries: int = 3
    job_min_backoff_ms: int = 5_000
    job_max_backoff_ms: int = 60_000
    queue_backpressure_limit: int = 500  # waiting jobs beyond which uploads get 503
    backpressure_refresh_s: float = 1.0  # each API process re-counts waiting jobs at most this often
    job_cache_ttl_s: float = 3_600.0  # finished jobs' JSON stays cached this long (R4: 1 h)
    job_cache_marker_s: float = 60.0  # after a finished job changes, nobody caches it again for this long
    cache_timeout_s: float = 0.25  # Redis socket timeout of the job cache (a slow cache is a miss)
    # With Redis: each API process's own copy of the finished jobs' JSON it has read (compressed; 0: none),
    # kept fresh by the changes published on Redis, and kept at most this long.
    job_cache_near_bytes: int = Field(default=2 * MIB, ge=0)
    job_cache_near_ttl_s: float = 60.0
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
    # Threads of one API process for blocking work (storing uploads, database reads): more only queue on the
    # database (one SQLite writer; at most this many pooled connections in use) and keep idle stacks.
    api_threads: int = Field(default=8, ge=1, le=200)  # blocking work per API process (uploads, misses)
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

    # --- web UI
    timetable_retention_days: int = (
        7  # timetable state is deleted this long after its last change (or with its jobs)
    )
    # The UP year whose term dates the web UI uses; None: this year's, or next year's once this one's run
    # out. A year with no bundled dates asks the student for the first and last day of each semester.
    term_year: int | None = Field(default=None, ge=2000, le=2100)
    # A timetable with a live feed is kept (with its own copy of its events) until this many days after a
    # calendar app last fetched the feed: as long as the student stays subscribed.
    feed_idle_days: int = Field(default=30, ge=1)

    # --- hardening (issue 5): rate limits, proxies, security, admin, health, metrics, logs, quotas
    rate_limits: bool = True  # SCHEDGEN_RATE_LIMITS=off switches every rate limit off (benchmarks)
    rate_limit_uploads: str = "10/hour"  # per identity, POST /api/uploads ("limits" notation)
    rate_limit_status: str = "100/minute"  # per identity, GET /api/jobs/...
    rate_limit_global: str = "100/second"  # every request to the service together
    rate_limit_fail_open: bool = True  # limiter store unreachable: allow (True) or answer 503 (False)
    rate_limit_timeout_s: float = 0.25  # Redis socket timeout of the limiter and the IP blocklist
    trusted_proxies: str = ""  # comma-separated networks whose X-Forwarded-* and X-Request-ID are believed
    secret_key: SecretStr | None = None  # signs session cookies; None: a key kept in <data_dir>/secret_key
    tls: bool = False  # served over TLS by a proxy that sends no X-Forwarded-Proto: HSTS, Secure cookies
    hsts_max_age_s: int = 31_536_000
    allowed_origins: str = ""  # comma-separated extra origins allowed to post forms (CSRF check)
    request_timeout_s: float = 30.0  # a request running longer gets 504 REQUEST_TIMEOUT
    admin_token: SecretStr | None = None  # bearer token of /api/admin; None: admin endpoints are off
    metrics_token: SecretStr | None = None  # when set, /metrics (API and worker) needs it as a bearer token
    auth_max_failures: int = 5  # failed authentications from one IP within the window block it
    auth_failure_window_s: int = 900
    auth_block_s: int = 3_600
    health_check_timeout_s: float = 2.0  # each readiness check; /health/ready always answers within 5 s
    worker_health_port: int = 9101  # `schedgen worker` serves /health, /health/ready, /metrics here (0: off)
    max_stored_bytes_per_user: int = 50 * MIB  # sum of the sizes of one owner's live jobs
    log_format: str = "json"  # json (one object per line) or text

    # --- google + feeds (issue 6): live calendar feeds, Google sign-in and Calendar sync
    rate_limit_feeds: str = "60/hour"  # per feed, GET /feeds/{token}.ics (calendar apps poll every few hours)
    feed_max_age_s: int = 900  # Cache-Control max-age of a feed: calendar apps may reuse it for 15 minutes
    public_url: str | None = None  # e.g. https://schedgen.example: base of feed links; None: from the request
    token_key: SecretStr | None = None  # Fernet key for Google tokens at rest; None: <data_dir>/token_key
    google_client_id: str | None = None  # None: Google sync is off (the page says so)
    google_client_secret: SecretStr | None = None
    google_redirect_url: str | None = None  # None: <this site>/google/callback
    google_scopes: str = (
        "openid email https://www.googleapis.com/auth/calendar.events "
        "https://www.googleapis.com/auth/calendar.calendarlist.readonly "
        "https://www.googleapis.com/auth/calendar.app.created"
    )  # docs/google.md says why each one
    google_auth_url: str = "https://accounts.google.com/o/oauth2/v2/auth"
    google_token_url: str = "https://oauth2.googleapis.com/token"  # noqa: S105 - a URL
    google_revoke_url: str = "https://oauth2.googleapis.com/revoke"
    google_userinfo_url: str = "https://openidconnect.googleapis.com/v1/userinfo"
    google_calendar_api: str = "https://www.googleapis.com/calendar/v3"
    google_batch_url: str = "https://www.googleapis.com/batch/calendar/v3"
    google_timeout_s: float = 20.0  # one HTTP call to Google
    google_max_attempts: int = 6  # per Calendar call on 429, 403 rateLimitExceeded or 5xx
    google_min_backoff_s: float = 1.0  # first retry waits about this long (with jitter), doubling each time
    google_max_backoff_s: float = 32.0
    google_batch_size: int = 50  # calls per batch request (Google's Calendar limit is 50)
    google_session_ttl_s: int = 30 * 86_400  # a Google sign-in lasts as long as the session cookie

    @property
    def google_enabled(self) -> bool:
        """True when a Google OAuth client is configured."""
        return bool(self.google_client_id and self.google_client_secret)
