"""Database engines: build one from Settings (SQLite or PostgreSQL), wait for it, and make sessions."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import sqlalchemy as sa
from sqlalchemy import event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import ConnectionPoolEntry, QueuePool

from schedgen.config import Settings
from schedgen.errors import DatabaseUnavailableError

log = logging.getLogger(__name__)

T = TypeVar("T")

SQLITE_BUSY_TIMEOUT_MS = 5_000  # a writer waits this long for SQLite's single write lock
PG_CONNECT_TIMEOUT_S = 5  # libpq connect_timeout, unless the URL gives one
PG_APPLICATION_NAME = "schedgen"  # shows in pg_stat_activity, unless the URL gives one
PG_POOL_RECYCLE_S = 1_800  # replace pooled connections older than this (idle-connection killers, failovers)
_SQLITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",  # readers never block the writer, nor it them
    "PRAGMA foreign_keys=ON",
    f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}",
    "PRAGMA synchronous=NORMAL",  # safe with WAL: a power cut may lose the last commits, never corrupts
    "PRAGMA cache_size=-512",  # 512 KiB of page cache per connection (default 2 MiB; up to 30 connections)
)


def build_engine(settings: Settings) -> sa.Engine:
    """An Engine for settings.effective_database_url, tuned for SQLite or PostgreSQL."""
    url = make_url(settings.effective_database_url)
    if url.drivername in ("postgres", "postgresql"):  # plain URLs as hosting platforms give them
        url = url.set(drivername="postgresql+psycopg")
    if url.get_backend_name() == "sqlite":
        return _sqlite_engine(url, settings)
    if url.get_backend_name() == "postgresql":
        return _postgres_engine(url, settings)
    raise ValueError(f"unsupported database {url.get_backend_name()!r}: use sqlite or postgresql+psycopg")


def _is_sqlite_file(url: URL) -> bool:
    database = url.database or ""
    return database not in ("", ":memory:") and not database.startswith("file:")


def _sqlite_engine(url: URL, settings: Settings) -> sa.Engine:
    if _is_sqlite_file(url):
        Path(url.database or "").expanduser().parent.mkdir(parents=True, exist_ok=True)
        extra: dict[str, Any] = {
            "poolclass": QueuePool,
            "pool_size": settings.db_pool_size,
            "max_overflow": settings.db_max_overflow,
            "pool_timeout": settings.db_pool_timeout_s,
        }
    else:
        extra = {}  # in-memory: SQLAlchemy's own single-connection pool choice
    engine = sa.create_engine(
        url,
        connect_args={"check_same_thread": False, "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        **extra,
    )
    event.listen(engine, "connect", _set_sqlite_pragmas)
    return engine


def _set_sqlite_pragmas(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    cursor = dbapi_connection.cursor()
    try:
        for pragma in _SQLITE_PRAGMAS:
            cursor.execute(pragma)
    finally:
        cursor.close()


def _postgres_engine(url: URL, settings: Settings) -> sa.Engine:
    url, connect_args = postgres_connect_args(url, settings.db_statement_timeout_ms)
    return sa.create_engine(
        url,
        poolclass=QueuePool,
        pool_size=settings.db_pool_size,
        max_overflow=settings.db_max_overflow,
        pool_timeout=settings.db_pool_timeout_s,
        # No ping per checkout (a round trip per session): a connection found dead invalidates the pool
        # and reads retry once (run_read); writes fail once and are retried by their caller.
        pool_pre_ping=False,
        pool_recycle=PG_POOL_RECYCLE_S,
        connect_args=connect_args,
    )


def postgres_connect_args(url: URL, statement_timeout_ms: int) -> tuple[URL, dict[str, Any]]:
    """The URL without `options`, and libpq arguments with those options plus statement_timeout."""
    given = url.query.get("options", ())
    options = [given] if isinstance(given, str) else list(given)
    options.append(f"-c statement_timeout={int(statement_timeout_ms)}")
    connect_args: dict[str, Any] = {"options": " ".join(options)}
    if "connect_timeout" not in url.query:
        connect_args["connect_timeout"] = PG_CONNECT_TIMEOUT_S
    if "application_name" not in url.query:
        connect_args["application_name"] = PG_APPLICATION_NAME
    return url.difference_update_query(["options"]), connect_args


def wait_for_database(
    engine: sa.Engine, retries: int, delay_s: float, sleep: Callable[[float], None] = time.sleep
) -> None:
    """Run SELECT 1 up to `retries` times, `delay_s` apart; raise DatabaseUnavailableError if all fail."""
    if retries < 1:
        raise ValueError("retries must be at least 1")
    where = engine.url.render_as_string(hide_password=True)
    for attempt in range(1, retries + 1):
        try:
            with engine.connect() as connection:
                connection.execute(sa.text("SELECT 1"))
        except (sa.exc.OperationalError, sa.exc.InterfaceError) as exc:
            log.warning("Database %s not reachable (attempt %d of %d): %s", where, attempt, retries, exc.orig)
            if attempt == retries:
                raise DatabaseUnavailableError() from exc
            sleep(delay_s)
        else:
            if attempt > 1:
                log.info("Database %s reachable after %d attempts", where, attempt)
            return


def session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    """Sessions bound to `engine`; objects stay readable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def read_session_factory(engine: sa.Engine) -> sessionmaker[Session]:
    """Sessions for single-statement reads in autocommit: no BEGIN and no ROLLBACK round trips."""
    return sessionmaker(bind=engine.execution_options(isolation_level="AUTOCOMMIT"), expire_on_commit=False)


def run_read(sessions: sessionmaker[Session], query: Callable[[Session], T]) -> T:
    """Run a read-only query; once again on a fresh connection if the pooled one turned out dead."""
    try:
        with sessions() as session:
            return query(session)
    except sa.exc.DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        log.warning("A pooled database connection was dead; retrying the read on a new one")
    with sessions() as session:
        return query(session)
