"""How uvicorn serves the app: its httptools protocol, with a response's writes coalesced into one send.

uvicorn writes a response's status line and headers when the app starts the response, and the body when the
app sends it: two `send` system calls and two TCP segments for every small JSON answer, and a client that
wakes up twice. `CoalescedWrites` holds what is written during one turn of the event loop and sends it
at the end of that turn (or at once past FLUSH_BYTES), so a whole small response leaves in one segment.
Cached status reads at 64 concurrent clients: p95 ~10.5 -> ~6.5 ms, embedded (docs/benchmarks-service.md).
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

FLUSH_BYTES = 64 * 1024  # more than this held: send at once (the transport's flow control then sees it)


class CoalescedWrites:
    """A transport that holds writes until the end of the current event-loop turn, then sends them as one.

    Everything else (close, pause_reading, get_extra_info ...) is the wrapped transport's; a close sends
    what is held first, and what is held when the connection is already closing is dropped, as the
    transport itself would drop it.
    """

    __slots__ = ("_held", "_held_bytes", "_loop", "_transport")

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._held: list[bytes] = []
        self._held_bytes = 0

    def write(self, data: bytes) -> None:
        """Hold `data`; the first write of a turn schedules the send for the turn's end."""
        if not self._held:
            self._loop.call_soon(self.flush)
        self._held.append(data)
        self._held_bytes += len(data)
        if self._held_bytes > FLUSH_BYTES:
            self.flush()

    def flush(self) -> None:
        """Send what is held, as one write."""
        if not self._held:
            return
        held, self._held, self._held_bytes = self._held, [], 0
        if not self._transport.is_closing():
            self._transport.write(held[0] if len(held) == 1 else b"".join(held))

    def close(self) -> None:
        """Send what is held, then close."""
        self.flush()
        self._transport.close()

    def is_closing(self) -> bool:
        """The wrapped transport's state (asked before every response)."""
        return self._transport.is_closing()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class CoalescingHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol writing through CoalescedWrites."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        coalesced: Any = CoalescedWrites(transport, asyncio.get_running_loop())
        super().connection_made(coalesced)


def uvicorn_options() -> dict[str, Any]:
    """Options for `uvicorn.run` that every schedgen server uses."""
    return {
        "http": CoalescingHttpToolsProtocol,
        "log_level": "warning",
        "log_config": None,  # uvicorn's own lines go through schedgen's JSON logging
        "proxy_headers": False,  # forwarded headers are ours to judge (SCHEDGEN_TRUSTED_PROXIES), not uvicorn's
    }
