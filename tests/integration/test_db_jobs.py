"""The jobs persistence adapter on SQLite and PostgreSQL: engines, migrations and every repository query."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.orm import Session

from schedgen.adapters.db import jobs as repo
from schedgen.adapters.db.engine import (
    build_engine,
    postgres_connect_args,
    session_factory,
    wait_for_database,
)
from schedgen.adapters.db.migrate import alembic_config, current, head, upgrade
from schedgen.adapters.db.revision import HEAD_REVISION, database_revision, is_at_head
from schedgen.adapters.db.tables import Base
from schedgen.config import Settings
from schedgen.domain.jobs import Job, JobPriority, JobStatus, NewJob, QueueCounts
from schedgen.errors import DatabaseUnavailableError

T0 = dt.datetime(2026, 3, 2, 8, 0, tzinfo=dt.UTC)
SAST = dt.timezone(dt.timedelta(hours=2))
STALE = dt.timedelta(seconds=30)


def at(seconds: float) -> dt.datetime:
    """T0 plus some seconds."""
    return T0 + dt.timedelta(seconds=seconds)


class Db:
    """A migrated database under test."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine, self.sessions = engine, session_factory(engine)

    def tx(self, func: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run one repository call in its own committed transaction."""
        with self.sessions.begin() as session:
            return func(session, *args, **kwargs)

    def add(self, **overrides: Any) -> Job:
        """Insert a new job (defaults below) and return it."""
        return self.tx(repo.insert_job, new_job(**overrides))  # type: ignore[no-any-return]


def new_job(**overrides: Any) -> NewJob:
    """A NewJob with plausible defaults."""
    values: dict[str, Any] = {
        "id": str(uuid.uuid4()),
        "owner": "alice",
        "filename": "UP_MOD_XLS.pdf",
        "blob_key": f"uploads/{uuid.uuid4().hex}.pdf",
        "size": 123_456,
        "created_at": T0,
        "expires_at": T0 + dt.timedelta(days=7),
        "priority": JobPriority.NORMAL,
    }
    values.update(overrides)
    return NewJob(**values)


def make_db(url: str) -> Iterator[Db]:
    """Build, migrate and finally dispose an engine for `url`."""
    engine = build_engine(Settings(database_url=url))
    upgrade(engine)
    try:
        yield Db(engine)
    finally:
        engine.dispose()


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    """A SQLite file in a folder that does not exist yet."""
    return f"sqlite:///{tmp_path / 'data' / 'nested' / 'schedgen.db'}"


@pytest.fixture(params=["sqlite", "postgresql"])
def db(request: pytest.FixtureRequest, sqlite_url: str) -> Iterator[Db]:
    """A migrated database on each engine."""
    url = sqlite_url if request.param == "sqlite" else request.getfixturevalue("postgres_url")
    yield from make_db(url)


@pytest.fixture
def sqlite_db(sqlite_url: str) -> Iterator[Db]:
    """A migrated SQLite database."""
    yield from make_db(sqlite_url)


@pytest.fixture
def pg_db(postgres_url: str) -> Iterator[Db]:
    """A migrated PostgreSQL schema."""
    yield from make_db(postgres_url)


# --- engines --------------------------------------------------------------------------------------


def test_sqlite_engine_uses_wal_and_its_pragmas(sqlite_db: Db, sqlite_url: str) -> None:
    assert Path(sqlite_url.removeprefix("sqlite:///")).is_file()  # parent folders were created
    with sqlite_db.engine.connect() as conn:
        names = ("journal_mode", "foreign_keys", "busy_timeout", "synchronous")
        values = [conn.exec_driver_sql(f"PRAGMA {name}").scalar() for name in names]
    assert values == ["wal", 1, 5000, 1]  # synchronous 1 = NORMAL
    assert isinstance(sqlite_db.engine.pool, sa.QueuePool)


def test_postgres_engine_keeps_url_options_and_sets_statement_timeout(pg_db: Db) -> None:
    with pg_db.engine.connect() as conn:
        assert conn.exec_driver_sql("SHOW statement_timeout").scalar() == "10s"
        assert str(conn.exec_driver_sql("SELECT current_schema()").scalar()).startswith("t_")
        assert conn.exec_driver_sql("SHOW application_name").scalar() == "schedgen"
    pool = pg_db.engine.pool
    assert isinstance(pool, sa.QueuePool)
    settings = Settings()
    assert (pool.size(), pool.timeout()) == (settings.db_pool_size, settings.db_pool_timeout_s)


def test_postgres_connect_args_merge_every_option() -> None:
    url = sa.make_url("postgresql+psycopg://u@h/d?options=-csearch_path%3Dx&options=-cwork_mem%3D4MB")
    stripped, args = postgres_connect_args(url, 250)
    assert args["options"] == "-csearch_path=x -cwork_mem=4MB -c statement_timeout=250"
    assert "options" not in stripped.query
    assert args["connect_timeout"] == 5
    _, args = postgres_connect_args(sa.make_url("postgresql+psycopg://u@h/d?connect_timeout=2"), 1)
    assert "connect_timeout" not in args  # the URL's own value is used
    engine = build_engine(Settings(database_url="postgres://u@h/d"))
    assert engine.url.drivername == "postgresql+psycopg"
    engine.dispose()


def test_postgres_statement_timeout_stops_long_queries(postgres_url: str) -> None:
    engine = build_engine(Settings(database_url=postgres_url, db_statement_timeout_ms=50))
    try:
        with engine.connect() as conn, pytest.raises(sa.exc.OperationalError) as caught:
            conn.exec_driver_sql("SELECT pg_sleep(5)")
        assert isinstance(caught.value.orig, psycopg.errors.QueryCanceled)
    finally:
        engine.dispose()


def test_wait_for_database_gives_up_after_exactly_retries_attempts() -> None:
    engine = build_engine(Settings(database_url="postgresql+psycopg://postgres@127.0.0.1:1/x"))
    attempts: list[object] = []
    sa.event.listen(engine, "do_connect", lambda *args: attempts.append(args))
    sleeps: list[float] = []
    with pytest.raises(DatabaseUnavailableError) as caught:
        wait_for_database(engine, retries=3, delay_s=3.0, sleep=sleeps.append)
    assert (len(attempts), sleeps) == (3, [3.0, 3.0])
    assert caught.value.to_dict()["code"] == "DATABASE_UNAVAILABLE"
    assert "127.0.0.1" not in caught.value.message
    with pytest.raises(ValueError, match="retries"):
        wait_for_database(engine, retries=0, delay_s=0)
    engine.dispose()


def test_wait_for_database_retries_until_it_answers(sqlite_url: str) -> None:
    engine = build_engine(Settings(database_url=sqlite_url))
    failures = iter([sqlite3.OperationalError("unable to open database file")])

    def flaky_connect(*_args: object) -> None:
        error = next(failures, None)
        if error is not None:
            raise error

    sa.event.listen(engine, "do_connect", flaky_connect)
    sleeps: list[float] = []
    wait_for_database(engine, retries=3, delay_s=0.25, sleep=sleeps.append)
    assert sleeps == [0.25]
    engine.dispose()


# --- migrations -----------------------------------------------------------------------------------


def test_migrations_are_idempotent_and_reversible(db: Db) -> None:
    assert current(db.engine) == head() == "0004"
    upgrade(db.engine)
    with db.engine.connect() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM alembic_version").scalar() == 1
    with db.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert current(db.engine) is None
    assert not sa.inspect(db.engine).has_table("jobs")
    assert not sa.inspect(db.engine).has_table("timetables")
    upgrade(db.engine)
    assert current(db.engine) == "0004"


def test_the_revision_read_without_alembic_follows_the_migrations(db: Db) -> None:
    assert head() == HEAD_REVISION  # move HEAD_REVISION with every new migration
    assert database_revision(db.engine) == current(db.engine) == HEAD_REVISION
    assert is_at_head(db.engine)
    with db.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "0002")
    assert database_revision(db.engine) == "0002"
    assert not is_at_head(db.engine)
    with db.engine.begin() as conn:
        command.downgrade(alembic_config(conn), "base")
    assert database_revision(db.engine) is None
    upgrade(db.engine)
    assert is_at_head(db.engine)


def test_a_database_never_migrated_has_no_revision(sqlite_url: str) -> None:
    engine = build_engine(Settings(database_url=sqlite_url))
    assert database_revision(engine) is None
    assert not is_at_head(engine)
    engine.dispose()


def test_upgrade_accepts_a_url(sqlite_url: str) -> None:
    upgrade(sqlite_url)
    engine = build_engine(Settings(database_url=sqlite_url))
    assert current(engine) == "0004"
    engine.dispose()


def test_tables_match_the_migrations_exactly(db: Db) -> None:
    options = {"compare_type": True, "compare_server_default": True}
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts=options)
        assert compare_metadata(context, Base.metadata) == []
        altered = sa.MetaData()
        Base.metadata.tables["jobs"].to_metadata(altered).append_column(sa.Column("extra", sa.Integer))
        assert compare_metadata(context, altered) != []  # the comparison does see differences
    if db.engine.dialect.name == "postgresql":
        result = next(c for c in sa.inspect(db.engine).get_columns("jobs") if c["name"] == "result")
        assert type(result["type"]).__name__ == "JSONB"


# --- repository -----------------------------------------------------------------------------------


def test_insert_and_get_round_trip(db: Db) -> None:
    new = new_job(priority=JobPriority.HIGH, created_at=T0.astimezone(SAST))
    job = db.tx(repo.insert_job, new)
    assert job == Job(
        id=new.id,
        status=JobStatus.PENDING,
        owner="alice",
        filename="UP_MOD_XLS.pdf",
        blob_key=new.blob_key,
        size=123_456,
        priority=JobPriority.HIGH,
        attempts=0,
        created_at=T0,
        updated_at=T0,
        available_at=T0,
        expires_at=new.expires_at,
    )
    assert db.tx(repo.get_job, new.id) == job
    assert db.tx(repo.get_job, "no-such-job") is None
    with pytest.raises(sa.exc.IntegrityError):
        db.tx(repo.insert_job, new)


def test_datetimes_are_stored_in_utc_and_come_back_aware(db: Db) -> None:
    job = db.add(created_at=dt.datetime(2026, 3, 2, 10, 0, tzinfo=SAST))
    stored = db.tx(repo.get_job, job.id)
    for moment in (stored.created_at, stored.updated_at, stored.available_at, stored.expires_at):
        assert moment.tzinfo is dt.UTC
    assert stored.created_at == T0
    if db.engine.dialect.name == "sqlite":
        with db.engine.connect() as conn:
            raw = conn.exec_driver_sql("SELECT created_at FROM jobs").scalar()
        assert raw == "2026-03-02 08:00:00.000000"
    with pytest.raises(sa.exc.StatementError, match="naive datetime"):
        db.tx(repo.insert_job, new_job(created_at=dt.datetime(2026, 3, 2, 8, 0)))


def test_repository_never_commits(db: Db) -> None:
    with db.sessions() as session:
        job = repo.insert_job(session, new_job())
        session.rollback()
    assert db.tx(repo.get_job, job.id) is None


def test_claim_moves_a_due_job_to_processing(db: Db) -> None:
    job = db.add()
    claimed = db.tx(repo.claim_job, job.id, now=at(5), worker="w1", stale_after=STALE)
    assert claimed is not None
    assert (claimed.status, claimed.worker, claimed.attempts) == (JobStatus.PROCESSING, "w1", 1)
    assert claimed.last_attempt_at == claimed.updated_at == at(5)
    assert db.tx(repo.get_job, job.id) == claimed
    assert db.tx(repo.claim_job, job.id, now=at(6), worker="w2", stale_after=STALE) is None
    assert db.tx(repo.claim_job, "no-such-job", now=at(6), worker="w2", stale_after=STALE) is None
    with pytest.raises(ValueError, match="stale_after"):
        db.tx(repo.claim_job, job.id, now=at(6), worker="w2", stale_after=dt.timedelta(0))


def test_stale_job_is_reclaimed_and_only_the_new_worker_may_finish_it(db: Db) -> None:
    job = db.add()
    db.tx(repo.claim_job, job.id, now=at(0), worker="w1", stale_after=STALE)
    assert db.tx(repo.touch_job, job.id, worker="w1", now=at(20))
    assert not db.tx(repo.touch_job, job.id, worker="w2", now=at(20))
    assert db.tx(repo.claim_job, job.id, now=at(45), worker="w2", stale_after=STALE) is None  # heartbeat
    again = db.tx(repo.claim_job, job.id, now=at(51), worker="w2", stale_after=STALE)
    assert again is not None
    assert (again.worker, again.attempts, again.last_attempt_at) == ("w2", 2, at(51))
    done = {"kind": "lectures", "result": {"events": []}, "now": at(60)}
    assert not db.tx(repo.complete_job, job.id, worker="w1", **done)  # the dead worker woke up too late
    assert not db.tx(repo.touch_job, job.id, worker="w1", now=at(60))
    assert db.tx(repo.complete_job, job.id, worker="w2", **done)


def test_complete_only_once_and_only_by_the_claiming_worker(db: Db) -> None:
    job = db.add()
    db.tx(repo.claim_job, job.id, now=at(1), worker="w1", stale_after=STALE)
    db.tx(repo.release_job, job.id, worker="w1", available_at=at(2), code="X", message="x", now=at(1))
    db.tx(repo.claim_job, job.id, now=at(3), worker="w1", stale_after=STALE)
    result = {"kind": "tests", "events": [{"module": "COS 132"}]}
    done = {"kind": "tests", "result": result, "now": at(4)}
    assert not db.tx(repo.complete_job, job.id, worker="w2", **done)
    assert db.tx(repo.complete_job, job.id, worker="w1", **done)
    assert not db.tx(repo.complete_job, job.id, worker="w1", **done)
    assert not db.tx(repo.fail_job, job.id, worker="w1", code="X", message="x", now=at(5))
    stored = db.tx(repo.get_job, job.id)
    assert (stored.status, stored.kind, stored.result) == (JobStatus.COMPLETED, "tests", result)
    assert job.blob_key is not None
    assert (stored.completed_at, stored.blob_key) == (at(4), None)  # the caller deletes the PDF next
    assert (stored.error_code, stored.error_message) == (None, None)  # the retried error is cleared
    assert db.tx(repo.claim_job, job.id, now=at(999), worker="w3", stale_after=STALE) is None


def test_fail_only_by_the_claiming_worker(db: Db) -> None:
    job = db.add()
    assert not db.tx(repo.fail_job, job.id, worker="w1", code="C", message="m", now=at(1))  # not claimed
    db.tx(repo.claim_job, job.id, now=at(1), worker="w1", stale_after=STALE)
    assert not db.tx(repo.fail_job, job.id, worker="w2", code="C", message="m", now=at(2))
    assert db.tx(repo.fail_job, job.id, worker="w1", code="NOT_A_PDF", message="Not a PDF.", now=at(2))
    stored = db.tx(repo.get_job, job.id)
    assert (stored.status, stored.error_code, stored.error_message) == (
        JobStatus.FAILED,
        "NOT_A_PDF",
        "Not a PDF.",
    )
    assert stored.completed_at == at(2)
    assert stored.blob_key is None
    done = {"kind": "tests", "result": {}, "now": at(3)}
    assert not db.tx(repo.complete_job, job.id, worker="w1", **done)


def test_release_retries_later_and_keeps_the_error(db: Db) -> None:
    job = db.add()
    db.tx(repo.claim_job, job.id, now=at(1), worker="w1", stale_after=STALE)
    args = {"code": "STORAGE", "message": "try later", "now": at(2)}
    assert not db.tx(repo.release_job, job.id, worker="w2", available_at=at(12), **args)
    assert db.tx(repo.release_job, job.id, worker="w1", available_at=at(12), **args)
    stored = db.tx(repo.get_job, job.id)
    assert (stored.status, stored.available_at, stored.attempts) == (JobStatus.PENDING, at(12), 1)
    assert (stored.error_code, stored.error_message) == ("STORAGE", "try later")
    assert db.tx(repo.claim_job, job.id, now=at(11), worker="w2", stale_after=STALE) is None
    assert db.tx(repo.claim_job, job.id, now=at(12), worker="w2", stale_after=STALE).attempts == 2


def test_result_json_round_trips_unicode(db: Db) -> None:
    job = db.add()
    db.tx(repo.claim_job, job.id, now=at(1), worker="w1", stale_after=STALE)
    result = {
        "kind": "exams",
        "events": [{"module": "AFR 110", "title": "Afrikaans — taal ë ê ô ✓ 🎓", "venue": "Sentrum 1-15"}],
        "meta": {"pages": 3, "ratio": 1.5, "ok": True, "none": None, "日本": ["語"]},
    }
    assert db.tx(repo.complete_job, job.id, worker="w1", kind="exams", result=result, now=at(2))
    assert db.tx(repo.get_job, job.id).result == result


def test_clear_blob_and_delete_job(db: Db) -> None:
    job = db.add()
    db.tx(repo.clear_blob, job.id)
    assert db.tx(repo.get_job, job.id).blob_key is None
    other = db.add()
    assert db.tx(repo.delete_job, other.id) == other
    assert db.tx(repo.get_job, other.id) is None
    assert db.tx(repo.delete_job, other.id) is None


def test_counts_come_from_one_grouped_query(db: Db) -> None:
    assert db.tx(repo.count_jobs, now=at(0)) == QueueCounts(0, 0, 0, 0, 0)
    ids = [db.add().id for _ in range(8)]
    claim = {"stale_after": STALE, "worker": "w1"}
    for job_id in ids[2:]:
        db.tx(repo.claim_job, job_id, now=at(1), **claim)
    db.tx(repo.release_job, ids[2], worker="w1", available_at=at(100), code="X", message="x", now=at(2))
    for job_id in ids[4:7]:
        db.tx(repo.complete_job, job_id, worker="w1", kind="lectures", result={}, now=at(3))
    db.tx(repo.fail_job, ids[7], worker="w1", code="X", message="x", now=at(3))
    statements: list[str] = []
    sa.event.listen(db.engine, "before_cursor_execute", lambda *args: statements.append(args[2]))
    counts = db.tx(repo.count_jobs, now=at(10))
    assert counts == QueueCounts(waiting=2, active=1, completed=3, failed=1, delayed=1)
    assert counts.total == 8
    assert len(statements) == 1
    assert db.tx(repo.count_jobs, now=at(100)) == QueueCounts(3, 1, 3, 1, 0)
    assert (db.tx(repo.count_waiting, now=at(10)), db.tx(repo.count_waiting, now=at(100))) == (2, 3)


def test_reconciler_queries(db: Db) -> None:
    first, second = db.add(created_at=at(0)), db.add(created_at=at(10))
    busy, later = db.add(created_at=at(0)), db.add(created_at=at(0))
    db.tx(repo.claim_job, busy.id, now=at(0), worker="w1", stale_after=STALE)
    db.tx(repo.claim_job, later.id, now=at(10), worker="w2", stale_after=STALE)
    assert db.tx(repo.pending_job_ids, older_than=at(5), limit=10) == [first.id]
    assert db.tx(repo.pending_job_ids, older_than=at(20), limit=10) == [first.id, second.id]
    assert db.tx(repo.pending_job_ids, older_than=at(20), limit=1) == [first.id]
    assert db.tx(repo.touch_pending, first.id, now=at(30))  # re-enqueued: not stuck again at once
    assert not db.tx(repo.touch_pending, busy.id, now=at(30))
    assert db.tx(repo.pending_job_ids, older_than=at(20), limit=10) == [second.id]
    assert db.tx(repo.stale_processing_ids, older_than=at(5), limit=10) == [busy.id]
    assert db.tx(repo.stale_processing_ids, older_than=at(11), limit=10) == [busy.id, later.id]
    db.tx(repo.touch_job, busy.id, worker="w1", now=at(20))
    assert db.tx(repo.stale_processing_ids, older_than=at(11), limit=10) == [later.id]


def test_retention_queries(db: Db) -> None:
    jobs = [db.add(expires_at=at(3600 * hours)) for hours in (3, 1, 2)]
    expired = db.tx(repo.expired_jobs, now=at(7200), limit=10)
    assert expired == [jobs[1], jobs[2]]
    assert db.tx(repo.expired_jobs, now=at(7200), limit=1) == [jobs[1]]
    assert db.tx(repo.delete_jobs, [job.id for job in expired] + ["no-such-job"]) == 2
    assert db.tx(repo.delete_jobs, []) == 0
    assert [job.id for job in db.tx(repo.expired_jobs, now=at(99_999), limit=10)] == [jobs[0].id]


def test_owner_bytes_counts_stored_uploads_only(db: Db) -> None:
    assert db.tx(repo.owner_bytes, "alice") == 0
    db.add(size=100)
    cleared = db.add(size=200)
    db.add(owner="bob", size=50)
    db.tx(repo.clear_blob, cleared.id)
    assert (db.tx(repo.owner_bytes, "alice"), db.tx(repo.owner_bytes, "bob")) == (100, 50)


def test_insert_within_quota_stores_only_what_fits(db: Db) -> None:
    db.add(size=100)
    cleared = db.add(size=5_000)
    db.tx(repo.clear_blob, cleared.id)  # its PDF is gone: it no longer counts
    db.add(owner="bob", size=900)
    fits = db.tx(repo.insert_job_within_quota, new_job(size=200), 300)  # 100 + 200 = the limit
    assert fits is not None
    assert (fits.status, fits.size, fits.owner, fits.attempts) == (JobStatus.PENDING, 200, "alice", 0)
    assert fits == db.tx(repo.get_job, fits.id)
    refused = new_job(size=1)
    assert db.tx(repo.insert_job_within_quota, refused, 300) is None
    assert db.tx(repo.get_job, refused.id) is None
    assert db.tx(repo.owner_bytes, "alice") == 300
    assert db.tx(repo.insert_job_within_quota, new_job(owner="carol", size=300), 300) is not None


# --- concurrency ----------------------------------------------------------------------------------


def test_claim_race_has_exactly_one_winner(db: Db) -> None:
    racers = 6
    for _ in range(4):
        job = db.add()
        start = threading.Barrier(racers)

        def claim(worker: str, job_id: str = job.id, start: threading.Barrier = start) -> Job | None:
            with db.sessions.begin() as session:
                session.connection()  # each racer holds its own connection before the start
                start.wait(timeout=10)
                return repo.claim_job(session, job_id, now=at(1), worker=worker, stale_after=STALE)

        with ThreadPoolExecutor(racers) as pool:
            results = list(pool.map(claim, [f"w{i}" for i in range(racers)]))
        winners = [result for result in results if result is not None]
        assert len(winners) == 1
        assert db.tx(repo.get_job, job.id) == winners[0]
        assert winners[0].attempts == 1


def test_postgres_blocked_claim_rechecks_after_the_winner_commits(pg_db: Db) -> None:
    job = pg_db.add()
    with pg_db.sessions() as winner:
        assert repo.claim_job(winner, job.id, now=at(1), worker="w1", stale_after=STALE) is not None
        winner_pid = winner.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()
        with ThreadPoolExecutor(1) as pool:
            loser = pool.submit(pg_db.tx, repo.claim_job, job.id, now=at(1), worker="w2", stale_after=STALE)
            _wait_until_blocked_by(pg_db, winner_pid)
            winner.commit()
            assert loser.result(timeout=10) is None
    assert pg_db.tx(repo.get_job, job.id).worker == "w1"


def _wait_until_blocked_by(db: Db, pid: int) -> None:
    """Poll pg_stat_activity until some backend waits on a lock that `pid` holds."""
    query = sa.text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))")
    with db.engine.connect() as conn:
        for _ in range(10_000):
            if conn.execute(query, {"pid": pid}).scalar_one():
                return
            conn.rollback()
    pytest.fail("the second claim never waited for the first")


# --- property: random operations on one job -------------------------------------------------------

OPERATIONS = st.tuples(
    st.sampled_from(["claim", "touch", "complete", "fail", "release"]),
    st.sampled_from(["w1", "w2"]),
    st.integers(min_value=0, max_value=40),  # seconds the clock moves first
)
LEGAL = {
    ("pending", "processing"),
    ("processing", "processing"),
    ("processing", "completed"),
    ("processing", "failed"),
    ("processing", "pending"),
}


@dataclass
class Model:
    """What the job should look like."""

    status: str = "pending"
    worker: str | None = None
    attempts: int = 0
    updated_at: dt.datetime = T0
    available_at: dt.datetime = T0

    def expects(self, op: str, worker: str, now: dt.datetime) -> bool:
        """Whether `op` by `worker` at `now` should succeed."""
        if op == "claim":
            due = self.status == "pending" and self.available_at <= now
            return due or (self.status == "processing" and self.updated_at < now - STALE)
        return self.status == "processing" and self.worker == worker

    def apply(self, op: str, worker: str, now: dt.datetime) -> None:
        """Change the model as a successful `op` does."""
        self.updated_at = now
        if op == "claim":
            self.status, self.worker, self.attempts = "processing", worker, self.attempts + 1
        elif op == "release":
            self.status, self.available_at = "pending", now + dt.timedelta(seconds=10)
        elif op in ("complete", "fail"):
            self.status = {"complete": "completed", "fail": "failed"}[op]


def _run(db: Db, job_id: str, op: str, worker: str, now: dt.datetime) -> bool:
    later = now + dt.timedelta(seconds=10)
    calls: dict[str, Callable[[Session], object]] = {
        "claim": lambda s: repo.claim_job(s, job_id, now=now, worker=worker, stale_after=STALE) is not None,
        "touch": lambda s: repo.touch_job(s, job_id, worker=worker, now=now),
        "complete": lambda s: repo.complete_job(s, job_id, worker=worker, kind="k", result={}, now=now),
        "fail": lambda s: repo.fail_job(s, job_id, worker=worker, code="E", message="m", now=now),
        "release": lambda s: repo.release_job(
            s, job_id, worker=worker, available_at=later, code="E", message="m", now=now
        ),
    }
    with db.sessions.begin() as session:
        return bool(calls[op](session))


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(operations=st.lists(OPERATIONS, max_size=30))
def test_random_operations_never_break_the_state_machine(
    sqlite_db: Db, operations: list[tuple[str, str, int]]
) -> None:
    job, model, now, completions = sqlite_db.add(), Model(), T0, 0
    for op, worker, step in operations:
        now += dt.timedelta(seconds=step)
        before = model.status
        succeeded = _run(sqlite_db, job.id, op, worker, now)
        assert succeeded == model.expects(op, worker, now)
        if succeeded:
            model.apply(op, worker, now)
            assert (before, model.status) in LEGAL
            completions += op == "complete"
        stored = sqlite_db.tx(repo.get_job, job.id)
        assert (stored.status.value, stored.worker, stored.attempts) == (
            model.status,
            model.worker,
            model.attempts,
        )
        assert (stored.updated_at, stored.available_at) == (model.updated_at, model.available_at)
    assert completions <= 1
