"""A time limit on every request: past it the request is cancelled and answered 504 REQUEST_TIMEOUT."""

from __future__ import annotations

import asyncio
import logging

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from schedgen.errors import RequestTimeoutError
from schedgen.web.errors import send_error

log = logging.getLogger(__name__)


class TimeoutMiddleware:
    """Cancel a request after `seconds`; answer 504 in the shared error shape if nothing was sent yet."""

    def __init__(self, app: ASGIApp, seconds: float = 30.0) -> None:
        self.app = app
        self.seconds = seconds

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or self.seconds <= 0:
            await self.app(scope, receive, send)
            return
        started = False

        async def send_tracking(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            async with asyncio.timeout(self.seconds):
                await self.app(scope, receive, send_tracking)
        except TimeoutError:
            log.warning("request timed out after %.1f s", self.seconds, extra={"path": scope["path"]})
            if started:
                raise  # the answer is half sent: the server closes the connection
            await send_error(scope, send, RequestTimeoutError())
