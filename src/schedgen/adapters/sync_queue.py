"""The Google sync queue on the same Dramatiq broker as parse jobs: one actor, messages carry a sync id."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import dramatiq

from schedgen.errors import QueueUnavailableError

log = logging.getLogger(__name__)

SYNC_QUEUE = "google_sync"  # its own queue: a slow Google never holds up parsing
SYNC_ACTOR = "run_google_sync"
SYNC_TIME_LIMIT_MS = 30 * 60 * 1000  # a sync with every backoff used up still ends well within this


def declare_sync_queue(broker: dramatiq.Broker) -> None:
    """Declare the queue (before workers start, so they consume it)."""
    broker.declare_queue(SYNC_QUEUE)


def register_sync_actor(broker: dramatiq.Broker, handler: Callable[[str], None]) -> None:
    """Declare the actor that calls handler(sync_id); Dramatiq's retries are off (the run is idempotent)."""
    declare = dramatiq.actor(
        broker=broker,
        actor_name=SYNC_ACTOR,
        queue_name=SYNC_QUEUE,
        max_retries=0,
        time_limit=SYNC_TIME_LIMIT_MS,
    )
    declare(handler)


class SyncQueue:
    """Hands sync ids to the broker."""

    def __init__(self, broker: dramatiq.Broker) -> None:
        self.broker = broker

    def enqueue(self, sync_id: str) -> None:
        """Queue a sync run; QueueUnavailableError when the broker cannot be reached."""
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=SYNC_QUEUE, actor_name=SYNC_ACTOR, args=(sync_id,), kwargs={}, options={}
        )
        try:
            self.broker.enqueue(message)
        except Exception as exc:  # the broker's connection errors vary by backend
            log.warning("could not enqueue sync %s: %s", sync_id, type(exc).__name__)
            raise QueueUnavailableError() from exc
