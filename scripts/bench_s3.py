"""How fast is an S3 endpoint for schedgen's uploads? PutObject of an upload-sized PDF through the service's
own blob store (obstore), at 1 and 16 concurrent writers; prints throughput and latency percentiles.

Usage: .venv/bin/python scripts/bench_s3.py [--endpoint URL --access-key K --secret-key S] [--puts N]

Without --endpoint it starts moto_server (the S3 the tests and scripts/bench_service.py use) on a free
loopback port and stops it afterwards. Each run writes into a new bucket `bench-s3-<random>` and deletes
its objects at the end (the empty bucket is left behind on a server you gave). An upload's API latency can
never be below its PutObject's, so this is the floor of bench_service's distributed upload figures.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import contextlib
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from pydantic import SecretStr
from servicebench.processes import S3Endpoint, create_bucket, moto_server

from schedgen.adapters.blobstore import S3BlobStore, build_s3_store
from schedgen.config import Settings

PDF = b"%PDF-1.4\n" + bytes(range(256)) * 14  # ~3.6 KiB, the size of the UP fixtures


@contextlib.contextmanager
def endpoint(args: argparse.Namespace) -> Iterator[S3Endpoint]:
    """The endpoint given, or a moto_server of our own."""
    if args.endpoint:
        yield S3Endpoint(args.endpoint, args.access_key, args.secret_key, None, "S3 server")
        return
    with tempfile.TemporaryDirectory(prefix="schedgen-bench-s3-") as tmp, moto_server(Path(tmp)) as moto:
        yield moto


def run(store: S3BlobStore, writers: int, puts: int) -> tuple[float, list[float]]:
    """(puts per second, each put's milliseconds) for `puts` PutObjects by `writers` threads."""

    def put(n: int) -> float:
        start = time.perf_counter()
        store.put(f"bench/{writers}/{n}.pdf", [PDF], max_bytes=1 << 20)
        return (time.perf_counter() - start) * 1000

    with concurrent.futures.ThreadPoolExecutor(writers) as pool:
        list(pool.map(put, range(writers * 4)))  # warm-up: connections opened, not timed
        began = time.perf_counter()
        millis = list(pool.map(put, range(puts)))
        return puts / (time.perf_counter() - began), millis


def main() -> None:
    """Measure, print a Markdown table, delete what was written."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--endpoint", help="an S3 endpoint already running (default: start moto_server)")
    parser.add_argument("--access-key", default="test")
    parser.add_argument("--secret-key", default="test")
    parser.add_argument("--puts", type=int, default=800, help="PutObjects per writer count (default 800)")
    args = parser.parse_args()
    with endpoint(args) as s3:
        bucket = f"bench-s3-{uuid.uuid4().hex[:10]}"
        create_bucket(s3, bucket)
        settings = Settings(
            s3_endpoint_url=s3.url,
            s3_bucket=bucket,
            s3_access_key=SecretStr(s3.access_key),
            s3_secret_key=SecretStr(s3.secret_key),
        )
        store = build_s3_store(settings)
        print(f"## PutObject of a {len(PDF):,}-byte PDF through obstore: {s3.url} ({s3.role})\n")
        print("| writers | puts/s | ms p50 | ms p95 | ms p99 |")
        print("|---|---|---|---|---|")
        try:
            for writers in (1, 16):
                rate, millis = run(store, writers, args.puts)
                cuts = statistics.quantiles(millis, n=100)
                print(f"| {writers} | {rate:.0f} | {cuts[49]:.1f} | {cuts[94]:.1f} | {cuts[98]:.1f} |")
        finally:
            keys = [f"bench/{w}/{n}.pdf" for w in (1, 16) for n in range(max(args.puts, w * 4))]
            store.delete_many(keys)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
