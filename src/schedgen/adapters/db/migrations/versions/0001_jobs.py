"""Jobs table: one row per uploaded PDF on its way from pending to completed or failed.

Revision ID: 0001
Revises:
Create Date: 2026-11-22
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | tuple[str, ...] | None = None
depends_on: str | tuple[str, ...] | None = None


def _utc() -> sa.DateTime:
    return sa.DateTime(timezone=True)


def upgrade() -> None:
    """Create `jobs` and its indexes."""
    op.create_table(
        "jobs",
        sa.Column("id", sa.String(36), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("priority", sa.SmallInteger(), nullable=False),
        sa.Column("owner", sa.String(128), nullable=False),
        sa.Column("filename", sa.String(255), nullable=False),
        sa.Column("blob_key", sa.String(255), nullable=True),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(16), nullable=True),
        sa.Column(
            "result",
            sa.JSON(none_as_null=True).with_variant(postgresql.JSONB(none_as_null=True), "postgresql"),
            nullable=True,
        ),
        sa.Column("error_code", sa.String(64), nullable=True),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("worker", sa.String(128), nullable=True),
        sa.Column("created_at", _utc(), server_default=sa.func.current_timestamp(), nullable=False),
        sa.Column("updated_at", _utc(), server_default=sa.func.current_timestamp(), nullable=False),
        sa.Column("available_at", _utc(), nullable=False),
        sa.Column("last_attempt_at", _utc(), nullable=True),
        sa.Column("completed_at", _utc(), nullable=True),
        sa.Column("expires_at", _utc(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_jobs")),
        sa.CheckConstraint(
            "status IN ('pending', 'processing', 'completed', 'failed')", name=op.f("ck_jobs_status")
        ),
    )
    op.create_index(op.f("ix_jobs_status_available_at"), "jobs", ["status", "available_at"])
    op.create_index(op.f("ix_jobs_owner_created_at"), "jobs", ["owner", "created_at"])
    op.create_index(op.f("ix_jobs_expires_at"), "jobs", ["expires_at"])


def downgrade() -> None:
    """Drop `jobs` and its indexes."""
    op.drop_index(op.f("ix_jobs_expires_at"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_owner_created_at"), table_name="jobs")
    op.drop_index(op.f("ix_jobs_status_available_at"), table_name="jobs")
    op.drop_table("jobs")
