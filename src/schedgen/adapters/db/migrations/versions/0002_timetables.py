"""Timetables table: the web UI's server-side state (parse jobs, choices, calendar options).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create `timetables` and its expiry index."""
    op.create_table(
        "timetables",
        sa.Column("id", sa.String(64), nullable=False),
        sa.Column("job_ids", sa.JSON(), nullable=False),
        sa.Column("selection", sa.JSON(), nullable=False),
        sa.Column("options", sa.JSON(), nullable=False),
        sa.Column("created_at", _utc(), server_default=sa.func.current_timestamp(), nullable=False),
        sa.Column("updated_at", _utc(), server_default=sa.func.current_timestamp(), nullable=False),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_timetables")),
    )
    op.create_index(op.f("ix_timetables_expires_at"), "timetables", ["expires_at"])


def downgrade() -> None:
    """Drop `timetables`."""
    op.drop_index(op.f("ix_timetables_expires_at"), table_name="timetables")
    op.drop_table("timetables")
