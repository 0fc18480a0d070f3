"""The one module that touches the PDF library: PDF bytes in, visible words with boxes out.

Everything here works on bytes in memory; nothing is read from or written to disk.
Coordinates come out in points, origin top-left of the page as displayed (page rotation applied).
"""

from __future__ import annotations

import ctypes
import re
from dataclasses import dataclass
from typing import NamedTuple

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from schedgen.errors import (
    CorruptPdfError,
    EmptyFileError,
    FileTooLargeError,
    NoTextLayerError,
    NotPdfError,
    ParseLimitError,
    PasswordProtectedError,
    TooManyPagesError,
)
from schedgen.parsing.limits import ParseLimits, looks_like_pdf

EOF_WINDOW = 2048  # %%EOF must sit near the end of a complete file
WHITE_LEVEL = 235  # a glyph whose R, G and B are all above this is invisible on paper
WORD_RE = re.compile(r"\S+")


class Word(NamedTuple):
    """A run of visible glyphs with no space between them, and its box on the displayed page.

    A NamedTuple, not a frozen dataclass: a page has hundreds of words and this is several times cheaper to build.
    """

    text: str
    x0: float
    x1: float
    top: float
    bottom: float

    @property
    def height(self) -> float:
        """Box height in points (close to the font size)."""
        return self.bottom - self.top


@dataclass(frozen=True, slots=True)
class PageWords:
    """The visible words of one page."""

    number: int  # 1-based
    width: float
    height: float
    words: tuple[Word, ...]


def check_envelope(data: bytes, limits: ParseLimits) -> None:
    """Reject what is obviously not a usable PDF before the PDF library sees it."""
    if not data:
        raise EmptyFileError()
    if len(data) > limits.max_bytes:
        raise FileTooLargeError()
    if not looks_like_pdf(data):
        raise NotPdfError()
    if b"%%EOF" not in data[-EOF_WINDOW:]:
        raise CorruptPdfError()


def _open(data: bytes) -> pdfium.PdfDocument:
    try:
        return pdfium.PdfDocument(data, password="")
    except pdfium.PdfiumError as exc:
        if exc.err_code in (pdfium_c.FPDF_ERR_PASSWORD, pdfium_c.FPDF_ERR_SECURITY):
            raise PasswordProtectedError() from None
        raise CorruptPdfError() from None


class _Reader:
    """Reusable ctypes buffers for reading glyph boxes and colours fast (a ctypes call per glyph is slow)."""

    def __init__(self) -> None:
        self.rect = pdfium_c.FS_RECTF()
        self.rect_ref = ctypes.byref(self.rect)
        self.rgba = (ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint(), ctypes.c_uint())
        self.rgba_refs = tuple(ctypes.byref(c) for c in self.rgba)

    def words(self, textpage: object, text: str) -> list[tuple[str, float, float, float, float]]:
        """(text, left, top, right, bottom) in PDF user space of every visible whitespace-free run."""
        loose_box, fill_colour = pdfium_c.FPDFText_GetLooseCharBox, pdfium_c.FPDFText_GetFillColor
        rect, rect_ref = self.rect, self.rect_ref
        red, green, blue, alpha = self.rgba
        refs = self.rgba_refs
        out = []
        for match in WORD_RE.finditer(text):
            i, j = match.start(), match.end() - 1
            # Invisible on white paper: white or fully transparent fill. Text in the invisible render mode
            # stays, because that is how OCR layers of scans are stored.
            if fill_colour(textpage, i, *refs) and (
                alpha.value == 0 or min(red.value, green.value, blue.value) > WHITE_LEVEL
            ):
                continue
            loose_box(textpage, i, rect_ref)
            left, top, right, bottom = rect.left, rect.top, rect.right, rect.bottom
            if j > i:
                loose_box(textpage, j, rect_ref)
                right = max(right, rect.right)
                top, bottom = max(top, rect.top), min(bottom, rect.bottom)
            out.append((match.group(), left, top, right, bottom))
        return out


def _to_display(
    box: tuple[float, float, float, float], rotation: int, width: float, height: float
) -> tuple[float, float, float, float]:
    """Map a box in PDF user space to (x0, x1, top, bottom) on the page as displayed."""
    left, top, right, bottom = box
    corners = ((left, top), (right, bottom))
    if rotation == 90:
        pts = [(y, x) for x, y in corners]
    elif rotation == 180:
        pts = [(width - x, y) for x, y in corners]
    elif rotation == 270:
        pts = [(height - y, width - x) for x, y in corners]
    else:
        pts = [(x, height - y) for x, y in corners]
    xs = sorted(p[0] for p in pts)
    ys = sorted(p[1] for p in pts)
    return xs[0], xs[1], ys[0], ys[1]


def _page_text(textpage: pdfium.PdfTextPage, count: int) -> str:
    text: str = textpage.get_text_range(0, count)
    if len(text) == count:
        return text
    # Characters outside the BMP come back as surrogate pairs: read them one at a time instead.
    return "".join(chr(pdfium_c.FPDFText_GetUnicode(textpage.raw, i) or 32) for i in range(count))


def _words_of_page(
    textpage: pdfium.PdfTextPage, count: int, reader: _Reader, geometry: tuple[int, float, float]
) -> list[Word]:
    rotation, width, height = geometry
    text = _page_text(textpage, count).replace("\x00", " ")
    runs = reader.words(textpage.raw, text)
    if rotation:
        return [
            Word(t, *_to_display((left, top, right, bottom), rotation, width, height))
            for t, left, top, right, bottom in runs
        ]
    return [Word(t, left, right, height - top, height - bottom) for t, left, top, right, bottom in runs]


def read_words(data: bytes, limits: ParseLimits) -> list[PageWords]:
    """Open PDF bytes and return the visible words of every page, enforcing the parse limits."""
    check_envelope(data, limits)
    doc = _open(data)
    try:
        pages = len(doc)
        if pages == 0:
            raise CorruptPdfError()
        if pages > limits.max_pages:
            raise TooManyPagesError()
        reader = _Reader()
        out: list[PageWords] = []
        total_chars = 0
        for index in range(pages):
            page_words, chars = _read_page(doc, index, reader, limits)
            total_chars += chars
            if total_chars > limits.max_chars:
                raise ParseLimitError()
            out.append(page_words)
    finally:
        doc.close()
    if not any(p.words for p in out):
        raise NoTextLayerError()
    return out


def _read_page(
    doc: pdfium.PdfDocument, index: int, reader: _Reader, limits: ParseLimits
) -> tuple[PageWords, int]:
    try:
        page = doc[index]
    except pdfium.PdfiumError:
        raise CorruptPdfError(page=index + 1) from None
    try:
        objects = pdfium_c.FPDFPage_CountObjects(page.raw)
        if objects > limits.max_objects_per_page:
            raise ParseLimitError(page=index + 1)
        width, height = page.get_size()
        rotation = page.get_rotation() % 360
        if rotation in (90, 270):
            width, height = height, width
        textpage = page.get_textpage()
        try:
            count = pdfium_c.FPDFText_CountChars(textpage.raw)
            if count > limits.max_chars:
                raise ParseLimitError(page=index + 1)
            user_size = (height, width) if rotation in (90, 270) else (width, height)
            words = _words_of_page(textpage, max(count, 0), reader, (rotation, *user_size))
        finally:
            textpage.close()
    finally:
        page.close()
    return PageWords(index + 1, width, height, tuple(words)), max(count, 0)
