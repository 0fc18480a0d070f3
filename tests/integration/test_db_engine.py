"""The PostgreSQL engine: no ping per checkout, autocommit reads, one retry when a pooled connection died."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import sqlalchemy as sa

from schedgen.adapters.db.engine import build_engine, read_session_factory, run_read
from schedgen.config import Settings


def _backend_pid(session: sa.orm.Session) -> int:
    return int(session.execute(sa.text("SELECT pg_backend_pid()")).scalar_one())


def test_a_read_survives_a_pooled_connection_killed_by_the_server(
    postgres_url: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    engine = build_engine(Settings(database_url=postgres_url, data_dir=tmp_path, db_pool_size=1))
    try:
        reads = read_session_factory(engine)
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
        def two_xids(session: sa.orm.Session) -> tuple[int, int]:
            query = sa.text("SELECT txid_current()")
            return int(session.execute(query).scalar_one()), int(session.execute(query).scalar_one())

        first, second = run_read(read_session_factory(engine), two_xids)
        assert first != second
    finally:
        engine.dispose()
