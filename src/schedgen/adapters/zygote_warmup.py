"""The parse zygote's warm-up: small built-in PDFs, one per UP layout, run through the parser once.

The zygote (``adapters/zygote.py``) runs the parse target over these samples and encodes the replies before it
serves, so pdfium's one-off work (the system font scan, loaded fonts, resolved symbols) and Python's
(specialised bytecode, caches) is done once and shared with every forked child instead of redone in each.
The samples are built here with zlib only (no PDF library): the same fonts, encoding and compression as UP's
exports, including the white activity letter in the Lang cell.
"""

from __future__ import annotations

import logging
import zlib
from collections.abc import Callable

from schedgen.adapters.sandbox import encode_reply, run_target
from schedgen.domain.events import Timetable

log = logging.getLogger(__name__)

_WARM_UP_ROUNDS = 3  # passes over the samples: enough for Python to specialise the parser's bytecode


def warm_up_target(target: Callable[[bytes], Timetable]) -> None:
    """Run the target over the sample PDFs and encode its replies, as a child would; never raises."""
    try:
        samples = sample_pdfs()
        for _ in range(_WARM_UP_ROUNDS):
            for data in samples:
                encode_reply(run_target(target, data))
    except BaseException:  # a failed warm-up only makes children slower: keep serving
        log.warning("The parse zygote's warm-up failed; serving without it", exc_info=True)


_PAGE = (841.9, 595.3)  # A4 landscape, like every UP timetable
# One sample per UP layout, a header and a row. Each line is "font size y | x text | x text ...": F1 is
# Helvetica-Bold and F2 Helvetica, not embedded and in WinAnsiEncoding, as UP exports them; a "*" before
# a text prints it white, as UP prints the activity letter in the Lang cell.
_SAMPLES = (
    """
    F1 20 539.88 | 36 Lectures
    F1 10 511.72 | 41.4 Module | 98.1 Offered | 140.65 Group | 183.15 Lang | 218.6 Activity | 268.2 Day
    F1 10 511.72 | 332 Time | 402.9 Venue | 558.8 Campus | 643.85 Study Prog
    F2 10 499.66 | 41.4 COS 214 | 98.1 S2 | 140.65 G01 | 183.15 E | 192.6 *L | 218.6 L1 | 268.2 Monday
    F2 10 499.66 | 332 08:30 - 09:20 | 402.9 Centenary 6 | 558.8 HATFIELD
    F2 10 488.10 | 218.6 L2 | 268.2 Tuesday | 332 07:30 - 08:20 | 402.9 IT 4-4
    """,
    """
    F1 20 539.88 | 36 Semester Tests
    F1 11 510.75 | 41.4 Module | 98.1 Test | 140.65 Day | 218.65 Date | 296.65 Time | 374.6 Campus
    F1 11 510.75 | 466.75 Venue
    F2 10 497.53 | 41.4 COS 284 | 98.1 Test1 | 140.65 Saturday | 218.65 23 Aug 2025 | 296.65 10:00 - 11:30
    F2 10 497.53 | 374.6 HATFIELD | 466.75 Informatorium Blue Lab 1
    F2 10 484.82 | 466.75 Informatorium Blue Lab 2
    """,
    """
    F1 20 539.88 | 36 Exams
    F1 11 510.75 | 41.4 Status | 90.9 Module | 149.4 Paper | 189.9 Activity | 243.9 Date | 320.4 Start
    F1 11 510.75 | 367.45 Module | 459.6 Exam Campus | 551.75 Venue | 679.3 Exam
    F1 11 497.66 | 320.4 Time | 367.45 Campus | 679.3 Comments
    F2 10 485.38 | 41.4 FINAL | 90.9 COS 284 | 149.4 1 | 189.9 Exam | 243.9 12 NOV 2025 | 320.4 07:30
    F2 10 485.38 | 367.45 HATF | 459.6 HATFIELD | 551.75 IT Building CBT Labs
    F2 10 473.82 | 189.9 Written | 551.75 1,2,3
    """,
)


def sample_pdfs() -> list[bytes]:
    """The warm-up's sample PDFs: a small Lectures, Semester Tests and Exams timetable."""
    return [sample_pdf(lines) for lines in _SAMPLES]


def sample_pdf(lines: str) -> bytes:
    """A one-page PDF with these lines of text (as in ``_SAMPLES``), its content compressed like UP's."""
    ops = [b"BT"]
    for line in filter(None, map(str.strip, lines.splitlines())):
        style, *cells = (part.strip() for part in line.split("|"))
        font, size, y = style.split()
        for cell in cells:
            x, _, text = cell.partition(" ")
            colour = b"1 1 1" if text.startswith("*") else b"0 0 0"
            literal = text.lstrip("*").replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(
                b"%s rg /%s %s Tf 1 0 0 1 %s %s Tm (%s) Tj"
                % (colour, *(v.encode() for v in (font, size, x, y)), literal.encode("cp1252"))
            )
    content = zlib.compress(b"\n".join([*ops, b"ET"]))
    objects = (
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.1f %.1f] /Contents 6 0 R "
        b"/Resources << /ProcSet [/PDF /Text] /Font << /F1 4 0 R /F2 5 0 R >> >> >>" % _PAGE,
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica-Bold /Encoding /WinAnsiEncoding >>",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
        b"<< /Length %d /Filter /FlateDecode >>\nstream\n%s\nendstream" % (len(content), content),
    )
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n%s\nendobj\n" % (number, body)
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)
