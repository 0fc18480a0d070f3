"""LocalBlobStore: the shared BlobStore behaviour, plus what only files on a disk can show."""

from __future__ import annotations

import errno
import logging
import os
import stat
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import given

from schedgen.adapters import blobstore
from schedgen.adapters.blobstore import (
    BlobStore,
    DeferredDeletes,
    LocalBlobStore,
    build_blobstore,
    sweep_blobs,
)
from schedgen.config import Settings
from schedgen.errors import BlobStoreUnavailableError
from tests.support.blobstore_contract import (
    KEY,
    OPERATIONS,
    OTHER,
    PROPERTY_SETTINGS,
    BlobStoreContract,
    all_keys,
    check_operations,
)
from tests.support.waiting import wait_for

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)


def files_under(root: Path) -> list[Path]:
    """Every regular file below root, temporary ones included."""
    return sorted(path for path in root.rglob("*") if path.is_file())


def age(store: LocalBlobStore, key: str, moment: datetime) -> None:
    """Set a blob's mtime, as if it had been written at moment."""
    stamp = moment.timestamp()
    os.utime(store.root.joinpath(*key.split("/")), (stamp, stamp))


class TestLocalBlobStore(BlobStoreContract):
    """The shared suite against files in a temporary folder."""

    @pytest.fixture
    def store(self, tmp_path: Path) -> LocalBlobStore:
        return LocalBlobStore(tmp_path / "blobs")

    def assert_nothing_left(self, store: BlobStore) -> None:
        assert isinstance(store, LocalBlobStore)
        assert files_under(store.root) == []

    @PROPERTY_SETTINGS
    @given(operations=OPERATIONS)
    def test_any_puts_and_deletes_leave_exactly_the_expected_blobs(
        self, store: BlobStore, operations: list[tuple[str, str, bytes]]
    ) -> None:
        check_operations(store, operations)


def test_root_is_created_on_first_put_and_blob_sits_under_its_key(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    store.put(KEY, [b"%PDF-1.7"], max_bytes=100)
    assert files_under(store.root) == [store.root / KEY]


def test_blob_files_are_readable_by_their_owner_only(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put(KEY, [b"%PDF-1.7"], max_bytes=100)
    assert stat.S_IMODE((tmp_path / KEY).stat().st_mode) == 0o600


def test_put_fsyncs_the_file_before_renaming_it_and_the_folder_after(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    events: list[str] = []

    def recording(name: str, real: Callable[..., object]) -> Callable[..., object]:
        def call(*args: object) -> object:
            events.append(name)
            return real(*args)

        return call

    monkeypatch.setattr(os, "fsync", recording("fsync", os.fsync))
    monkeypatch.setattr(os, "replace", recording("replace", os.replace))
    LocalBlobStore(tmp_path).put(KEY, [b"data"], max_bytes=100)
    assert events == ["fsync", "replace", "fsync"]


def test_a_failing_disk_becomes_storage_unavailable_and_leaves_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def full(*_: object) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    store = LocalBlobStore(tmp_path)
    with pytest.raises(BlobStoreUnavailableError) as raised:
        store.put(KEY, [b"data"], max_bytes=100)
    assert raised.value.code == "STORAGE_UNAVAILABLE"
    assert isinstance(raised.value.__cause__, OSError)
    assert files_under(tmp_path) == []


def test_an_unusable_root_makes_every_operation_storage_unavailable(tmp_path: Path) -> None:
    root = tmp_path / "blobs"
    root.write_bytes(b"a file where the folder should be")
    store = LocalBlobStore(root)
    with pytest.raises(BlobStoreUnavailableError):
        store.check()
    with pytest.raises(BlobStoreUnavailableError):
        store.put(KEY, [b"data"], max_bytes=100)
    with pytest.raises(BlobStoreUnavailableError):
        list(store.keys_older_than(NOW))


def test_keys_older_than_compares_file_mtimes(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put(KEY, [b"old"], max_bytes=10)
    store.put(OTHER, [b"new"], max_bytes=10)
    age(store, KEY, NOW - timedelta(hours=30))
    age(store, OTHER, NOW - timedelta(hours=2))
    assert list(store.keys_older_than(NOW - timedelta(hours=24))) == [KEY]
    assert set(store.keys_older_than(NOW - timedelta(hours=1))) == {KEY, OTHER}
    assert list(store.keys_older_than(NOW - timedelta(hours=31))) == []


def test_keys_older_than_an_empty_or_missing_root_is_nothing(tmp_path: Path) -> None:
    assert list(LocalBlobStore(tmp_path / "never-created").keys_older_than(NOW)) == []


def test_sweep_deletes_only_the_old_blobs(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    old = ["uploads/2026/11/20/a.pdf", "uploads/2026/11/21/b.pdf"]
    new = ["uploads/2026/11/21/c.pdf", "uploads/2026/11/22/d.pdf"]
    for key in old + new:
        store.put(key, [key.encode()], max_bytes=100)
    for key in old:
        age(store, key, NOW - timedelta(hours=24, seconds=1))
    for key in new:
        age(store, key, NOW - timedelta(hours=23, minutes=59))
    assert sweep_blobs(store, now=NOW, max_age=timedelta(hours=24)) == 2
    assert all_keys(store) == set(new)
    assert sweep_blobs(store, now=NOW, max_age=timedelta(hours=24)) == 0


def test_sweep_needs_an_aware_now(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        sweep_blobs(LocalBlobStore(tmp_path), now=datetime(2026, 11, 22), max_age=timedelta(hours=24))


def test_abandoned_temporary_files_are_never_keys_and_are_swept_once_stale(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    folder = tmp_path / "uploads" / "2026" / "11" / "22"
    folder.mkdir(parents=True)
    crashed = folder / ".x.pdf~abc123.part"
    crashed.write_bytes(b"%PDF- half an upload")
    writing = folder / ".y.pdf~def456.part"
    writing.write_bytes(b"%PDF- still arriving")
    long_ago = time.time() - 2 * blobstore.STALE_TEMP_S
    os.utime(crashed, (long_ago, long_ago))
    assert list(store.keys_older_than(datetime.now(UTC) + timedelta(days=1))) == []
    assert not crashed.exists()
    assert writing.exists()  # recent: perhaps a put is still writing it


def test_files_whose_names_are_not_keys_are_ignored(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    (tmp_path / "notes about this folder.txt").write_text("not ours")
    store.put(KEY, [b"data"], max_bytes=10)
    assert all_keys(store) == {KEY}


def test_get_and_delete_of_a_folder_or_a_path_through_a_file_find_no_blob(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    store.put("uploads/a.pdf", [b"data"], max_bytes=10)
    for key in ("uploads", "uploads/a.pdf/inside"):
        with pytest.raises(blobstore.BlobNotFoundError):
            store.get(key)
        store.delete(key)
    assert store.get("uploads/a.pdf") == b"data"


def test_check_leaves_no_trace(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path / "blobs")
    store.check()
    assert store.root.is_dir()
    assert list(store.root.iterdir()) == []


def test_logs_name_keys_and_sizes_but_never_contents(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = LocalBlobStore(tmp_path)
    secret = b"%PDF-1.7 student 12345678 timetable"
    with caplog.at_level(logging.DEBUG, logger="schedgen.adapters.blobstore"):
        store.put(KEY, [secret], max_bytes=100)
        store.get(KEY)
        store.delete(KEY)
    text = "\n".join(record.getMessage() for record in caplog.records)
    assert f"stored {KEY} ({len(secret)} bytes)" in text
    assert "12345678" not in text


def test_build_blobstore_without_a_bucket_uses_the_data_folder(tmp_path: Path) -> None:
    store = build_blobstore(Settings(data_dir=tmp_path))
    assert isinstance(store, LocalBlobStore)
    assert store.root == tmp_path / "blobs"
    assert not store.root.exists()  # building does no I/O


def test_build_blobstore_warns_when_an_endpoint_has_no_bucket(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING, logger="schedgen.adapters.blobstore"):
        store = build_blobstore(Settings(data_dir=tmp_path, s3_endpoint_url="http://127.0.0.1:9000"))
    assert isinstance(store, LocalBlobStore)
    assert "SCHEDGEN_S3_BUCKET is not" in caplog.text


def test_a_key_with_a_255_character_name_fits_its_temporary_file_too(tmp_path: Path) -> None:
    store = LocalBlobStore(tmp_path)
    key = "uploads/" + "n" * 251 + ".pdf"
    store.put(key, [b"data"], max_bytes=10)
    assert store.get(key) == b"data"


# --- deferred, batched deletes ----------------------------------------------------------------------------


class CountingStore(LocalBlobStore):
    """A local store that records each delete_many call (and can be told to fail)."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.batches: list[list[str]] = []
        self.fail = False

    def delete_many(self, keys: Sequence[str]) -> None:
        self.batches.append(list(keys))
        if self.fail:
            raise BlobStoreUnavailableError()
        super().delete_many(keys)


def test_deferred_deletes_batch_keys_and_close_deletes_what_waits(tmp_path: Path) -> None:
    store = CountingStore(tmp_path)
    deletes = DeferredDeletes(store, interval_s=3600, max_batch=3)  # only a full batch or close() flushes
    keys = [f"d/{n}.pdf" for n in range(4)]
    for key in keys:
        store.put(key, [b"%PDF-"], max_bytes=64)
        deletes.submit(key)
    wait_for(lambda: store.batches, timeout=10)  # the full batch of three, on the background thread
    assert store.batches == [keys[:3]]
    deletes.close()
    assert store.batches == [keys[:3], keys[3:]]
    assert list(store.keys_older_than(NOW + timedelta(days=1))) == []
    with pytest.raises(RuntimeError):
        deletes.submit("d/late.pdf")


def test_a_failed_batch_is_left_to_the_sweep(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = CountingStore(tmp_path)
    store.fail = True
    store.put("d/x.pdf", [b"%PDF-"], max_bytes=64)
    deletes = DeferredDeletes(store, interval_s=3600)
    deletes.submit("d/x.pdf")
    deletes.close()
    assert store.batches == [["d/x.pdf"]]
    assert "the sweep will" in caplog.text
    assert store.get("d/x.pdf") == b"%PDF-"
