"""What a benchmark run plans, counts and measures: plain data and the issue's targets."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import NamedTuple

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


QUICK = Plan(burst=10, uploads=40, latency_uploads=24, status_gets=160, timeout_s=30.0)


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
    busy_before_pct: float = 0.0  # of all cores, in the half second before the service started
    tally: Tally = field(default_factory=Tally)


class PhaseCpu(NamedTuple):
    """CPU use of one phase."""

    phase: str
    wall_s: float
    busy_pct: float  # of all cores
    steal_pct: float  # of all cores, taken by the hypervisor for other guests
    used_s: dict[str, float]  # CPU seconds by role
    units: int  # jobs accepted, or (if none) GETs answered
    unit: str
