"""The Google sync actor: a sync id in, one service call (services.google_sync.run), idempotent."""

from __future__ import annotations

from schedgen.adapters.sync_queue import register_sync_actor
from schedgen.bootstrap import Container
from schedgen.services import google_sync


def register_google_sync(container: Container) -> None:
    """Register the actor on the container's broker (before the worker starts consuming)."""
    google = container.google
    if google is None:
        return

    def handle(sync_id: str) -> None:
        google_sync.run(google, sync_id)

    register_sync_actor(container.broker, handle)
