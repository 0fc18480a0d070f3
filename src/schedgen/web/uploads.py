"""Streaming multipart reader: PDFs are checked (count, size, magic bytes) while they arrive, never read whole."""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import IO

from python_multipart.multipart import MultipartParser, parse_options_header

from schedgen.errors import (
    BadUploadError,
    EmptyFileError,
    FileTooLargeError,
    InputError,
    NotPdfError,
    TooManyFilesError,
)
from schedgen.parsing.limits import MAGIC_WINDOW, looks_like_pdf

SPOOL_IN_MEMORY = 1024 * 1024  # parts larger than this spill to a temporary file
CHUNK = 64 * 1024
FIELD = "files"


@dataclass
class UploadedFile:
    """One received file part, spooled."""

    filename: str
    spool: IO[bytes]
    size: int = 0
    head: bytes = b""

    def chunks(self) -> Iterator[bytes]:
        """The file's bytes in chunks, from the start."""
        self.spool.seek(0)
        while chunk := self.spool.read(CHUNK):
            yield chunk

    def close(self) -> None:
        """Free the spool."""
        self.spool.close()


@dataclass
class _State:
    max_bytes: int
    max_files: int
    files: list[UploadedFile] = field(default_factory=list)
    header_field: bytes = b""
    header_value: bytes = b""
    disposition: bytes = b""
    current: UploadedFile | None = None
    error: InputError | None = None


def _boundary(content_type: str | None) -> bytes:
    if not content_type:
        raise BadUploadError()
    kind, params = parse_options_header(content_type)
    boundary = params.get(b"boundary")
    if kind != b"multipart/form-data" or not boundary:
        raise BadUploadError()
    return boundary


def _on_headers_finished(state: _State) -> None:
    _, params = parse_options_header(state.disposition)
    state.disposition = b""
    if params.get(b"name", b"").decode("latin-1") != FIELD or b"filename" not in params:
        state.current = None  # other form fields are ignored
        return
    if len(state.files) >= state.max_files:
        raise TooManyFilesError()
    name = params[b"filename"].decode("utf-8", "replace").replace("\\", "/").rsplit("/", 1)[-1]
    spool = tempfile.SpooledTemporaryFile(max_size=SPOOL_IN_MEMORY)  # noqa: SIM115 - closed by the caller
    state.current = UploadedFile(name or "upload.pdf", spool)
    state.files.append(state.current)


def _on_data(state: _State, data: bytes) -> None:
    part = state.current
    if part is None:
        return
    part.size += len(data)
    if part.size > state.max_bytes:
        raise FileTooLargeError()
    if len(part.head) < MAGIC_WINDOW:
        part.head += data[: MAGIC_WINDOW - len(part.head)]
        if len(part.head) >= MAGIC_WINDOW and not looks_like_pdf(part.head):
            raise NotPdfError()
    part.spool.write(data)


def _on_part_end(state: _State) -> None:
    part = state.current
    if part is not None and not looks_like_pdf(part.head):
        raise NotPdfError() if part.size else EmptyFileError()
    state.current = None


async def read_uploads(
    content_type: str | None, body: AsyncIterator[bytes], *, max_bytes: int, max_files: int
) -> list[UploadedFile]:
    """Read a multipart body, keeping the PDFs of field `files`; raises a typed error the moment one is bad."""
    state = _State(max_bytes, max_files)

    def on_header_field(data: bytes, start: int, end: int) -> None:
        state.header_field += data[start:end]

    def on_header_value(data: bytes, start: int, end: int) -> None:
        state.header_value += data[start:end]

    def on_header_end() -> None:
        if state.header_field.lower() == b"content-disposition":
            state.disposition = state.header_value
        state.header_field = state.header_value = b""

    parser = MultipartParser(
        _boundary(content_type),
        {
            "on_header_field": on_header_field,
            "on_header_value": on_header_value,
            "on_header_end": on_header_end,
            "on_headers_finished": lambda: _on_headers_finished(state),
            "on_part_data": lambda data, start, end: _on_data(state, data[start:end]),
            "on_part_end": lambda: _on_part_end(state),
        },
    )
    try:
        async for chunk in body:
            parser.write(chunk)
        parser.finalize()
    except InputError:
        for part in state.files:
            part.close()
        raise
    except Exception as exc:  # the multipart library's own parse errors
        for part in state.files:
            part.close()
        raise BadUploadError() from exc
    if not state.files:
        raise BadUploadError()
    return state.files
