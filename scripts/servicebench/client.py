"""A minimal keep-alive HTTP/1.1 client (httpx costs ~2 ms of CPU per request on this VM, this ~0.1 ms)."""

from __future__ import annotations

import asyncio
import time
import urllib.parse
import uuid
from typing import NamedTuple

IDLE_REUSE_S = 4.0  # an idle connection is reused only this long (uvicorn closes them after 5 s)


class Connection(NamedTuple):
    """One keep-alive connection and when it last carried a request (0: never)."""

    reader: asyncio.StreamReader
    writer: asyncio.StreamWriter
    used: float


class Upload(NamedTuple):
    """A ready-made POST /api/uploads request."""

    name: str
    body: bytes
    content_type: str  # the header line


class HttpError(Exception):
    """Raised when a response cannot be read (connection closed or reset, malformed, too slow)."""


class Client:
    """Keep-alive HTTP/1.1 connections to the service: a few µs of CPU per request (httpx takes ~2 ms here).

    Enough HTTP for uvicorn's answers: a status line, headers, then a Content-Length or chunked body.
    """

    def __init__(self, url: str, connections: int) -> None:
        parts = urllib.parse.urlsplit(url)
        self.host, self.port = parts.hostname or "127.0.0.1", parts.port or 80
        self.gate = asyncio.Semaphore(connections)
        self.idle: list[Connection] = []
        self.head = f"Host: {self.host}:{self.port}\r\nUser-Agent: bench_service\r\n"

    async def __aenter__(self) -> Client:
        return self

    async def __aexit__(self, *exc: object) -> None:
        for conn in self.idle:
            conn.writer.close()
        self.idle.clear()

    async def _connection(self) -> Connection:
        """An idle connection the server has not yet timed out, else a new one."""
        while self.idle:
            conn = self.idle.pop()
            if time.monotonic() - conn.used < IDLE_REUSE_S:
                return conn
            conn.writer.close()
        reader, writer = await asyncio.open_connection(self.host, self.port)
        return Connection(reader, writer, 0.0)

    async def request(
        self, method: str, path: str, body: bytes = b"", extra: str = ""
    ) -> tuple[int, dict[str, str], bytes]:
        """(status, lower-cased headers, body); raises HttpError on a broken connection or after 60 s.

        A reused connection the server closed before answering is retried once on a new one (as browsers do).
        """
        request = f"{method} {path} HTTP/1.1\r\n{self.head}{extra}Content-Length: {len(body)}\r\n\r\n"
        async with self.gate:
            for attempt in (1, 2):
                conn = await self._connection()
                try:
                    async with asyncio.timeout(60):
                        conn.writer.write(request.encode() + body)
                        status, headers, payload = await self._response(conn.reader)
                    break
                except (OSError, TimeoutError, asyncio.IncompleteReadError, ValueError) as exc:
                    conn.writer.close()
                    unanswered = isinstance(exc, ConnectionError) or (
                        isinstance(exc, asyncio.IncompleteReadError) and not exc.partial
                    )
                    if attempt == 2 or not conn.used or not unanswered:
                        raise HttpError(type(exc).__name__) from exc
            if headers.get("connection") == "close":
                conn.writer.close()
            else:
                self.idle.append(conn._replace(used=time.monotonic()))
            return status, headers, payload

    @staticmethod
    async def _response(reader: asyncio.StreamReader) -> tuple[int, dict[str, str], bytes]:
        lines = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
        headers = dict(line.split(": ", 1) for line in lines[1:] if line)
        headers = {k.lower(): v for k, v in headers.items()}
        if headers.get("transfer-encoding") == "chunked":
            chunks = []
            while size := int((await reader.readuntil(b"\r\n"))[:-2], 16):
                chunks.append((await reader.readexactly(size + 2))[:-2])
            await reader.readuntil(b"\r\n")
            return int(lines[0].split()[1]), headers, b"".join(chunks)
        body = await reader.readexactly(int(headers.get("content-length", "0")))
        return int(lines[0].split()[1]), headers, body


def multipart(name: str, data: bytes) -> Upload:
    """A POST /api/uploads body with one PDF in field `files`, and its Content-Type header."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="files"; filename="{name}"\r\n'
            "Content-Type: application/pdf\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return Upload(name, body, f"Content-Type: multipart/form-data; boundary={boundary}\r\n")
