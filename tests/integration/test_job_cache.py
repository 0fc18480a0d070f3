"""The finished-job cache (seeds R4): memory and real Redis, and Property 4 - a read is never stale."""

from __future__ import annotations

import dataclasses
import json
import zlib
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
import redis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from schedgen.adapters.cache import (
    KEY_PREFIX,
    AsyncJobDocuments,
    JobCache,
    MemoryJobCache,
    NearCopy,
    RedisJobCache,
    build_job_cache,
    open_async_job_documents,
)
from schedgen.adapters.db import jobs as repo
from schedgen.bootstrap import Container, build
from schedgen.config import Settings
from schedgen.domain.events import Kind, Timetable
from schedgen.domain.jobs import Job, JobStatus
from schedgen.errors import NotTimetableError
from schedgen.services.jobs import (
    delete_job,
    forget_cached,
    get_job,
    peek_job_document,
    process_job,
    read_job_document,
    submit_upload,
)
from tests.support.waiting import wait_for, wait_for_async
from tests.support.webapps import run_async

PDF = b"%PDF-1.4\n% a test upload\n%%EOF\n"


@pytest.fixture(params=["memory", "redis"])
def cache(request: pytest.FixtureRequest) -> Iterator[JobCache]:
    if request.param == "memory":
        yield MemoryJobCache()
        return
    url = request.getfixturevalue("redis_url")
    client = redis.Redis.from_url(url)
    yield RedisJobCache(client)
    client.close()


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


def test_entries_and_markers_expire(cache: JobCache) -> None:
    cache.add("a", b"{}", 0.001)
    cache.mark_changed("b", 0.001)
    # Expiry is checked against each store's clock; wait for it without sleeping a fixed time.
    wait_for(lambda: cache.get("a") is None, timeout=5)
    wait_for(lambda: (cache.add("b", b'{"v":3}', 60), cache.get("b"))[1] == b'{"v":3}', timeout=5)


def test_memory_cache_is_bounded_in_bytes_and_never_evicts_markers() -> None:
    document = b'{"v":1234}'
    stored = len(zlib.compress(document, 1))  # documents are kept compressed
    cache = MemoryJobCache(max_bytes=2 * stored + 1)
    for name in "abc":
        cache.add(name, document, 60)  # three would not fit: the least recently used goes
    assert [cache.get(name) for name in "abc"] == [None, document, document]
    cache.mark_changed("b", 60)  # frees b's bytes; the marker takes none
    for name in "defgh":
        cache.add(name, document, 60)  # pressure evicts documents, never the marker
    cache.add("b", b"stale", 60)
    assert cache.get("b") is None
    assert [cache.get(name) for name in "gh"] == [document, document]
    cache.add("huge", bytes(range(256)) * 2, 60)  # incompressible, larger than the whole cache: not stored
    assert cache.get("huge") is None


def test_memory_cache_holds_documents_compressed() -> None:
    events = [
        {"title": f"COS 132 L{n % 3 + 1}", "start": f"2026-03-{n % 28 + 1:02d}T08:30:00+02:00"}
        for n in range(60)
    ]
    document = json.dumps({"status": "completed", "events": events}).encode()
    cache = MemoryJobCache(max_bytes=len(document))  # room for one as they come, for several compressed
    for name in "abcde":
        cache.add(name, document, 60)
    assert [cache.get(name) for name in "abcde"] == [document] * 5


def test_an_unreachable_redis_is_a_miss_not_an_error() -> None:
    cache = build_job_cache("redis://127.0.0.1:1/0", timeout_s=0.2)
    cache.add("j", b"{}", 60)
    cache.mark_changed("j", 60)
    assert cache.get("j") is None


def test_the_event_loop_reader_sees_what_the_cache_holds(redis_url: str) -> None:
    client = redis.Redis.from_url(redis_url)
    cache = RedisJobCache(client)
    cache.add("done", b'{"status":"completed"}', 60)
    cache.add("gone", b'{"status":"failed"}', 60)
    cache.mark_changed("gone", 60)

    async def read(*job_ids: str) -> list[bytes | None]:
        reader = open_async_job_documents(redis_url, timeout_s=1.0)
        assert reader is not None
        try:
            return [await reader.get(job_id) for job_id in job_ids]
        finally:
            await reader.close()

    try:
        assert run_async(read("done", "gone", "absent")) == [b'{"status":"completed"}', None, None]
    finally:
        client.close()


def test_the_event_loop_reader_takes_an_unreachable_redis_as_a_miss() -> None:
    assert open_async_job_documents(None, timeout_s=0.2) is None  # embedded: the memory cache needs none

    async def read() -> bytes | None:
        reader = open_async_job_documents("redis://127.0.0.1:1/0", timeout_s=0.2)
        assert reader is not None
        try:
            return await reader.get("j")
        finally:
            await reader.close()

    assert run_async(read()) is None


# --- the API's near cache: a copy in each process, kept fresh by the changes published on Redis --------------

DOC = b'{"status":"completed"}'


def _near_reader(redis_url: str, near: NearCopy | None = None) -> AsyncJobDocuments:
    reader = open_async_job_documents(redis_url, timeout_s=1.0, near=near or NearCopy(64 * 1024, 60))
    assert reader is not None
    assert reader.near is not None
    return reader


def _live(reader: AsyncJobDocuments) -> bool:
    return reader.near is not None and reader.near.live


def _generation(reader: AsyncJobDocuments) -> int:
    assert reader.near is not None
    return reader.near.generation


def _run_live(
    redis_url: str, steps: Callable[[AsyncJobDocuments], Awaitable[Any]], near: NearCopy | None = None
) -> Any:
    """Open a reader with a near copy, wait until it follows the change feed, run the steps, close it."""

    async def scenario() -> Any:
        reader = _near_reader(redis_url, near)
        try:
            await wait_for_async(lambda: _live(reader), timeout=10)
            return await steps(reader)
        finally:
            await reader.close()

    return run_async(scenario())


@pytest.fixture
def shared(redis_url: str) -> Iterator[redis.Redis]:
    """A client of the test's Redis whose cache holds DOC for job "done"."""
    client = redis.Redis.from_url(redis_url)
    RedisJobCache(client).add("done", DOC, 60)
    yield client
    client.close()


def test_the_near_cache_answers_again_without_redis(redis_url: str, shared: redis.Redis) -> None:
    client = shared

    async def steps(reader: AsyncJobDocuments) -> tuple[bytes | None, bytes | None]:
        first = await reader.get("done")
        client.delete(KEY_PREFIX + "done")  # gone from Redis behind the cache's back (no change published)
        return first, await reader.get("done")

    assert _run_live(redis_url, steps) == (DOC, DOC)


def test_a_change_published_by_another_process_empties_the_near_copy(
    redis_url: str, shared: redis.Redis
) -> None:
    other_process = RedisJobCache(shared)

    async def steps(reader: AsyncJobDocuments) -> tuple[bytes | None, bytes | None]:
        before = await reader.get("done")
        heard = _generation(reader)
        other_process.mark_changed("done", 60)
        await wait_for_async(lambda: _generation(reader) > heard, timeout=10)
        return before, await reader.get("done")

    assert _run_live(redis_url, steps) == (DOC, None)


def test_a_read_under_way_when_a_change_arrives_is_not_kept(redis_url: str, shared: redis.Redis) -> None:
    client = shared

    async def steps(reader: AsyncJobDocuments) -> tuple[bytes | None, bytes | None]:
        heard = _generation(reader)
        redis_get = reader._redis.get

        async def get_while_a_change_is_published(key: str) -> object:
            value = await redis_get(key)
            RedisJobCache(client).mark_changed("other-job", 60)  # any change, heard before we return
            await wait_for_async(lambda: _generation(reader) > heard, timeout=10)
            return value

        reader._redis.get = get_while_a_change_is_published  # type: ignore[method-assign]
        first = await reader.get("done")
        reader._redis.get = redis_get  # type: ignore[method-assign]
        client.delete(KEY_PREFIX + "done")
        return first, await reader.get("done")  # not from the near copy: it was not kept

    assert _run_live(redis_url, steps) == (DOC, None)


def test_a_lost_subscription_empties_the_near_copy_until_it_is_back(
    redis_url: str, shared: redis.Redis
) -> None:
    client = shared

    async def steps(reader: AsyncJobDocuments) -> tuple[bytes | None, bytes | None]:
        first = await reader.get("done")
        client.delete(KEY_PREFIX + "done")
        heard = _generation(reader)
        killed = client.client_kill_filter(_type="pubsub")  # as if the connection dropped
        assert killed >= 1
        await wait_for_async(lambda: _generation(reader) > heard and _live(reader), timeout=10)
        return first, await reader.get("done")  # the near copy was dropped: Redis has nothing

    assert _run_live(redis_url, steps) == (DOC, None)


def test_a_change_made_in_this_process_is_seen_by_its_next_read_at_once(
    redis_url: str, shared: redis.Redis
) -> None:
    near = NearCopy(64 * 1024, 60)
    own = RedisJobCache(shared, near)

    async def steps(reader: AsyncJobDocuments) -> tuple[bytes | None, bytes | None]:
        before = await reader.get("done")
        own.mark_changed("done", 60)  # no waiting for the feed: this process forgot it already
        return before, await reader.get("done")

    assert _run_live(redis_url, steps, near) == (DOC, None)


def test_without_its_subscription_the_near_copy_is_not_used() -> None:
    near = NearCopy(64 * 1024, 60)
    near.documents.add("j", DOC, 60)  # held, but the change feed never started

    async def scenario() -> tuple[bool, bytes | None]:
        reader = open_async_job_documents("redis://127.0.0.1:1/0", timeout_s=0.2, near=near)
        assert reader is not None
        try:
            return near.live, await reader.get("j")
        finally:
            await reader.close()

    assert run_async(scenario()) == (False, None)


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


OPS = st.lists(
    st.tuples(
        st.sampled_from(["upload", "process_ok", "process_fail", "delete", "expire", "read", "slow_read"]),
        st.integers(0, 3),
    ),
    min_size=1,
    max_size=25,
)


@pytest.mark.parametrize("kind", ["memory", "redis"])
@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=OPS)
def test_reads_are_never_stale(
    kind: str, request: pytest.FixtureRequest, stack: tuple[Container, Outcomes], ops: list[tuple[str, int]]
) -> None:
    container, outcomes = stack
    if kind == "redis":
        client = redis.Redis.from_url(request.getfixturevalue("redis_server_url"), db=15)
        client.flushdb()
        job_cache: JobCache = RedisJobCache(client)
    else:
        job_cache = MemoryJobCache()
    deps = dataclasses.replace(container.jobs, cache=job_cache)
    ids: list[str] = []
    slow: list[tuple[str, Job]] = []  # readers that loaded a row and have not stored it yet
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
            # A slow reader finishes: it stores what it loaded earlier, as read_job_document would.
            for job_id, loaded in slow:
                if loaded.status in (JobStatus.COMPLETED, JobStatus.FAILED):
                    job_cache.add(job_id, _render(loaded), 3600)
            slow.clear()
        for job_id in ids:
            assert read_job_document(deps, job_id, _render) == _truth(container, job_id)


@pytest.mark.parametrize("kind", ["memory", "redis"])
def test_peek_answers_from_process_memory_only(
    kind: str, request: pytest.FixtureRequest, stack: tuple[Container, Outcomes]
) -> None:
    container, outcomes = stack
    if kind == "redis":
        client = redis.Redis.from_url(request.getfixturevalue("redis_url"))
        job_cache: JobCache = RedisJobCache(client)
    else:
        job_cache = MemoryJobCache()
    deps = dataclasses.replace(container.jobs, cache=job_cache)
    outcomes.fail = False
    job_id = submit_upload(deps, owner="o", filename="f.pdf", chunks=[PDF]).id
    process_job(deps, job_id)
    assert peek_job_document(deps, job_id) is None  # nothing cached yet
    document = read_job_document(deps, job_id, _render)  # a miss that caches the finished job
    assert job_cache.get(job_id) == document
    assert peek_job_document(deps, job_id) == (document if kind == "memory" else None)
    delete_job(deps, job_id)
    assert peek_job_document(deps, job_id) is None
