"""Keys kept in a file of the data folder when none is configured: made once, shared by every process."""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable
from pathlib import Path


def key_from_file(path: Path, generate: Callable[[], bytes]) -> bytes:
    """The key stored at `path`; on first use `generate()` makes one, stored with mode 0600.

    The new key is written to a temporary file and linked into place, so a process starting at the same
    time never reads a half-written key: it either wins the link or reads the winner's key.
    """
    try:
        return path.read_bytes().strip()
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    key = generate()
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(key)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            return path.read_bytes().strip()
    finally:
        os.unlink(temp)
    return key
