"""Use case: per-user storage quota (seeds R11.4): refuse an upload that would exceed it, saying by how much.

"Stored" is what the blob store holds for the owner: the PDFs of their jobs that still have one (a PDF is
deleted once parsed, when its job is deleted, or by the 24 h sweep).
"""

from __future__ import annotations

from schedgen.adapters.db.jobs import Executor, owner_bytes
from schedgen.config import Settings
from schedgen.errors import QuotaExceededError


def check_stored_bytes(session: Executor, settings: Settings, owner: str, incoming: int) -> None:
    """Raise QuotaExceededError if the owner's stored bytes plus `incoming` would pass the limit."""
    limit = settings.max_stored_bytes_per_user
    used = owner_bytes(session, owner)
    if used + incoming > limit:
        raise QuotaExceededError.for_usage(used, incoming, limit)
