"""The reconcile pass with a controllable clock: dead workers, timeouts, lost messages, retention, sweep."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import pytest

from schedgen.adapters.db import jobs as repo
from schedgen.bootstrap import Container, build
from schedgen.config import Settings
from schedgen.services.jobs import JobDeps, get_job, process_job, submit_upload
from schedgen.services.maintenance import reconcile


class RecordingQueue:
    """Remembers what was enqueued (the broker itself is exercised in the API and distributed tests)."""

    def __init__(self) -> None:
        self.enqueued: list[str] = []

    def enqueue(self, job_id: str, priority: object = None, delay_ms: int = 0) -> None:
        self.enqueued.append(job_id)


@pytest.fixture
def container(tmp_path: Path) -> Iterator[Container]:
    built = build(Settings(data_dir=tmp_path / "data"))
    yield built
    built.close()


def at(deps: JobDeps, moment: dt.datetime, queue: RecordingQueue | None = None) -> JobDeps:
    return dataclasses.replace(deps, clock=lambda: moment, queue=queue or RecordingQueue())


def claim_and_die(deps: JobDeps, job_id: str, moment: dt.datetime) -> None:
    """A worker claims the job and is killed before finishing it."""
    with deps.sessions.begin() as session:
        assert repo.claim_job(session, job_id, now=moment, worker="dead", stale_after=dt.timedelta(minutes=1))


def test_job_of_a_dead_worker_is_requeued_and_finished_by_another(
    container: Container, real_pdfs: dict[str, bytes]
) -> None:
    t0 = container.jobs.clock()
    deps = at(container.jobs, t0)
    job_id = submit_upload(deps, owner="o", filename="e.pdf", chunks=[real_pdfs["exams"]]).id
    claim_and_die(deps, job_id, t0)
    queue = RecordingQueue()
    later = at(deps, t0 + dt.timedelta(seconds=45), queue)
    assert reconcile(later).reclaimed == 1
    assert queue.enqueued == [job_id]
    process_job(dataclasses.replace(later, worker_id="alive"), job_id)
    job = get_job(later, job_id)
    assert job is not None
    assert (job.status, job.attempts, job.worker) == ("completed", 2, "alive")


def test_job_running_past_the_time_limit_is_failed(container: Container, real_pdfs: dict[str, bytes]) -> None:
    t0 = container.jobs.clock()
    deps = at(container.jobs, t0)
    job_id = submit_upload(deps, owner="o", filename="e.pdf", chunks=[real_pdfs["exams"]]).id
    claim_and_die(deps, job_id, t0)
    report = reconcile(at(deps, t0 + dt.timedelta(minutes=6)))
    assert report.timed_out == 1
    job = get_job(deps, job_id)
    assert job is not None
    assert (job.status, job.error_code) == ("failed", "JOB_TIMEOUT")


def test_pending_job_the_broker_lost_is_enqueued_again_once_per_interval(
    container: Container, real_pdfs: dict[str, bytes]
) -> None:
    t0 = container.jobs.clock()
    job_id = submit_upload(
        at(container.jobs, t0), owner="o", filename="e.pdf", chunks=[real_pdfs["exams"]]
    ).id
    queue = RecordingQueue()
    assert reconcile(at(container.jobs, t0 + dt.timedelta(seconds=10), queue)).requeued == 0  # not stuck yet
    assert reconcile(at(container.jobs, t0 + dt.timedelta(seconds=61), queue)).requeued == 1
    assert reconcile(at(container.jobs, t0 + dt.timedelta(seconds=62), queue)).requeued == 0  # just re-sent
    assert queue.enqueued == [job_id]


def test_expired_jobs_and_old_uploads_are_deleted(container: Container, real_pdfs: dict[str, bytes]) -> None:
    t0 = container.jobs.clock()
    deps = at(container.jobs, t0)
    done = submit_upload(deps, owner="o", filename="e.pdf", chunks=[real_pdfs["exams"]]).id
    process_job(deps, done)
    stuck = submit_upload(deps, owner="o", filename="t.pdf", chunks=[real_pdfs["tests"]])
    assert stuck.blob_key is not None
    container.blobs.put("uploads/orphan.pdf", [b"%PDF-1.4 orphan"], max_bytes=100)

    one_day_later = reconcile(at(deps, t0 + dt.timedelta(hours=25)))
    assert one_day_later.swept == 2  # the stuck job's PDF and the orphan: older than 24 h
    assert one_day_later.expired == 0
    a_week_later = reconcile(at(deps, t0 + dt.timedelta(days=8)))
    assert a_week_later.expired == 2
    assert get_job(deps, done) is None
    assert get_job(deps, stuck.id) is None


def test_retention_sweep_keeps_uploads_younger_than_24_hours(
    container: Container, real_pdfs: dict[str, bytes]
) -> None:
    t0 = container.jobs.clock()
    deps = at(container.jobs, t0)
    waiting = submit_upload(deps, owner="o", filename="t.pdf", chunks=[real_pdfs["tests"]])
    assert reconcile(at(deps, t0 + dt.timedelta(hours=23, minutes=59))).swept == 0
    kept = get_job(deps, waiting.id)
    assert kept is not None
    assert kept.blob_key is not None
    with container.sessions() as session:
        assert repo.owner_bytes(session, "o") == len(real_pdfs["tests"])
    assert reconcile(at(deps, t0 + dt.timedelta(hours=24, minutes=1))).swept == 1
    job = get_job(deps, waiting.id)
    assert job is not None
    assert job.blob_key is None  # the row forgets the swept PDF: it no longer counts toward the quota
    with container.sessions() as session:
        assert repo.owner_bytes(session, "o") == 0
