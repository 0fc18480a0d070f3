"""Use case: read one uploaded PDF into a Timetable, isolated from the caller's process."""

from __future__ import annotations

from schedgen.adapters.sandbox import parse_limited
from schedgen.domain.events import Timetable


def read_timetable(data: bytes, *, isolated: bool = True) -> Timetable:
    """Parse PDF bytes; isolated runs the parser in a child process with time and memory limits."""
    if isolated:
        return parse_limited(data)
    from schedgen.parsing.api import parse_pdf  # PDFium (4.5 MiB) loads only where a parse runs

    return parse_pdf(data)
