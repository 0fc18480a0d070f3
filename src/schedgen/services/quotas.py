"""Use case: per-user storage quota (seeds R11.4): refuse an upload that would exceed it, saying by how much.

"Stored" is what the blob store holds for the owner: the PDFs of their jobs that still have one (a PDF is
deleted once parsed, when its job is deleted, or by the 24 h sweep). The check itself is part of the
statement that inserts the job (`insert_job_within_quota`); this module words the refusal.
"""

from __future__ import annotations

from schedgen.adapters.db.jobs import Executor, owner_bytes
from schedgen.config import Settings
from schedgen.errors import QuotaExceededError


def quota_exceeded(session: Executor, settings: Settings, owner: str, incoming: int) -> QuotaExceededError:
    """The error for an upload the quota refused, stating what the owner has stored now."""
    return QuotaExceededError.for_usage(
        owner_bytes(session, owner), incoming, settings.max_stored_bytes_per_user
    )
