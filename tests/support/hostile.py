"""Builders of hostile and broken uploads as bytes, generated on the fly (no binaries are committed)."""

from __future__ import annotations

import datetime as dt
import io
import random
import struct
import zipfile
import zlib
from collections.abc import Sequence

import pikepdf
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen.canvas import Canvas

from schedgen.domain.events import TestSitting
from tests.support.updraw import draw_tests, encrypt_empty_password, encrypt_with_password

MIB = 1024 * 1024
GIB = 1024 * MIB
PAGE = (841.9, 595.3)  # A4 landscape, like every real UP timetable
TITLE_Y = 539.88  # baseline of "Semester Tests" in the real file
HEADER_Y = 510.749  # baseline of the header row in the real file
BODY_Y = 497.533  # baseline of the first table row in the real file
TEST_COLUMNS = (  # header text and x of each column of the real Semester Tests file
    ("Module", 41.4),
    ("Test", 98.1),
    ("Day", 140.65),
    ("Date", 218.65),
    ("Time", 296.65),
    ("Campus", 374.6),
    ("Venue", 466.75),
)
ROW_TEXT = b"COS 214 Test1 Saturday 23 Aug 2025 10:00 - 11:30 HATFIELD AE du Toit Auditorium"


# --- real content -----------------------------------------------------------------------------------------


def sittings(count: int = 3) -> list[TestSitting]:
    """Semester test sittings with known content."""
    return [
        TestSitting(
            module=f"{('COS', 'STK', 'WTW')[i // 900 % 3]} {100 + i % 900}",
            activity="Test1",
            day="Saturday",
            date=dt.date(2025, 8, 23) + dt.timedelta(days=7 * i),
            start=dt.time(10, 0),
            end=dt.time(11, 30),
            venues=("AE du Toit Auditorium",),
            campus="HATFIELD",
        )
        for i in range(count)
    ]


def timetable(count: int = 3) -> bytes:
    """A valid Semester Tests timetable PDF in UP's layout."""
    return draw_tests(sittings(count))


# --- not a PDF --------------------------------------------------------------------------------------------


def empty() -> bytes:
    """A zero-byte upload."""
    return b""


def png() -> bytes:
    """A valid 1x1 white PNG."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))

    header = struct.pack(">IIBBBBB", 1, 1, 8, 0, 0, 0, 0)  # 1x1, 8-bit greyscale
    pixels = zlib.compress(b"\x00\xff")  # filter byte, one white pixel
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", pixels) + chunk(b"IEND", b"")


def text_file() -> bytes:
    """A plain-text timetable someone typed out."""
    return b"Module,Test,Day,Date\nCOS 214,Test1,Saturday,23 Aug 2025\n"


def docx() -> bytes:
    """A minimal Word document (a zip archive)."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(
            "[Content_Types].xml",
            '<?xml version="1.0"?><Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Override PartName="/word/document.xml" ContentType="application/vnd.openxmlformats-'
            'officedocument.wordprocessingml.document.main+xml"/></Types>',
        )
        archive.writestr(
            "word/document.xml",
            '<?xml version="1.0"?><w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/'
            '2006/main"><w:body><w:p><w:r><w:t>COS 214 Test1</w:t></w:r></w:p></w:body></w:document>',
        )
    return out.getvalue()


# --- broken PDFs ------------------------------------------------------------------------------------------


def magic_then_garbage(*, with_eof: bool = True) -> bytes:
    """PDF magic bytes followed by random bytes (optionally ending in a %%EOF marker)."""
    noise = random.Random(1).randbytes(8192)
    return b"%PDF-1.7\n" + noise + (b"\n%%EOF\n" if with_eof else b"")


def truncated_half(pdf: bytes | None = None) -> bytes:
    """The first half of a real-looking PDF (a download cut off)."""
    source = pdf if pdf is not None else timetable()
    return source[: len(source) // 2]


def without_eof_tail(pdf: bytes | None = None) -> bytes:
    """A complete PDF with just its final %%EOF marker cut off."""
    source = pdf if pdf is not None else timetable()
    cut = source.rindex(b"%%EOF")
    return source[:cut]


def password_protected(pdf: bytes | None = None) -> bytes:
    """A timetable that needs a user password to open."""
    return encrypt_with_password(pdf if pdf is not None else timetable(), "student-secret")


def empty_password(pdf: bytes | None = None) -> bytes:
    """A timetable encrypted with an empty user password (opens without asking, like UP's exam PDF)."""
    return encrypt_empty_password(pdf if pdf is not None else timetable())


# --- over the parser's limits -----------------------------------------------------------------------------


def too_large(size: int = 10 * MIB + 1) -> bytes:
    """A well-formed PDF just over the upload limit (an incompressible stream pads it)."""
    padding = random.Random(2).randbytes(size)
    with pikepdf.open(io.BytesIO(timetable())) as doc:
        doc.Root.Padding = pikepdf.Stream(doc, padding)
        out = io.BytesIO()
        doc.save(out, compress_streams=False, stream_decode_level=pikepdf.StreamDecodeLevel.none)
    return out.getvalue()


def many_pages(count: int = 101) -> bytes:
    """A PDF with one short line of text on each of count pages."""
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4)
    for number in range(1, count + 1):
        canvas.drawString(72, 720, f"Page {number}")
        canvas.showPage()
    canvas.save()
    return out.getvalue()


def scanned() -> bytes:
    """A page that is only an image of a timetable (no text layer), as a scanner makes it."""
    width, height = 400, 280
    rng = random.Random(3)
    pixels = bytes(rng.choice((0, 255)) if rng.random() < 0.1 else 255 for _ in range(width * height))
    image = _stream(
        zlib.compress(pixels),
        b"/Type /XObject /Subtype /Image /Width %d /Height %d /ColorSpace /DeviceGray "
        b"/BitsPerComponent 8 /Filter /FlateDecode" % (width, height),
    )
    content = b"q 800 0 0 560 20 20 cm /Im0 Do Q"
    return _single_page(content, resources=b"/XObject << /Im0 6 0 R >>", extra=[image])


def letter() -> bytes:
    """A PDF full of text that is not a timetable (a letter)."""
    out = io.BytesIO()
    canvas = Canvas(out, pagesize=A4)
    lines = (
        "Dear Student,",
        "",
        "Thank you for your application to the University of Pretoria.",
        "Your registration for the 2025 academic year is confirmed.",
        "Please bring your student card to the Client Service Centre.",
        "",
        "Kind regards,",
        "Student Administration",
    )
    for index, line in enumerate(lines):
        canvas.drawString(72, 740 - 16 * index, line)
    canvas.showPage()
    canvas.save()
    return out.getvalue()


# --- hostile ----------------------------------------------------------------------------------------------


def deflate_bomb(expanded: int = GIB, unit: bytes = b" ") -> bytes:
    """A one-page PDF whose content stream inflates to `expanded` bytes of `unit` repeated (~1000:1)."""
    return _single_page(repeated_deflate(unit, expanded), filter_name=b"/FlateDecode")


def operator_bomb(expanded: int = GIB) -> bytes:
    """A content-stream deflate bomb of drawing operators (each one a path object) instead of blanks."""
    return deflate_bomb(expanded, b"0 0 1 1 re f\n")


def many_text_objects(count: int = 50_000) -> bytes:
    """One page with count tiny text objects (one glyph each) spread over it."""
    ops = bytearray(b"BT /F1 4 Tf\n")
    for index in range(count):
        x, y = 20 + (index % 200) * 4, 20 + ((index // 200) * 2) % 560
        ops += b"1 0 0 1 %d %d Tm (x) Tj\n" % (x, y)
    ops += b"ET"
    return _single_page(bytes(ops))


def many_path_objects(count: int = 50_000) -> bytes:
    """One page with count tiny filled rectangles (path objects) and one line of text."""
    ops = bytearray(b"BT /F1 11 Tf 40 560 Td (Semester Tests) Tj ET\n")
    for index in range(count):
        ops += b"%d %d 1 1 re f\n" % (20 + index % 800, 20 + index // 800)
    return _single_page(bytes(ops))


def overlapping_rows(count: int = 6_000) -> bytes:
    """A real timetable header, then count full table rows all printed on top of each other."""
    ops = bytearray(_tests_header())
    ops += b"BT /F1 10 Tf\n"
    for _ in range(count):
        ops += b"1 0 0 1 41.4 %.3f Tm (%s) Tj\n" % (BODY_Y, ROW_TEXT)
    ops += b"ET"
    return _single_page(bytes(ops))


def dense_page(chars: int = 100_000) -> bytes:
    """A real timetable header, then `chars` characters of table-like text packed into 1-point lines."""
    ops = bytearray(_tests_header())
    ops += b"BT /F1 1 Tf\n"
    per_line = 400
    line = (ROW_TEXT + b" ") * (per_line // (len(ROW_TEXT) + 1) + 1)
    for index in range(chars // per_line):
        ops += b"1 0 0 1 41.4 %.2f Tm (%s) Tj\n" % (490 - (index * 1.5) % 460, line[:per_line])
    ops += b"ET"
    return _single_page(bytes(ops))


def one_row_many_lines(lines: int = 3_000) -> bytes:
    """A real timetable header, then one module code followed by `lines` sittings on a very tall page."""
    size, pitch = 10.0, 12.0  # body text size and line pitch close to the real files
    height = 40 + lines * pitch + 100
    ops = bytearray(b"BT /F1 %.1f Tf\n" % size)
    ops += b"1 0 0 1 41.4 %.1f Tm (COS 214) Tj\n" % (height - 60)
    cells = (b"Test1", b"Saturday", b"23 Aug 2025", b"10:00 - 11:30", b"HATFIELD", b"AE du Toit")
    for index in range(lines):
        y = height - 60 - index * pitch
        for (_, x), text in zip(TEST_COLUMNS[1:], cells, strict=True):
            ops += b"1 0 0 1 %.2f %.2f Tm (%s) Tj\n" % (x, y, text)
    ops += b"ET"
    header = _tests_header().replace(b"%.3f Tm" % TITLE_Y, b"%.3f Tm" % (height - 20))
    header = header.replace(b"%.3f Tm" % HEADER_Y, b"%.3f Tm" % (height - 45))
    return _single_page(header + bytes(ops), size=(PAGE[0], height))


def page_tree_cycle() -> bytes:
    """A page tree whose root lists itself as one of its kids."""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R 2 0 R] /Count 2 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.1f %.1f] /Resources << /Font << /F1 4 0 R >> >> "
        b"/Contents 5 0 R >>" % PAGE,
        _HELVETICA,
        _stream(b"BT /F1 11 Tf 40 500 Td (Semester Tests) Tj ET"),
    ]
    return _assemble(objects)


def deep_page_tree(depth: int = 5_000) -> bytes:
    """A page tree `depth` levels deep with one page at the bottom."""
    first = 4  # objects 1-3: catalog, font, content
    objects = [
        b"<< /Type /Catalog /Pages %d 0 R >>" % first,
        _HELVETICA,
        _stream(b"BT /F1 11 Tf 40 500 Td (Semester Tests) Tj ET"),
    ]
    for level in range(depth):
        number = first + level
        parent = b"" if level == 0 else b"/Parent %d 0 R " % (number - 1)
        objects.append(b"<< /Type /Pages %s/Kids [%d 0 R] /Count 1 >>" % (parent, number + 1))
    objects.append(
        b"<< /Type /Page /Parent %d 0 R /MediaBox [0 0 %.1f %.1f] /Resources << /Font << /F1 2 0 R >> >> "
        b"/Contents 3 0 R >>" % (first + depth - 1, *PAGE)
    )
    return _assemble(objects)


def deeply_nested_arrays(depth: int = 100_000) -> bytes:
    """A page whose resources hold an array nested `depth` levels deep, and a content stream that does too."""
    nested = b"[" * depth + b"]" * depth
    content = b"BT /F1 11 Tf 40 500 Td (Dear Student) Tj ET\n" + nested + b" pop"
    return _single_page(content, resources=b"/Deep " + nested)


def missing_pages(declared: int = 5) -> bytes:
    """A page tree that declares `declared` pages but holds only one."""
    return _single_page(b"BT /F1 11 Tf 40 500 Td (Semester Tests) Tj ET", count=declared)


# --- raw PDF assembly -------------------------------------------------------------------------------------

_HELVETICA = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>"


def _tests_header() -> bytes:
    """Content-stream operators drawing the title and header row of a Semester Tests timetable."""
    ops = bytearray(b"BT /F1 20 Tf 1 0 0 1 36 %.3f Tm (Semester Tests) Tj\n/F1 11 Tf\n" % TITLE_Y)
    for text, x in TEST_COLUMNS:
        ops += b"1 0 0 1 %.2f %.3f Tm (%s) Tj\n" % (x, HEADER_Y, text.encode())
    ops += b"ET\n"
    return bytes(ops)


def _stream(data: bytes, entries: bytes = b"") -> bytes:
    return b"<< %s /Length %d >>\nstream\n" % (entries, len(data)) + data + b"\nendstream"


def _single_page(
    content: bytes,
    *,
    filter_name: bytes = b"",
    resources: bytes = b"",
    extra: Sequence[bytes] = (),
    count: int = 1,
    size: tuple[float, float] = PAGE,
) -> bytes:
    """A one-page PDF: 1 catalog, 2 pages, 3 page, 4 Helvetica as /F1, 5 content, 6.. extra objects."""
    entries = b"/Filter %s" % filter_name if filter_name else b""
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count %d >>" % count,
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 %.1f %.1f] /Resources << /Font << /F1 4 0 R >> %s >> "
        b"/Contents 5 0 R >>" % (*size, resources),
        _HELVETICA,
        _stream(content, entries),
        *extra,
    ]
    return _assemble(objects)


def _assemble(objects: Sequence[bytes]) -> bytes:
    """Number objects from 1 in order and write them with a correct cross-reference table."""
    out = bytearray(b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref)
    return bytes(out)


def repeated_deflate(unit: bytes, expanded: int) -> bytes:
    """A zlib stream of `unit` repeated to `expanded` bytes, built by repeating one full-flushed block."""
    chunk = unit * max(1, MIB // len(unit))
    repeats = max(1, expanded // len(chunk))
    compressor = zlib.compressobj(9)
    head = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    block = compressor.compress(chunk) + compressor.flush(
        zlib.Z_FULL_FLUSH
    )  # independent of what came before
    checksum = 1
    for _ in range(repeats):
        checksum = zlib.adler32(chunk, checksum)
    final = b"\x03\x00"  # an empty last block with fixed codes
    return head + block * (repeats - 1) + final + struct.pack(">I", checksum)


def inflated_size(stream: bytes) -> int:
    """Bytes a zlib stream inflates to (checked in bounded steps, for testing the bomb builder)."""
    inflater = zlib.decompressobj()
    total = 0
    data = stream
    while data:
        total += len(inflater.decompress(data, 16 * MIB))
        data = inflater.unconsumed_tail
    return total + len(inflater.flush())
