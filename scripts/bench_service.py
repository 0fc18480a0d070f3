"""Load-benchmark the service: burst, sustained and latency figures, RSS and CPU, embedded or distributed.

Usage: .venv/bin/python scripts/bench_service.py [--mode embedded|distributed|all] [--workers 1,2]
           [--uploads N] [--clients C] [--quick] [--api-processes N] [--worker-threads N] [--env SCHEDGEN_X=V]

Starts everything itself on 127.0.0.1 and undoes it all at the end, also after an error, Ctrl-C or SIGTERM:
- embedded: one `schedgen serve` (SQLite, local blobs, in-process workers) in a temporary data folder;
- distributed, for each N in --workers: `schedgen db upgrade` into a fresh PostgreSQL schema (dropped at the
  end), `schedgen serve` and `schedgen worker --processes N --threads 2`, Redis db --redis-db (refused
  unless empty; flushed at the end) and moto_server as S3 on a free port with a bucket of its own (or
  --s3-endpoint: an S3 server already running, e.g. MinIO; --s3-pid to report its CPU).
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
--quick shrinks every count for a smoke run (under a minute for all three configurations). The PDFs are read
from $SCHEDGEN_FIXTURES_DIR (default ../shared/fixtures/up). Prints Markdown (docs/benchmarks-service.md);
progress goes to stderr.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import datetime as dt
import os
import shlex
import signal
import sys
import tempfile
import time
from pathlib import Path
from types import FrameType

import uvloop
from servicebench.client import Upload, multipart
from servicebench.model import QUICK, Plan, Result
from servicebench.phases import count_log_errors, measure
from servicebench.probes import machine_busy_pct
from servicebench.processes import S3Endpoint, moto_server, running_service
from servicebench.report import code_version, machine, print_report

ROOT = Path(__file__).resolve().parents[1]
BUSY_WARNING_PCT = 10.0  # more than this before a start means someone else is using the cores
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


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
    parser.add_argument(
        "--s3-endpoint",
        help="distributed: an S3 endpoint already running (e.g. MinIO) instead of moto_server; each set-up "
        "creates a bucket of its own there and leaves it (with its remaining objects) behind",
    )
    parser.add_argument("--s3-access-key", default=os.environ.get("SCHEDGEN_BENCH_S3_ACCESS_KEY", "test"))
    parser.add_argument("--s3-secret-key", default=os.environ.get("SCHEDGEN_BENCH_S3_SECRET_KEY", "test"))
    parser.add_argument("--s3-pid", type=int, help="the --s3-endpoint server's pid, to report its CPU")
    parser.add_argument("--s3-name", default="S3 server", help="its column in the CPU tables")
    args = parser.parse_args()
    plan = QUICK if args.quick else Plan()
    overrides = {"uploads": args.uploads, "clients": args.clients, "timeout_s": args.timeout}
    plan = Plan(**{**plan.__dict__, **{k: v for k, v in overrides.items() if v is not None}})
    args.worker_counts = [int(n) for n in args.workers.split(",") if n.strip()]
    if min(args.worker_counts, default=0) < 1 or args.api_processes < 1 or args.worker_threads < 1:
        parser.error("--workers, --api-processes and --worker-threads take numbers from 1")
    pairs = [item.split("=", 1) for item in args.env]
    if any(len(p) != 2 or not p[0].startswith("SCHEDGEN_") for p in pairs):
        parser.error("--env takes SCHEDGEN_NAME=VALUE")
    args.env = dict(pairs)
    return args, plan


def on_sigterm(signum: int, frame: FrameType | None) -> None:
    """Turn SIGTERM into KeyboardInterrupt so that every clean-up runs."""
    raise KeyboardInterrupt


def run_config(
    args: argparse.Namespace, tmp: Path, workers: int, s3: S3Endpoint | None, plan: Plan
) -> Result:
    """Start one configuration, measure it, stop it."""
    pdfs, busy = load_pdfs(), machine_busy_pct(0.5)
    if busy > BUSY_WARNING_PCT:
        print(
            f"warning: the machine is {busy:.0f} % busy before the start; figures will be low",
            file=sys.stderr,
        )
    begun = time.monotonic()
    with running_service(args, tmp, workers, s3) as svc:
        print(f"== {svc.label}: started in {time.monotonic() - begun:.1f} s", file=sys.stderr)
        try:
            with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
                result = runner.run(measure(svc, pdfs, plan))
        except Exception:  # show why before everything is removed, then fail
            for log in svc.logs:
                print(f"--- {log.name} (last lines)\n{log.read_text()[-2000:]}", file=sys.stderr)
            raise
        stopping = time.monotonic()
    print(f"   stopped and cleaned up in {time.monotonic() - stopping:.1f} s", file=sys.stderr)
    result.log_errors = count_log_errors(svc.logs)
    result.busy_before_pct = busy
    return result


def main() -> None:
    """Run each configuration in turn, clean up, print the report."""
    args, plan = parse_args()
    signal.signal(signal.SIGTERM, on_sigterm)
    configs = [0] if args.mode in ("embedded", "all") else []
    configs += args.worker_counts if args.mode in ("distributed", "all") else []
    results, started, version = [], time.monotonic(), code_version()
    with tempfile.TemporaryDirectory(prefix="schedgen-bench-") as tmp, contextlib.ExitStack() as undo:
        s3 = None
        if args.s3_endpoint and any(configs):
            s3 = S3Endpoint(
                args.s3_endpoint, args.s3_access_key, args.s3_secret_key, args.s3_pid, args.s3_name
            )
        elif any(configs):
            s3 = undo.enter_context(moto_server(Path(tmp)))
        for workers in configs:
            results.append(run_config(args, Path(tmp), workers, s3 if workers else None, plan))
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
