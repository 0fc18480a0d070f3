"""Behaviour every BlobStore must show; each store's test class inherits it and provides a `store` fixture."""

from __future__ import annotations

import hashlib
import threading
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

from schedgen.adapters.blobstore import (
    BlobStore,
    sweep_blobs,
)
from schedgen.errors import BlobNotFoundError, BlobTooLargeError, FileTooLargeError

KEY = "uploads/2026/11/22/0f6c1d7e-3b8a-4c55-9d7e-2a1b3c4d5e6f.pdf"
OTHER = "uploads/2026/11/23/5a4b3c2d-1e0f-4a9b-8c7d-6e5f4a3b2c1d.pdf"
FAR_FUTURE = datetime(9999, 1, 1, tzinfo=UTC)
MIB = 1024 * 1024
INVALID_KEYS = [
    "",
    "/uploads/a.pdf",
    "../a.pdf",
    "uploads/../a.pdf",
    "uploads/a..pdf",
    "uploads/./a.pdf",
    ".",
    "uploads//a.pdf",
    "uploads/",
    "uploads/a b.pdf",
    "uploads\\a.pdf",
    "uploads/ä.pdf",
    "uploads/a.pdf\n",
    "uploads/a~.pdf",
    "x" * 256,
    "a/" * 512 + "b",
]
PROPERTY_SETTINGS = settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
# a model of the store: keys laid out so that no key is also another key's folder
MODEL_KEYS = st.sampled_from(["a.pdf", "uploads/b.pdf", "uploads/c.pdf", "uploads/2026/11/22/d.pdf"])
OPERATIONS = st.lists(
    st.tuples(st.sampled_from(["put", "put_too_large", "delete"]), MODEL_KEYS, st.binary(max_size=40)),
    max_size=12,
)


def pattern_chunks(count: int, size: int) -> Iterator[bytes]:
    """A stream of count chunks of size bytes each, made one at a time (chunk i is filled with i % 251)."""
    for index in range(count):
        yield bytes([index % 251]) * size


def all_keys(store: BlobStore) -> set[str]:
    """Every key in the store (everything is older than the year 9999)."""
    return set(store.keys_older_than(FAR_FUTURE))


class BlobStoreContract:
    """Tests shared by every BlobStore; a subclass defines `store` and `assert_nothing_left`."""

    def assert_nothing_left(self, store: BlobStore) -> None:
        """Fail if anything at all (a blob, a temporary file, an unfinished upload) is left in the store."""
        raise NotImplementedError

    def test_delete_many_removes_those_keys_and_ignores_missing_ones(self, store: BlobStore) -> None:
        for name in ("a", "b", "c"):
            store.put(f"many/{name}.pdf", [b"%PDF-" + name.encode()], max_bytes=1024)
        store.delete_many(["many/a.pdf", "many/c.pdf", "many/never-there.pdf"])
        assert all_keys(store) == {"many/b.pdf"}
        store.delete_many([])

    def test_put_then_get_returns_the_bytes(self, store: BlobStore) -> None:
        assert store.put(KEY, [b"%PDF-", b"1.7\n", b"%%EOF"], max_bytes=100) == 14
        assert store.get(KEY) == b"%PDF-1.7\n%%EOF"

    def test_put_of_an_empty_stream_stores_an_empty_blob(self, store: BlobStore) -> None:
        assert store.put(KEY, [], max_bytes=10) == 0
        assert store.get(KEY) == b""

    def test_put_replaces_the_previous_blob(self, store: BlobStore) -> None:
        store.put(KEY, [b"first version"], max_bytes=100)
        store.put(KEY, [b"second"], max_bytes=100)
        assert store.get(KEY) == b"second"

    def test_put_streams_many_small_chunks(self, store: BlobStore) -> None:
        count, size = 9 * 64, 16 * 1024  # 9 MiB in 16 KiB chunks
        expected = hashlib.sha256(b"".join(pattern_chunks(count, size))).hexdigest()
        assert store.put(KEY, pattern_chunks(count, size), max_bytes=10 * MIB) == count * size
        assert hashlib.sha256(store.get(KEY)).hexdigest() == expected

    def test_put_never_holds_the_whole_stream_in_memory(self, store: BlobStore) -> None:
        tracemalloc.start()
        try:
            store.put(KEY, pattern_chunks(8 * 16, 64 * 1024), max_bytes=10 * MIB)  # 8 MiB
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 4 * MIB

    def test_put_of_exactly_max_bytes_is_accepted(self, store: BlobStore) -> None:
        assert store.put(KEY, [b"12345", b"67890"], max_bytes=10) == 10

    def test_too_large_stream_is_refused_and_leaves_nothing(self, store: BlobStore) -> None:
        with pytest.raises(BlobTooLargeError) as raised:
            store.put(KEY, pattern_chunks(64, 1024), max_bytes=64 * 1024 - 1)
        assert isinstance(raised.value, FileTooLargeError)
        assert raised.value.code == "FILE_TOO_LARGE"
        with pytest.raises(BlobNotFoundError):
            store.get(KEY)
        self.assert_nothing_left(store)

    def test_too_large_stream_stops_reading_at_the_limit(self, store: BlobStore) -> None:
        served: list[int] = []

        def endless() -> Iterator[bytes]:
            while True:
                served.append(1)
                yield b"x" * 1024

        with pytest.raises(BlobTooLargeError):
            store.put(KEY, endless(), max_bytes=10 * 1024)
        assert len(served) == 11

    def test_too_large_stream_keeps_the_previous_blob(self, store: BlobStore) -> None:
        store.put(KEY, [b"good"], max_bytes=100)
        with pytest.raises(BlobTooLargeError):
            store.put(KEY, [b"far too long"], max_bytes=5)
        assert store.get(KEY) == b"good"
        assert all_keys(store) == {KEY}

    def test_failing_stream_propagates_and_leaves_nothing(self, store: BlobStore) -> None:
        def broken() -> Iterator[bytes]:
            yield b"%PDF-1.7 partial"
            raise ConnectionResetError("client went away")

        with pytest.raises(ConnectionResetError):
            store.put(KEY, broken(), max_bytes=MIB)
        self.assert_nothing_left(store)

    def test_blob_is_invisible_until_put_completes(self, store: BlobStore) -> None:
        store.put(KEY, [b"old"], max_bytes=100)
        seen: list[bytes] = []

        def watched() -> Iterator[bytes]:
            yield b"new "
            seen.append(store.get(KEY))
            assert all_keys(store) == {KEY}
            with pytest.raises(BlobNotFoundError):
                store.get(OTHER)
            yield b"content"

        store.put(KEY, watched(), max_bytes=100)
        assert seen == [b"old"]
        assert store.get(KEY) == b"new content"

    def test_get_of_a_missing_key_raises_blob_not_found(self, store: BlobStore) -> None:
        with pytest.raises(BlobNotFoundError) as raised:
            store.get(KEY)
        assert raised.value.code == "BLOB_NOT_FOUND"

    def test_delete_removes_and_is_idempotent(self, store: BlobStore) -> None:
        store.put(KEY, [b"data"], max_bytes=100)
        store.put(OTHER, [b"other"], max_bytes=100)
        store.delete(KEY)
        store.delete(KEY)
        store.delete("uploads/never/stored.pdf")
        with pytest.raises(BlobNotFoundError):
            store.get(KEY)
        assert store.get(OTHER) == b"other"

    @pytest.mark.parametrize("key", INVALID_KEYS)
    def test_invalid_keys_are_rejected(self, store: BlobStore, key: str) -> None:
        with pytest.raises(ValueError, match="invalid blob key"):
            store.put(key, [b"data"], max_bytes=100)
        with pytest.raises(ValueError, match="invalid blob key"):
            store.get(key)
        with pytest.raises(ValueError, match="invalid blob key"):
            store.delete(key)

    def test_negative_max_bytes_is_rejected(self, store: BlobStore) -> None:
        with pytest.raises(ValueError, match="max_bytes"):
            store.put(KEY, [b"data"], max_bytes=-1)

    def test_keys_older_than_a_future_cutoff_are_all_keys(self, store: BlobStore) -> None:
        store.put(KEY, [b"a"], max_bytes=10)
        store.put(OTHER, [b"b"], max_bytes=10)
        now = datetime.now(UTC)
        assert set(store.keys_older_than(now + timedelta(hours=1))) == {KEY, OTHER}
        assert list(store.keys_older_than(now - timedelta(hours=1))) == []

    def test_keys_older_than_needs_an_aware_cutoff(self, store: BlobStore) -> None:
        with pytest.raises(ValueError, match="timezone-aware"):
            list(store.keys_older_than(datetime(2026, 1, 1)))  # naive on purpose

    def test_sweep_deletes_only_blobs_older_than_max_age(self, store: BlobStore) -> None:
        store.put(KEY, [b"a"], max_bytes=10)
        store.put(OTHER, [b"b"], max_bytes=10)
        now = datetime.now(UTC)
        assert sweep_blobs(store, now=now, max_age=timedelta(hours=24)) == 0
        assert all_keys(store) == {KEY, OTHER}
        assert sweep_blobs(store, now=now + timedelta(hours=25), max_age=timedelta(hours=24)) == 2
        assert all_keys(store) == set()

    def test_concurrent_puts_of_different_keys(self, store: BlobStore) -> None:
        keys = [f"uploads/2026/11/{day:02d}/{n}.pdf" for day in (1, 2) for n in range(12)]
        payload = {key: key.encode() * 500 for key in keys}
        start = threading.Barrier(8)

        def put(key: str) -> int:
            start.wait(timeout=10)  # eight at a time begin together
            return store.put(key, [payload[key][:100], payload[key][100:]], max_bytes=MIB)

        with ThreadPoolExecutor(max_workers=8) as pool:
            sizes = list(pool.map(put, keys))
        assert sizes == [len(payload[key]) for key in keys]
        assert all_keys(store) == set(keys)
        assert all(store.get(key) == payload[key] for key in keys)

    def test_concurrent_puts_of_one_key_leave_one_whole_blob(self, store: BlobStore) -> None:
        payloads = [bytes([n]) * (64 * 1024) for n in range(8)]
        start = threading.Barrier(len(payloads))

        def put(payload: bytes) -> int:
            start.wait(timeout=10)
            return store.put(KEY, [payload[:1000], payload[1000:]], max_bytes=MIB)

        with ThreadPoolExecutor(max_workers=len(payloads)) as pool:
            list(pool.map(put, payloads))
        assert store.get(KEY) in payloads
        assert all_keys(store) == {KEY}

    def test_check_passes_on_a_working_store(self, store: BlobStore) -> None:
        store.check()


def check_operations(store: BlobStore, operations: list[tuple[str, str, bytes]]) -> None:
    """Apply puts, refused puts and deletes to an emptied store; it must then hold exactly what a dict would.

    Each store's test class runs this under its own @given (Hypothesis keys its state on the test function).
    """
    for key in all_keys(store):  # one store serves every example: start each from empty
        store.delete(key)
    expected: dict[str, bytes] = {}
    for operation, key, data in operations:
        if operation == "put":
            store.put(key, [data[:7], data[7:]], max_bytes=len(data))
            expected[key] = data
        elif operation == "put_too_large":
            with pytest.raises(BlobTooLargeError):
                store.put(key, [data, b"!"], max_bytes=len(data))
        else:
            store.delete(key)
            expected.pop(key, None)
    assert all_keys(store) == set(expected)
    assert {key: store.get(key) for key in expected} == expected
