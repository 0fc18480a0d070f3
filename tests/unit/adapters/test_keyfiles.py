"""Key files in the data folder: made once with mode 0600, then read back by every process."""

from __future__ import annotations

import stat
import subprocess
import sys
from pathlib import Path

from schedgen.adapters.keyfiles import key_from_file


def test_a_key_is_made_once_private_and_read_back(tmp_path: Path) -> None:
    path = tmp_path / "data" / "secret_key"
    made = key_from_file(path, lambda: b"first-key\n")
    assert made == b"first-key\n"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert key_from_file(path, lambda: b"second-key") == b"first-key"  # stored, not made again
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]  # no temporary file left


def test_processes_starting_together_agree_on_one_key(tmp_path: Path) -> None:
    path = tmp_path / "secret_key"
    script = (
        "import secrets, sys\n"
        "from pathlib import Path\n"
        "from schedgen.adapters.keyfiles import key_from_file\n"
        "print(key_from_file(Path(sys.argv[1]), lambda: secrets.token_hex(16).encode()).decode())\n"
    )
    runs = [
        subprocess.Popen([sys.executable, "-c", script, str(path)], stdout=subprocess.PIPE, text=True)
        for _ in range(6)
    ]
    keys = {run.communicate(timeout=60)[0].strip() for run in runs}
    assert keys == {path.read_text()}
