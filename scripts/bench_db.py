"""Benchmark the jobs table on PostgreSQL: load 1,000,000 rows, then time the repository's reads.

Usage: .venv/bin/python scripts/bench_db.py [--rows N] [--reads N] [--url URL]
The URL defaults to $SCHEDGEN_BENCH_POSTGRES_URL or postgresql+psycopg://postgres@127.0.0.1:5432/test.
Everything happens in a schema of its own (bench_<random>), dropped at the end, also after an error or
Ctrl-C. Prints a Markdown table (paste into docs/database.md) and the query plans.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import os
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session, sessionmaker

from schedgen.adapters.db import jobs as repo
from schedgen.adapters.db.engine import build_engine, session_factory
from schedgen.adapters.db.migrate import upgrade
from schedgen.config import Settings

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LOAD_TIMEOUT_MS = 600_000  # the bulk load and VACUUM may take minutes on a slow disk
NOW = dt.datetime(2026, 3, 9, 12, 0, tzinfo=dt.UTC)  # the rows span the 7 days before this
REPEATS = 20  # runs of each aggregate/sweep query

# A full 7-day retention window: 95 % completed, 5 % failed, 500 pending (the backpressure limit),
# 50 processing (workers busy), spread evenly over the week.
LOAD_SQL = """
INSERT INTO jobs (id, status, priority, owner, filename, blob_key, size, kind, result, error_code,
                  error_message, attempts, worker, created_at, updated_at, available_at,
                  last_attempt_at, completed_at, expires_at)
SELECT md5(i::text)::uuid::text, s.status, CASE WHEN i % 10 = 0 THEN 1 ELSE 5 END,
       'user' || (i % 20000), 'UP_MOD_XLS.pdf',
       CASE WHEN s.status IN ('pending', 'processing') THEN 'uploads/' || md5(i::text) || '.pdf' END,
       100000 + i % 50000,
       CASE WHEN s.status = 'completed' THEN 'lectures' END,
       CASE WHEN s.status = 'completed' THEN jsonb_build_object('kind', 'lectures', 'events',
            jsonb_build_array(jsonb_build_object('module', 'COS 132', 'group', 'G01', 'day', 'Monday',
                                                 'start', '07:30', 'end', '08:20', 'venue', 'IT 4-1')))
       END,
       CASE WHEN s.status = 'failed' THEN 'NOT_A_TIMETABLE' END,
       CASE WHEN s.status = 'failed' THEN 'This PDF is not a UP timetable.' END,
       CASE WHEN s.status = 'pending' THEN 0 ELSE 1 END,
       CASE WHEN s.status = 'pending' THEN NULL ELSE 'worker-' || (i % 8) END,
       c.created, c.created + interval '5 seconds', c.created,
       CASE WHEN s.status <> 'pending' THEN c.created + interval '1 second' END,
       CASE WHEN s.status IN ('completed', 'failed') THEN c.created + interval '5 seconds' END,
       c.created + interval '7 days'
FROM generate_series(1, :rows) AS i
CROSS JOIN LATERAL (SELECT CASE WHEN i % 20000 = 0 THEN 'processing' WHEN i % 2000 = 1 THEN 'pending'
                                WHEN i % 100 < 95 THEN 'completed' ELSE 'failed' END AS status) AS s
CROSS JOIN LATERAL (SELECT :now - make_interval(secs => i % 604800) AS created) AS c
"""


def job_id(i: int) -> str:
    """The id LOAD_SQL gives row i (md5(i::text)::uuid::text)."""
    return str(uuid.UUID(hashlib.md5(str(i).encode()).hexdigest()))


def percentile(samples: list[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def timed_ms(sessions: sessionmaker[Session], call: Callable[[Session], object], runs: int) -> list[float]:
    """Milliseconds of `runs` calls, each in its own session (pool checkout included, as a service does)."""
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        with sessions() as session:
            call(session)
        samples.append((time.perf_counter() - start) * 1000)
    return samples


def held_ms(sessions: sessionmaker[Session], ids: list[str]) -> list[float]:
    """Milliseconds of get_job calls in one open session: no pool checkout or pre-ping round trip."""
    samples = []
    with sessions() as session:
        for one in ids:
            start = time.perf_counter()
            repo.get_job(session, one)
            samples.append((time.perf_counter() - start) * 1000)
    return samples


def captured_sql(
    engine: sa.Engine, sessions: sessionmaker[Session], call: Callable[[Session], object]
) -> Any:
    """The (statement, parameters) the repository call sends to the server."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: object, _cursor: object, statement: str, parameters: Any, *_rest: object) -> None:
        seen.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", record)
    try:
        with sessions() as session:
            call(session)
    finally:
        sa.event.remove(engine, "before_cursor_execute", record)
    return seen[-1]


def explain(engine: sa.Engine, statement: str, parameters: Any) -> str:
    """EXPLAIN (ANALYZE, BUFFERS) of one captured statement."""
    with engine.connect() as conn:
        rows = conn.exec_driver_sql("EXPLAIN (ANALYZE, BUFFERS) " + statement, parameters).scalars()
        return "\n".join(str(row) for row in rows)


def load(engine: sa.Engine, rows: int) -> float:
    """Insert `rows` jobs and VACUUM ANALYZE; seconds taken."""
    start = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(sa.text(LOAD_SQL), {"rows": rows, "now": NOW})
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.exec_driver_sql("VACUUM ANALYZE jobs")
    return time.perf_counter() - start


def run(url: str, rows: int, reads: int) -> None:
    """Load, measure and print; the caller drops the schema."""
    settings = Settings(database_url=url, db_statement_timeout_ms=LOAD_TIMEOUT_MS)
    engine = build_engine(settings)
    try:
        upgrade(engine)
        load_s = load(engine, rows)
        with engine.connect() as conn:
            size = conn.exec_driver_sql("SELECT pg_size_pretty(pg_total_relation_size('jobs'))").scalar()
        sessions = session_factory(engine)
        ids = [job_id(random.randint(1, rows)) for _ in range(reads)]
        timed_ms(sessions, lambda s: repo.get_job(s, ids[0]), 100)  # warm the pool and caches
        picks = iter(ids)
        gets = timed_ms(sessions, lambda s: repo.get_job(s, next(picks)), reads)
        print(f"\n{rows:,} rows loaded and vacuumed in {load_s:.1f} s; table + indexes: {size}\n")
        print("| query | runs | p50 ms | p95 ms | p99 ms |\n|---|---|---|---|---|")
        print(row("get_job (random id, session per call)", gets))
        print(row("get_job (random id, one open session)", held_ms(sessions, ids)))
        for name, call in sweeps().items():
            print(row(name, timed_ms(sessions, call, REPEATS)))
        for name, call in (
            ("get_job", lambda s: repo.get_job(s, ids[0])),
            ("count_jobs", sweeps()["count_jobs"]),
        ):
            print(f"\nEXPLAIN {name}:\n{explain(engine, *captured_sql(engine, sessions, call))}")
    finally:
        engine.dispose()


def sweeps() -> dict[str, Callable[[Session], object]]:
    """The aggregate and reconciler queries, as the services call them."""
    return {
        "count_jobs": lambda s: repo.count_jobs(s, now=NOW),
        "count_waiting": lambda s: repo.count_waiting(s, now=NOW),
        "pending_job_ids (limit 500)": lambda s: repo.pending_job_ids(
            s, older_than=NOW - dt.timedelta(seconds=60), limit=500
        ),
        "stale_processing_ids (limit 500)": lambda s: repo.stale_processing_ids(
            s, older_than=NOW - dt.timedelta(seconds=30), limit=500
        ),
        "expired_jobs (limit 500)": lambda s: repo.expired_jobs(s, now=NOW, limit=500),
        "owner_bytes": lambda s: repo.owner_bytes(s, "user42"),
    }


def row(name: str, samples: list[float]) -> str:
    """One Markdown table row."""
    p50, p95, p99 = (percentile(samples, f) for f in (0.50, 0.95, 0.99))
    return f"| {name} | {len(samples)} | {p50:.2f} | {p95:.2f} | {p99:.2f} |"


def main() -> None:
    """Create a schema, benchmark in it, drop it."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--reads", type=int, default=2000)
    parser.add_argument("--url", default=os.environ.get("SCHEDGEN_BENCH_POSTGRES_URL", DEFAULT_URL))
    args = parser.parse_args()
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(args.url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    try:
        url = sa.make_url(args.url).update_query_dict({"options": f"-csearch_path={schema}"})
        run(url.render_as_string(hide_password=False), args.rows, args.reads)
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
        print(f"schema {schema} dropped")


if __name__ == "__main__":
    main()
