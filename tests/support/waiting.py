"""Waiting on an observable condition, the way a client polls a job: bounded, never a fixed sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

POLL_S = 0.02  # how often the condition is checked


def wait_for(condition: Callable[[], Any], timeout: float = 60.0) -> Any:
    """Return the condition's first truthy value; fail the test if it never comes within `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        time.sleep(POLL_S)
    return value


async def wait_for_async(condition: Callable[[], Any], timeout: float = 60.0) -> Any:
    """wait_for inside an event loop: the loop keeps running (its tasks make progress) between checks."""
    import asyncio

    deadline = time.monotonic() + timeout
    while not (value := condition()):
        if time.monotonic() > deadline:
            raise AssertionError(f"condition not met within {timeout} s")
        await asyncio.sleep(POLL_S)
    return value
