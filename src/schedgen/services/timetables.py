"""Use case: read one uploaded PDF into a Timetable, isolated from the caller's process."""

from __future__ import annotations

from schedgen.adapters.sandbox import parse_limited
from schedgen.domain.events import Timetable
from schedgen.parsing.api import parse_pdf


def read_timetable(data: bytes, *, isolated: bool = True) -> Timetable:
    """Parse PDF bytes; isolated runs the parser in a child process with time and memory limits."""
    return parse_limited(data) if isolated else parse_pdf(data)
