"""The finished-job cache (seeds R4): memory and real Redis, and Property 4 - a read is never stale."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedgen.adapters.cache import JobCache, MemoryJobCache, RedisJobCache, build_job_cache
from schedgen.adapters.db import jobs as repo
from schedgen.bootstrap import Container, build
from schedgen.config import Settings
from schedgen.domain.events import Kind, Timetable
from schedgen.domain.jobs import Job, JobStatus
from schedgen.errors import NotTimetableError
from schedgen.services.jobs import (
    JobDeps,
    delete_job,
    fetch_cached_document,
    forget_cached,
    get_job,
    load_job_document,
    process_job,
    read_job_document,
    submit_upload,
)
from schedgen.web.app import create_app
from schedgen.web.schemas.jobs import JobOut
from tests.support.waiting import wait_for

PDF = b"%PDF-1.4\n% a test upload\n%%EOF\n"
TIMEOUT_S = 1.0  # the Redis caches' time limit in these tests (the service's default is 0.25 s)
DEAD_REDIS = "redis://127.0.0.1:1/0"  # nothing listens on port 1


@pytest.fixture(params=["memory", "redis"])
def cache(request: pytest.FixtureRequest) -> Iterator[JobCache]:
    if request.param == "memory":
        yield MemoryJobCache()
        return
    job_cache = RedisJobCache(request.getfixturevalue("redis_url"), TIMEOUT_S)
    yield job_cache
    job_cache.close()


# --- the cache contract -----------------------------------------------------------------------------------


def test_add_stores_only_when_absent(cache: JobCache) -> None:
    assert cache.get("j") is None
    cache.add("j", b'{"v":1}', 60)
    cache.add("j", b'{"v":2}', 60)
    assert cache.get("j") == b'{"v":1}'


def test_a_change_marker_hides_the_entry_and_blocks_adds(cache: JobCache) -> None:
    cache.add("j", b'{"v":1}', 60)
    cache.mark_changed("j", 60)
    assert cache.get("j") is None
    cache.add("j", b'{"v":2}', 60)
    assert cache.get("j") is None


def test_aget_on_the_event_loop_reads_what_get_reads(cache: JobCache) -> None:
    cache.add("doc", b'{"v":1}', 60)
    cache.add("gone", b'{"v":1}', 60)
    cache.mark_changed("gone", 60)

    async def read() -> list[bytes | None]:
        return [await cache.aget(job_id) for job_id in ("doc", "gone", "absent")]

    assert asyncio.run(read()) == [cache.get("doc"), None, None] == [b'{"v":1}', None, None]


def test_entries_and_markers_expire(cache: JobCache) -> None:
    cache.add("a", b"{}", 0.001)
    cache.mark_changed("b", 0.001)
    # Expiry is checked against each store's clock; wait for it without sleeping a fixed time.
    wait_for(lambda: cache.get("a") is None, timeout=5)
    wait_for(lambda: (cache.add("b", b'{"v":3}', 60), cache.get("b"))[1] == b'{"v":3}', timeout=5)


def test_memory_cache_is_bounded_in_bytes_and_never_evicts_markers() -> None:
    cache = MemoryJobCache(max_bytes=10)
    for name in "abc":
        cache.add(name, b"1234", 60)  # 12 bytes would not fit: the least recently used goes
    assert [cache.get(name) for name in "abc"] == [None, b"1234", b"1234"]
    cache.mark_changed("b", 60)  # frees b's bytes; the marker takes none
    for name in "defgh":
        cache.add(name, b"1234", 60)  # pressure evicts documents, never the marker
    cache.add("b", b"stale", 60)
    assert cache.get("b") is None
    assert [cache.get(name) for name in "gh"] == [b"1234", b"1234"]
    cache.add("huge", b"x" * 11, 60)  # larger than the whole cache: not stored
    assert cache.get("huge") is None


def test_an_unreachable_redis_is_a_miss_not_an_error() -> None:
    cache = build_job_cache(DEAD_REDIS, timeout_s=0.2)
    cache.add("j", b"{}", 60)
    cache.mark_changed("j", 60)
    assert cache.get("j") is None
    assert asyncio.run(cache.aget("j")) is None
    cache.close()


def test_while_redis_is_down_failed_reads_are_logged_once_per_period(
    caplog: pytest.LogCaptureFixture,
) -> None:
    cache = build_job_cache(DEAD_REDIS, timeout_s=0.2)

    async def reads() -> list[bytes | None]:
        return [await cache.aget("j") for _ in range(5)]

    with caplog.at_level(logging.WARNING, logger="schedgen.adapters.cache"):
        assert asyncio.run(reads()) == [None] * 5
        assert [cache.get("j") for _ in range(5)] == [None] * 5
    assert [r.getMessage().split(":")[0] for r in caplog.records] == ["job cache unavailable (get)"]
    cache.close()


def test_a_redis_that_does_not_answer_is_a_miss_within_the_time_limit() -> None:
    with socket.create_server(("127.0.0.1", 0)) as silent:  # connections queue, nothing is ever read
        port = silent.getsockname()[1]
        cache = build_job_cache(f"redis://127.0.0.1:{port}/0", timeout_s=0.2)
        started = time.monotonic()
        assert asyncio.run(cache.aget("j")) is None
        assert time.monotonic() - started < 2
        cache.close()


# --- the event loops' connections ------------------------------------------------------------------------


def _connections(url: str, name: str) -> int:
    with redis.Redis.from_url(url) as admin:
        return sum(1 for client in admin.client_list() if client.get("name") == name)


def test_each_event_loop_has_its_own_connections_closed_with_the_loop(redis_url: str) -> None:
    name = f"job-cache-test-{uuid.uuid4().hex[:8]}"  # names the cache's connections on the server
    cache = RedisJobCache(f"{redis_url}?client_name={name}", TIMEOUT_S)
    cache.add("j", b'{"v":1}', 60)
    during: list[int] = []

    async def reads() -> list[bytes | None]:
        found = list(await asyncio.gather(*(cache.aget("j") for _ in range(4))))
        during.append(_connections(redis_url, name))
        return found

    def one_loop() -> None:
        assert asyncio.run(reads()) == [b'{"v":1}'] * 4

    threads = [threading.Thread(target=one_loop) for _ in range(3)]  # three loops at once, one cache
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    one_loop()  # and a fourth after them
    assert len(during) == 4
    assert min(during) >= 1
    cache.close()  # the blocking client's connection
    wait_for(lambda: _connections(redis_url, name) == 0, timeout=5)  # every loop closed its connections


def test_aclose_closes_the_running_loops_connections_which_reopen_on_use(redis_url: str) -> None:
    name = f"job-cache-test-{uuid.uuid4().hex[:8]}"
    cache = RedisJobCache(f"{redis_url}?client_name={name}", TIMEOUT_S)
    cache.add("j", b"{}", 60)
    cache.close()

    async def scenario() -> None:
        assert await cache.aget("j") == b"{}"
        assert _connections(redis_url, name) == 1
        await cache.aclose()
        assert await asyncio.to_thread(wait_for, lambda: _connections(redis_url, name) == 0, 5)
        assert await cache.aget("j") == b"{}"

    asyncio.run(scenario())
    wait_for(lambda: _connections(redis_url, name) == 0, timeout=5)


def test_a_connection_the_server_closed_is_not_reused(redis_url: str) -> None:
    name = f"job-cache-test-{uuid.uuid4().hex[:8]}"
    cache = RedisJobCache(f"{redis_url}?client_name={name}", TIMEOUT_S)
    cache.add("j", b"{}", 60)
    cache.close()

    async def scenario() -> None:
        assert await cache.aget("j") == b"{}"
        with redis.Redis.from_url(redis_url) as admin:
            (idle,) = [c for c in admin.client_list() if c.get("name") == name]
            admin.client_kill_filter(_id=idle["id"])  # as a Redis restart or an idle timeout would
        assert await asyncio.to_thread(wait_for, lambda: _connections(redis_url, name) == 0, 5)
        assert await cache.aget("j") == b"{}"  # on a new connection, not a miss on the dead one

    asyncio.run(scenario())


# --- Property 4: after any sequence of job updates, a read never returns a stale status ----------------------


def _render(job: Job) -> bytes:
    return f"{job.status}|{job.attempts}|{job.error_code}|{job.kind}".encode()


def _truth(container: Container, job_id: str) -> bytes | None:
    job = get_job(container.jobs, job_id)
    return None if job is None else _render(job)


class Outcomes:
    """A parse stub whose result for the next call the test chooses."""

    fail = False

    def parse(self, data: bytes) -> Timetable:
        if self.fail:
            raise NotTimetableError()
        return Timetable(Kind.TESTS, ())


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Container, Outcomes]]:
    outcomes = Outcomes()
    container = build(Settings(data_dir=tmp_path_factory.mktemp("cache")), parse=outcomes.parse)
    yield container, outcomes
    container.close()


@pytest.fixture(scope="module")
def shared_redis_cache(redis_server_url: str) -> Iterator[RedisJobCache]:
    """One Redis cache for every example: each example reads on a new event loop, as tests and servers may."""
    job_cache = RedisJobCache(redis_server_url, TIMEOUT_S)
    yield job_cache
    job_cache.close()


async def _read_as_the_route_does(deps: JobDeps, job_id: str) -> bytes | None:
    """GET /api/jobs/{id}: the cache on the event loop, then, after a miss, the database in a thread."""
    document = await fetch_cached_document(deps, job_id)
    if document is None:
        document = await asyncio.to_thread(load_job_document, deps, job_id, _render)
    return document


OPS = st.lists(
    st.tuples(
        st.sampled_from(["upload", "process_ok", "process_fail", "delete", "expire", "read", "slow_read"]),
        st.integers(0, 3),
    ),
    min_size=1,
    max_size=25,
)


@pytest.mark.parametrize("reads", ["blocking", "event_loop"])
@pytest.mark.parametrize("kind", ["memory", "redis"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_reads_are_never_stale(
    kind: str,
    reads: str,
    request: pytest.FixtureRequest,
    stack: tuple[Container, Outcomes],
    ops: list[tuple[str, int]],
) -> None:
    container, outcomes = stack
    if kind == "redis":
        job_cache: JobCache = request.getfixturevalue("shared_redis_cache")
        with redis.Redis.from_url(request.getfixturevalue("redis_server_url")) as admin:
            admin.flushdb()
    else:
        job_cache = MemoryJobCache()
    deps = dataclasses.replace(container.jobs, cache=job_cache)
    ids: list[str] = []
    slow: list[tuple[str, Job]] = []  # readers that loaded a row and have not stored it yet
    with asyncio.Runner() as loop:  # a new event loop for each example

        def read(job_id: str) -> bytes | None:
            if reads == "event_loop":
                return loop.run(_read_as_the_route_does(deps, job_id))
            return read_job_document(deps, job_id, _render)

        for op, n in ops:
            target = ids[n % len(ids)] if ids else None
            if op == "upload" or target is None:
                ids.append(submit_upload(deps, owner="o", filename="f.pdf", chunks=[PDF]).id)
            elif op in ("process_ok", "process_fail"):
                outcomes.fail = op == "process_fail"
                process_job(deps, target)
            elif op == "delete":
                delete_job(deps, target)
            elif op == "expire":  # the retention sweep deletes the row, as after its expiry time
                with container.sessions.begin() as session:
                    repo.delete_jobs(session, [target])
                forget_cached(deps, [target])
            elif op == "slow_read":
                job = get_job(deps, target)
                if job is not None:
                    slow.append((target, job))
            if op == "read" or (op == "slow_read" and n % 2):
                # A slow reader finishes: it stores what it loaded earlier, as load_job_document would.
                for job_id, loaded in slow:
                    if loaded.status in (JobStatus.COMPLETED, JobStatus.FAILED):
                        job_cache.add(job_id, _render(loaded), 3600)
                slow.clear()
            for job_id in ids:
                assert read(job_id) == _truth(container, job_id)


# --- GET /api/jobs/{id}: one cache lookup, on the event loop; the database after a miss or an outage -------


class CountingJobCache:
    """A memory cache that counts lookups, blocking and on the event loop."""

    def __init__(self) -> None:
        self.memory = MemoryJobCache()
        self.gets = self.agets = 0

    def get(self, job_id: str) -> bytes | None:
        self.gets += 1
        return self.memory.get(job_id)

    async def aget(self, job_id: str) -> bytes | None:
        self.agets += 1
        return self.memory.get(job_id)

    def add(self, job_id: str, document: bytes, ttl_s: float) -> None:
        self.memory.add(job_id, document, ttl_s)

    def mark_changed(self, job_id: str, ttl_s: float) -> None:
        self.memory.mark_changed(job_id, ttl_s)

    async def aclose(self) -> None:
        pass

    def close(self) -> None:
        pass


@pytest.fixture
def embedded(tmp_path: Path) -> Iterator[Container]:
    container = build(Settings(data_dir=tmp_path / "data", in_process_workers=0), parse=Outcomes().parse)
    yield container
    container.close()


def _finished_job(container: Container) -> str:
    job_id = submit_upload(container.jobs, owner="o", filename="f.pdf", chunks=[PDF]).id
    process_job(container.jobs, job_id)
    return job_id


def _expected(container: Container, job_id: str) -> dict[str, object]:
    job = get_job(container.jobs, job_id)
    assert job is not None
    assert job.status == JobStatus.COMPLETED
    return JobOut.of(job).model_dump(mode="json")


def test_a_get_looks_in_the_cache_once_on_the_event_loop(embedded: Container) -> None:
    counting = CountingJobCache()
    embedded.jobs = dataclasses.replace(embedded.jobs, cache=counting)
    job_id = _finished_job(embedded)
    with TestClient(create_app(embedded.settings, embedded)) as client:
        first = client.get(f"/api/jobs/{job_id}")  # a miss: the database, then stored
        second = client.get(f"/api/jobs/{job_id}")  # a hit
        missing = client.get(f"/api/jobs/{uuid.uuid4()}")
    assert first.json() == second.json() == _expected(embedded, job_id)
    assert first.headers["etag"] == second.headers["etag"]
    assert missing.status_code == 404
    assert (counting.agets, counting.gets) == (3, 0)
    assert counting.memory.get(job_id) == first.content


def test_a_get_answers_from_the_database_while_redis_is_down(embedded: Container) -> None:
    embedded.jobs = dataclasses.replace(embedded.jobs, cache=RedisJobCache(DEAD_REDIS, 0.2))
    job_id = _finished_job(embedded)
    with TestClient(create_app(embedded.settings, embedded)) as client:
        responses = [client.get(f"/api/jobs/{job_id}") for _ in range(3)]
        missing = client.get(f"/api/jobs/{uuid.uuid4()}")
    assert [r.status_code for r in responses] == [200, 200, 200]
    assert all(r.json() == _expected(embedded, job_id) for r in responses)
    assert missing.status_code == 404
