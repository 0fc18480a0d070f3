"""CoalescedWrites: a response's writes during one event-loop turn leave as one transport write."""

from __future__ import annotations

import asyncio
from typing import Any

from schedgen.web.server import FLUSH_BYTES, CoalescedWrites
from tests.support.webapps import run_async


class RecordingTransport:
    """The part of an asyncio transport the wrapper uses, recording what reaches it."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False

    def write(self, data: bytes) -> None:
        assert not self.closed, "written after close"
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def get_extra_info(self, name: str, default: Any = None) -> Any:
        return ("127.0.0.1", 8000) if name == "sockname" else default


async def _turn() -> None:
    """Let the loop finish the current turn (callbacks scheduled with call_soon run)."""
    await asyncio.sleep(0)


def _wrapped() -> tuple[CoalescedWrites, RecordingTransport]:
    transport = RecordingTransport()
    return CoalescedWrites(transport, asyncio.get_running_loop()), transport  # type: ignore[arg-type]


def test_writes_of_one_turn_leave_together_at_its_end() -> None:
    async def scenario() -> list[list[bytes]]:
        coalesced, transport = _wrapped()
        coalesced.write(b"HTTP/1.1 200 OK\r\n\r\n")
        coalesced.write(b'{"status":"ok"}')
        before = list(transport.writes)
        await _turn()
        return [before, transport.writes]

    assert run_async(scenario()) == [[], [b'HTTP/1.1 200 OK\r\n\r\n{"status":"ok"}']]


def test_writes_of_separate_turns_leave_separately_and_in_order() -> None:
    async def scenario() -> list[bytes]:
        coalesced, transport = _wrapped()
        for chunk in (b"one", b"two", b"three"):
            coalesced.write(chunk)
            await _turn()
        return transport.writes

    assert run_async(scenario()) == [b"one", b"two", b"three"]


def test_more_than_flush_bytes_leaves_at_once() -> None:
    async def scenario() -> tuple[list[int], list[int]]:
        coalesced, transport = _wrapped()
        coalesced.write(b"h" * 100)
        coalesced.write(b"b" * FLUSH_BYTES)  # past the limit: sent now, in the same turn
        now = [len(data) for data in transport.writes]
        coalesced.write(b"tail")
        await _turn()
        return now, [len(data) for data in transport.writes]

    assert run_async(scenario()) == ([100 + FLUSH_BYTES], [100 + FLUSH_BYTES, 4])


def test_close_sends_what_is_held_first() -> None:
    async def scenario() -> tuple[list[bytes], bool]:
        coalesced, transport = _wrapped()
        coalesced.write(b"last words")
        coalesced.close()
        await _turn()  # the scheduled send finds nothing left to send
        return transport.writes, transport.closed

    assert run_async(scenario()) == ([b"last words"], True)


def test_what_is_held_when_the_connection_closes_is_dropped() -> None:
    async def scenario() -> list[bytes]:
        coalesced, transport = _wrapped()
        coalesced.write(b"too late")
        transport.close()  # the peer went away in this turn
        await _turn()
        return transport.writes

    assert run_async(scenario()) == []


def test_everything_else_is_the_transports() -> None:
    async def scenario() -> tuple[Any, bool]:
        coalesced, transport = _wrapped()
        transport.close()
        return coalesced.get_extra_info("sockname"), coalesced.is_closing()

    assert run_async(scenario()) == (("127.0.0.1", 8000), True)
