"""Benchmark the parser on the real UP PDFs: median ms per PDF, events/s, sandbox cost, peak RSS of the CLI.

Usage: .venv/bin/python scripts/bench_parse.py [--runs N] [FIXTURES_DIR]
Prints a Markdown table (paste into docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

from schedgen.adapters.sandbox import parse_limited
from schedgen.parsing.api import parse_pdf

FILES = {"UP_EXAM_SS.pdf": 32.0, "UP_MOD_XLS.pdf": 126.0, "UP_TST_PDF.pdf": 85.0}  # predecessor's ms per PDF


def median_ms(func: object, data: bytes, runs: int) -> float:
    """Median wall time of func(data) in milliseconds, after warm-up runs."""
    assert callable(func)
    for _ in range(5):
        func(data)
    samples = []
    for _ in range(runs):
        start = time.perf_counter()
        func(data)
        samples.append((time.perf_counter() - start) * 1000)
    return statistics.median(samples)


def cli_peak_rss_mib(path: Path) -> float:
    """Peak resident memory of one `schedgen parse` process (parent and its sandbox child) in MiB."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    subprocess.run(
        [str(Path(sys.executable).with_name("schedgen")), "parse", str(path)],
        check=True,
        stdout=subprocess.DEVNULL,
    )
    after = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return max(after, before) / 1024


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument(
        "folder", nargs="?", default=os.environ.get("SCHEDGEN_FIXTURES_DIR", "../shared/fixtures/up")
    )
    args = parser.parse_args()
    folder = Path(args.folder)
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cores, {args.runs} runs per file\n")
    print(
        "| file | events | parse median ms | predecessor ms | speed-up | events/s | sandboxed median ms | CLI peak RSS MiB |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name, before in FILES.items():
        data = (folder / name).read_bytes()
        events = len(parse_pdf(data).events)
        direct = median_ms(parse_pdf, data, args.runs)
        boxed = median_ms(parse_limited, data, max(args.runs // 4, 10))
        rss = cli_peak_rss_mib(folder / name)
        print(
            f"| {name} | {events} | {direct:.2f} | {before:.0f} | {before / direct:.1f}x | "
            f"{events / direct * 1000:,.0f} | {boxed:.2f} | {rss:.1f} |"
        )


if __name__ == "__main__":
    main()
