"""Job queries: insert, compare-and-set state changes, counts and sweeps; they never commit (services do)."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Collection
from typing import Any, cast

import sqlalchemy as sa
from sqlalchemy.orm import Session

from schedgen.adapters.db.tables import jobs_table
from schedgen.domain.jobs import Job, JobPriority, JobStatus, NewJob, QueueCounts

PENDING = JobStatus.PENDING.value
PROCESSING = JobStatus.PROCESSING.value
COMPLETED = JobStatus.COMPLETED.value
FAILED = JobStatus.FAILED.value

Executor = Session | sa.Connection  # an ORM session or, on hot paths, a plain Core connection


def _to_job(row: sa.Row[Any]) -> Job:
    values = row._mapping
    return Job(
        id=values["id"],
        status=JobStatus(values["status"]),
        owner=values["owner"],
        filename=values["filename"],
        blob_key=values["blob_key"],
        size=values["size"],
        priority=JobPriority(values["priority"]),
        attempts=values["attempts"],
        created_at=values["created_at"],
        updated_at=values["updated_at"],
        available_at=values["available_at"],
        expires_at=values["expires_at"],
        kind=values["kind"],
        result=values["result"],
        error_code=values["error_code"],
        error_message=values["error_message"],
        last_attempt_at=values["last_attempt_at"],
        completed_at=values["completed_at"],
        worker=values["worker"],
    )


def _rowcount(session: Executor, stmt: sa.Executable) -> int:
    """Rows an UPDATE or DELETE matched."""
    result = cast("sa.CursorResult[Any]", session.execute(stmt))
    return int(result.rowcount)


def insert_job(session: Executor, new: NewJob) -> Job:
    """Store a new pending job, available at once."""
    return _to_job(session.execute(_insert_stmt(), _insert_values(new)).one())


def insert_job_within_quota(session: Executor, new: NewJob, limit: int) -> Job | None:
    """Store a new pending job unless its owner's stored bytes plus its size would pass `limit`: None then.

    One statement (INSERT ... SELECT ... WHERE the owner's sum fits ... RETURNING), so an upload costs one
    round trip to the database and, in autocommit, no BEGIN and COMMIT.
    """
    values = _insert_values(new)
    stmt = _insert_within_quota_stmt(tuple(values))
    row = session.execute(
        stmt, values | {"p_owner": new.owner, "p_size": new.size, "p_limit": limit}
    ).one_or_none()
    return None if row is None else _to_job(row)


def _insert_values(new: NewJob) -> dict[str, Any]:
    return {
        "id": new.id,
        "status": PENDING,
        "priority": int(new.priority),
        "owner": new.owner,
        "filename": new.filename,
        "blob_key": new.blob_key,
        "size": new.size,
        "attempts": 0,
        "created_at": new.created_at,
        "updated_at": new.created_at,
        "available_at": new.created_at,
        "expires_at": new.expires_at,
    }


# The statements run for every job are built once (on first use) with bind parameters: building and
# cache-keying a statement costs more Python time than SQLite takes to run it.


@functools.cache
def _insert_stmt() -> sa.Insert:
    jobs = jobs_table()
    return sa.insert(jobs).returning(*jobs.c)


@functools.cache
def _insert_within_quota_stmt(names: tuple[str, ...]) -> sa.Insert:
    jobs = jobs_table()
    fields = [sa.bindparam(name, type_=jobs.c[name].type) for name in names]
    used = _owner_bytes_stmt().scalar_subquery()
    size = sa.bindparam("p_size", type_=sa.BigInteger())
    fits = used + size <= sa.bindparam("p_limit", type_=sa.BigInteger())
    return sa.insert(jobs).from_select(names, sa.select(*fields).where(fits)).returning(*jobs.c)


@functools.cache
def _get_stmt() -> sa.Select[Any]:
    jobs = jobs_table()
    return sa.select(jobs).where(jobs.c.id == sa.bindparam("p_id"))


@functools.cache
def _claim_stmt() -> sa.Update:
    jobs = jobs_table()
    now = sa.bindparam("p_now", type_=jobs.c.updated_at.type)
    claimable = sa.or_(
        sa.and_(jobs.c.status == PENDING, jobs.c.available_at <= now),
        sa.and_(
            jobs.c.status == PROCESSING,
            jobs.c.updated_at < sa.bindparam("p_stale_before", type_=jobs.c.updated_at.type),
        ),
    )
    return (
        sa.update(jobs)
        .where(jobs.c.id == sa.bindparam("p_id"), claimable)
        .values(
            status=PROCESSING,
            attempts=jobs.c.attempts + 1,
            last_attempt_at=now,
            worker=sa.bindparam("p_worker"),
            updated_at=now,
        )
        .returning(*jobs.c)
    )


@functools.cache
def _owned_stmt(columns: tuple[str, ...]) -> sa.Update:
    """UPDATE of these columns on a job still processing by a given worker."""
    jobs = jobs_table()
    return (
        sa.update(jobs)
        .where(
            jobs.c.id == sa.bindparam("p_id"),
            jobs.c.status == PROCESSING,
            jobs.c.worker == sa.bindparam("p_worker"),
        )
        .values({name: sa.bindparam(f"v_{name}", type_=jobs.c[name].type) for name in columns})
    )


def get_job(session: Executor, job_id: str) -> Job | None:
    """The job with this id, or None (a primary-key lookup)."""
    row = session.execute(_get_stmt(), {"p_id": job_id}).one_or_none()
    return None if row is None else _to_job(row)


def claim_job(
    session: Executor, job_id: str, *, now: dt.datetime, worker: str, stale_after: dt.timedelta
) -> Job | None:
    """Move a due pending job (or one whose worker went silent) to processing by `worker`; None if lost."""
    if stale_after <= dt.timedelta(0):
        raise ValueError("stale_after must be positive")
    params = {"p_id": job_id, "p_now": now, "p_stale_before": now - stale_after, "p_worker": worker}
    row = session.execute(_claim_stmt(), params).one_or_none()
    return None if row is None else _to_job(row)


def _update_owned(session: Executor, job_id: str, worker: str, **values: Any) -> bool:
    """Compare-and-set on a job still processing by `worker`; True if this call changed it."""
    stmt = _owned_stmt(tuple(sorted(values)))
    params = {"p_id": job_id, "p_worker": worker} | {f"v_{name}": value for name, value in values.items()}
    result = cast("sa.CursorResult[Any]", session.execute(stmt, params))
    return int(result.rowcount) == 1


def touch_job(session: Executor, job_id: str, *, worker: str, now: dt.datetime) -> bool:
    """Heartbeat: renew `worker`'s claim on a processing job; False if it is no longer theirs."""
    return _update_owned(session, job_id, worker, updated_at=now)


def touch_jobs(session: Executor, job_ids: Collection[str], *, worker: str, now: dt.datetime) -> int:
    """Heartbeat of several jobs: renew `worker`'s claims on those still processing; returns how many."""
    if not job_ids:
        return 0
    jobs = jobs_table()
    stmt = (
        sa.update(jobs)
        .where(jobs.c.id.in_(list(job_ids)), jobs.c.status == PROCESSING, jobs.c.worker == worker)
        .values(updated_at=now)
    )
    return _rowcount(session, stmt)


def complete_job(
    session: Executor,
    job_id: str,
    *,
    worker: str,
    kind: str,
    result: dict[str, Any],
    now: dt.datetime,
) -> bool:
    """Processing by `worker` -> completed with its result, forgetting its PDF; False if not theirs."""
    return _update_owned(
        session,
        job_id,
        worker,
        status=COMPLETED,
        kind=kind,
        result=result,
        error_code=None,
        error_message=None,
        completed_at=now,
        updated_at=now,
        blob_key=None,  # the caller deletes the PDF next; the sweep catches one it could not
    )


def fail_job(
    session: Executor, job_id: str, *, worker: str, code: str, message: str, now: dt.datetime
) -> bool:
    """Processing by `worker` -> failed with an error code, forgetting its PDF; False if not theirs."""
    return _update_owned(
        session,
        job_id,
        worker,
        status=FAILED,
        error_code=code,
        error_message=message,
        completed_at=now,
        updated_at=now,
        blob_key=None,  # as in complete_job
    )


def release_job(
    session: Executor,
    job_id: str,
    *,
    worker: str,
    available_at: dt.datetime,
    code: str,
    message: str,
    now: dt.datetime,
) -> bool:
    """Processing by `worker` -> pending again from `available_at` (retry with backoff), keeping the error."""
    return _update_owned(
        session,
        job_id,
        worker,
        status=PENDING,
        available_at=available_at,
        error_code=code,
        error_message=message,
        updated_at=now,
    )


def touch_pending(session: Executor, job_id: str, *, now: dt.datetime) -> bool:
    """Note that the reconciler re-enqueued this pending job now; False if it is no longer pending."""
    jobs = jobs_table()
    stmt = sa.update(jobs).where(jobs.c.id == job_id, jobs.c.status == PENDING).values(updated_at=now)
    return _rowcount(session, stmt) == 1


def clear_blob(session: Executor, job_id: str) -> None:
    """Forget the job's stored PDF (after the caller deleted it)."""
    jobs = jobs_table()
    session.execute(sa.update(jobs).where(jobs.c.id == job_id).values(blob_key=None))


def forget_blobs_created_before(session: Executor, cutoff: dt.datetime) -> int:
    """Clear the PDF key of jobs created before `cutoff` (the age sweep has deleted their PDFs)."""
    jobs = jobs_table()
    stmt = (
        sa.update(jobs).where(jobs.c.blob_key.is_not(None), jobs.c.created_at < cutoff).values(blob_key=None)
    )
    return _rowcount(session, stmt)


def delete_job(session: Executor, job_id: str) -> Job | None:
    """Delete one job; returns it (so the caller can delete its blob), or None if there was none."""
    jobs = jobs_table()
    row = session.execute(sa.delete(jobs).where(jobs.c.id == job_id).returning(*jobs.c)).one_or_none()
    return None if row is None else _to_job(row)


def count_jobs(session: Executor, *, now: dt.datetime) -> QueueCounts:
    """Jobs by queue state, in one grouped query (delayed = pending but not yet due)."""
    jobs = jobs_table()
    stmt = sa.select(
        jobs.c.status,
        sa.func.count(),
        sa.func.count().filter(jobs.c.available_at > now),
    ).group_by(jobs.c.status)
    totals: dict[str, int] = {}
    delayed = 0
    for status, total, not_due in session.execute(stmt):
        totals[status] = total
        if status == PENDING:
            delayed = not_due
    return QueueCounts(
        waiting=totals.get(PENDING, 0) - delayed,
        active=totals.get(PROCESSING, 0),
        completed=totals.get(COMPLETED, 0),
        failed=totals.get(FAILED, 0),
        delayed=delayed,
    )


def count_waiting(session: Executor, *, now: dt.datetime) -> int:
    """Pending jobs due by `now`: QueueCounts.waiting from an index range (for upload backpressure)."""
    jobs = jobs_table()
    stmt = sa.select(sa.func.count()).where(jobs.c.status == PENDING, jobs.c.available_at <= now)
    return int(session.execute(stmt).scalar_one())


def _oldest_ids(
    session: Executor, status: str, due: list[sa.ColumnElement[bool]], order: sa.Column[Any], limit: int
) -> list[str]:
    jobs = jobs_table()
    stmt = sa.select(jobs.c.id).where(jobs.c.status == status, *due).order_by(order, jobs.c.id).limit(limit)
    return list(session.scalars(stmt))


def pending_job_ids(session: Executor, *, older_than: dt.datetime, limit: int) -> list[str]:
    """Pending jobs due and untouched since `older_than` or earlier (to re-enqueue), longest-due first."""
    jobs = jobs_table()
    due = [jobs.c.available_at <= older_than, jobs.c.updated_at <= older_than]
    return _oldest_ids(session, PENDING, due, jobs.c.available_at, limit)


def stale_processing_ids(session: Executor, *, older_than: dt.datetime, limit: int) -> list[str]:
    """Processing jobs with no heartbeat since before `older_than` (their worker died), stalest first."""
    jobs = jobs_table()
    return _oldest_ids(session, PROCESSING, [jobs.c.updated_at < older_than], jobs.c.updated_at, limit)


def expired_jobs(session: Executor, *, now: dt.datetime, limit: int) -> list[Job]:
    """Jobs past their expiry time, oldest first (the retention sweep deletes them and their blobs)."""
    jobs = jobs_table()
    stmt = sa.select(jobs).where(jobs.c.expires_at <= now).order_by(jobs.c.expires_at, jobs.c.id).limit(limit)
    return [_to_job(row) for row in session.execute(stmt)]


def delete_jobs(session: Executor, ids: Collection[str]) -> int:
    """Delete these jobs; returns how many existed."""
    if not ids:
        return 0
    jobs = jobs_table()
    return _rowcount(session, sa.delete(jobs).where(jobs.c.id.in_(list(ids))))


def owner_bytes(session: Executor, owner: str) -> int:
    """Bytes of the owner's uploads still stored (jobs that still have a blob); runs for every upload."""
    return int(session.execute(_owner_bytes_stmt(), {"p_owner": owner}).scalar_one())


@functools.cache
def _owner_bytes_stmt() -> sa.Select[Any]:
    jobs = jobs_table()
    return sa.select(sa.func.coalesce(sa.func.sum(jobs.c.size), 0)).where(
        jobs.c.owner == sa.bindparam("p_owner"), jobs.c.blob_key.is_not(None)
    )
