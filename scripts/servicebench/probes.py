"""What /proc says about the processes under test: memory, CPU seconds by role, process trees."""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import time
from collections.abc import Iterator
from pathlib import Path

from servicebench.model import PhaseCpu, Result
from servicebench.processes import Service

CLK_TCK = os.sysconf("SC_CLK_TCK")
RSS_SAMPLE_S = 0.5  # how often RSS is sampled during the sustained phase


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
        if svc.s3 is not None:
            groups[svc.s3.role] = [svc.s3.pid] if svc.s3.pid else []
        groups["PostgreSQL"] = pids_named("postgres")
        groups["Redis"] = pids_named("redis-server")
    cpu = {name: {pid: cpu_s(pid) for pid in pids} for name, pids in groups.items()}
    parsers = groups["API"] + groups.get("workers", [])
    # Parses run in children of a zygote (counted whole, with its reaped children) or, before the zygote,
    # in children forked by the API or worker processes themselves.
    sandboxes = {pid: cpu_s(pid, children_only=True) for pid in parsers if pid not in zygotes(parsers)}
    sandboxes |= {pid: cpu_s(pid) for pid in zygotes(parsers)}
    cpu["of which parse sandboxes"] = sandboxes
    return cpu


def zygotes(pids: list[int]) -> list[int]:
    """The parse zygotes among these processes."""
    found = []
    for pid in pids:
        with contextlib.suppress(OSError):
            if b"schedgen.adapters.zygote" in Path(f"/proc/{pid}/cmdline").read_bytes():
                found.append(pid)
    return found


def machine_cpu_s() -> tuple[float, float]:
    """(busy, stolen by the hypervisor) CPU seconds of the whole machine, all cores, since boot."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields
    return (user + nice + system + irq + softirq) / CLK_TCK, steal / CLK_TCK


def machine_busy_pct(seconds: float) -> float:
    """How busy all cores are over the next `seconds` (a check that nothing else is running)."""
    (busy, _), start = machine_cpu_s(), time.monotonic()
    time.sleep(seconds)
    return (machine_cpu_s()[0] - busy) / ((time.monotonic() - start) * (os.cpu_count() or 1)) * 100


@contextlib.contextmanager
def cpu_phase(svc: Service, result: Result, phase: str) -> Iterator[None]:
    """Record wall time, machine utilisation and CPU seconds per role for the phase inside."""
    before, machine, start = cpu_groups(svc), machine_cpu_s(), time.monotonic()
    accepted, answered = result.tally.statuses[202], result.tally.statuses[200]
    yield
    wall, after = time.monotonic() - start, cpu_groups(svc)
    used = {
        name: sum(v - before.get(name, {}).get(pid, 0.0) for pid, v in pids.items())
        for name, pids in after.items()
    }
    capacity = wall * (os.cpu_count() or 1) / 100
    busy, steal = (now - then for now, then in zip(machine_cpu_s(), machine, strict=True))
    jobs = result.tally.statuses[202] - accepted
    units = (jobs, "job") if jobs else (result.tally.statuses[200] - answered, "GET")
    result.cpu.append(PhaseCpu(phase, wall, busy / capacity, steal / capacity, used, *units))
    print(f"   {phase}: {wall:.1f} s", file=sys.stderr)


def rss_pids(svc: Service) -> dict[str, list[int]]:
    """Processes whose memory is reported, by role (the largest of several processes)."""
    api = spawned(svc.api.pid)
    if svc.workers is None:
        return {
            "API (+ in-process workers)": [svc.api.pid],
            "parse zygote": zygotes(descendants(svc.api.pid)),
        }
    roles = {"API supervisor (uvicorn)": [svc.api.pid], "API process (largest)": api} if api else {}
    return {
        **(roles or {"API": [svc.api.pid]}),
        "worker supervisor": [svc.workers.pid],
        "worker process (largest)": spawned(svc.workers.pid),
        "parse zygote (largest)": zygotes(descendants(svc.workers.pid)),
    }


async def sample_rss(svc: Service, samples: dict[str, list[int]]) -> None:
    """Append the largest VmRSS of each role every RSS_SAMPLE_S until cancelled."""
    while True:
        for role, pids in rss_pids(svc).items():
            samples.setdefault(role, []).append(max((proc_kib(p, "VmRSS") for p in pids), default=0))
        await asyncio.sleep(RSS_SAMPLE_S)
