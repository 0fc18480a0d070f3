"""Bounds on the work one parse may do, so hostile files fail fast instead of eating the machine."""

from __future__ import annotations

from dataclasses import dataclass

MIB = 1024 * 1024


@dataclass(frozen=True, slots=True)
class ParseLimits:
    """Limits checked by the pure parser itself (time and memory are enforced by the sandbox adapter)."""

    max_bytes: int = 10 * MIB  # larger uploads are refused before the PDF is opened
    max_pages: int = 100  # the longest real UP timetable is a few pages
    max_objects_per_page: int = 20_000  # a real page holds a few hundred text objects
    max_chars: int = 400_000  # glyphs over the whole document (a full page holds ~5,000)


PDF_MAGIC = b"%PDF-"
MAGIC_WINDOW = 1024  # the PDF header may follow a few bytes of junk within the first KiB


def looks_like_pdf(head: bytes) -> bool:
    """Whether the first bytes of a file (at least MAGIC_WINDOW of them, or all) carry the PDF header."""
    return PDF_MAGIC in head[:MAGIC_WINDOW]
