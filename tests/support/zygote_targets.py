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
