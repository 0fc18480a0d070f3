"""Feeds and Google sync: feeds, google_accounts, google_events, google_syncs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create the four tables of issue 6."""
    op.create_table(
        "feeds",
        sa.Column("token_hash", sa.String(64), nullable=False),
        sa.Column("timetable_id", sa.String(64), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("revoked_at", _utc(), nullable=True),
        sa.PrimaryKeyConstraint("token_hash", name=op.f("pk_feeds")),
    )
    op.create_index(op.f("ix_feeds_timetable_id"), "feeds", ["timetable_id"])
    op.create_table(
        "google_accounts",
        sa.Column("id", sa.String(255), nullable=False),
        sa.Column("email", sa.String(320), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=True),
        sa.Column("refresh_token", sa.Text(), nullable=True),
        sa.Column("expires_at", _utc(), nullable=True),
        sa.Column("scopes", sa.Text(), nullable=False),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_google_accounts")),
    )
    op.create_table(
        "google_events",
        sa.Column("account_id", sa.String(255), nullable=False),
        sa.Column("calendar_id", sa.String(1024), nullable=False),
        sa.Column("event_id", sa.String(64), nullable=False),
        sa.Column("timetable_id", sa.String(64), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("summary", sa.String(255), nullable=False),
        sa.Column("synced_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("account_id", "calendar_id", "event_id", name=op.f("pk_google_events")),
    )
    op.create_table(
        "google_syncs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("account_id", sa.String(255), nullable=False),
        sa.Column("timetable_id", sa.String(64), nullable=False),
        sa.Column("calendar_id", sa.String(1024), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("total", sa.Integer(), nullable=False),
        sa.Column("done", sa.Integer(), nullable=False),
        sa.Column("counts", sa.JSON(), nullable=False),
        sa.Column("failures", sa.JSON(), nullable=False),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("created_at", _utc(), nullable=False),
        sa.Column("updated_at", _utc(), nullable=False),
        sa.CheckConstraint(
            "status IN ('pending', 'running', 'completed', 'failed')", name=op.f("ck_google_syncs_status")
        ),
        sa.CheckConstraint("kind IN ('sync', 'undo')", name=op.f("ck_google_syncs_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_google_syncs")),
    )
    op.create_index(
        op.f("ix_google_syncs_account_id_created_at"), "google_syncs", ["account_id", "created_at"]
    )


def downgrade() -> None:
    """Drop the four tables of issue 6."""
    op.drop_index(op.f("ix_google_syncs_account_id_created_at"), table_name="google_syncs")
    op.drop_table("google_syncs")
    op.drop_table("google_events")
    op.drop_table("google_accounts")
    op.drop_index(op.f("ix_feeds_timetable_id"), table_name="feeds")
    op.drop_table("feeds")
