"""Database engines: build one from Settings (SQLite or PostgreSQL), wait for it, and make sessions."""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
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


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE")


class _GatedCursor(sqlite3.Cursor):
    """Takes its connection's write gate before a statement that writes (see _GatedConnection)."""

    connection: _GatedConnection

    def execute(self, sql: str, parameters: Any = (), /) -> _GatedCursor:
        return self._gated(super().execute, sql, parameters)

    def executemany(self, sql: str, seq_of_parameters: Any, /) -> _GatedCursor:
        return self._gated(super().executemany, sql, seq_of_parameters)

    def _gated(self, run: Callable[[str, Any], object], sql: str, arguments: Any) -> _GatedCursor:
        self.connection.before(sql)
        try:
            run(sql, arguments)
        finally:
            self.connection.after()
        return self


class _GatedConnection(sqlite3.Connection):
    """A SQLite connection that queues for its engine's write gate instead of SQLite's busy handler.

    SQLite has one write lock per database. A writer that finds it taken is put to sleep by SQLite's busy
    handler for 1, 2, 5, 10 ... 100 ms at a time, so sixteen concurrent uploads gave a p99 of ~300 ms with
    most transactions taking well under a millisecond. Writers of this process instead wait on a Python lock
    (woken the moment it is released) from their first INSERT/UPDATE/DELETE until commit or rollback;
    SQLite's lock and busy timeout still arbitrate between processes. A writer that cannot get the gate
    within the busy timeout goes on without it, and SQLite decides as before.
    """

    gate: threading.Lock  # set on the per-engine subclass made by _gated_connection_class
    holds = False

    def cursor(self, factory: Any = None) -> Any:
        return super().cursor(factory or _GatedCursor)

    def before(self, sql: str) -> None:
        """Take the gate before the first statement that writes."""
        if not self.holds and sql.lstrip()[:7].upper().startswith(_WRITES):
            self.holds = self.gate.acquire(timeout=SQLITE_BUSY_TIMEOUT_MS / 1000)

    def after(self) -> None:
        """Give the gate back once no transaction is open (a statement run in autocommit)."""
        if self.holds and not self.in_transaction:
            self.release()

    def release(self) -> None:
        """Give the gate back if this connection holds it."""
        if self.holds:
            self.holds = False
            self.gate.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self.release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self.release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self.release()


def _gated_connection_class() -> type[_GatedConnection]:
    """A connection class with a gate of its own: one per engine, shared by its pooled connections."""
    return type("GatedConnection", (_GatedConnection,), {"gate": threading.Lock()})


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
        connect_args={
            "check_same_thread": False,
            "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000,
            "factory": _gated_connection_class(),
        },
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


def statement_engine(engine: sa.Engine) -> sa.Engine:
    """The engine for single statements (run_read, single_write): in autocommit on PostgreSQL, so no BEGIN,
    COMMIT or ROLLBACK round trips around a statement that is its own transaction anyway.

    SQLite keeps `engine` itself: its driver opens no transaction for a SELECT, and switching the isolation
    level at each checkout and back at each checkin (two PRAGMA statements) cost more than the read itself.
    """
    if engine.dialect.name == "sqlite":
        return engine
    return engine.execution_options(isolation_level="AUTOCOMMIT")


def single_write(engine: sa.Engine) -> AbstractContextManager[sa.Connection]:
    """A Core connection for one statement that writes, committed when the block ends.

    For the statements run for every job (they need no ORM identity map: a Core connection costs about
    90 us of CPU less than an ORM session's begin, commit and close). On statement_engine's autocommit
    engine (PostgreSQL) the statement is its own transaction: one round trip instead of three (BEGIN, the
    statement, COMMIT). On any other engine (SQLite, whose driver opens a transaction before a write anyway)
    it is a transaction.
    """
    if engine.get_execution_options().get("isolation_level") == "AUTOCOMMIT":
        return engine.connect()
    return engine.begin()


def run_read(engine: sa.Engine, query: Callable[[sa.Connection], T]) -> T:
    """Run a read-only query on a Core connection (no ORM session: its set-up, execution layer and close
    cost more than a status read's SELECT); once again on a fresh connection if the pooled one turned out
    dead."""
    try:
        with engine.connect() as connection:
            return query(connection)
    except sa.exc.DBAPIError as exc:
        if not exc.connection_invalidated:
            raise
        log.warning("A pooled database connection was dead; retrying the read on a new one")
    with engine.connect() as connection:
        return query(connection)
