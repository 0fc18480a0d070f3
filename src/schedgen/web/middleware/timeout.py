"""The time limit on every request: one timer per event loop for all requests in flight, not one per request.

Every request gets the same limit, so deadlines fall in the order requests start: the timer waits for the
oldest request's deadline, cancels the requests whose time is up, and waits for the next oldest. A request
costs a dict entry instead of an asyncio.timeout (a timer armed and cancelled, ~15 µs here). The cancel is
turned back into a timeout as asyncio.timeout does it: only if no one else cancelled the task meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

log = logging.getLogger(__name__)
EARLY_S = 0.001  # a deadline this close is due (a timer may fire a little before its time)


class Deadline:
    """One request's deadline: its task, when its time is up, and whether the timer cancelled it."""

    __slots__ = ("cancelling", "expired", "task", "when")

    def __init__(self, task: asyncio.Task[Any], when: float) -> None:
        self.task = task
        self.when = when
        self.cancelling = task.cancelling()  # cancel requests already pending when the request started
        self.expired = False


class Deadlines:
    """Cancels requests still running `seconds` after they started (seconds <= 0: no limit)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self._loop: asyncio.AbstractEventLoop | None = None
        self._live: dict[Deadline, None] = {}  # in flight, oldest first (insertion order = deadline order)
        self._timer: asyncio.TimerHandle | None = None

    def start(self) -> Deadline | None:
        """Start the clock for the request running in the current task (None without a limit or a task)."""
        task = asyncio.current_task()
        if self.seconds <= 0 or task is None:
            return None
        loop = task.get_loop()
        if loop is not self._loop:  # a new event loop (tests start one per client): nothing carries over
            self._loop, self._live, self._timer = loop, {}, None
        deadline = Deadline(task, loop.time() + self.seconds)
        self._live[deadline] = None
        if self._timer is None:
            self._timer = loop.call_at(deadline.when, self._expire, loop)
        return deadline

    def end(self, deadline: Deadline | None) -> bool:
        """Stop the clock; True if the time ran out and the task's cancellation is ours to report as a timeout."""
        if deadline is None:
            return False
        self._live.pop(deadline, None)
        return deadline.expired and deadline.task.uncancel() <= deadline.cancelling

    def _expire(self, loop: asyncio.AbstractEventLoop) -> None:
        if loop is not self._loop:  # armed on an event loop no longer in use
            return
        self._timer = None
        now = loop.time()
        while self._live:
            deadline = next(iter(self._live))
            if deadline.when > now + EARLY_S:
                self._timer = loop.call_at(deadline.when, self._expire, loop)
                return
            del self._live[deadline]
            deadline.expired = True
            deadline.task.cancel()


def log_timeout(seconds: float, path: str) -> None:
    """The warning logged for a request that ran out of time."""
    log.warning("request timed out after %.1f s", seconds, extra={"path": path})
