"""Timetables keep a copy of what was read from their files once a live feed keeps them (sources).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def upgrade() -> None:
    """Add timetables.sources (NULL: the files are read from the parse jobs)."""
    op.add_column("timetables", sa.Column("sources", sa.JSON(none_as_null=True), nullable=True))


def downgrade() -> None:
    """Drop timetables.sources."""
    with op.batch_alter_table("timetables") as batch:
        batch.drop_column("sources")
