"""Load-benchmark the service: burst, sustained and latency figures, RSS and CPU, embedded or distributed.

Usage: .venv/bin/python scripts/bench_service.py [--mode embedded|distributed|all] [--workers 1,2]
           [--uploads N] [--clients C] [--quick] [--api-processes N] [--worker-threads N] [--env SCHEDGEN_X=V]

Starts everything itself on 127.0.0.1 and undoes it all at the end, also after an error, Ctrl-C or SIGTERM:
- embedded: one `schedgen serve` (SQLite, local blobs, in-process workers) in a temporary data folder;
- distributed, for each N in --workers: `schedgen db upgrade` into a fresh PostgreSQL schema (dropped at the
  end), `schedgen serve` and `schedgen worker --processes N --threads 2`, Redis db --redis-db (refused
  unless empty; flushed at the end) and moto_server as S3 on a free port with a bucket of its own.
Phases, each starting on an idle queue and bounded by --timeout seconds:
- burst: 100 uploads at once (one PDF each, cycling through the fixtures); seconds from the first request to
  the first /api/jobs/metrics poll (every 50 ms) that counts them all finished; then each job is checked;
- sustained: 1,000 uploads by 16 clients as fast as they are accepted; jobs / seconds from the first upload
  to the last completion. A 503 is retried after its Retry-After, capped at 1 s, and counted;
- latency: uploads, then status GETs of completed jobs, by 1, 16 and 64 clients each sending its share in
  turn (closed loop, no think time); p50/p95/p99 in ms;
- memory: VmHWM (peak) and VmRSS (after warm-up, median during the sustained phase, at the end) of the API
  and worker processes; CPU seconds per role and phase from /proc (parse sandboxes are counted in their
  parent, and shown separately too).
--quick shrinks every count for a smoke run (about a minute for all three configurations). The PDFs are read
from $SCHEDGEN_FIXTURES_DIR (default ../shared/fixtures/up). Prints Markdown (docs/benchmarks-service.md);
progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
import json
import math
import os
import platform
import random
import shlex
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any, NamedTuple

import redis
import sqlalchemy as sa
import uvloop

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CLK_TCK = os.sysconf("SC_CLK_TCK")
POLL_S = 0.05  # how often completion is checked (the resolution of the burst figure)
RSS_SAMPLE_S = 0.5  # how often RSS is sampled during the sustained phase
IDLE_REUSE_S = 4.0  # an idle connection is reused only this long (uvicorn closes them after 5 s)
MAX_ATTEMPTS = 50  # retries of one upload after 503s before it counts as lost
# The targets: (label, limit, True if the figure must be at most the limit).
TARGETS = {
    "burst": ("<= 5 s", 5.0, True),
    "sustained": (">= 60/s", 60.0, False),
    "upload_p95_16": ("p95 <= 50 ms", 50.0, True),
    "status_p95": ("p95 <= 10 ms", 10.0, True),
    "api_rss": ("<= 100 MiB", 100.0, True),
    "worker_rss": ("<= 120 MiB", 120.0, True),
}


@dataclass(frozen=True)
class Plan:
    """How much load each phase sends."""

    burst: int = 100
    uploads: int = 1000  # sustained phase
    clients: int = 16  # sustained phase
    latency_clients: tuple[int, ...] = (1, 16, 64)  # 1: the unloaded baseline
    latency_uploads: int = 640  # per client count, split evenly (see share())
    status_gets: int = 3200  # per client count, split evenly
    timeout_s: float = 180.0  # per phase
    max_backoff_s: float = 1.0  # a 503's Retry-After is honoured up to this


QUICK = Plan(burst=10, uploads=60, latency_uploads=32, status_gets=160, timeout_s=30.0)


@dataclass
class Tally:
    """Responses seen by the load generator."""

    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    lost_uploads: int = 0  # gave up after MAX_ATTEMPTS or a non-retryable status

    def non_2xx(self) -> int:
        """Responses outside 200-299."""
        return sum(n for code, n in self.statuses.items() if not 200 <= code < 300)


@dataclass
class Result:
    """Everything measured for one configuration."""

    label: str
    burst_s: float | None = None
    burst_server_s: float | None = None
    burst_accept_s: float = 0.0
    sustained_n: int = 0
    sustained_s: float | None = None
    sustained_accept_s: float = 0.0
    max_backlog: int = 0
    upload_ms: dict[int, list[float]] = field(default_factory=dict)
    status_ms: dict[int, list[float]] = field(default_factory=dict)
    rss: dict[str, tuple[float, ...]] = field(default_factory=dict)  # warm, peak, steady, after MiB
    cpu: list[PhaseCpu] = field(default_factory=list)
    jobs: dict[str, int] = field(default_factory=dict)  # final /api/jobs/metrics
    accepted: int = 0
    bad_jobs: int = 0  # verified jobs not completed
    log_errors: int = 0
    tally: Tally = field(default_factory=Tally)


class PhaseCpu(NamedTuple):
    """CPU use of one phase."""

    phase: str
    wall_s: float
    busy_pct: float  # of all cores
    used_s: dict[str, float]  # CPU seconds by role
    units: int  # jobs accepted, or (if none) GETs answered
    unit: str


@dataclass
class Service:
    """A running service under test."""

    label: str
    url: str
    api: subprocess.Popen[bytes]
    workers: subprocess.Popen[bytes] | None
    moto: subprocess.Popen[bytes] | None
    logs: list[Path]


class Connection(NamedTuple):
    """One keep-alive connection and when it last carried a request (0: never)."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    used: float


class Upload(NamedTuple):
    """A ready-made POST /api/uploads request."""

    name: str
    body: bytes
    content_type: str  # the header line


Moto = tuple[str, "subprocess.Popen[bytes]"]  # moto_server's endpoint URL and process


@dataclass
class Bench:
    """One configuration's run: the service, the PDFs, the plan and the result being filled."""

    svc: Service
    pdfs: list[Upload]
    plan: Plan
    result: Result

    def pdf(self, n: int) -> Upload:
        """The n-th upload's PDF (cycling through the fixtures)."""
        return self.pdfs[n % len(self.pdfs)]


# --- processes -------------------------------------------------------------------------------------------


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
    """The environment of a service process: ours without any SCHEDGEN_* setting, plus these."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDGEN_")}
    env.update(SCHEDGEN_DATA_DIR=str(data_dir), SCHEDGEN_RATE_LIMITS="off", **extra)
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
def moto_server(tmp: Path) -> Iterator[Moto]:
    """moto_server as an S3 endpoint on a free loopback port."""
    port, log = free_port(), tmp / "moto.log"
    process = spawn([str(BIN / "moto_server"), "-H", HOST, "-p", str(port)], dict(os.environ), log)
    try:
        wait_port(port, process, log)
        yield f"http://{HOST}:{port}", process
    finally:
        stop(process, 10)


@contextlib.contextmanager
def running_service(
    args: argparse.Namespace, tmp: Path, workers: int, moto: Moto | None
) -> Iterator[Service]:
    """Start one configuration (and, distributed, its schema and Redis db); stop and remove it all after."""
    threads = f"{workers} worker proc. x {args.worker_threads} threads"
    label = f"distributed: {args.api_processes} API, {threads}" if moto else "embedded"
    label += "".join(f", {k.removeprefix('SCHEDGEN_')}={v}" for k, v in args.env.items())
    run_dir = Path(tempfile.mkdtemp(prefix="run-", dir=tmp))
    with contextlib.ExitStack() as undo:
        extra: dict[str, str] = {}
        if moto:
            pg_url = undo.enter_context(postgres_schema(args.postgres_url))
            extra = {
                "SCHEDGEN_DATABASE_URL": pg_url,
                "SCHEDGEN_REDIS_URL": undo.enter_context(redis_db(f"redis://{HOST}:6379/{args.redis_db}")),
                "SCHEDGEN_S3_ENDPOINT_URL": moto[0],
                "SCHEDGEN_S3_BUCKET": f"bench-{uuid.uuid4().hex[:12]}",
                "SCHEDGEN_S3_ACCESS_KEY": "test",
                "SCHEDGEN_S3_SECRET_KEY": "test",
            }
        env = service_env(run_dir / "data", {**extra, **args.env})
        port, api_log = free_port(), run_dir / "api.log"
        argv = [str(BIN / "schedgen"), "serve", "--port", str(port)]
        if moto:
            with api_log.open("ab") as out:
                upgrade = [str(BIN / "schedgen"), "db", "upgrade"]
                subprocess.run(upgrade, env=env, check=True, timeout=120, stdout=out, stderr=out)
            argv += ["--workers", str(args.api_processes)] if args.api_processes > 1 else []
        api = spawn(argv, env, api_log)
        undo.callback(stop, api, 20)
        logs, group = [api_log], None
        if moto:  # the workers start while the API does
            logs.append(run_dir / "worker.log")
            argv = [str(BIN / "schedgen"), "worker", "--processes", str(workers)]
            argv += ["--threads", str(args.worker_threads)]
            group = spawn(argv, env, logs[-1])
            undo.callback(stop, group, 45)
        wait_healthy(port, api, api_log)
        yield Service(label, f"http://{HOST}:{port}", api, group, moto[1] if moto else None, logs)


# --- /proc probes --------------------------------------------------------------------------------------------


def proc_kib(pid: int, key: str) -> int:
    """A kB figure (VmRSS, VmHWM) from /proc/<pid>/status; 0 if the process is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cpu_s(pid: int, *, children_only: bool = False) -> float:
    """CPU seconds of a process plus its waited-for children (parse sandboxes); or of those children only."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[13 if children_only else 11 : 15]) / CLK_TCK  # [us]time, c[us]time


def children(pid: int) -> list[int]:
    """Live child processes (forked by any thread)."""
    found: list[int] = []
    with contextlib.suppress(OSError):
        for task in Path(f"/proc/{pid}/task").iterdir():
            with contextlib.suppress(OSError):
                found += [int(c) for c in task.joinpath("children").read_text().split()]
    return found


def descendants(pid: int) -> list[int]:
    """The process and every live process below it."""
    tree, index = [pid], 0
    while index < len(tree):
        tree += children(tree[index])
        index += 1
    return tree


def spawned(pid: int) -> list[int]:
    """Children started by multiprocessing's spawn (worker or uvicorn processes; not sandboxes or trackers)."""
    found = []
    for child in children(pid):
        with contextlib.suppress(OSError):
            if b"spawn_main" in Path(f"/proc/{child}/cmdline").read_bytes():
                found.append(child)
    return found


def pids_named(*names: str) -> list[int]:
    """Pids whose command name is one of these (the PostgreSQL and Redis servers)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if entry.joinpath("comm").read_text().strip() in names:
                    found.append(int(entry.name))
    return found


def cpu_groups(svc: Service) -> dict[str, dict[int, float]]:
    """CPU seconds so far per pid, grouped by role; 'parse sandboxes' is a part of API and workers."""
    groups = {"load generator": [os.getpid()], "API": descendants(svc.api.pid)}
    if svc.workers is not None:
        groups["workers"] = descendants(svc.workers.pid)
        groups["moto (S3)"] = [svc.moto.pid] if svc.moto else []
        groups["PostgreSQL"] = pids_named("postgres")
        groups["Redis"] = pids_named("redis-server")
    cpu = {name: {pid: cpu_s(pid) for pid in pids} for name, pids in groups.items()}
    parsers = groups["API"] + groups.get("workers", [])
    cpu["of which parse sandboxes"] = {pid: cpu_s(pid, children_only=True) for pid in parsers}
    return cpu


def machine_busy_s() -> float:
    """Busy CPU seconds of the whole machine (all cores) since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK  # minus idle and iowait


@contextlib.contextmanager
def cpu_phase(svc: Service, result: Result, phase: str) -> Iterator[None]:
    """Record wall time, machine utilisation and CPU seconds per role for the phase inside."""
    before, busy, start = cpu_groups(svc), machine_busy_s(), time.monotonic()
    accepted, answered = result.tally.statuses[202], result.tally.statuses[200]
    yield
    wall, after = time.monotonic() - start, cpu_groups(svc)
    used = {
        name: sum(v - before.get(name, {}).get(pid, 0.0) for pid, v in pids.items())
        for name, pids in after.items()
    }
    utilisation = (machine_busy_s() - busy) / (wall * (os.cpu_count() or 1)) * 100
    jobs = result.tally.statuses[202] - accepted
    units = (jobs, "job") if jobs else (result.tally.statuses[200] - answered, "GET")
    result.cpu.append(PhaseCpu(phase, wall, utilisation, used, *units))
    print(f"   {phase}: {wall:.1f} s", file=sys.stderr)


def rss_pids(svc: Service) -> dict[str, list[int]]:
    """Processes whose memory is reported, by role (the largest of several processes)."""
    api = spawned(svc.api.pid)
    if svc.workers is None:
        return {"API (+ in-process workers)": [svc.api.pid]}
    roles = {"API supervisor (uvicorn)": [svc.api.pid], "API process (largest)": api} if api else {}
    return {
        **(roles or {"API": [svc.api.pid]}),
        "worker supervisor": [svc.workers.pid],
        "worker process (largest)": spawned(svc.workers.pid),
    }


async def sample_rss(svc: Service, samples: dict[str, list[int]]) -> None:
    """Append the largest VmRSS of each role every RSS_SAMPLE_S until cancelled."""
    while True:
        for role, pids in rss_pids(svc).items():
            samples.setdefault(role, []).append(max((proc_kib(p, "VmRSS") for p in pids), default=0))
        await asyncio.sleep(RSS_SAMPLE_S)


class HttpError(Exception):
    """Raised when a response cannot be read (connection closed or reset, malformed, too slow)."""


class Client:
    """Keep-alive HTTP/1.1 connections to the service: a few µs of CPU per request (httpx takes ~2 ms here).

    Enough HTTP for uvicorn's answers: a status line, headers, then a Content-Length or chunked body.
    """

    def __init__(self, svc: Service, connections: int) -> None:
        self.host, self.port = HOST, int(svc.url.rsplit(":", 1)[1])
        self.gate = asyncio.Semaphore(connections)
        self.idle: list[Connection] = []
        self.head = f"Host: {self.host}:{self.port}\r\nUser-Agent: bench_service\r\n"

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for conn in self.idle:
            conn.writer.close()
        self.idle.clear()

    async def _connection(self) -> Connection:
        """An idle connection the server has not yet timed out, else a new one."""
        while self.idle:
            conn = self.idle.pop()
            if time.monotonic() - conn.used < IDLE_REUSE_S:
                return conn
            conn.writer.close()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return Connection(reader, writer, 0.0)

    async def request(
        self, method: str, path: str, body: bytes = b"", extra: str = ""
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, lower-cased headers, body); raises HttpError on a broken connection or after 60 s.

        A reused connection the server closed before answering is retried once on a new one (as browsers do).
        """
        request = f"{method} {path} HTTP/1.1\r\n{self.head}{extra}Content-Length: {len(body)}\r\n\r\n"
        async with self.gate:
            for attempt in (1, 2):
                conn = await self._connection()
                try:
                    async with asyncio.timeout(60):
                        conn.writer.write(request.encode() + body)
                        status, headers, payload = await self._response(conn.reader)
                    break
                except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                    conn.writer.close()
                    unanswered = isinstance(exc, ConnectionError) or (
                        isinstance(exc, asyncio.IncompleteReadError) and not exc.partial
                    )
                    if attempt == 2 or not conn.used or not unanswered:
                        raise HttpError(type(exc).__name__) from exc
            if headers.get("connection") == "close":
                conn.writer.close()
            else:
                self.idle.append(conn._replace(used=time.monotonic()))
            return status, headers, payload

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if line)
        headers = {k.lower(): v for k, v in headers.items()}
        if headers.get("transfer-encoding") == "chunked":
            chunks = []
            while size := int((await reader.readuntil(b"\r\n"))[:-2], 16):
                chunks.append((await reader.readexactly(size + 2))[:-2])
            await reader.readuntil(b"\r\n")
            return int(lines[0].split()[1]), headers, b"".join(chunks)
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return int(lines[0].split()[1]), headers, body


def multipart(name: str, data: bytes) -> Upload:
    """A POST /api/uploads body with one PDF in field `files`, and its Content-Type header."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return Upload(name, body, f"Content-Type: multipart/form-data; boundary={boundary}\r\n")


async def upload_one(client: Client, upload: Upload, tally: Tally, plan: Plan) -> tuple[str, float] | None:
    """POST one PDF; on 503 wait Retry-After (capped) and try again. (job id, ms of the accepted attempt)."""
    for _ in range(MAX_ATTEMPTS):
        start = time.perf_counter()
        try:
            status, headers, body = await client.request(
                "POST", "/api/uploads", upload.body, upload.content_type
            )
        except HttpError:
            tally.transport_errors += 1
            await asyncio.sleep(0.2)
            continue
        elapsed_ms = (time.perf_counter() - start) * 1000
        tally.statuses[status] += 1
        if status == 202:
            return str(json.loads(body)["jobs"][0]["id"]), elapsed_ms
        if status != 503:
            break
        await asyncio.sleep(min(float(headers.get("retry-after", "1")), plan.max_backoff_s))
    tally.lost_uploads += 1
    return None


async def get_json(client: Client, path: str, tally: Tally) -> Any:
    """GET a JSON document, counting the status; raises HttpError unless 200."""
    status, _, body = await client.request("GET", path)
    tally.statuses[status] += 1
    if status != 200:
        raise HttpError(f"GET {path}: HTTP {status}")
    return json.loads(body)


async def finished_count(client: Client, tally: Tally) -> tuple[int, int]:
    """(completed + failed, waiting + active + delayed) from /api/jobs/metrics; (-1, -1) if unanswered."""
    try:
        m = await get_json(client, "/api/jobs/metrics", tally)
    except HttpError:
        tally.transport_errors += 1
        return -1, -1
    return m["completed"] + m["failed"], m["waiting"] + m["active"] + m["delayed"]


async def wait_finished(
    client: Client, target: int, start: float, tally: Tally, timeout_s: float
) -> float | None:
    """Seconds from `start` to the first poll that saw `target` finished jobs; None on timeout."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        done, _ = await finished_count(client, tally)
        if done >= target:
            return time.perf_counter() - start
        await asyncio.sleep(POLL_S)
    return None


async def drained(client: Client, tally: Tally, timeout_s: float) -> int:
    """Wait until no job is waiting, active or delayed; return finished jobs so far."""
    deadline = time.perf_counter() + timeout_s
    while True:
        done, left = await finished_count(client, tally)
        if left == 0:
            return done
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{left} jobs still unfinished after {timeout_s:.0f} s")
        await asyncio.sleep(0.2)


async def verify(client: Client, ids: list[str], tally: Tally) -> list[dict[str, Any]]:
    """Every job's document (16 at a time)."""
    gate = asyncio.Semaphore(16)

    async def one(job_id: str) -> dict[str, Any]:
        async with gate:
            try:
                job: dict[str, Any] = await get_json(client, f"/api/jobs/{job_id}", tally)
            except HttpError:
                tally.transport_errors += 1
                return {"id": job_id, "status": "unverified", "created_at": None, "completed_at": None}
            return job

    return await asyncio.gather(*(one(i) for i in ids))


def server_span_s(jobs: list[dict[str, Any]]) -> float | None:
    """Seconds from the first job's creation to the last completion, by the server's clock."""
    ends = [dt.datetime.fromisoformat(j["completed_at"]) for j in jobs if j["completed_at"]]
    starts = [dt.datetime.fromisoformat(j["created_at"]) for j in jobs if j["created_at"]]
    return (max(ends) - min(starts)).total_seconds() if ends else None


async def run_burst(b: Bench) -> None:
    """N simultaneous uploads, then the time until the last one completed."""
    plan, result = b.plan, b.result
    async with Client(b.svc, plan.burst + 8) as client:
        base = await drained(client, result.tally, plan.timeout_s)
        start = time.perf_counter()
        sent = await asyncio.gather(
            *(upload_one(client, b.pdf(n), result.tally, plan) for n in range(plan.burst))
        )
        result.burst_accept_s = time.perf_counter() - start
        ids = [s[0] for s in sent if s]
        result.burst_s = await wait_finished(client, base + len(ids), start, result.tally, plan.timeout_s)
        jobs = await verify(client, ids, result.tally)
    result.bad_jobs += sum(j["status"] != "completed" for j in jobs)
    result.burst_server_s = server_span_s(jobs)


async def run_sustained(b: Bench) -> list[str]:
    """A fixed number of uploads by C clients as fast as accepted; rate to the last completion."""
    plan, result = b.plan, b.result
    async with Client(b.svc, plan.clients + 8) as client:
        base = await drained(client, result.tally, plan.timeout_s)
        numbers, ids = itertools.count(), []

        async def uploader() -> None:
            while (n := next(numbers)) < plan.uploads:
                sent = await upload_one(client, b.pdf(n), result.tally, plan)
                if sent:
                    ids.append(sent[0])

        async def backlog() -> None:
            while True:
                _, left = await finished_count(client, result.tally)
                result.max_backlog = max(result.max_backlog, left)
                await asyncio.sleep(0.25)

        watcher = asyncio.create_task(backlog())
        start = time.perf_counter()
        await asyncio.gather(*(uploader() for _ in range(plan.clients)))
        result.sustained_accept_s = time.perf_counter() - start
        watcher.cancel()
        result.sustained_s = await wait_finished(client, base + len(ids), start, result.tally, plan.timeout_s)
        jobs = await verify(client, ids, result.tally)
    result.sustained_n = len(ids)
    result.bad_jobs += sum(j["status"] != "completed" for j in jobs)
    return [j["id"] for j in jobs if j["status"] == "completed"]


def share(total: int, clients: int) -> int:
    """Requests per client: `total` split evenly, a lone client sending an eighth of it."""
    return max(1, total // max(clients, 8))


async def upload_latency(b: Bench, clients: int) -> None:
    """Upload latency with this many clients, each sending its share in turn; then let the queue drain."""
    plan, tally = b.plan, b.result.tally
    async with Client(b.svc, clients + 8) as client:
        await drained(client, tally, plan.timeout_s)
        samples: list[float] = []

        async def uploader(k: int, count: int) -> None:
            await get_json(client, "/health", tally)  # opens this client's connection: not timed
            for n in range(count):
                sent = await upload_one(client, b.pdf(k + n), tally, plan)
                if sent:
                    samples.append(sent[1])

        await asyncio.gather(*(uploader(k, share(plan.latency_uploads, clients)) for k in range(clients)))
        b.result.upload_ms[clients] = samples
        await drained(client, tally, plan.timeout_s)


async def status_latency(b: Bench, clients: int, done_ids: list[str]) -> None:
    """Status GET latency on completed jobs with this many clients, each sending its share in turn."""
    tally = b.result.tally
    async with Client(b.svc, clients + 8) as client:
        samples: list[float] = []

        async def getter(count: int) -> None:
            await get_json(client, "/health", tally)  # opens this client's connection: not timed
            for _ in range(count):
                start = time.perf_counter()
                try:
                    await get_json(client, f"/api/jobs/{random.choice(done_ids)}", tally)
                except HttpError:
                    tally.transport_errors += 1
                    continue
                samples.append((time.perf_counter() - start) * 1000)

        await asyncio.gather(*(getter(share(b.plan.status_gets, clients)) for _ in range(clients)))
        b.result.status_ms[clients] = samples


async def measure(svc: Service, pdfs: list[Upload], plan: Plan) -> Result:
    """Warm up, then every phase; RSS and CPU around them."""
    b = Bench(svc, pdfs, plan, Result(svc.label))
    async with Client(svc, 16) as client:  # warm-up: every worker process built and busy once
        count = 6 * max(1, len(spawned(svc.workers.pid)) if svc.workers else 1)
        await asyncio.gather(*(upload_one(client, b.pdf(n), b.result.tally, plan) for n in range(count)))
        await drained(client, b.result.tally, plan.timeout_s * 2)
    warm = {
        role: max((proc_kib(p, "VmRSS") for p in pids), default=0) for role, pids in rss_pids(svc).items()
    }
    with cpu_phase(svc, b.result, f"burst ({plan.burst} uploads)"):
        await run_burst(b)
    samples: dict[str, list[int]] = {}
    sampler = asyncio.create_task(sample_rss(svc, samples))
    with cpu_phase(svc, b.result, f"sustained ({plan.uploads} uploads, {plan.clients} clients)"):
        done_ids = await run_sustained(b)
    sampler.cancel()
    with cpu_phase(svc, b.result, f"upload latency ({'/'.join(map(str, plan.latency_clients))} clients)"):
        for clients in plan.latency_clients:
            await upload_latency(b, clients)
    with cpu_phase(svc, b.result, f"status latency ({'/'.join(map(str, plan.latency_clients))} clients)"):
        for clients in plan.latency_clients:
            await status_latency(b, clients, done_ids or ["missing"])
    async with Client(svc, 4) as client:
        await drained(client, b.result.tally, plan.timeout_s)
        b.result.jobs = await get_json(client, "/api/jobs/metrics", b.result.tally)
    for role, pids in rss_pids(svc).items():
        steady = statistics.median(samples.get(role) or [0])
        peak = max((proc_kib(p, "VmHWM") for p in pids), default=0)
        after = max((proc_kib(p, "VmRSS") for p in pids), default=0)
        b.result.rss[role] = tuple(kib / 1024 for kib in (warm.get(role, 0), peak, steady, after))
    b.result.accepted = b.result.tally.statuses[202]
    return b.result


def count_log_errors(logs: list[Path]) -> int:
    """Lines in the service logs that report an error or a traceback."""
    words = (" ERROR ", "Traceback", "CRITICAL")
    return sum(any(w in line for w in words) for log in logs for line in log.read_text().splitlines())


# --- report --------------------------------------------------------------------------------------------------


def pct(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def judged(text: str, value: float | None, key: str) -> str:
    """The figure followed by 'met' or 'missed' against its target."""
    _, limit, at_most = TARGETS[key]
    if value is None or math.isnan(value):  # nothing measured
        return f"{text} (**missed**: not measured)"
    return f"{text} ({'met' if (value <= limit if at_most else value >= limit) else '**missed**'})"


def latency_cell(samples: list[float], key: str | None) -> str:
    """p50 / p95 / p99 in ms, the p95 judged against a target."""
    if not samples:
        return "—"
    p50, p95, p99 = (pct(samples, f) for f in (0.5, 0.95, 0.99))
    text = f"{p50:.1f} / {p95:.1f} / {p99:.1f}"
    return judged(text, p95, key) if key else text


def rows_of(r: Result, plan: Plan) -> list[tuple[str, str, str]]:
    """(metric, target, value) rows of one configuration."""
    rate = r.sustained_n / r.sustained_s if r.sustained_s else None
    accept = r.sustained_n / r.sustained_accept_s if r.sustained_accept_s else 0.0
    burst = "timed out" if r.burst_s is None else f"{r.burst_s:.2f}"
    rows = [
        (
            f"burst: {plan.burst} simultaneous uploads, all completed (s)",
            TARGETS["burst"][0],
            judged(burst, r.burst_s, "burst"),
        ),
        ("burst: first created to last completed, server clock (s)", "", f"{r.burst_server_s or 0:.2f}"),
        ("burst: all uploads accepted (s)", "", f"{r.burst_accept_s:.2f}"),
        (
            f"sustained: uploads/s to completion ({plan.uploads} uploads, {plan.clients} clients)",
            TARGETS["sustained"][0],
            judged(f"{rate or 0:.1f}", rate, "sustained"),
        ),
        ("sustained: uploads/s accepted (upload side alone)", "", f"{accept:.1f}"),
        (
            "sustained: first upload to last completion (s) / max backlog (jobs)",
            "",
            f"{r.sustained_s or float('nan'):.1f} / {r.max_backlog}",
        ),
    ]
    for clients in plan.latency_clients:
        key = "upload_p95_16" if clients == 16 else None
        target = TARGETS[key][0] if key else ""
        rows.append(
            (
                f"upload ms p50 / p95 / p99, {clients} clients",
                target,
                latency_cell(r.upload_ms.get(clients, []), key),
            )
        )
    for clients in plan.latency_clients:
        rows.append(
            (
                f"status GET ms p50 / p95 / p99, {clients} clients",
                TARGETS["status_p95"][0],
                latency_cell(r.status_ms.get(clients, []), "status_p95"),
            )
        )
    for role, (warm, peak, steady, after) in r.rss.items():
        key = None if "supervisor" in role else "api_rss" if role.startswith("API") else "worker_rss"
        text = f"{peak:.0f} / {steady:.0f} / {warm:.0f} / {after:.0f}"
        rows.append(
            (
                f"RSS MiB peak / steady / warm / after: {role}",
                TARGETS[key][0] if key else "",
                judged(text, peak, key) if key else text,
            )
        )
    jobs, t = r.jobs, r.tally
    return [
        *rows,
        (
            "jobs accepted / completed / failed (all phases)",
            "failed 0",
            f"{r.accepted} / {jobs.get('completed', 0)} / {jobs.get('failed', 0)}",
        ),
        ("burst + sustained jobs verified not completed", "0", str(r.bad_jobs)),
        ("non-2xx responses (of which 503)", "0", f"{t.non_2xx()} ({t.statuses[503]})"),
        (
            "uploads lost / transport errors / error lines in logs",
            "0",
            f"{t.lost_uploads} / {t.transport_errors} / {r.log_errors}",
        ),
    ]


def print_report(results: list[Result], plan: Plan) -> None:
    """The figures table (one column per configuration), then a CPU table per configuration."""
    table: dict[tuple[str, str], dict[str, str]] = {}
    for r in results:
        for metric, target, value in rows_of(r, plan):
            table.setdefault((metric, target), {})[r.label] = value
    tail = ("jobs", "burst +", "non-2xx", "uploads lost")  # the error counts come last
    order = list(table)
    table = {k: table[k] for k in sorted(order, key=lambda k: (k[0].startswith(tail), order.index(k)))}
    print("\n| metric | target | " + " | ".join(r.label for r in results) + " |")
    print("|---|---|" + "---|" * len(results))
    for (metric, target), values in table.items():
        print(f"| {metric} | {target} | " + " | ".join(values.get(r.label, "—") for r in results) + " |")
    for r in results:
        print_cpu(r)
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(r.tally.statuses.items()))
        print(f"\nHTTP statuses seen ({r.label}): {codes}")


def print_cpu(r: Result) -> None:
    """CPU seconds per phase and role, then the same per job (or per GET in the status phase)."""
    names = list(r.cpu[0].used_s) if r.cpu else []
    head = " | ".join(names)
    print(
        f"\nCPU seconds by phase, {r.label} ({os.cpu_count()} cores: {os.cpu_count()} CPU s per wall second):\n"
    )
    print(f"| phase | wall s | machine busy | all roles | {head} |\n|---|---|---|---|" + "---|" * len(names))
    for p in r.cpu:
        total = sum(v for k, v in p.used_s.items() if not k.startswith("of which"))
        cells = " | ".join(f"{p.used_s[n]:.1f}" for n in names)
        print(f"| {p.phase} | {p.wall_s:.1f} | {p.busy_pct:.0f} % | {total:.1f} | {cells} |")
    print(f"\nCPU ms per job accepted (per GET in the status phase), {r.label}:\n")
    print(f"| phase | unit | count | all roles | {head} |\n|---|---|---|---|" + "---|" * len(names))
    for p in r.cpu:
        per = {k: 1000 * v / max(p.units, 1) for k, v in p.used_s.items()}
        total = sum(v for k, v in per.items() if not k.startswith("of which"))
        cells = " | ".join(f"{per[n]:.1f}" for n in names)
        print(f"| {p.phase} | {p.unit} | {p.units} | {total:.1f} | {cells} |")


def code_version() -> str:
    """The commit measured, and the files of the service that differ from it."""

    def git(*argv: str) -> str:
        done = subprocess.run(["git", "-C", str(ROOT), *argv], capture_output=True, text=True, check=False)
        return done.stdout.strip()

    changed = git("status", "--porcelain", "--", "src", "pyproject.toml", "uv.lock").splitlines()
    dirty = f" + uncommitted changes to {', '.join(line[3:] for line in changed)}" if changed else ""
    return f"{git('rev-parse', '--short', 'HEAD') or 'unknown'}{dirty}"


def machine() -> str:
    """One line about this machine."""
    model = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if "model name" in ln
        ),
        platform.processor(),
    )
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return (
        f"{os.cpu_count()} x {model}, {mem:.0f} GiB RAM, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


# --- main ------------------------------------------------------------------------------------------------------


def load_pdfs() -> list[Upload]:
    """The real UP PDFs, from $SCHEDGEN_FIXTURES_DIR."""
    folder = Path(os.environ.get("SCHEDGEN_FIXTURES_DIR", ROOT.parent / "shared" / "fixtures" / "up"))
    pdfs = [multipart(p.name, p.read_bytes()) for p in sorted(folder.glob("*.pdf"))]
    if not pdfs:
        raise SystemExit(f"no PDFs in {folder} (set SCHEDGEN_FIXTURES_DIR)")
    return pdfs


def parse_args() -> tuple[argparse.Namespace, Plan]:
    """Options, and the plan they make."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--mode", choices=("embedded", "distributed", "all"), default="all")
    parser.add_argument("--workers", default="1,2", help="worker process counts (distributed), e.g. 1,2")
    parser.add_argument("--uploads", type=int, help="uploads in the sustained phase (default 1000)")
    parser.add_argument("--clients", type=int, help="client tasks in the sustained phase (default 16)")
    parser.add_argument("--quick", action="store_true", help="small counts: a smoke run in under a minute")
    parser.add_argument("--timeout", type=float, help="seconds one phase may take (default 180)")
    parser.add_argument(
        "--api-processes", type=int, default=1, help="distributed: `schedgen serve --workers N` (default 1)"
    )
    parser.add_argument(
        "--worker-threads", type=int, default=2, help="distributed: threads per worker process"
    )
    parser.add_argument(
        "--env",
        action="append",
        default=[],
        metavar="SCHEDGEN_X=VALUE",
        help="a setting for every service process (repeatable), e.g. SCHEDGEN_IN_PROCESS_WORKERS=4",
    )
    parser.add_argument("--redis-db", type=int, default=14, help="Redis db number (must be empty)")
    parser.add_argument("--postgres-url", default=os.environ.get("SCHEDGEN_BENCH_POSTGRES_URL", DEFAULT_PG))
    args = parser.parse_args()
    plan = QUICK if args.quick else Plan()
    overrides = {"uploads": args.uploads, "clients": args.clients, "timeout_s": args.timeout}
    plan = Plan(**{**plan.__dict__, **{k: v for k, v in overrides.items() if v is not None}})
    args.worker_counts = [int(n) for n in args.workers.split(",") if n.strip()]
    pairs = [item.split("=", 1) for item in args.env]
    if any(len(p) != 2 or not p[0].startswith("SCHEDGEN_") for p in pairs):
        parser.error("--env takes SCHEDGEN_NAME=VALUE")
    args.env = dict(pairs)
    return args, plan


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into KeyboardInterrupt so that every clean-up runs."""
    raise KeyboardInterrupt


def run_config(args: argparse.Namespace, tmp: Path, workers: int, moto: Moto | None, plan: Plan) -> Result:
    """Start one configuration, measure it, stop it."""
    begun = time.monotonic()
    pdfs = load_pdfs()
    with running_service(args, tmp, workers, moto) as svc:
        print(f"== {svc.label}: started in {time.monotonic() - begun:.1f} s", file=sys.stderr)
        try:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                result = runner.run(measure(svc, pdfs, plan))
        except (TimeoutError, HttpError):
            for log in svc.logs:
                print(f"--- {log.name} (last lines)\n{log.read_text()[-2000:]}", file=sys.stderr)
            raise
        stopping = time.monotonic()
    print(f"   stopped and cleaned up in {time.monotonic() - stopping:.1f} s", file=sys.stderr)
    result.log_errors = count_log_errors(svc.logs)
    return result


def main() -> None:
    """Run each configuration in turn, clean up, print the report."""
    args, plan = parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    configs = [0] if args.mode in ("embedded", "all") else []
    configs += args.worker_counts if args.mode in ("distributed", "all") else []
    results, started, version = [], time.monotonic(), code_version()
    with tempfile.TemporaryDirectory(prefix="schedgen-bench-") as tmp, contextlib.ExitStack() as undo:
        moto = undo.enter_context(moto_server(Path(tmp))) if any(configs) else None
        for workers in configs:
            results.append(run_config(args, Path(tmp), workers, moto if workers else None, plan))
    python = os.path.relpath(sys.executable, Path.cwd())
    print("## Service benchmark\n")
    print(f"Command: `{shlex.join([python, *sys.argv])}`  ")
    print(f"Machine: {machine()}  ")
    print(f"Code: {version}  ")
    print(
        f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; whole run {time.monotonic() - started:.0f} s  "
    )
    print("The load generator (this script: uvloop, a minimal keep-alive HTTP/1.1 client) shares the cores")
    print("with the servers; its CPU is in the tables below.")
    print_report(results, plan)


if __name__ == "__main__":
    main()
