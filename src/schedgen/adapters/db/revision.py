"""Which migration a database is at, read without Alembic (8 MiB a long-running process need not keep).

HEAD_REVISION names the newest migration in ``migrations/versions``; a test checks it against Alembic's own
view, so adding a migration without moving it fails the suite.
"""

from __future__ import annotations

import sqlalchemy as sa

HEAD_REVISION = "0004"


def database_revision(engine: sa.Engine) -> str | None:
    """The revision recorded in the database, or None before the first migration (or if unreadable)."""
    try:
        with engine.connect() as connection:
            versions = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    except sa.exc.DBAPIError:  # no alembic_version table yet
        return None
    return versions[0] if len(versions) == 1 else None


def is_at_head(engine: sa.Engine) -> bool:
    """Whether the database needs no migration."""
    return database_revision(engine) == HEAD_REVISION
