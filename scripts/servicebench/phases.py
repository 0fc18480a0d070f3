"""The load: burst, sustained and latency phases against a running service, and the whole measurement."""

from __future__ import annotations

import asyncio
import datetime as dt
import itertools
import json
import random
import statistics
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from servicebench.client import Client, HttpError, Upload
from servicebench.model import Plan, Result, Tally
from servicebench.probes import cpu_phase, proc_kib, rss_pids, sample_rss, spawned
from servicebench.processes import Service

POLL_S = 0.05  # how often completion is checked (the resolution of the burst figure)
MAX_ATTEMPTS = 50  # retries of one upload after 503s before it counts as lost


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
    async with Client(b.svc.url, plan.burst + 8) as client:
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
    async with Client(b.svc.url, plan.clients + 8) as client:
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
    async with Client(b.svc.url, clients + 8) as client:
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
    async with Client(b.svc.url, clients + 8) as client:
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
    start = time.monotonic()
    async with Client(svc.url, 16) as client:  # warm-up: every worker process built and busy once
        count = 6 * max(1, len(spawned(svc.workers.pid)) if svc.workers else 1)
        await asyncio.gather(*(upload_one(client, b.pdf(n), b.result.tally, plan) for n in range(count)))
        await drained(client, b.result.tally, plan.timeout_s * 2)
    print(f"   warm-up ({count} jobs): {time.monotonic() - start:.1f} s", file=sys.stderr)
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
    async with Client(svc.url, 4) as client:
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
