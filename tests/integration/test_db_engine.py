"""Engines: PostgreSQL (no ping per checkout, autocommit reads, one retry when a pooled connection died) and
SQLite (writers of one process queue on a gate instead of SQLite's sleeping busy handler)."""

from __future__ import annotations

import concurrent.futures
import logging
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from schedgen.adapters.db.engine import (
    build_engine,
    run_read,
    single_write,
    statement_engine,
)
from schedgen.config import Settings


def _backend_pid(session: sa.Connection) -> int:
    return int(session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def test_a_read_survives_a_pooled_connection_killed_by_the_server(
    postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = build_engine(Settings(database_url=postgres_url, data_dir=tmp_path, db_pool_size=1))
    try:
        reads = statement_engine(engine)
        first = run_read(reads, _backend_pid)
        admin = build_engine(Settings(database_url=postgres_url, data_dir=tmp_path))
        try:  # the server ends the pooled connection while it sits idle in the pool
            with admin.connect() as connection:
                connection.execute(sa.text("SELECT pg_terminate_backend(:pid)"), {"pid": first})
        finally:
            admin.dispose()
        with caplog.at_level(logging.WARNING):
            second = run_read(reads, _backend_pid)
        assert second != first
        assert "retrying the read" in caplog.text
    finally:
        engine.dispose()


def test_reads_run_without_a_transaction(postgres_url: str, tmp_path: Path) -> None:
    engine = build_engine(Settings(database_url=postgres_url, data_dir=tmp_path))
    try:
        # In autocommit each statement is its own transaction: two reads see two transaction ids.
        def two_xids(session: sa.Connection) -> tuple[int, int]:
            query = sa.text("SELECT txid_current()")
            return int(session.execute(query).scalar_one()), int(session.execute(query).scalar_one())

        first, second = run_read(statement_engine(engine), two_xids)
        assert first != second
    finally:
        engine.dispose()


@pytest.mark.parametrize("kind", ["statements", "transactional"])
@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_single_write_is_committed_in_one_statement(
    backend: str, kind: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = (
        f"sqlite:///{tmp_path / 'one.db'}" if backend == "sqlite" else request.getfixturevalue("postgres_url")
    )
    engine = build_engine(Settings(database_url=url, data_dir=tmp_path))
    try:
        with engine.begin() as connection:  # a fresh schema (PostgreSQL) or file (SQLite) per test
            connection.execute(sa.text("CREATE TABLE t (n INTEGER)"))
        chosen = statement_engine(engine) if kind == "statements" else engine
        with single_write(chosen) as connection:
            connection.execute(sa.text("INSERT INTO t VALUES (1)"))
            driver = connection.connection.driver_connection
            if backend == "postgresql":  # autocommit exactly on the statement engine
                assert driver.autocommit is (kind == "statements")  # type: ignore[union-attr]
        with engine.connect() as connection:  # another connection sees the row: it was committed
            assert connection.execute(sa.text("SELECT count(*) FROM t")).scalar_one() == 1
    finally:
        engine.dispose()


def _sqlite_engine_without_busy_wait(tmp_path: Path) -> sa.Engine:
    """An embedded-mode engine whose connections never wait for SQLite's lock: a clash fails at once."""
    engine = build_engine(Settings(data_dir=tmp_path, db_pool_size=8, db_max_overflow=0))

    @sa.event.listens_for(engine, "connect")
    def _no_busy_wait(dbapi_connection: Any, _record: object) -> None:
        dbapi_connection.execute("PRAGMA busy_timeout=0")

    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE t (k INTEGER PRIMARY KEY, v INTEGER NOT NULL)"))
    return engine


def test_sqlite_writers_of_one_process_queue_instead_of_clashing(tmp_path: Path) -> None:
    # Without the write gate, two threads inside write transactions clash on SQLite's single write lock;
    # with busy_timeout=0 the loser gets "database is locked" at once. With the gate they take turns.
    engine = _sqlite_engine_without_busy_wait(tmp_path)
    sessions = sa.orm.sessionmaker(bind=engine)

    def writer(n: int) -> None:
        for i in range(40):
            with sessions.begin() as session:  # a read, then writes: the shape of an upload's transaction
                session.execute(sa.text("SELECT count(*) FROM t")).scalar_one()
                session.execute(sa.text("INSERT INTO t (k, v) VALUES (:k, 0)"), {"k": n * 1000 + i})
                session.execute(sa.text("UPDATE t SET v = v + 1 WHERE k = :k"), {"k": n * 1000 + i})

    try:
        with concurrent.futures.ThreadPoolExecutor(8) as pool:
            for future in [pool.submit(writer, n) for n in range(8)]:
                future.result()
        with engine.connect() as connection:
            rows = connection.execute(sa.text("SELECT count(*), sum(v) FROM t")).one()
        assert tuple(rows) == (320, 320)
    finally:
        engine.dispose()


@pytest.mark.parametrize("ending", ["commit", "rollback", "autocommit", "close"])
def test_the_sqlite_write_gate_is_given_back_however_a_write_ends(tmp_path: Path, ending: str) -> None:
    engine = _sqlite_engine_without_busy_wait(tmp_path)
    try:
        first = engine.raw_connection()
        if ending == "autocommit":
            first.driver_connection.isolation_level = None  # type: ignore[union-attr]
        first.cursor().execute("INSERT INTO t (k, v) VALUES (1, 1)")
        if ending in ("commit", "rollback", "close"):
            getattr(first, ending)()

        def other_writer() -> None:  # another thread: it would wait for ever on a gate never given back
            with engine.begin() as connection:
                connection.execute(sa.text("INSERT INTO t (k, v) VALUES (2, 2)"))

        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            pool.submit(other_writer).result(timeout=3)  # the gate waits up to 5 s before giving up
        if ending == "autocommit":
            first.close()
        with engine.connect() as connection:
            keys = connection.execute(sa.text("SELECT k FROM t ORDER BY k")).scalars().all()
        assert keys == ([2] if ending in ("rollback", "close") else [1, 2])
    finally:
        engine.dispose()
