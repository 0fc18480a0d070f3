"""Alembic environment: migrates the connection that schedgen.adapters.db.migrate puts in config.attributes."""

from __future__ import annotations

from alembic import context

from schedgen.adapters.db.tables import Base


def run_migrations() -> None:
    """Run the pending migrations on the given connection (batch mode on SQLite)."""
    if context.is_offline_mode():
        raise RuntimeError("offline (--sql) migrations are not supported; use schedgen.adapters.db.migrate")
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through schedgen.adapters.db.migrate, which passes a connection")
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


run_migrations()
