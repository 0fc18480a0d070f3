"""The job queue on Dramatiq: a Redis broker in production, an in-process StubBroker when embedded.

Jobs travel as their id only. One queue per priority (Dramatiq's Redis broker cannot reorder a queue), so a
HIGH job overtakes waiting NORMAL ones. Dramatiq's own retries are off: the service decides about retries
and re-enqueues with a delay, because the database, not the broker, is the source of truth.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.brokers.stub import StubBroker
from dramatiq.middleware import (
    AgeLimit,
    Callbacks,
    CurrentMessage,
    Pipelines,
    Retries,
    ShutdownNotifications,
    TimeLimit,
)
from dramatiq.rate_limits import WindowRateLimiter

from schedgen.adapters.redis_client import redis_client
from schedgen.config import Settings
from schedgen.domain.jobs import JobPriority
from schedgen.errors import QueueUnavailableError

log = logging.getLogger(__name__)

ACTOR_PREFIX = "process_job"  # one actor per priority: process_job_high, process_job_normal, ...
MAINTENANCE_CHANCE = (
    100_000  # out of dramatiq's 1,000,000: 10% of broker calls look for dead workers' messages
)


def actor_name(priority: JobPriority) -> str:
    """The actor that processes jobs of one priority."""
    return f"{ACTOR_PREFIX}_{priority.name.lower()}"


def _middleware(settings: Settings) -> list[Any]:
    return [
        AgeLimit(),
        TimeLimit(time_limit=int(settings.job_timeout_s * 1000)),
        ShutdownNotifications(),
        Callbacks(),
        Pipelines(),
        Retries(max_retries=0),
        CurrentMessage(),
    ]


def build_broker(settings: Settings) -> dramatiq.Broker:
    """A Redis broker tuned to hand a dead worker's jobs to a live one quickly, or an in-process stub."""
    broker: dramatiq.Broker
    if settings.redis_url is None:
        broker = StubBroker(middleware=_middleware(settings))
        broker.emit_after("process_boot")
    else:  # redis is imported only here: an embedded process never loads it (about 14 MiB)
        from dramatiq.brokers.redis import RedisBroker

        client = redis_client(settings.redis_url, 5, connect_timeout_s=3, health_check_interval=30)
        broker = RedisBroker(  # type: ignore[no-untyped-call]
            client=client,
            middleware=_middleware(settings),
            namespace="schedgen",
            heartbeat_timeout=settings.worker_heartbeat_timeout_ms,
            maintenance_chance=MAINTENANCE_CHANCE,
            dead_message_ttl=settings.failed_job_ttl_s * 1000,
        )
    for priority in JobPriority:
        broker.declare_queue(priority.queue)
    return broker


def register_actors(
    broker: dramatiq.Broker, handler_for: Callable[[JobPriority], Callable[[str], None]], settings: Settings
) -> None:
    """Declare the process-job actors (one per priority queue) that call `handler_for(priority)(job_id)`."""
    for priority in JobPriority:
        declare = dramatiq.actor(
            broker=broker,
            actor_name=actor_name(priority),
            queue_name=priority.queue,
            priority=int(priority),
            max_retries=0,
            time_limit=int(settings.job_timeout_s * 1000),
        )
        declare(handler_for(priority))


def build_rate_limiter(settings: Settings, broker: dramatiq.Broker) -> WindowRateLimiter | None:
    """A cap on jobs started per second across every worker (shared through Redis); None when off."""
    if not settings.processing_rate_per_s:
        return None
    from dramatiq.rate_limits.backends import RedisBackend, StubBackend

    client = getattr(broker, "client", None)
    backend = RedisBackend(client=client) if client is not None else StubBackend()  # type: ignore[no-untyped-call]
    limit = max(1, math.ceil(settings.processing_rate_per_s))
    return WindowRateLimiter(backend, "schedgen-processing", limit=limit, window=1)  # type: ignore[no-untyped-call]


class JobQueue:
    """Hands job ids to the broker."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker

    def enqueue(self, job_id: str, priority: JobPriority = JobPriority.NORMAL, delay_ms: int = 0) -> None:
        """Queue a job (after `delay_ms`); raises QueueUnavailableError when the broker can't be reached."""
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=priority.queue, actor_name=actor_name(priority), args=(job_id,), kwargs={}, options={}
        )
        try:
            self.broker.enqueue(message, delay=delay_ms or None)
        except Exception as exc:  # the broker's connection errors vary by backend
            log.warning("could not enqueue job %s: %s", job_id, type(exc).__name__)
            raise QueueUnavailableError() from exc

    def check(self) -> None:
        """Raise QueueUnavailableError unless the broker answers."""
        client = getattr(self.broker, "client", None)
        if client is None:
            return
        try:
            client.ping()
        except Exception as exc:  # redis raises several connection error types
            raise QueueUnavailableError() from exc
