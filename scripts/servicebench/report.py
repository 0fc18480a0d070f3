"""The Markdown report: the figures against their targets, CPU by phase and role, the machine and code."""

from __future__ import annotations

import math
import os
import platform
import subprocess
from collections.abc import Sequence
from pathlib import Path

from servicebench.model import TARGETS, Plan, Result

ROOT = Path(__file__).resolve().parents[2]


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


LEGEND = """
Latency: closed loop, each client sends its next request when the last one is answered (no think time).
RSS: peak = VmHWM; steady = median VmRSS during the sustained phase; warm = VmRSS after the warm-up jobs;
after = VmRSS at the end. Several processes of a role: the largest. CPU tables: "not ours" is the machine's
busy time minus our processes (other tenants of the VM, kernel threads); "steal" is time the hypervisor gave
to other guests; parse sandboxes are short-lived children, counted in their parent's figure as well."""


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
    print(LEGEND)
    for r in results:
        print_cpu(r)
        codes = ", ".join(f"{code}: {n}" for code, n in sorted(r.tally.statuses.items()))
        print(
            f"\nHTTP statuses seen ({r.label}): {codes}. Machine busy before the start: {r.busy_before_pct:.0f} %."
        )


def print_cpu(r: Result) -> None:
    """CPU seconds per phase and role, then the same per job (or per GET in the status phase)."""
    names = list(r.cpu[0].used_s) if r.cpu else []
    head = " | ".join(names)
    print(
        f"\nCPU seconds by phase, {r.label} ({os.cpu_count()} cores: {os.cpu_count()} CPU s per wall second):\n"
    )
    print(
        f"| phase | wall s | machine busy | steal | not ours | all roles | {head} |\n|---|---|---|---|---|---|"
        + "---|" * len(names)
    )
    for p in r.cpu:
        total = sum(v for k, v in p.used_s.items() if not k.startswith("of which"))
        other = p.busy_pct / 100 * p.wall_s * (os.cpu_count() or 1) - total
        cells = " | ".join(f"{p.used_s[n]:.1f}" for n in names)
        print(
            f"| {p.phase} | {p.wall_s:.1f} | {p.busy_pct:.0f} % | {p.steal_pct:.1f} % | {other:.1f} | {total:.1f} "
            f"| {cells} |"
        )
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
