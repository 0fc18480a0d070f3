"""Alembic migrations run from code: the environment ships inside the package, no alembic.ini needed."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from schedgen.adapters.db.engine import build_engine
from schedgen.config import Settings

MIGRATIONS_DIR = Path(__file__).with_name("migrations")
PG_MIGRATION_LOCK = 0x5C4ED6E2  # pg_advisory_xact_lock key: one migrating process at a time


def alembic_config(connection: sa.Connection | None = None) -> Config:
    """An Alembic Config for the bundled migrations, migrating `connection` when one is given."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    if connection is not None:
        config.attributes["connection"] = connection
    return config


@contextmanager
def _engine_for(engine_or_url: sa.Engine | str) -> Iterator[sa.Engine]:
    if isinstance(engine_or_url, sa.Engine):
        yield engine_or_url
        return
    engine = build_engine(Settings(database_url=engine_or_url))
    try:
        yield engine
    finally:
        engine.dispose()


def upgrade(engine_or_url: sa.Engine | str, revision: str = "head") -> None:
    """Migrate the database to `revision` (latest by default); safe to run again and from many processes."""
    with _engine_for(engine_or_url) as engine, engine.begin() as connection:
        if connection.dialect.name == "postgresql":
            connection.execute(sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": PG_MIGRATION_LOCK})
        command.upgrade(alembic_config(connection), revision)


def current(engine: sa.Engine) -> str | None:
    """The revision the database is at, or None before the first migration."""
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head() -> str | None:
    """The latest revision the package ships."""
    return ScriptDirectory.from_config(alembic_config()).get_current_head()
