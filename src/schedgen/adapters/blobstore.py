"""Where uploads wait for a worker: the BlobStore capability, its local-folder and S3 implementations, the sweep.

Every vendor or OS error leaves this module as BlobNotFoundError or BlobStoreUnavailableError; an oversized
stream as BlobTooLargeError (code FILE_TOO_LARGE). Blob contents are never logged: keys and sizes only.
"""

from __future__ import annotations

import logging
import os
import re
import tempfile
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager, nullcontext, suppress
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any, Protocol

from schedgen.config import Settings
from schedgen.errors import (
    BlobNotFoundError,
    BlobStoreUnavailableError,
    BlobTooLargeError,
    SchedgenError,
)

if TYPE_CHECKING:
    from obstore.store import S3Config, S3Store

log = logging.getLogger(__name__)

KEY_PATTERN = re.compile(r"[A-Za-z0-9_.-]+(?:/[A-Za-z0-9_.-]+)*")  # relative, no empty segments
MAX_KEY_LENGTH = 1024  # S3's limit (keys are ASCII, so characters are bytes)
MAX_SEGMENT_LENGTH = 255  # the file-name limit of common local file systems
TEMP_MARKER = "~"  # never valid in a key, so an unfinished local write is never taken for a blob
STALE_TEMP_S = 3600  # a local temporary file untouched this long belongs to a crashed write
S3_DELETE_BATCH = 1000  # DeleteObjects takes at most this many keys
SPOOL_MEMORY_BYTES = 1024 * 1024  # an S3 upload larger than this is spooled to a temporary file
LARGE_PUTS = 2  # S3 puts of bodies over SPOOL_MEMORY_BYTES in flight at once, per store


class BlobStore(Protocol):
    """Keyed blobs: streamed in under a size limit, read whole, deleted by key or by age."""

    def put(self, key: str, chunks: Iterable[bytes], *, max_bytes: int) -> int:
        """Store the stream under key, replacing any blob there atomically; return its size in bytes."""
        ...

    def get(self, key: str) -> bytes:
        """Return the blob stored under key; raise BlobNotFoundError if there is none."""
        ...

    def delete(self, key: str) -> None:
        """Remove the blob under key if there is one (deleting a missing key is not an error)."""
        ...

    def delete_many(self, keys: Sequence[str]) -> None:
        """Remove these blobs (missing ones are fine), in as few calls as the store allows."""
        ...

    def keys_older_than(self, cutoff: datetime) -> Iterator[str]:
        """Yield the key of every blob last written before cutoff (an aware datetime)."""
        ...

    def check(self) -> None:
        """Cheaply probe the store; raise BlobStoreUnavailableError if it cannot be used."""
        ...


def is_valid_key(key: str) -> bool:
    """Whether key is a relative path of [A-Za-z0-9/_.-] with no '..', '.' or empty segment."""
    return (
        len(key) <= MAX_KEY_LENGTH
        and KEY_PATTERN.fullmatch(key) is not None
        and ".." not in key
        and all(part != "." and len(part) <= MAX_SEGMENT_LENGTH for part in key.split("/"))
    )


def validate_key(key: str) -> str:
    """Return key unchanged if it is valid, else raise ValueError."""
    if not is_valid_key(key):
        raise ValueError(f"invalid blob key {key!r}: use a relative path of [A-Za-z0-9/_.-] without '..'")
    return key


def _check_limit(max_bytes: int) -> None:
    if max_bytes < 0:
        raise ValueError(f"max_bytes must not be negative, got {max_bytes}")


def _require_aware(moment: datetime) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("blob ages are compared with timezone-aware datetimes only")
    return moment


def _unavailable(operation: str, key: str, exc: BaseException) -> BlobStoreUnavailableError:
    """Log why the store failed (key and cause, never contents) and return the typed error to raise."""
    log.warning("blob store %s failed for %s: %s: %s", operation, key, type(exc).__name__, exc)
    return BlobStoreUnavailableError()


def _copy_limited(chunks: Iterable[bytes], out: IO[bytes], max_bytes: int, key: str) -> int:
    """Write chunks to out and return the byte count; past max_bytes raise BlobTooLargeError."""
    size = 0
    for chunk in chunks:  # errors raised by the caller's stream pass through unchanged
        size += len(chunk)
        if size > max_bytes:
            log.info("refused %s: stream exceeds %d bytes", key, max_bytes)
            raise BlobTooLargeError()
        try:
            out.write(chunk)
        except OSError as exc:
            raise _unavailable("write", key, exc) from exc
    return size


class LocalBlobStore:
    """Blobs as files under root; each put writes a private temporary file and renames it into place."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _path(self, key: str) -> Path:
        return self.root.joinpath(*validate_key(key).split("/"))

    def put(self, key: str, chunks: Iterable[bytes], *, max_bytes: int) -> int:
        """Stream into a temporary file beside the blob, fsync it and rename it over the key's path."""
        path = self._path(key)
        _check_limit(max_bytes)
        try:
            try:
                fd, name = _temp_file_beside(path)
            except FileNotFoundError:  # the day's folder does not exist yet (or the sweep emptied it)
                path.parent.mkdir(parents=True, exist_ok=True)
                fd, name = _temp_file_beside(path)
        except OSError as exc:
            raise _unavailable("put", key, exc) from exc
        temp = Path(name)
        try:
            with os.fdopen(fd, "wb") as out:
                size = _copy_limited(chunks, out, max_bytes, key)
                _commit(out, temp, path, key)
        except BaseException:
            _remove_quietly(temp)
            raise
        log.debug("stored %s (%d bytes)", key, size)
        return size

    def get(self, key: str) -> bytes:
        """Read the whole blob (uploads are at most a few MB)."""
        path = self._path(key)
        try:
            data = path.read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError) as exc:
            raise BlobNotFoundError() from exc
        except OSError as exc:
            raise _unavailable("get", key, exc) from exc
        log.debug("read %s (%d bytes)", key, len(data))
        return data

    def delete(self, key: str) -> None:
        """Unlink the blob's file; a missing file (or a folder at that path) means there is nothing to do."""
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except (NotADirectoryError, IsADirectoryError):
            return
        except OSError as exc:
            raise _unavailable("delete", key, exc) from exc
        log.debug("deleted %s", key)

    def delete_many(self, keys: Sequence[str]) -> None:
        """Unlink each file (a file system has no batch delete)."""
        for key in keys:
            self.delete(key)

    def keys_older_than(self, cutoff: datetime) -> Iterator[str]:
        """Walk root by file mtime; temporary files of crashed writes older than cutoff are removed on the way."""
        limit = _require_aware(cutoff).timestamp()
        stale = min(limit, time.time() - STALE_TEMP_S)  # never a temporary file a put is still writing
        try:
            for folder, _dirs, names in os.walk(self.root, onerror=_raise_unless_missing):
                for name in sorted(names):
                    key = self._older_key(Path(folder, name), limit, stale)
                    if key is not None:
                        yield key
        except OSError as exc:
            raise _unavailable("list", str(self.root), exc) from exc

    def _older_key(self, path: Path, limit: float, stale: float) -> str | None:
        try:
            mtime = path.stat().st_mtime
        except FileNotFoundError:  # deleted or renamed since the folder was listed
            return None
        if TEMP_MARKER in path.name:  # a crashed write's leftovers still hold user data: the sweep owns them
            if mtime < stale:
                _remove_quietly(path)
                log.warning("removed abandoned partial blob %s", path)
            return None
        key = path.relative_to(self.root).as_posix()
        return key if mtime < limit and is_valid_key(key) else None

    def check(self) -> None:
        """Make sure root exists and a file can be created in it (an unnamed one where the OS allows)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            with tempfile.TemporaryFile(dir=self.root):
                pass
        except OSError as exc:
            raise _unavailable("check", str(self.root), exc) from exc


def _temp_file_beside(path: Path) -> tuple[int, str]:
    """A new file for the blob's bytes: mode 0600, a unique name (safe across threads and processes), and a
    '~' no key can contain."""
    return tempfile.mkstemp(prefix=f".{path.name[:64]}{TEMP_MARKER}", suffix=".part", dir=path.parent)


def _commit(out: IO[bytes], temp: Path, path: Path, key: str) -> None:
    """Flush, fsync and close the temporary file, rename it to the blob's path and fsync the folder."""
    try:
        out.flush()
        os.fsync(out.fileno())
        out.close()
        os.replace(temp, path)
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)
    except OSError as exc:
        raise _unavailable("put", key, exc) from exc


def _remove_quietly(path: Path) -> None:
    with suppress(OSError):
        path.unlink(missing_ok=True)


def _raise_unless_missing(exc: OSError) -> None:
    if not isinstance(exc, FileNotFoundError):  # a missing root or a folder removed mid-walk: nothing there
        raise exc


class S3BlobStore:
    """Blobs as objects in one bucket (AWS S3, MinIO, moto) through obstore; each put is one atomic PutObject.

    `store` is an ``obstore.store.S3Store`` for the bucket (see build_s3_store). obstore has no bucket
    operations, so ensure_bucket creates a missing bucket through `create_bucket` (boto3, imported only then).
    """

    def __init__(
        self,
        store: S3Store,
        bucket: str,
        *,
        create_bucket: Callable[[], None] | None = None,
        page_size: int = 1000,
    ) -> None:
        self.store = store
        self.bucket = bucket
        self.page_size = page_size  # keys handed over per listing batch
        self._create_bucket = create_bucket
        self._large_puts = threading.BoundedSemaphore(LARGE_PUTS)

    def put(self, key: str, chunks: Iterable[bytes], *, max_bytes: int) -> int:
        """Count the stream into a spooled temporary file, then send it with one PutObject.

        An oversized stream is refused before anything reaches S3, and a single PutObject (never a
        multipart upload) leaves no partial object and nothing to abort. The request needs the whole
        body in memory (its hash is signed), so bodies over SPOOL_MEMORY_BYTES are sent at most
        LARGE_PUTS at a time: many simultaneous large uploads cannot take the process's memory.
        """
        import obstore

        validate_key(key)
        _check_limit(max_bytes)
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_MEMORY_BYTES) as spool:
            size = _copy_limited(chunks, spool, max_bytes, key)
            spool.seek(0)
            with self._large_puts if size > SPOOL_MEMORY_BYTES else nullcontext():
                body = spool.read()
                with _s3_errors("put", key):
                    obstore.put(self.store, key, body, use_multipart=False)
                del body
        log.debug("stored %s (%d bytes)", key, size)
        return size

    def get(self, key: str) -> bytes:
        """Download the whole object; a missing bucket is the store being unusable, not a missing blob."""
        import obstore

        validate_key(key)
        with _s3_errors("get", key, not_found=True):
            data = bytes(obstore.get(self.store, key).bytes())
        log.debug("read %s (%d bytes)", key, len(data))
        return data

    def delete(self, key: str) -> None:
        """DeleteObject, which S3 already treats as idempotent."""
        import obstore

        validate_key(key)
        with _s3_errors("delete", key):
            obstore.delete(self.store, key)
        log.debug("deleted %s", key)

    def delete_many(self, keys: Sequence[str]) -> None:
        """DeleteObjects, up to 1,000 keys per call; any key S3 could not delete makes the call fail."""
        import obstore

        for start in range(0, len(keys), S3_DELETE_BATCH):
            batch = [validate_key(key) for key in keys[start : start + S3_DELETE_BATCH]]
            with _s3_errors("delete", batch[0]):
                obstore.delete(self.store, batch)
            log.debug("deleted %d blobs", len(batch))

    def keys_older_than(self, cutoff: datetime) -> Iterator[str]:
        """List the bucket (ListObjectsV2, paged) and yield keys whose LastModified is before cutoff."""
        import obstore

        limit = _require_aware(cutoff)
        with _s3_errors("list", self.bucket):
            for batch in obstore.list(self.store, chunk_size=self.page_size):
                for item in batch:
                    if item["last_modified"] < limit and is_valid_key(item["path"]):
                        yield item["path"]

    def check(self) -> None:
        """List an empty prefix: the endpoint answers, the credentials work and the bucket exists."""
        import obstore

        with _s3_errors("check", self.bucket):
            obstore.list_with_delimiter(self.store, prefix=PROBE_PREFIX)

    def ensure_bucket(self) -> None:
        """Create the bucket unless it exists already; safe to run at every start and concurrently."""
        if self._bucket_exists():
            return
        if self._create_bucket is None:
            log.warning("bucket %s does not exist and this store cannot create it", self.bucket)
            raise BlobStoreUnavailableError()
        self._create_bucket()

    def _bucket_exists(self) -> bool:
        import obstore
        from obstore.exceptions import BaseError

        try:
            obstore.list_with_delimiter(self.store, prefix=PROBE_PREFIX)
        except (BaseError, OSError, RuntimeError, ValueError) as exc:
            if _missing_bucket(exc):
                return False
            raise _unavailable("check", self.bucket, exc) from exc
        return True


PROBE_PREFIX = "schedgen-probe/"  # listed to probe the bucket: nothing is ever stored under it


@contextmanager
def _s3_errors(operation: str, key: str, *, not_found: bool = False) -> Iterator[None]:
    """Translate obstore errors; with not_found, a 404 becomes BlobNotFoundError."""
    # obstore is imported only by S3 deployments (it loads a native library and an async runtime).
    from obstore.exceptions import BaseError

    try:
        yield
    except FileNotFoundError as exc:  # obstore's "not found" (HTTP 404)
        if not_found and not _missing_bucket(exc):  # no bucket is not "no such blob": retry, do not fail
            raise BlobNotFoundError() from exc
        raise _unavailable(operation, key, exc) from exc
    except (BaseError, OSError, RuntimeError, ValueError) as exc:
        raise _unavailable(operation, key, exc) from exc


def _missing_bucket(exc: BaseException) -> bool:
    """Whether S3 answered NoSuchBucket (obstore keeps the error body, with S3's code, in the message)."""
    return "NoSuchBucket" in str(exc)


@dataclass(frozen=True)
class S3Options:
    """Network behaviour of the S3 client: short timeouts, a few quick retries (the job layer retries too)."""

    connect_timeout_s: float = 3.0
    request_timeout_s: float = 10.0
    max_retries: int = 2
    retry_timeout_s: float = 15.0


def build_s3_store(settings: Settings, options: S3Options | None = None) -> S3BlobStore:
    """An S3BlobStore for the configured bucket: path-style addressing (MinIO), the settings' credentials
    (or, without them, the AWS environment: variables, web identity, instance metadata); does no I/O."""
    from obstore.store import S3Store  # only S3 deployments pay for the native library

    if settings.s3_bucket is None:
        raise ValueError("build_s3_store needs SCHEDGEN_S3_BUCKET")
    options = options or S3Options()
    config: S3Config = {"region": settings.s3_region, "virtual_hosted_style_request": False}
    if settings.s3_endpoint_url is not None:
        config["endpoint"] = settings.s3_endpoint_url
    if settings.s3_access_key is not None and settings.s3_secret_key is not None:
        config["access_key_id"] = settings.s3_access_key.get_secret_value()
        config["secret_access_key"] = settings.s3_secret_key.get_secret_value()
    store = S3Store(
        settings.s3_bucket,
        config=config,
        client_options={
            "connect_timeout": timedelta(seconds=options.connect_timeout_s),
            "timeout": timedelta(seconds=options.request_timeout_s),
            "allow_http": (settings.s3_endpoint_url or "").startswith("http://"),
        },
        retry_config={
            "max_retries": options.max_retries,
            "retry_timeout": timedelta(seconds=options.retry_timeout_s),
            "backoff": {
                "init_backoff": timedelta(milliseconds=100),
                "max_backoff": timedelta(seconds=2),
                "base": 2,
            },
        },
    )
    return S3BlobStore(store, settings.s3_bucket, create_bucket=lambda: create_bucket(settings, options))


def create_bucket(settings: Settings, options: S3Options | None = None) -> None:
    """Create the configured bucket (with a LocationConstraint outside us-east-1) unless it exists.

    obstore has no bucket operations, so this one call uses boto3, imported here only: a process that
    finds its bucket in place never loads it.
    """
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    options = options or S3Options()
    bucket = settings.s3_bucket
    access_key, secret_key = settings.s3_access_key, settings.s3_secret_key
    client = boto3.session.Session().client(
        "s3",
        endpoint_url=settings.s3_endpoint_url,
        region_name=settings.s3_region,
        aws_access_key_id=access_key.get_secret_value() if access_key else None,
        aws_secret_access_key=secret_key.get_secret_value() if secret_key else None,
        config=Config(
            connect_timeout=options.connect_timeout_s,
            read_timeout=options.request_timeout_s,
            retries={"mode": "standard", "total_max_attempts": options.max_retries + 1},
            s3={"addressing_style": "path"},
        ),
    )
    params: dict[str, Any] = {"Bucket": bucket}
    if settings.s3_region != "us-east-1":  # us-east-1 rejects an explicit location constraint
        params["CreateBucketConfiguration"] = {"LocationConstraint": settings.s3_region}
    try:
        client.create_bucket(**params)
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code not in {"BucketAlreadyOwnedByYou", "BucketAlreadyExists"}:
            raise _unavailable("create bucket", str(bucket), exc) from exc
        return  # someone created it first: fine
    except BotoCoreError as exc:
        raise _unavailable("create bucket", str(bucket), exc) from exc
    finally:
        client.close()
    log.info("created bucket %s", bucket)


def build_blobstore(settings: Settings) -> BlobStore:
    """S3 when a bucket is configured, else files under <data_dir>/blobs; does no I/O."""
    if settings.uses_s3 and settings.s3_bucket is not None:
        return build_s3_store(settings)
    if settings.s3_endpoint_url is not None:
        log.warning("SCHEDGEN_S3_ENDPOINT_URL is set but SCHEDGEN_S3_BUCKET is not: storing blobs locally")
    return LocalBlobStore(settings.data_dir / "blobs")


def sweep_blobs(store: BlobStore, *, now: datetime, max_age: timedelta) -> int:
    """Delete every blob last written before now - max_age; return how many were deleted."""
    cutoff = _require_aware(now) - max_age
    removed = 0
    batch: list[str] = []
    for key in store.keys_older_than(cutoff):
        batch.append(key)
        if len(batch) == S3_DELETE_BATCH:
            store.delete_many(batch)
            removed += len(batch)
            batch = []
    if batch:
        store.delete_many(batch)
        removed += len(batch)
    if removed:
        log.info("swept %d blobs older than %s", removed, cutoff.isoformat())
    return removed


class DeferredDeletes:
    """Deletes blobs on a background thread, in batches: one DeleteObjects call for many finished jobs.

    A key waits at most `interval_s` (or until `max_batch` keys wait). A failed batch is logged and left to
    the age sweep, as is anything still waiting when the process dies; close() deletes what is waiting.
    """

    def __init__(
        self, store: BlobStore, *, interval_s: float = 0.5, max_batch: int = S3_DELETE_BATCH
    ) -> None:
        self.store = store
        self.interval_s = interval_s
        self.max_batch = max_batch
        self._keys: list[str] = []
        self._wake = threading.Condition()
        self._thread: threading.Thread | None = None
        self._closed = False

    def submit(self, key: str) -> None:
        """Delete this blob soon."""
        with self._wake:
            if self._closed:
                raise RuntimeError("DeferredDeletes is closed")
            self._keys.append(key)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="schedgen-blob-deletes", daemon=True)
                self._thread.start()
            if len(self._keys) >= self.max_batch:
                self._wake.notify()

    def close(self) -> None:
        """Stop the thread after deleting what is waiting."""
        with self._wake:
            self._closed = True
            self._wake.notify()
            thread = self._thread
        if thread is not None:
            thread.join(timeout=30)
        self._flush()

    def _run(self) -> None:
        while True:
            with self._wake:
                if not self._closed and len(self._keys) < self.max_batch:
                    self._wake.wait(self.interval_s)
                if self._closed:
                    return
            self._flush()

    def _flush(self) -> None:
        with self._wake:
            keys, self._keys = self._keys[: self.max_batch], self._keys[self.max_batch :]
        if not keys:
            return
        try:
            self.store.delete_many(keys)
        except SchedgenError:
            log.warning("could not delete %d finished uploads; the sweep will", len(keys))
