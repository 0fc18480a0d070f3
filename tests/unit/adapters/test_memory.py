"""Limiting glibc's malloc arenas in service processes."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from schedgen.adapters.memory import limit_malloc_arenas

# Eight threads allocate at once, then glibc's malloc_stats() lists one "Arena N:" block per arena on stderr.
CHILD = """
import ctypes, ctypes.util, sys, threading
from schedgen.adapters.memory import limit_malloc_arenas
if sys.argv[1] == "limit":
    assert limit_malloc_arenas(1)
start = threading.Barrier(8)
def churn():
    start.wait()
    blocks = [bytearray(256) for _ in range(50000)]
    del blocks
threads = [threading.Thread(target=churn) for _ in range(8)]
[t.start() for t in threads]
[t.join() for t in threads]
ctypes.CDLL(ctypes.util.find_library("c")).malloc_stats()
"""


def _arenas(mode: str) -> int:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode], capture_output=True, text=True, check=True, env=env
    )
    return out.stderr.count("Arena ")


def test_limiting_arenas_succeeds_on_glibc() -> None:
    assert limit_malloc_arenas() is True


@pytest.mark.parametrize(("mode", "expected"), [("limit", 1), ("default", None)])
def test_threads_share_the_capped_arenas(mode: str, expected: int | None) -> None:
    arenas = _arenas(mode)
    if expected is None:
        assert arenas > 1  # glibc gives concurrent threads arenas of their own by default
    else:
        assert arenas == expected
