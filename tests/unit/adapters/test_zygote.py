"""The parse zygote: each parse in a fresh child of a small helper, under the sandbox's limits."""

from __future__ import annotations

import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from schedgen import errors
from schedgen.adapters.zygote import ParseZygote
from schedgen.parsing.api import parse_pdf
from tests.support import hostile
from tests.support.waiting import wait_for

SHORT_TIMEOUT_S = 0.5
TARGETS = "tests.support.zygote_targets"


def _zygote(target: str, **kwargs: float) -> ParseZygote:
    return ParseZygote(target=f"{TARGETS}:{target}", **kwargs)  # type: ignore[arg-type]


@pytest.fixture
def echo() -> Iterator[ParseZygote]:
    zygote = _zygote("echo")
    yield zygote
    zygote.close()


def _children_of(pid: int) -> set[int]:
    found: set[int] = set()
    for task in os.listdir(f"/proc/{pid}/task"):
        with open(f"/proc/{pid}/task/{task}/children") as listing:
            found.update(int(child) for child in listing.read().split())
    return found


def _wait_exit(pid: int, timeout: float) -> bool:
    """True once process `pid` (not our child) has exited, waiting on its pidfd."""
    try:
        pidfd = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        return bool(poller.poll(int(timeout * 1000)))
    finally:
        os.close(pidfd)


def test_a_real_timetable_parses_as_in_process() -> None:
    zygote = ParseZygote()
    try:
        data = hostile.timetable()
        assert zygote.parse(data) == parse_pdf(data)
    finally:
        zygote.close()


def test_every_parse_runs_in_a_fresh_child_of_the_zygote(echo: ParseZygote) -> None:
    first = echo.parse(b"x" * 10)
    second = echo.parse(b"y" * 100_000)
    (note1,), (note2,) = first.warnings, second.warnings
    length1, pid1 = note1.text.split(":")
    length2, pid2 = note2.text.split(":")
    assert (length1, length2) == ("10", "100000")  # the whole PDF reached the child
    assert len({pid1, pid2, str(os.getpid()), str(echo.pid)}) == 4


def test_children_are_reaped(echo: ParseZygote) -> None:
    for _ in range(5):
        echo.parse(b"x")
    zygote_pid = echo.pid
    assert zygote_pid is not None
    # A reply can arrive before the zygote has reaped that child, so wait for the reaping, bounded.
    wait_for(lambda: not _children_of(zygote_pid), timeout=5)


def test_a_parse_error_keeps_its_code_page_and_row() -> None:
    zygote = _zygote("refuse")
    try:
        with pytest.raises(errors.NotTimetableError) as info:
            zygote.parse(b"%PDF-")
    finally:
        zygote.close()
    assert (info.value.page, info.value.row) == (2, 7)


@pytest.mark.parametrize("target", ["sleep_forever", "spin", "allocate", "crash"])
def test_a_runaway_parse_is_stopped_with_parse_limit_exceeded(target: str) -> None:
    zygote = _zygote(target, timeout_s=SHORT_TIMEOUT_S, memory_bytes=64 * 1024 * 1024)
    try:
        started = time.monotonic()
        with pytest.raises(errors.ParseLimitError):
            zygote.parse(b"%PDF-")
        assert time.monotonic() - started < SHORT_TIMEOUT_S + 1.5
    finally:
        zygote.close()


def test_a_killed_zygote_is_replaced(echo: ParseZygote) -> None:
    echo.parse(b"x")
    old = echo.pid
    assert old is not None
    os.kill(old, 9)
    assert echo.parse(b"abc").warnings[0].text.startswith("3:")
    assert echo.pid not in {None, old}


def test_parses_from_many_threads(echo: ParseZygote) -> None:
    sizes = [n * 1000 for n in range(1, 41)]
    with ThreadPoolExecutor(8) as pool:
        results = list(pool.map(lambda n: echo.parse(b"z" * n), sizes))
    assert [int(r.warnings[0].text.split(":")[0]) for r in results] == sizes


def test_close_stops_the_zygote(echo: ParseZygote) -> None:
    echo.parse(b"x")
    pid = echo.pid
    assert pid is not None
    echo.close()
    assert _wait_exit(pid, 5)
    with pytest.raises(RuntimeError):
        echo.parse(b"x")


def test_the_zygote_exits_when_its_owner_dies() -> None:
    script = (
        "import os, sys\n"
        "from schedgen.adapters.zygote import ParseZygote\n"
        f"z = ParseZygote(target='{TARGETS}:echo')\n"
        "z.parse(b'x')\n"
        "print(z.pid, flush=True)\n"
        "os._exit(0)\n"
    )
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
    assert _wait_exit(int(out.stdout.strip()), 10)
