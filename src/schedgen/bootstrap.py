"""The composition root: the one place that picks concrete adapters from Settings."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

import dramatiq
import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from schedgen.adapters.blobstore import BlobStore, DeferredDeletes, S3BlobStore, build_blobstore
from schedgen.adapters.cache import build_job_cache
from schedgen.adapters.db.engine import (
    build_engine,
    session_factory,
    statement_engine,
    wait_for_database,
)
from schedgen.adapters.db.revision import is_at_head
from schedgen.adapters.google_auth import GoogleOAuth
from schedgen.adapters.google_calendar import GoogleCalendarClient
from schedgen.adapters.google_sessions import build_session_store
from schedgen.adapters.metrics import metrics_for_process
from schedgen.adapters.queue import JobQueue, build_broker
from schedgen.adapters.sync_queue import SyncQueue, declare_sync_queue
from schedgen.adapters.tokens import TokenCipher, token_key
from schedgen.adapters.zygote import ParseZygote
from schedgen.config import Settings
from schedgen.domain.events import Timetable
from schedgen.services.google_auth import GoogleDeps
from schedgen.services.jobs import JobDeps

log = logging.getLogger(__name__)


def utc_now() -> dt.datetime:
    """The current time, timezone-aware UTC."""
    return dt.datetime.now(dt.UTC)


@dataclass
class Container:
    """Everything a process needs, built once per process and closed on shutdown."""

    settings: Settings
    engine: sa.Engine
    sessions: sessionmaker[Session]
    blobs: BlobStore
    broker: dramatiq.Broker
    queue: JobQueue
    jobs: JobDeps
    zygote: ParseZygote | None = None  # None when a parse function was given (tests)
    google: GoogleDeps | None = None  # Google sign-in and sync (issue 6); always built by build()

    def close(self) -> None:
        """Delete what waits to be deleted, release connections and stop the parse helper."""
        if self.jobs.deletes is not None:
            self.jobs.deletes.close()
        self.broker.close()
        self.engine.dispose()
        if self.zygote is not None:
            self.zygote.close()


def build(
    settings: Settings,
    *,
    migrate: bool | None = None,
    parse: Callable[[bytes], Timetable] | None = None,
    clock: Callable[[], dt.datetime] = utc_now,
) -> Container:
    """Wire adapters for these settings; migrate defaults to True for the embedded SQLite database."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    engine = build_engine(settings)
    wait_for_database(engine, settings.db_connect_retries, settings.db_connect_retry_delay_s)
    if (migrate if migrate is not None else settings.database_url is None) and not is_at_head(engine):
        from schedgen.adapters.db.migrate import upgrade  # Alembic is only loaded when migrating

        upgrade(engine)
    sessions = session_factory(engine)
    blobs = build_blobstore(settings)
    if isinstance(blobs, S3BlobStore):
        blobs.ensure_bucket()
    broker = build_broker(settings)
    queue = JobQueue(broker)

    # Parses run in children of a small helper process, started on first use (an API process alone never
    # parses); worker start-up warms it.
    zygote = None
    if parse is None:
        zygote = ParseZygote(
            timeout_s=settings.parse_timeout_s,
            memory_bytes=settings.parse_memory_bytes,
            nice=settings.parse_nice,
        )
        parse = zygote.parse
    metrics = metrics_for_process()  # built once per process (multiprocess files are per pid)
    metrics.instrument_engine(engine)
    deps = JobDeps(
        settings,
        sessions,
        blobs,
        queue,
        parse,
        clock,
        observer=metrics.observe_job,
        on_cache=metrics.count_cache,
        statements=statement_engine(engine),
        cache=build_job_cache(
            settings.redis_url,
            settings.cache_timeout_s,
            near_bytes=settings.job_cache_near_bytes,
            near_ttl_s=settings.job_cache_near_ttl_s,
        ),
        deletes=DeferredDeletes(blobs) if isinstance(blobs, S3BlobStore) else None,
    )
    google = build_google(settings, sessions, broker, clock)
    return Container(settings, engine, sessions, blobs, broker, queue, deps, zygote, google)


def build_google(
    settings: Settings,
    sessions: sessionmaker[Session],
    broker: dramatiq.Broker,
    clock: Callable[[], dt.datetime] = utc_now,
) -> GoogleDeps:
    """Google sign-in and sync: token cipher, session store, OAuth and Calendar clients, the sync queue."""
    declare_sync_queue(broker)
    return GoogleDeps(
        settings=settings,
        sessions=sessions,
        clock=clock,
        cipher=TokenCipher(token_key(settings)),
        store=build_session_store(settings),
        oauth=GoogleOAuth(settings, clock),
        calendar=GoogleCalendarClient(settings),
        queue=SyncQueue(broker),
    )
