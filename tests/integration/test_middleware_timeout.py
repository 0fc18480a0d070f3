"""The request time limit (web/middleware/timeout.py): one timer for every request in flight."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from schedgen.web.middleware.timeout import Deadline, Deadlines
from tests.support.webapps import run_async

LIMIT_S = 0.3


async def _request(deadlines: Deadlines, work_s: float, seen: list[Deadline | None] | None = None) -> str:
    """A request that works for `work_s`: 'done', 'timed out' (our cancel) or 'cancelled' (someone else's)."""
    deadline = deadlines.start()
    if seen is not None:
        seen.append(deadline)
    try:
        try:
            await asyncio.sleep(work_s)
        finally:
            expired = deadlines.end(deadline)
    except asyncio.CancelledError:
        if expired:
            return "timed out"
        raise
    return "done"


def test_each_request_times_out_at_its_own_deadline() -> None:
    async def scenario() -> list[Any]:
        deadlines = Deadlines(LIMIT_S)
        loop = asyncio.get_running_loop()
        started = loop.time()
        ended: dict[str, float] = {}

        async def timed(name: str, delay_s: float, work_s: float) -> str:
            await asyncio.sleep(delay_s)
            outcome = await _request(deadlines, work_s)
            ended[name] = loop.time() - started
            return outcome

        outcomes = await asyncio.gather(
            timed("slow", 0.0, 5), timed("quick", 0.05, 0.05), timed("late slow", 0.2, 5)
        )
        return [outcomes, ended]

    outcomes, ended = run_async(scenario())
    assert outcomes == ["timed out", "done", "timed out"]
    assert LIMIT_S <= ended["slow"] < 2.5
    assert LIMIT_S + 0.2 <= ended["late slow"] < 2.5  # its own deadline, not the first request's
    assert ended["slow"] < ended["late slow"]


def test_someone_elses_cancel_is_not_a_timeout() -> None:
    async def scenario() -> list[bool]:
        deadlines = Deadlines(LIMIT_S)
        results = []
        for cancel_after_s in (0.05, LIMIT_S + 0.05):  # before our deadline, and after it (both cancel)
            task = asyncio.ensure_future(_request(deadlines, 5))
            await asyncio.sleep(cancel_after_s)
            task.cancel()
            try:
                outcome = await task
            except asyncio.CancelledError:
                outcome = "cancelled"
            results.append(outcome == "cancelled" if cancel_after_s < LIMIT_S else outcome == "timed out")
        return results

    assert run_async(scenario()) == [True, True]


def test_cancelled_twice_by_deadline_and_by_someone_else_stays_cancelled() -> None:
    async def scenario() -> str:
        deadlines = Deadlines(LIMIT_S)
        seen: list[Deadline | None] = []
        task = asyncio.ensure_future(_request(deadlines, 5, seen))
        await asyncio.sleep(0)
        deadline = seen[0]
        assert deadline is not None
        asyncio.get_running_loop().call_at(deadline.when, task.cancel)  # at the same moment as ours
        try:
            return await task
        except asyncio.CancelledError:
            return "cancelled"

    assert run_async(scenario()) == "cancelled"


def test_a_new_event_loop_gets_working_deadlines() -> None:
    deadlines = Deadlines(LIMIT_S)

    async def one() -> str:
        return await _request(deadlines, 5)

    assert run_async(one()) == "timed out"
    assert run_async(one()) == "timed out"  # the first loop's timer does not strand the second's requests


@pytest.mark.parametrize("seconds", [0.0, -1.0])
def test_no_limit_means_no_deadline(seconds: float) -> None:
    async def scenario() -> tuple[bool, str]:
        deadlines = Deadlines(seconds)
        return deadlines.start() is None, await _request(deadlines, 0.3)

    assert run_async(scenario()) == (True, "done")
