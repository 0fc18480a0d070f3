"""Parse targets for the zygote's tests, importable by name in the zygote process."""

from __future__ import annotations

import os
import signal
import time

from schedgen.domain.events import Kind, ParseWarning, Timetable
from schedgen.errors import NotTimetableError

HUGE_BYTES = 4 * 1024 * 1024 * 1024  # far beyond any parse's memory allowance


def echo(data: bytes) -> Timetable:
    """A timetable whose one warning carries the input's length and this process's id."""
    return Timetable(Kind.TESTS, (), warnings=(ParseWarning(1, "note", f"{len(data)}:{os.getpid()}"),))


_calls = 0  # calls of count_calls and exit_on_first_call in this process, and in the process it forked from


def count_calls(data: bytes) -> Timetable:
    """Like echo, with the number of calls made in this process so far (a forked child counts on)."""
    global _calls  # noqa: PLW0603 - the state under test is this process's
    _calls += 1
    return Timetable(
        Kind.TESTS, (), warnings=(ParseWarning(1, "note", f"{len(data)}:{os.getpid()}:{_calls}"),)
    )


def exit_on_first_call(data: bytes) -> Timetable:
    """Raise SystemExit on the first call in a process (and its forks); echo after that."""
    global _calls  # noqa: PLW0603 - the state under test is this process's
    _calls += 1
    if _calls == 1:
        raise SystemExit(1)
    return echo(data)


def refuse(data: bytes) -> Timetable:
    """Raise a parse error with its page and row."""
    error = NotTimetableError()
    error.page, error.row = 2, 7
    raise error


def sleep_forever(data: bytes) -> Timetable:
    """Never return (the wall-clock limit must end it)."""
    while True:
        time.sleep(60)


def spin(data: bytes) -> Timetable:
    """Burn CPU forever."""
    while True:
        pass


def allocate(data: bytes) -> Timetable:
    """Ask for more memory than the allowance."""
    blob = bytearray(HUGE_BYTES)
    return echo(bytes(blob[:1]))


def crash(data: bytes) -> Timetable:
    """Die of a segmentation fault, as a crash in the PDF library would."""
    os.kill(os.getpid(), signal.SIGSEGV)
    return echo(data)


def niceness(data: bytes) -> Timetable:
    """A timetable whose one warning carries this process's CPU niceness."""
    return Timetable(Kind.TESTS, (), warnings=(ParseWarning(1, "note", str(os.nice(0))),))


def autogroup(data: bytes) -> Timetable:
    """A timetable whose one warning carries this process's scheduler autogroup (``/autogroup-N nice K``), or
    an empty text where the kernel keeps no autogroup for its session."""
    try:
        with open("/proc/self/autogroup") as group:
            line = group.read().strip()
    except FileNotFoundError:
        line = ""
    return Timetable(Kind.TESTS, (), warnings=(ParseWarning(1, "note", line),))
