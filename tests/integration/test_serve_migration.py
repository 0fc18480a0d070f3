"""`schedgen serve` (embedded) migrates its database in a child process: the server never loads Alembic."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SCRIPT = textwrap.dedent(
    """
    import subprocess, sys
    from schedgen import bootstrap
    from schedgen.adapters.db.revision import is_at_head
    from schedgen.cli import _migrate_in_child
    from schedgen.config import Settings

    settings = Settings()
    _migrate_in_child(settings)                 # a fresh data folder: `schedgen db upgrade` in a child
    container = bootstrap.build(settings)       # finds the database at head
    assert is_at_head(container.engine)
    container.close()
    real_run = subprocess.run
    def refuse(*args, **kwargs):
        raise AssertionError("no second migration process expected")
    subprocess.run = refuse
    _migrate_in_child(settings)                 # at head already: nothing to start
    subprocess.run = real_run
    print(sorted(name for name in sys.modules if name.split(".")[0] in {"alembic", "mako"}))
    """
)


def test_the_embedded_server_migrates_in_a_child_and_never_imports_alembic(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDGEN_")}
    env["SCHEDGEN_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "data").is_dir()


def test_a_failed_migration_stops_the_server_with_a_plain_message(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SCHEDGEN_")}
    data = tmp_path / "data"
    data.mkdir()
    (data / "schedgen.db").write_bytes(b"this is not a SQLite database" * 100)
    env["SCHEDGEN_DATA_DIR"] = str(data)
    done = subprocess.run(
        [sys.executable, "-m", "schedgen.cli", "serve", "--port", "1"],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert "cannot migrate the database: file is not a database" in done.stderr
