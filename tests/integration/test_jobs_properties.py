"""Job processing properties (seeds' Properties 1 and 2) on the real embedded stack, with injected faults."""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedgen.adapters.blobstore import BlobStore
from schedgen.bootstrap import Container, build
from schedgen.config import Settings
from schedgen.domain.jobs import Job
from schedgen.errors import BlobStoreUnavailableError
from schedgen.services.jobs import JobDeps, get_job, process_job, queue_counts, submit_upload


class FlakyBlobs:
    """The real blob store, except that the first `failures` reads of each key fail as if S3 were down."""

    def __init__(self, real: BlobStore, failures: int) -> None:
        self.real = real
        self.failures = failures
        self.reads: dict[str, int] = {}
        self.lock = threading.Lock()

    def put(self, key: str, chunks: Iterable[bytes], *, max_bytes: int) -> int:
        return self.real.put(key, chunks, max_bytes=max_bytes)

    def get(self, key: str) -> bytes:
        with self.lock:
            self.reads[key] = self.reads.get(key, 0) + 1
            failing = self.reads[key] <= self.failures
        if failing:
            raise BlobStoreUnavailableError()
        return self.real.get(key)

    def delete(self, key: str) -> None:
        self.real.delete(key)

    def delete_many(self, keys: list[str]) -> None:
        self.real.delete_many(keys)

    def keys_older_than(self, cutoff):  # type: ignore[no-untyped-def]
        return self.real.keys_older_than(cutoff)

    def check(self) -> None:
        self.real.check()


class NoQueue:
    """Enqueue does nothing: these tests call process_job themselves, as workers would."""

    def enqueue(self, job_id: str, priority: object = None, delay_ms: int = 0) -> None:
        return None


@pytest.fixture
def container(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Container]:
    built = build(Settings(data_dir=tmp_path_factory.mktemp("data"), job_min_backoff_ms=0))
    yield built
    built.close()


def deps_with(container: Container, failures: int) -> JobDeps:
    return dataclasses.replace(container.jobs, blobs=FlakyBlobs(container.blobs, failures), queue=NoQueue())


MAX_ROUNDS = 50  # bound on how often a worker goes over all jobs


def run_workers(deps: JobDeps, ids: list[str], workers: int) -> None:
    """`workers` threads, each with its own worker id, going over every job until all are finished."""

    def work(n: int) -> None:
        mine = dataclasses.replace(deps, worker_id=f"worker-{n}")
        for _ in range(MAX_ROUNDS):
            for job_id in ids:
                process_job(mine, job_id)
            if all(job.status in ("completed", "failed") for job in jobs_of(mine, ids)):
                return

    threads = [threading.Thread(target=work, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


def jobs_of(deps: JobDeps, ids: list[str]) -> list[Job]:
    return [job for job in (get_job(deps, i) for i in ids) if job is not None]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(workers=st.integers(1, 4), count=st.integers(1, 6), failures=st.integers(0, 2))
def test_any_workers_and_jobs_all_complete_once(
    container: Container, real_pdfs: dict[str, bytes], workers: int, count: int, failures: int
) -> None:
    """Property 1: N workers x M jobs (with transient storage failures) -> all complete, none lost or doubled."""
    deps = deps_with(container, failures)
    before = queue_counts(deps)
    pdfs = list(real_pdfs.values())
    ids = [submit_upload(deps, owner="p1", filename="t.pdf", chunks=[pdfs[n % 3]]).id for n in range(count)]
    run_workers(deps, ids, workers)
    jobs = jobs_of(deps, ids)
    assert [job.status for job in jobs] == ["completed"] * count
    assert all(job.attempts == failures + 1 for job in jobs)  # each retry is one attempt, never more
    after = queue_counts(deps)
    assert after.completed - before.completed == count
    assert after.total - before.total == count


def test_processing_a_finished_job_again_changes_nothing(
    container: Container, real_pdfs: dict[str, bytes]
) -> None:
    """Property 2: a retried or duplicated message gives the same result and never a second completion."""
    deps = deps_with(container, failures=0)
    job_id = submit_upload(deps, owner="p2", filename="l.pdf", chunks=[real_pdfs["lectures"]]).id
    process_job(deps, job_id)
    first = get_job(deps, job_id)
    for _ in range(3):
        process_job(dataclasses.replace(deps, worker_id="another"), job_id)
    again = get_job(deps, job_id)
    assert first is not None
    assert again is not None
    assert (again.status, again.attempts, again.result, again.completed_at) == (
        "completed",
        1,
        first.result,
        first.completed_at,
    )


def test_transient_storage_error_is_retried_with_backoff(tmp_path: Path, real_pdfs: dict[str, bytes]) -> None:
    container = build(Settings(data_dir=tmp_path / "data", job_min_backoff_ms=60_000))
    try:
        deps = deps_with(container, failures=1)
        job_id = submit_upload(deps, owner="t", filename="e.pdf", chunks=[real_pdfs["exams"]]).id
        process_job(deps, job_id)
        waiting = get_job(deps, job_id)
        assert waiting is not None
        assert (waiting.status, waiting.attempts, waiting.error_code) == ("pending", 1, "STORAGE_UNAVAILABLE")
        assert (waiting.available_at - waiting.updated_at).total_seconds() == pytest.approx(60, abs=1)
        process_job(deps, job_id)  # not due yet: nothing happens
        assert get_job(deps, job_id) == waiting
        later = deps.clock
        process_job(
            dataclasses.replace(deps, clock=lambda: later() + (waiting.available_at - waiting.updated_at)),
            job_id,
        )
        done = get_job(deps, job_id)
        assert done is not None
        assert (done.status, done.attempts, done.error_code) == ("completed", 2, None)
    finally:
        container.close()


def test_a_job_fails_after_its_last_retry(tmp_path: Path, real_pdfs: dict[str, bytes]) -> None:
    container = build(Settings(data_dir=tmp_path / "data", job_min_backoff_ms=0, job_max_retries=2))
    try:
        deps = deps_with(container, failures=10)
        job_id = submit_upload(deps, owner="t", filename="e.pdf", chunks=[real_pdfs["exams"]]).id
        for _ in range(5):
            process_job(deps, job_id)
        job = get_job(deps, job_id)
        assert job is not None
        assert (job.status, job.attempts, job.error_code) == ("failed", 3, "STORAGE_UNAVAILABLE")
    finally:
        container.close()
