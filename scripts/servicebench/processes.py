"""The processes under test: start and stop them, and the PostgreSQL schema, Redis db and S3 they use."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import redis
import sqlalchemy as sa

BIN = Path(sys.executable).parent  # the venv's bin folder (schedgen, moto_server)
HOST = "127.0.0.1"
MOTO_ROLE = "moto (S3)"  # the CPU tables' column of the moto_server these scripts start


@dataclass
class Service:
    """A running service under test."""

    label: str
    url: str
    api: subprocess.Popen[bytes]
    workers: subprocess.Popen[bytes] | None
    s3: S3Endpoint | None
    logs: list[Path]


class S3Endpoint(NamedTuple):
    """The S3 endpoint of the distributed set-ups, and the process serving it (its CPU is reported)."""

    url: str
    access_key: str
    secret_key: str
    pid: int | None  # None: not on this machine, or not ours to watch
    role: str  # the CPU tables' column


def free_port() -> int:
    """A free TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        port: int = sock.getsockname()[1]
        return port


def spawn(argv: list[str], env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    """Start a process in a session of its own (so its whole tree can be killed), output to a log file."""
    with log.open("ab") as out:
        return subprocess.Popen(argv, env=env, stdout=out, stderr=subprocess.STDOUT, start_new_session=True)


def stop(process: subprocess.Popen[bytes], grace_s: float) -> None:
    """SIGTERM the process, SIGKILL it after grace_s, then SIGKILL whatever is left of its process group."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            print(f"pid {process.pid} ignored SIGTERM for {grace_s:.0f} s; killing it", file=sys.stderr)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(process.pid, signal.SIGKILL)  # its group: the pid is its session and group id
    process.wait()


def wait_port(port: int, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 60.0) -> None:
    """Wait for a TCP port to accept connections; fail with the log's tail if the process exits first."""
    deadline = time.monotonic() + timeout_s
    while True:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), timeout=1):
            return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{process.args!r} did not listen on {port}:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def wait_healthy(port: int, process: subprocess.Popen[bytes], log: Path, timeout_s: float = 60.0) -> None:
    """Wait for GET /health to answer 200 (every API process ready); fail with the log's tail otherwise."""
    deadline = time.monotonic() + timeout_s
    while True:
        with (
            contextlib.suppress(OSError),
            urllib.request.urlopen(f"http://{HOST}:{port}/health", timeout=2) as response,
        ):
            if response.status == 200:
                return
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{process.args!r} is not healthy on {port}:\n{log.read_text()[-3000:]}")
        time.sleep(0.1)


def service_env(data_dir: Path, extra: dict[str, str]) -> dict[str, str]:
    """The environment of a service process: ours without any SCHEDGEN_* setting, rate limits off, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDGEN_")}
    env.update({"SCHEDGEN_DATA_DIR": str(data_dir), "SCHEDGEN_RATE_LIMITS": "off"})
    env.update(extra)  # --env wins, e.g. SCHEDGEN_RATE_LIMITS=on to measure the limiter's cost
    return env


@contextlib.contextmanager
def postgres_schema(admin_url: str) -> Iterator[str]:
    """A fresh schema; yields the service URL whose search_path is that schema; drops it afterwards."""
    schema = f"bench_svc_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url)
    with admin.begin() as conn:
        conn.exec_driver_sql(f'CREATE SCHEMA "{schema}"')
    separator = "&" if "?" in admin_url else "?"
    try:
        yield f"{admin_url}{separator}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.exec_driver_sql(f'DROP SCHEMA "{schema}" CASCADE')
        admin.dispose()
        print(f"schema {schema} dropped", file=sys.stderr)


@contextlib.contextmanager
def redis_db(url: str) -> Iterator[str]:
    """This Redis db, refused unless empty (it is not ours then), flushed afterwards."""
    client = redis.Redis.from_url(url)
    if client.dbsize():
        client.close()
        raise SystemExit(f"{url} holds keys: it is not ours to flush; pick another --redis-db")
    try:
        yield url
    finally:
        client.flushdb()
        client.close()


@contextlib.contextmanager
def moto_server(tmp: Path) -> Iterator[S3Endpoint]:
    """moto_server as an S3 endpoint on a free loopback port."""
    port, log = free_port(), tmp / "moto.log"
    process = spawn([str(BIN / "moto_server"), "-H", HOST, "-p", str(port)], dict(os.environ), log)
    try:
        wait_port(port, process, log)
        yield S3Endpoint(f"http://{HOST}:{port}", "test", "test", process.pid, MOTO_ROLE)
    finally:
        stop(process, 10)


def create_bucket(s3: S3Endpoint, bucket: str) -> None:
    """Create the bucket with a plain boto3 client (moto's dependency), like `mc mb` before a deploy."""
    import boto3

    client = boto3.session.Session().client(
        "s3",
        endpoint_url=s3.url,
        region_name="us-east-1",
        aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key,
    )
    client.create_bucket(Bucket=bucket)
    client.close()


@contextlib.contextmanager
def running_service(
    args: argparse.Namespace, tmp: Path, workers: int, s3: S3Endpoint | None
) -> Iterator[Service]:
    """Start one configuration (and, distributed, its schema and Redis db); stop and remove it all after."""
    threads = f"{workers} worker proc. x {args.worker_threads} threads"
    label = f"distributed: {args.api_processes} API, {threads}" if s3 else "embedded"
    label += f", S3: {s3.role}" if s3 and s3.role != MOTO_ROLE else ""
    label += "".join(f", {k.removeprefix('SCHEDGEN_')}={v}" for k, v in args.env.items())
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=tmp))
    with contextlib.ExitStack() as undo:
        extra: dict[str, str] = {}
        if s3:
            pg_url = undo.enter_context(postgres_schema(args.postgres_url))
            extra = {
                "SCHEDGEN_DATABASE_URL": pg_url,
                "SCHEDGEN_REDIS_URL": undo.enter_context(redis_db(f"redis://{HOST}:6379/{args.redis_db}")),
                "SCHEDGEN_S3_ENDPOINT_URL": s3.url,
                "SCHEDGEN_S3_BUCKET": f"bench-{uuid.uuid4().hex[:12]}",
                "SCHEDGEN_S3_ACCESS_KEY": s3.access_key,
                "SCHEDGEN_S3_SECRET_KEY": s3.secret_key,
            }
            create_bucket(s3, extra["SCHEDGEN_S3_BUCKET"])  # as an operator would, before the start
        env = service_env(run_dir / "data", {**extra, **args.env})
        port, api_log = free_port(), run_dir / "api.log"
        argv = [str(BIN / "schedgen"), "serve", "--port", str(port)]
        if s3:
            with api_log.open("ab") as out:
                upgrade = [str(BIN / "schedgen"), "db", "upgrade"]
                subprocess.run(upgrade, env=env, check=True, timeout=120, stdout=out, stderr=out)
            argv += ["--workers", str(args.api_processes)] if args.api_processes > 1 else []
        api = spawn(argv, env, api_log)
        undo.callback(stop, api, 20)
        logs, group = [api_log], None
        if s3:  # the workers start while the API does
            logs.append(run_dir / "worker.log")
            argv = [str(BIN / "schedgen"), "worker", "--processes", str(workers)]
            argv += ["--threads", str(args.worker_threads)]
            group = spawn(argv, env, logs[-1])
            undo.callback(stop, group, 45)
        wait_healthy(port, api, api_log)
        yield Service(label, f"http://{HOST}:{port}", api, group, s3, logs)
