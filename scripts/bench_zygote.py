"""Benchmark the parse zygote: CPU ms and minor faults per parse child, the zygote's and the caller's CPU.

Usage: .venv/bin/python scripts/bench_zygote.py [--runs N] [--rounds R] [--module MODULE ...] [FIXTURES_DIR]

Parses the three real UP PDFs N times each (round robin) in the children of a ParseZygote, R rounds, and
prints per parse: the children's CPU (the zygote's cutime + cstime from /proc/<pid>/stat, which count each
child once the zygote has reaped it) and minor faults (cminflt), the zygote's own CPU and faults (fork,
reaping), the caller's CPU, and the same PDFs parsed in this process as the reference (so child minus
reference is what the fresh process costs). CPU time, never wall time: the machine is shared. /proc counts
in clock ticks (10 ms), so a round needs a few hundred parses. ``--module`` names a module defining
ParseZygote; given twice (say an old copy on PYTHONPATH and schedgen.adapters.zygote), rounds alternate
between the two, so both see the same load. Prints figures only; it checks no timing.
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import time
from dataclasses import dataclass
from importlib import import_module
from pathlib import Path

from schedgen.parsing.api import parse_pdf

FILES = ("UP_EXAM_SS.pdf", "UP_MOD_XLS.pdf", "UP_TST_PDF.pdf")
TICKS = os.sysconf("SC_CLK_TCK")  # /proc/<pid>/stat times are in clock ticks
REAP_TIMEOUT_S = 10.0  # how long to wait for the zygote to reap the last children


@dataclass(frozen=True)
class ProcStat:
    """The counters of /proc/<pid>/stat this benchmark reads (times in seconds)."""

    minflt: int
    cminflt: int
    utime: float
    stime: float
    cutime: float
    cstime: float

    @classmethod
    def read(cls, pid: int) -> ProcStat:
        raw = Path(f"/proc/{pid}/stat").read_text()
        fields = raw[raw.rindex(")") + 2 :].split()  # fields from 3 (state) on; the name may hold spaces
        minflt, cminflt = int(fields[7]), int(fields[8])
        utime, stime, cutime, cstime = (int(v) / TICKS for v in fields[11:15])
        return cls(minflt, cminflt, utime, stime, cutime, cstime)


def children_of(pid: int) -> set[int]:
    """The live (unreaped) children of a process."""
    found: set[int] = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        found.update(int(c) for c in Path(f"/proc/{pid}/task/{task}/children").read_text().split())
    return found


def wait_reaped(pid: int) -> None:
    """Wait until the zygote has reaped every child (a reply arrives before its child is reaped)."""
    deadline = time.monotonic() + REAP_TIMEOUT_S
    while children_of(pid):
        if time.monotonic() > deadline:
            raise SystemExit("the zygote did not reap its children")
        time.sleep(0.005)


def caller_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def in_process_ms(pdfs: list[bytes], runs: int) -> float:
    """CPU ms of one parse_pdf in this process, averaged over the files (warm)."""
    start = time.process_time()
    for _ in range(runs):
        for data in pdfs:
            parse_pdf(data)
    return (time.process_time() - start) * 1000 / (runs * len(pdfs))


def one_round(zygote: object, pid: int, pdfs: list[bytes], runs: int) -> dict[str, float]:
    """Parse every PDF `runs` times in the zygote's children, then in process; the per-parse figures."""
    parse = zygote.parse  # type: ignore[attr-defined]
    wait_reaped(pid)
    before, caller_before = ProcStat.read(pid), caller_cpu_s()
    for _ in range(runs):
        for data in pdfs:
            parse(data)
    wait_reaped(pid)
    after, caller_after = ProcStat.read(pid), caller_cpu_s()
    n = runs * len(pdfs)
    return {
        "child_user_ms": (after.cutime - before.cutime) * 1000 / n,
        "child_sys_ms": (after.cstime - before.cstime) * 1000 / n,
        "child_ms": (after.cutime + after.cstime - before.cutime - before.cstime) * 1000 / n,
        "child_minflt": (after.cminflt - before.cminflt) / n,
        "zygote_ms": (after.utime + after.stime - before.utime - before.stime) * 1000 / n,
        "zygote_minflt": (after.minflt - before.minflt) / n,
        "caller_ms": (caller_after - caller_before) * 1000 / n,
        "in_process_ms": in_process_ms(pdfs, runs),
    }


def zygote_rss(pid: int) -> str:
    return Path(f"/proc/{pid}/status").read_text().split("VmRSS:")[1].split("\n")[0].strip()


HEADER = (
    "| round | child CPU ms (user+sys) | child minflt | zygote CPU ms | zygote minflt | caller CPU ms "
    "| in-process parse CPU ms |\n|---|---|---|---|---|---|---|"
)


def row(label: str, r: dict[str, float]) -> str:
    return (
        f"| {label} | {r['child_ms']:.2f} ({r['child_user_ms']:.2f}+{r['child_sys_ms']:.2f}) | "
        f"{r['child_minflt']:.0f} | {r['zygote_ms']:.2f} | {r['zygote_minflt']:.1f} | {r['caller_ms']:.2f} | "
        f"{r['in_process_ms']:.2f} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=100, help="parses of each file per round")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--module",
        action="append",
        help="module defining ParseZygote (default schedgen.adapters.zygote); give two to alternate rounds",
    )
    default_dir = Path(__file__).resolve().parents[1] / ".." / "shared" / "fixtures" / "up"
    parser.add_argument(
        "folder", nargs="?", default=os.environ.get("SCHEDGEN_FIXTURES_DIR", str(default_dir))
    )
    args = parser.parse_args()
    modules = args.module or ["schedgen.adapters.zygote"]
    pdfs = [(Path(args.folder) / name).read_bytes() for name in FILES]

    zygotes = [import_module(name).ParseZygote() for name in modules]
    try:
        pids = []
        for zygote in zygotes:
            for data in pdfs:  # starts the zygote and lets it finish its own start-up (and warms this one)
                if zygote.parse(data) != parse_pdf(data):
                    raise SystemExit("a parse in the zygote differs from one in process")
            if zygote.pid is None:
                raise SystemExit("the zygote is not running")
            pids.append(zygote.pid)
        print(
            f"python {sys.version.split()[0]}, {os.cpu_count()} cores, load {os.getloadavg()[0]:.2f}, "
            f"{args.runs} x {len(pdfs)} parses per round; figures per parse"
        )
        print(HEADER)
        rounds: dict[str, list[dict[str, float]]] = {name: [] for name in modules}
        for number in range(1, args.rounds + 1):
            for name, zygote, pid in zip(modules, zygotes, pids, strict=True):
                result = one_round(zygote, pid, pdfs, args.runs)
                rounds[name].append(result)
                print(row(f"{number} {name}" if len(modules) > 1 else str(number), result))
        for name, pid in zip(modules, pids, strict=True):
            median = {key: statistics.median(r[key] for r in rounds[name]) for key in rounds[name][0]}
            print(row(f"median {name} (zygote RSS {zygote_rss(pid)})", median))
    finally:
        for zygote in zygotes:
            zygote.close()


if __name__ == "__main__":
    main()
