"""Load-benchmark the service: burst, sustained and latency figures, RSS and CPU, embedded or distributed.

Usage: .venv/bin/python scripts/bench_service.py [--mode embedded|distributed|all] [--workers 1,2]
           [--uploads N] [--clients C] [--quick]

Starts everything itself on 127.0.0.1 and undoes it all at the end, also after an error, Ctrl-C or SIGTERM:
- embedded: one `schedgen serve` (SQLite, local blobs, in-process workers) in a temporary data folder;
- distributed: `schedgen db upgrade` into a fresh PostgreSQL schema (dropped at the end), one
  `schedgen serve` and one `schedgen worker --processes N --threads 2` per N in --workers, Redis db
  --redis-db (must be empty at the start; flushed at the end) and moto_server as S3 on a free port.
Every phase waits for the queue to drain first and gives up after --timeout seconds. The PDFs are read from
$SCHEDGEN_FIXTURES_DIR (default ../shared/fixtures/up). Prints Markdown (paste into
docs/benchmarks-service.md); progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import itertools
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
import uuid
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any

import httpx
import redis
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
CLK_TCK = os.sysconf("SC_CLK_TCK")
POLL_S = 0.05  # how often completion is checked (the resolution of the burst figure)
RSS_SAMPLE_S = 0.5  # how often RSS is sampled during the sustained phase
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
    latency_clients: tuple[int, ...] = (16, 64)
    latency_uploads: int = 640  # per client count, split evenly between the clients
    status_gets: int = 3200  # per client count, split evenly
    timeout_s: float = 180.0  # per phase
    max_backoff_s: float = 1.0  # a 503's Retry-After is honoured up to this


QUICK = Plan(burst=20, uploads=120, latency_uploads=128, status_gets=640, timeout_s=30.0)


@dataclass
class Tally:
    """Responses seen by the load generator."""

    statuses: Counter[int] = field(default_factory=Counter)
    transport_errors: int = 0
    lost_uploads: int = 0  # gave up after MAX_ATTEMPTS or a non-retryable status

    def non_2xx(self) -> int:
        """Responses outside 200-299."""
        return sum(n for code, n in self.statuses.items() if not 200 <= code < 300)  # noqa: PLR2004


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
    rss: dict[str, tuple[float, float, float]] = field(default_factory=dict)  # peak, steady, idle MiB
    cpu: list[tuple[str, float, float, dict[str, float]]] = field(default_factory=list)
    jobs: dict[str, int] = field(default_factory=dict)  # final /api/jobs/metrics
    accepted: int = 0
    bad_jobs: int = 0  # verified jobs not completed
    log_errors: int = 0
    tally: Tally = field(default_factory=Tally)


@dataclass
class Service:
    """A running service under test."""

    label: str
    url: str
    api: subprocess.Popen[bytes]
    workers: subprocess.Popen[bytes] | None
    moto: subprocess.Popen[bytes] | None
    logs: list[Path]


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
def moto_server(tmp: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
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
    args: argparse.Namespace, tmp: Path, workers: int, moto: tuple[str, subprocess.Popen[bytes]] | None
) -> Iterator[Service]:
    """Start one configuration (and, distributed, its schema and Redis db); stop and remove it all after."""
    label = f"distributed, {workers} worker process(es)" if moto else "embedded"
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
        env = service_env(run_dir / "data", extra)
        if moto:
            subprocess.run([str(BIN / "schedgen"), "db", "upgrade"], env=env, check=True, timeout=120)
        port, api_log = free_port(), run_dir / "api.log"
        api = spawn([str(BIN / "schedgen"), "serve", "--port", str(port)], env, api_log)
        undo.callback(stop, api, 20)
        wait_port(port, api, api_log)
        logs, group = [api_log], None
        if moto:
            logs.append(run_dir / "worker.log")
            argv = [str(BIN / "schedgen"), "worker", "--processes", str(workers), "--threads", "2"]
            group = spawn(argv, env, logs[-1])
            undo.callback(stop, group, 45)
        yield Service(label, f"http://{HOST}:{port}", api, group, moto[1] if moto else None, logs)


# --- /proc probes --------------------------------------------------------------------------------------------


def proc_kib(pid: int, key: str) -> int:
    """A kB figure (VmRSS, VmHWM) from /proc/<pid>/status; 0 if the process is gone."""
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cpu_s(pid: int) -> float:
    """CPU seconds of a process and of its children it has waited for (a parse sandbox, a backend)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return sum(int(v) for v in fields[11:15]) / CLK_TCK  # utime stime cutime cstime


def worker_pids(supervisor: subprocess.Popen[bytes] | None) -> list[int]:
    """The worker processes under `schedgen worker` (not multiprocessing's resource tracker)."""
    if supervisor is None:
        return []
    pids = []
    with contextlib.suppress(OSError):
        for pid in Path(f"/proc/{supervisor.pid}/task/{supervisor.pid}/children").read_text().split():
            with contextlib.suppress(OSError):
                if b"resource_tracker" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                    pids.append(int(pid))
    return pids


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
    """CPU seconds so far per pid, grouped by role."""
    groups = {"load generator": [os.getpid()], "API": [svc.api.pid]}
    if svc.workers is not None:
        groups["workers"] = [svc.workers.pid, *worker_pids(svc.workers)]
        groups["moto (S3)"] = [svc.moto.pid] if svc.moto else []
        groups["PostgreSQL"] = pids_named("postgres")
        groups["Redis"] = pids_named("redis-server")
    return {name: {pid: cpu_s(pid) for pid in pids} for name, pids in groups.items()}


def machine_busy_s() -> float:
    """Busy CPU seconds of the whole machine (all cores) since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (sum(values) - values[3] - values[4]) / CLK_TCK  # minus idle and iowait


@contextlib.contextmanager
def cpu_phase(svc: Service, result: Result, phase: str) -> Iterator[None]:
    """Record wall time, machine utilisation and CPU seconds per role for the phase inside."""
    before, busy, start = cpu_groups(svc), machine_busy_s(), time.monotonic()
    yield
    wall, after = time.monotonic() - start, cpu_groups(svc)
    used = {
        name: sum(v - before.get(name, {}).get(pid, 0.0) for pid, v in pids.items())
        for name, pids in after.items()
    }
    utilisation = (machine_busy_s() - busy) / (wall * (os.cpu_count() or 1)) * 100
    result.cpu.append((phase, wall, utilisation, used))


def rss_pids(svc: Service) -> dict[str, list[int]]:
    """Processes whose memory is reported, by role."""
    roles = {"API" if svc.workers else "API (+ in-process workers)": [svc.api.pid]}
    if svc.workers is not None:
        roles["worker supervisor"] = [svc.workers.pid]
        roles["worker process (largest)"] = worker_pids(svc.workers)
    return roles


async def sample_rss(svc: Service, samples: dict[str, list[int]]) -> None:
    """Append the largest VmRSS of each role every RSS_SAMPLE_S until cancelled."""
    while True:
        for role, pids in rss_pids(svc).items():
            samples.setdefault(role, []).append(max((proc_kib(p, "VmRSS") for p in pids), default=0))
        await asyncio.sleep(RSS_SAMPLE_S)


# --- load ----------------------------------------------------------------------------------------------------


def new_client(svc: Service, connections: int) -> httpx.AsyncClient:
    """An HTTP client with room for `connections` parallel requests."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.AsyncClient(base_url=svc.url, limits=limits, timeout=60.0)


async def upload_one(
    client: httpx.AsyncClient, pdf: tuple[str, bytes], tally: Tally, plan: Plan
) -> tuple[str, float] | None:
    """POST one PDF; on 503 wait Retry-After (capped) and try again. (job id, ms of the accepted attempt)."""
    for _ in range(MAX_ATTEMPTS):
        start = time.perf_counter()
        try:
            response = await client.post("/api/uploads", files={"files": (pdf[0], pdf[1], "application/pdf")})
        except httpx.HTTPError:
            tally.transport_errors += 1
            await asyncio.sleep(0.2)
            continue
        elapsed_ms = (time.perf_counter() - start) * 1000
        tally.statuses[response.status_code] += 1
        if response.status_code == 202:  # noqa: PLR2004
            return str(response.json()["jobs"][0]["id"]), elapsed_ms
        if response.status_code != 503:  # noqa: PLR2004
            break
        await asyncio.sleep(min(float(response.headers.get("retry-after", "1")), plan.max_backoff_s))
    tally.lost_uploads += 1
    return None


async def get_json(client: httpx.AsyncClient, path: str, tally: Tally) -> Any:
    """GET a JSON document, counting the status."""
    response = await client.get(path)
    tally.statuses[response.status_code] += 1
    response.raise_for_status()
    return response.json()


async def finished_count(client: httpx.AsyncClient, tally: Tally) -> tuple[int, int]:
    """(completed + failed, waiting + active + delayed) from /api/jobs/metrics."""
    m = await get_json(client, "/api/jobs/metrics", tally)
    return m["completed"] + m["failed"], m["waiting"] + m["active"] + m["delayed"]


async def wait_finished(
    client: httpx.AsyncClient, target: int, start: float, tally: Tally, timeout_s: float
) -> float | None:
    """Seconds from `start` to the first poll that saw `target` finished jobs; None on timeout."""
    deadline = time.perf_counter() + timeout_s
    while time.perf_counter() < deadline:
        done, _ = await finished_count(client, tally)
        if done >= target:
            return time.perf_counter() - start
        await asyncio.sleep(POLL_S)
    return None


async def drained(client: httpx.AsyncClient, tally: Tally, timeout_s: float) -> int:
    """Wait until no job is waiting, active or delayed; return finished jobs so far."""
    deadline = time.perf_counter() + timeout_s
    while True:
        done, left = await finished_count(client, tally)
        if not left:
            return done
        if time.perf_counter() > deadline:
            raise TimeoutError(f"{left} jobs still unfinished after {timeout_s:.0f} s")
        await asyncio.sleep(0.2)


async def verify(client: httpx.AsyncClient, ids: list[str], tally: Tally) -> list[dict[str, Any]]:
    """Every job's document (16 at a time)."""
    gate = asyncio.Semaphore(16)

    async def one(job_id: str) -> dict[str, Any]:
        async with gate:
            job: dict[str, Any] = await get_json(client, f"/api/jobs/{job_id}", tally)
            return job

    return await asyncio.gather(*(one(i) for i in ids))


def server_span_s(jobs: list[dict[str, Any]]) -> float | None:
    """Seconds from the first job's creation to the last completion, by the server's clock."""
    ends = [dt.datetime.fromisoformat(j["completed_at"]) for j in jobs if j["completed_at"]]
    if not ends:
        return None
    return (max(ends) - min(dt.datetime.fromisoformat(j["created_at"]) for j in jobs)).total_seconds()


async def run_burst(svc: Service, pdfs: list[tuple[str, bytes]], plan: Plan, result: Result) -> list[str]:
    """N simultaneous uploads, then the time until the last one completed."""
    async with new_client(svc, plan.burst + 8) as client:
        base = await drained(client, result.tally, plan.timeout_s)
        start = time.perf_counter()
        sent = await asyncio.gather(
            *(upload_one(client, pdfs[i % len(pdfs)], result.tally, plan) for i in range(plan.burst))
        )
        result.burst_accept_s = time.perf_counter() - start
        ids = [s[0] for s in sent if s]
        result.burst_s = await wait_finished(client, base + len(ids), start, result.tally, plan.timeout_s)
        jobs = await verify(client, ids, result.tally)
    result.bad_jobs += sum(j["status"] != "completed" for j in jobs)
    result.burst_server_s = server_span_s(jobs)
    return ids


async def run_sustained(svc: Service, pdfs: list[tuple[str, bytes]], plan: Plan, result: Result) -> list[str]:
    """A fixed number of uploads by C clients as fast as accepted; rate to the last completion."""
    async with new_client(svc, plan.clients + 8) as client:
        base = await drained(client, result.tally, plan.timeout_s)
        numbers, ids = itertools.count(), []

        async def uploader() -> None:
            while (n := next(numbers)) < plan.uploads:
                sent = await upload_one(client, pdfs[n % len(pdfs)], result.tally, plan)
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


async def run_latency(
    svc: Service, pdfs: list[tuple[str, bytes]], done_ids: list[str], plan: Plan, result: Result
) -> None:
    """Upload, then status GET, latency at each client count; each client sends a fixed number in turn."""
    for clients in plan.latency_clients:
        async with new_client(svc, clients + 8) as client:
            await drained(client, result.tally, plan.timeout_s)
            samples: list[float] = []

            async def uploader(k: int, count: int, out: list[float]) -> None:
                await upload_one(client, pdfs[k % len(pdfs)], result.tally, plan)  # warm-up: not timed
                for n in range(count):
                    sent = await upload_one(client, pdfs[(k + n) % len(pdfs)], result.tally, plan)
                    if sent:
                        out.append(sent[1])

            per = max(1, plan.latency_uploads // clients)
            await asyncio.gather(*(uploader(k, per, samples) for k in range(clients)))
            result.upload_ms[clients] = samples
            await drained(client, result.tally, plan.timeout_s)

            gets: list[float] = []

            async def getter(count: int, out: list[float]) -> None:
                await get_json(client, f"/api/jobs/{random.choice(done_ids)}", result.tally)  # warm-up
                for _ in range(count):
                    start = time.perf_counter()
                    await get_json(client, f"/api/jobs/{random.choice(done_ids)}", result.tally)
                    out.append((time.perf_counter() - start) * 1000)

            await asyncio.gather(*(getter(max(1, plan.status_gets // clients), gets) for _ in range(clients)))
            result.status_ms[clients] = gets


async def measure(svc: Service, pdfs: list[tuple[str, bytes]], plan: Plan) -> Result:
    """Warm up, then every phase; RSS and CPU around them."""
    result = Result(svc.label)
    async with new_client(svc, 16) as client:  # warm-up: every worker process built and busy once
        count = 6 * max(1, len(worker_pids(svc.workers)) if svc.workers else 1)
        await asyncio.gather(*(upload_one(client, pdfs[i % len(pdfs)], result.tally, plan) for i in range(count)))
        await drained(client, result.tally, plan.timeout_s * 2)
    with cpu_phase(svc, result, f"burst ({plan.burst} uploads)"):
        await run_burst(svc, pdfs, plan, result)
    samples: dict[str, list[int]] = {}
    sampler = asyncio.create_task(sample_rss(svc, samples))
    with cpu_phase(svc, result, f"sustained ({plan.uploads} uploads, {plan.clients} clients)"):
        done_ids = await run_sustained(svc, pdfs, plan, result)
    sampler.cancel()
    with cpu_phase(svc, result, "latency (uploads + status GETs)"):
        await run_latency(svc, pdfs, done_ids or ["missing"], plan, result)
    async with new_client(svc, 4) as client:
        await drained(client, result.tally, plan.timeout_s)
        await asyncio.sleep(1.0)
        result.jobs = await get_json(client, "/api/jobs/metrics", result.tally)
    for role, pids in rss_pids(svc).items():
        steady = statistics.median(samples.get(role) or [0])
        peak = max((proc_kib(p, "VmHWM") for p in pids), default=0)
        idle = max((proc_kib(p, "VmRSS") for p in pids), default=0)
        result.rss[role] = (peak / 1024, steady / 1024, idle / 1024)
    result.accepted = result.tally.statuses[202]
    return result


def count_log_errors(logs: list[Path]) -> int:
    """Lines in the service logs that report an error or a traceback."""
    words = (" ERROR ", "Traceback", "CRITICAL")
    return sum(any(w in line for w in words) for log in logs for line in log.read_text().splitlines())


# --- report --------------------------------------------------------------------------------------------------


def pct(samples: Sequence[float], fraction: float) -> float:
    """Nearest-rank percentile."""
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))] if ordered else float("nan")


def verdict(key: str, value: float | None) -> str:
    """The figure with 'met' or 'missed' against its target."""
    if value is None:
        return "timed out (missed)"
    _, limit, at_most = TARGETS[key]
    ok = value <= limit if at_most else value >= limit
    return f"{value:,.1f} ({'met' if ok else '**missed**'})"


def latency_cell(samples: list[float], key: str | None) -> str:
    """p50 / p95 / p99 in ms, the p95 judged against a target."""
    if not samples:
        return "—"
    p95 = f"{pct(samples, 0.95):.1f}"
    if key:
        _, limit, _ = TARGETS[key]
        p95 += " (met)" if pct(samples, 0.95) <= limit else " (**missed**)"
    return f"{pct(samples, 0.5):.1f} / {p95} / {pct(samples, 0.99):.1f} (n={len(samples)})"


def figure_rows(results: list[Result], plan: Plan) -> list[tuple[str, str, list[str]]]:
    """(metric, target, one cell per configuration)."""

    def each(cell: Callable[[Result], str]) -> list[str]:
        return [cell(r) for r in results]

    def rate(n: int, s: float | None) -> float | None:
        return n / s if s else None

    rows = [
        (f"burst: {plan.burst} simultaneous uploads, all completed (s)", TARGETS["burst"][0],
         each(lambda r: verdict("burst", r.burst_s))),
        ("burst: first created to last completed, server clock (s)", "", each(lambda r: f"{r.burst_server_s or 0:.2f}")),
        ("burst: all uploads accepted (s)", "", each(lambda r: f"{r.burst_accept_s:.2f}")),
        (f"sustained: uploads/s to completion ({plan.uploads} uploads, {plan.clients} clients)",
         TARGETS["sustained"][0], each(lambda r: verdict("sustained", rate(r.sustained_n, r.sustained_s)))),
        ("sustained: uploads/s accepted (upload side only)", "",
         each(lambda r: f"{rate(r.sustained_n, r.sustained_accept_s) or 0:,.1f}")),
        ("sustained: first upload to last completion (s) / max backlog (jobs)", "",
         each(lambda r: f"{r.sustained_s or float('nan'):.1f} / {r.max_backlog}")),
    ]
    for clients in plan.latency_clients:
        key = "upload_p95_16" if clients == 16 else None  # noqa: PLR2004
        rows.append((f"upload ms p50 / p95 / p99, {clients} clients", TARGETS[key][0] if key else "",
                     each(lambda r, c=clients, k=key: latency_cell(r.upload_ms.get(c, []), k))))
    for clients in plan.latency_clients:
        rows.append((f"status GET ms p50 / p95 / p99, {clients} clients", TARGETS["status_p95"][0],
                     each(lambda r, c=clients: latency_cell(r.status_ms.get(c, []), "status_p95"))))
    roles = sorted({role for r in results for role in r.rss}, key=lambda x: ("worker" in x, x))
    for role in roles:
        key = "worker_rss" if "worker process" in role else "api_rss" if role.startswith("API") else None
        cells = [
            f"{r.rss[role][0]:.0f} / {r.rss[role][1]:.0f} / {r.rss[role][2]:.0f}" if role in r.rss else "—"
            for r in results
        ]
        if key:
            cells = [c + (" (met)" if c == "—" or float(c.split()[0]) <= TARGETS[key][1] else " (**missed**)")
                     for c in cells]
        rows.append((f"RSS MiB peak / steady / idle: {role}", TARGETS[key][0] if key else "", cells))
    rows += [
        ("jobs accepted / completed / failed (all phases)", "failed = 0",
         each(lambda r: f"{r.accepted} / {r.jobs.get('completed', 0)} / {r.jobs.get('failed', 0)}")),
        ("verified burst + sustained jobs not completed", "0", each(lambda r: str(r.bad_jobs))),
        ("non-2xx responses (of which 503)", "0", each(lambda r: f"{r.tally.non_2xx()} ({r.tally.statuses[503]})")),
        ("uploads lost / transport errors / error lines in logs", "0",
         each(lambda r: f"{r.tally.lost_uploads} / {r.tally.transport_errors} / {r.log_errors}")),
    ]
    return rows


def print_report(results: list[Result], plan: Plan) -> None:
    """The figures table, then a CPU table per configuration."""
    print("\n| metric | target | " + " | ".join(r.label for r in results) + " |")
    print("|---|---|" + "---|" * len(results))
    for metric, target, cells in figure_rows(results, plan):
        print(f"| {metric} | {target} | " + " | ".join(cells) + " |")
    for r in results:
        names = list(r.cpu[0][3]) if r.cpu else []
        print(f"\nCPU seconds by phase, {r.label} (2 cores = 2 CPU s per wall second):\n")
        print("| phase | wall s | machine busy | " + " | ".join(names) + " |")
        print("|---|---|---|" + "---|" * len(names))
        for phase, wall, busy, used in r.cpu:
            cells = " | ".join(f"{used[n]:.1f}" for n in names)
            print(f"| {phase} | {wall:.1f} | {busy:.0f} % | {cells} |")
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(r.tally.statuses.items()))
        print(f"\nResponses ({r.label}): {codes}")


def machine() -> str:
    """One line about this machine."""
    model = next(
        (ln.split(":", 1)[1].strip() for ln in Path("/proc/cpuinfo").read_text().splitlines() if "model name" in ln),
        platform.processor(),
    )
    mem = int(Path("/proc/meminfo").read_text().split()[1]) / 1024 / 1024
    return (
        f"{os.cpu_count()} x {model}, {mem:.0f} GiB RAM, Linux {platform.release()}, "
        f"Python {platform.python_version()}"
    )


# --- main ------------------------------------------------------------------------------------------------------


def load_pdfs() -> list[tuple[str, bytes]]:
    """The real UP PDFs, from $SCHEDGEN_FIXTURES_DIR."""
    folder = Path(os.environ.get("SCHEDGEN_FIXTURES_DIR", ROOT.parent / "shared" / "fixtures" / "up"))
    pdfs = [(p.name, p.read_bytes()) for p in sorted(folder.glob("*.pdf"))]
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
    parser.add_argument("--redis-db", type=int, default=14, help="Redis db number (must be empty)")
    parser.add_argument(
        "--postgres-url", default=os.environ.get("SCHEDGEN_BENCH_POSTGRES_URL", DEFAULT_PG)
    )
    args = parser.parse_args()
    plan = QUICK if args.quick else Plan()
    overrides = {"uploads": args.uploads, "clients": args.clients, "timeout_s": args.timeout}
    plan = Plan(**{**plan.__dict__, **{k: v for k, v in overrides.items() if v is not None}})
    args.worker_counts = [int(n) for n in args.workers.split(",") if n.strip()]
    return args, plan


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into KeyboardInterrupt so that every clean-up runs."""
    raise KeyboardInterrupt


def main() -> None:
    """Run each configuration in turn, clean up, print the report."""
    args, plan = parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    pdfs = load_pdfs()
    configs = [0] if args.mode in ("embedded", "all") else []
    configs += args.worker_counts if args.mode in ("distributed", "all") else []
    results = []
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="schedgen-bench-") as tmp, contextlib.ExitStack() as undo:
        moto = undo.enter_context(moto_server(Path(tmp))) if any(configs) else None
        for workers in configs:
            with running_service(args, Path(tmp), workers, moto if workers else None) as svc:
                print(f"== {svc.label}", file=sys.stderr)
                result = asyncio.run(measure(svc, pdfs, plan))
            result.log_errors = count_log_errors(svc.logs)
            results.append(result)
    print("## Service benchmark\n")
    print(f"Command: `{shlex.join([Path(sys.executable).name, *sys.argv])}`  ")
    print(f"Machine: {machine()}  ")
    print(f"Date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC; total run {time.monotonic() - started:.0f} s  ")
    print("The load generator (this script, asyncio + httpx) runs on the same cores as the servers.")
    print_report(results, plan)


if __name__ == "__main__":
    main()
