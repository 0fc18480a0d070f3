"""S3BlobStore against a real S3 HTTP endpoint (moto_server): the shared BlobStore behaviour, plus buckets,
paging, client settings and an endpoint that is down. A boto3 client (a test dependency) inspects the bucket
from outside, as an operator would."""

from __future__ import annotations

import socket
import threading
import time
import tracemalloc
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given
from pydantic import SecretStr

from schedgen.adapters.blobstore import (
    LARGE_PUTS,
    SPOOL_MEMORY_BYTES,
    BlobStore,
    S3BlobStore,
    S3Options,
    build_blobstore,
    build_s3_store,
    sweep_blobs,
)
from schedgen.config import Settings
from schedgen.errors import BlobStoreUnavailableError
from tests.support.blobstore_contract import (
    KEY,
    MIB,
    OPERATIONS,
    PROPERTY_SETTINGS,
    BlobStoreContract,
    all_keys,
    check_operations,
    pattern_chunks,
)


def s3_settings(endpoint: str, bucket: str = "unused", region: str = "us-east-1") -> Settings:
    """Settings for an S3 endpoint that accepts any credentials."""
    return Settings(
        s3_endpoint_url=endpoint,
        s3_bucket=bucket,
        s3_access_key=SecretStr("testing-access"),
        s3_secret_key=SecretStr("testing-secret"),
        s3_region=region,
    )


def unused_port() -> int:
    """A loopback port nothing listens on (bound once by us, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def bucket_name() -> str:
    return f"schedgen-test-{uuid.uuid4().hex[:16]}"


def empty_and_remove(client: Any, bucket: str) -> None:
    """Delete every object, unfinished upload and then the bucket itself."""
    for upload in client.list_multipart_uploads(Bucket=bucket).get("Uploads", []):
        client.abort_multipart_upload(Bucket=bucket, Key=upload["Key"], UploadId=upload["UploadId"])
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket):
        for item in page.get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
    client.delete_bucket(Bucket=bucket)


def admin_client(endpoint: str, region: str = "us-east-1") -> Any:
    """A plain boto3 client to look at buckets from outside the adapter."""
    import boto3

    return boto3.session.Session().client(
        "s3",
        endpoint_url=endpoint,
        region_name=region,
        aws_access_key_id="testing-access",
        aws_secret_access_key="testing-secret",
    )


@pytest.fixture(scope="module")
def s3_client(s3_endpoint: str) -> Any:
    return admin_client(s3_endpoint)


@pytest.fixture
def make_store(s3_endpoint: str, s3_client: Any) -> Iterator[Callable[..., S3BlobStore]]:
    """Build stores on fresh buckets (created), removed again after the test."""
    buckets: list[str] = []

    def make(**options: Any) -> S3BlobStore:
        store = build_s3_store(s3_settings(s3_endpoint, bucket_name()))
        if "page_size" in options:
            store.page_size = options.pop("page_size")
        store.ensure_bucket()
        buckets.append(store.bucket)
        return store

    yield make
    for bucket in buckets:
        empty_and_remove(s3_client, bucket)


class TestS3BlobStore(BlobStoreContract):
    """The shared suite against a bucket of its own on moto_server."""

    @pytest.fixture
    def store(self, make_store: Callable[..., S3BlobStore]) -> S3BlobStore:
        return make_store()

    @pytest.fixture(autouse=True)
    def _admin(self, s3_client: Any) -> None:
        self.admin = s3_client

    def assert_nothing_left(self, store: BlobStore) -> None:
        assert isinstance(store, S3BlobStore)
        assert self.admin.list_objects_v2(Bucket=store.bucket)["KeyCount"] == 0
        assert self.admin.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []

    def test_put_never_holds_the_whole_stream_in_memory(self, store: BlobStore) -> None:
        """S3 signs the body's hash, so a large body is read whole: LARGE_PUTS at a time, never more."""
        threads, size = 6, 3 * MIB
        start = threading.Barrier(threads)

        def put(number: int) -> int:
            start.wait()
            return store.put(
                f"large/{number}.pdf", pattern_chunks(size // (64 * 1024), 64 * 1024), max_bytes=size
            )

        tracemalloc.start()
        try:
            with ThreadPoolExecutor(threads) as pool:
                assert list(pool.map(put, range(threads))) == [size] * threads
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        bound = LARGE_PUTS * size + threads * SPOOL_MEMORY_BYTES  # bodies in flight + spools filling up
        assert peak < bound + MIB < threads * size

    @PROPERTY_SETTINGS
    @given(operations=OPERATIONS)
    def test_any_puts_and_deletes_leave_exactly_the_expected_blobs(
        self, store: BlobStore, operations: list[tuple[str, str, bytes]]
    ) -> None:
        check_operations(store, operations)


def test_a_large_stream_is_one_whole_object_and_no_unfinished_upload(
    make_store: Callable[..., S3BlobStore], s3_client: Any
) -> None:
    store = make_store()
    size = store.put(KEY, pattern_chunks(9 * 128, 8 * 1024), max_bytes=10 * MIB)  # 9 MiB in 8 KiB chunks
    assert size == 9 * MIB
    assert s3_client.head_object(Bucket=store.bucket, Key=KEY)["ContentLength"] == size
    assert s3_client.list_multipart_uploads(Bucket=store.bucket).get("Uploads", []) == []
    assert store.get(KEY) == b"".join(pattern_chunks(9 * 128, 8 * 1024))


def test_keys_are_listed_and_swept_across_many_pages(make_store: Callable[..., S3BlobStore]) -> None:
    store = make_store(page_size=2)
    keys = {f"uploads/2026/11/22/{n}.pdf" for n in range(7)}
    for key in keys:
        store.put(key, [key.encode()], max_bytes=100)
    now = datetime.now(UTC)
    assert set(store.keys_older_than(now + timedelta(minutes=5))) == keys
    assert sweep_blobs(store, now=now + timedelta(hours=25), max_age=timedelta(hours=24)) == 7
    assert all_keys(store) == set()


def test_objects_whose_names_are_not_keys_are_left_alone(
    make_store: Callable[..., S3BlobStore], s3_client: Any
) -> None:
    store = make_store()
    s3_client.put_object(Bucket=store.bucket, Key="someone else's/file name.txt", Body=b"not ours")
    store.put(KEY, [b"data"], max_bytes=100)
    assert sweep_blobs(store, now=datetime.now(UTC) + timedelta(days=2), max_age=timedelta(days=1)) == 1
    assert s3_client.list_objects_v2(Bucket=store.bucket)["KeyCount"] == 1


def test_ensure_bucket_creates_once_and_is_idempotent(s3_endpoint: str, s3_client: Any) -> None:
    store = build_s3_store(s3_settings(s3_endpoint, bucket_name()))
    with pytest.raises(BlobStoreUnavailableError):
        store.check()
    store.ensure_bucket()
    store.ensure_bucket()
    store.check()
    store.put(KEY, [b"data"], max_bytes=100)
    assert store.get(KEY) == b"data"
    empty_and_remove(s3_client, store.bucket)


def test_ensure_bucket_outside_us_east_1_gives_the_location(s3_endpoint: str) -> None:
    client = admin_client(s3_endpoint, region="af-south-1")
    store = build_s3_store(s3_settings(s3_endpoint, bucket_name(), region="af-south-1"))
    store.ensure_bucket()
    store.ensure_bucket()
    assert client.get_bucket_location(Bucket=store.bucket)["LocationConstraint"] == "af-south-1"
    store.put(KEY, [b"data"], max_bytes=100)  # requests are signed for that region
    assert store.get(KEY) == b"data"
    empty_and_remove(client, store.bucket)


def test_a_missing_bucket_makes_operations_storage_unavailable(s3_endpoint: str) -> None:
    store = build_s3_store(s3_settings(s3_endpoint, bucket_name()))
    with pytest.raises(BlobStoreUnavailableError):
        store.put(KEY, [b"data"], max_bytes=100)
    with pytest.raises(BlobStoreUnavailableError):
        store.get(KEY)  # no bucket is not "no such upload": the job must be retried, not failed
    with pytest.raises(BlobStoreUnavailableError):
        list(store.keys_older_than(datetime.now(UTC)))


def test_a_stopped_endpoint_is_reported_quickly_as_storage_unavailable() -> None:
    settings = s3_settings(f"http://127.0.0.1:{unused_port()}", bucket="uploads")
    store = build_s3_store(settings, S3Options(connect_timeout_s=0.5, request_timeout_s=0.5, max_retries=0))
    started = time.monotonic()
    with pytest.raises(BlobStoreUnavailableError) as raised:
        store.check()
    assert time.monotonic() - started < 2
    assert raised.value.code == "STORAGE_UNAVAILABLE"
    with pytest.raises(BlobStoreUnavailableError):
        store.put(KEY, [b"data"], max_bytes=100)
    with pytest.raises(BlobStoreUnavailableError):
        store.get(KEY)
    with pytest.raises(BlobStoreUnavailableError):
        store.delete(KEY)
    with pytest.raises(BlobStoreUnavailableError):
        list(store.keys_older_than(datetime.now(UTC)))
    with pytest.raises(BlobStoreUnavailableError):
        store.ensure_bucket()


def test_the_default_client_retries_a_refused_connection_briefly_then_gives_up() -> None:
    store = build_s3_store(s3_settings(f"http://127.0.0.1:{unused_port()}", bucket="uploads"))
    started = time.monotonic()
    with pytest.raises(BlobStoreUnavailableError):
        store.check()
    assert time.monotonic() - started < S3Options().retry_timeout_s


def test_build_blobstore_with_a_bucket_gives_s3_without_any_network() -> None:
    settings = s3_settings(f"http://127.0.0.1:{unused_port()}", bucket="schedgen-uploads")
    store = build_blobstore(settings)
    assert isinstance(store, S3BlobStore)
    assert store.bucket == "schedgen-uploads"
