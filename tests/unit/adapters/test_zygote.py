"""The parse zygote: each parse in a fresh child of a small helper, under the sandbox's limits."""

from __future__ import annotations

import ctypes
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from schedgen import errors
from schedgen.adapters import zygote_warmup
from schedgen.adapters.zygote import ParseZygote
from schedgen.adapters.zygote_warmup import sample_pdfs
from schedgen.domain.events import Kind
from schedgen.parsing.api import parse_pdf
from tests.support import hostile
from tests.support.waiting import wait_for

SHORT_TIMEOUT_S = 0.5
TARGETS = "tests.support.zygote_targets"


def _zygote(target: str, *, warm_up: bool = True, **kwargs: float) -> ParseZygote:
    return ParseZygote(target=f"{TARGETS}:{target}", warm_up=warm_up, **kwargs)  # type: ignore[arg-type]


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


def test_a_warmed_zygote_parses_the_real_pdfs_as_in_process(real_pdfs: dict[str, bytes]) -> None:
    warm, cold = ParseZygote(), ParseZygote(warm_up=False)
    try:
        for data in real_pdfs.values():
            expected = parse_pdf(data)
            assert warm.parse(data) == expected
            assert cold.parse(data) == expected
    finally:
        warm.close()
        cold.close()


def test_the_warm_up_samples_are_clean_timetables_of_every_kind() -> None:
    """The warm-up only helps if the samples go through the whole parser, as a real timetable does."""
    parsed = [parse_pdf(data) for data in sample_pdfs()]
    assert [t.kind for t in parsed] == [Kind.LECTURES, Kind.TESTS, Kind.EXAMS]
    assert all(t.events and not t.warnings for t in parsed)


def test_children_inherit_the_warm_up_run_in_the_zygote() -> None:
    warm, cold = _zygote("count_calls"), _zygote("count_calls", warm_up=False)
    try:
        warm_calls = warm.parse(b"x").warnings[0].text.split(":")[2]
        cold_calls = cold.parse(b"x").warnings[0].text.split(":")[2]
    finally:
        warm.close()
        cold.close()
    samples = len(sample_pdfs())
    assert (int(cold_calls), int(warm_calls)) == (1, 1 + samples * zygote_warmup._WARM_UP_ROUNDS)


def test_a_failed_warm_up_does_not_stop_the_zygote() -> None:
    zygote = _zygote("exit_on_first_call")  # the warm-up makes the first call, in the zygote
    try:
        first, second = zygote.parse(b"abc"), zygote.parse(b"de")
    finally:
        zygote.close()
    assert [t.warnings[0].text.split(":")[0] for t in (first, second)] == ["3", "2"]


HOLD_SCRIPT = """
import ctypes, json
from schedgen.adapters.memory import _MallInfo2, hold_free_heap_chunks
libc = ctypes.CDLL(None)
libc.mallinfo2.restype = _MallInfo2
blocks = [bytearray(size) for size in range(1000, 200_000, 1500)]  # glibc malloc, not Python's pools
del blocks[::2]  # free chunks between live ones
before = libc.mallinfo2()
held = hold_free_heap_chunks()
after = libc.mallinfo2()
print(json.dumps([before.fordblks - before.keepcost, after.fordblks - after.keepcost, len(held)]))
"""


def test_holding_free_heap_chunks_leaves_the_heap_no_free_chunk_but_its_top() -> None:
    if not hasattr(ctypes.CDLL(None), "mallinfo2"):
        pytest.skip("not glibc 2.33 or later")
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(p for p in sys.path if p))
    out = subprocess.run(
        [sys.executable, "-c", HOLD_SCRIPT], env=env, capture_output=True, text=True, check=True
    )
    free_before, free_after, held = json.loads(out.stdout)
    assert free_before > 1_000_000  # the freed blocks, outside the top chunk
    assert free_after < 4096  # taken out of the way: a child allocates from the top
    assert held > 0


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
    # No warm-up: it runs the target in the zygote itself, where nothing limits it.
    zygote = _zygote(target, warm_up=False, timeout_s=SHORT_TIMEOUT_S, memory_bytes=64 * 1024 * 1024)
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


def test_parses_run_at_the_niceness_given(echo: ParseZygote) -> None:
    base = os.nice(0)
    polite = _zygote("niceness", nice=7)
    try:
        assert polite.parse(b"x").warnings[0].text == str(min(19, base + 7))
    finally:
        polite.close()
    plain = _zygote("niceness")
    try:
        assert plain.parse(b"x").warnings[0].text == str(base)
    finally:
        plain.close()
    with pytest.raises(ValueError, match="nice"):
        ParseZygote(nice=20)


def _autogroup() -> str:
    """This process's scheduler autogroup (``/autogroup-N nice K``), or "" where the kernel keeps none for its
    session (a kernel without autogroup; or one where the session could not get a group of its own and
    shares the root group, as in some CI sandboxes)."""
    try:
        with open("/proc/self/autogroup") as group:
            return group.read().strip()
    except FileNotFoundError:
        return ""


def test_parses_yield_across_sessions_with_autogroup() -> None:
    # The zygote leads its own session. Where the kernel schedules by autogroup, that session is a group of
    # its own, and the group gets the niceness too, or parses would share the CPU equally with the service
    # whatever their own niceness. Where there is no such group, the process's niceness alone counts.
    ours = _autogroup()
    polite = _zygote("autogroup", nice=7)
    try:
        theirs = polite.parse(b"x").warnings[0].text
    finally:
        polite.close()
    plain = _zygote("autogroup")
    try:
        theirs_plain = plain.parse(b"x").warnings[0].text
    finally:
        plain.close()
    if theirs:
        assert theirs.split()[1:] == ["nice", "7"]
        assert theirs.split()[0] != (ours.split() or [""])[0]
        assert theirs_plain.split()[1:] == ["nice", "0"]
    else:
        assert theirs_plain == ""


def test_the_session_priority_is_reported_set_only_where_the_kernel_took_it() -> None:
    code = (
        "from schedgen.adapters.zygote import lower_session_priority\n"
        "done = lower_session_priority(5)\n"
        "try:\n"
        "    group = open('/proc/self/autogroup').read().strip()\n"
        "except FileNotFoundError:\n"
        "    group = ''\n"
        "print(done, group, sep='|')\n"
    )
    ran = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, start_new_session=True
    )
    done, group = ran.stdout.strip().split("|")
    assert done == str(group.endswith(" nice 5"))
    if group:  # the session's own group exists: the niceness must have reached it
        assert done == "True"


def test_a_process_that_is_not_a_session_leader_leaves_its_session_alone() -> None:
    before = _autogroup()
    code = "from schedgen.adapters.zygote import lower_session_priority; print(lower_session_priority(5))"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"
    assert _autogroup() == before


def test_a_child_still_parsing_is_killed_when_the_zygote_is_told_to_stop() -> None:
    zygote = _zygote("sleep_forever", warm_up=False, timeout_s=60)
    errors: list[BaseException] = []

    def parse() -> None:
        try:
            zygote.parse(b"%PDF-")
        except BaseException as exc:
            errors.append(exc)

    worker = threading.Thread(target=parse)
    worker.start()
    wait_for(lambda: zygote.pid is not None and bool(_children_of(zygote.pid)), timeout=30)
    assert zygote.pid is not None
    (child,) = _children_of(zygote.pid)
    zygote.close()
    assert _wait_exit(child, 10)  # long before its own 60 s limit
    worker.join(timeout=10)
    assert not worker.is_alive()
    assert errors


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
