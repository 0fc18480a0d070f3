"""Guards: the per-app state the protective middleware share (limiter, blocklist, session signer, metrics)."""

from __future__ import annotations

import concurrent.futures
import logging
from collections.abc import Callable
from dataclasses import dataclass, field

from starlette.types import Scope

from schedgen.adapters.blocklist import Blocklist, build_blocklist
from schedgen.adapters.metrics import Metrics
from schedgen.adapters.ratelimit import RateLimiter
from schedgen.config import Settings
from schedgen.web.middleware.signing import Signer, secret_key

log = logging.getLogger(__name__)

CHECK_THREADS = 4  # hung health checks occupy these threads, never the request thread pool
UserHook = Callable[[Scope], str | None]  # the signed-in user's id, when sign-in exists (none yet)


def no_user(scope: Scope) -> str | None:
    """No sign-in yet: every visitor is anonymous."""
    return None


@dataclass
class Guards:
    """Built by create_app; stores are opened in start() inside the server's event loop."""

    settings: Settings
    metrics: Metrics
    signer: Signer
    user_of: UserHook = no_user
    limiter: RateLimiter | None = None
    blocklist: Blocklist | None = None
    started: bool = field(default=False)
    check_pool: concurrent.futures.ThreadPoolExecutor | None = None  # health checks run here, time-limited

    @classmethod
    def build(cls, settings: Settings, metrics: Metrics, user_of: UserHook = no_user) -> Guards:
        """Guards for these settings (no I/O but reading or creating the session key file)."""
        return cls(settings, metrics, Signer(secret_key(settings)), user_of)

    async def start(self) -> None:
        """Open the limiter and blocklist stores."""
        if self.settings.rate_limits:
            self.limiter = RateLimiter(self.settings)
            await self.limiter.start()
        self.blocklist = build_blocklist(self.settings)
        self.check_pool = concurrent.futures.ThreadPoolExecutor(CHECK_THREADS, "schedgen-health")
        self.started = True

    async def close(self) -> None:
        """Close the stores."""
        if self.limiter is not None:
            await self.limiter.close()
        if self.blocklist is not None:
            await self.blocklist.close()
        if self.check_pool is not None:
            self.check_pool.shutdown(wait=False, cancel_futures=True)  # a hung check must not stall shutdown
        self.limiter = self.blocklist = self.check_pool = None
        self.started = False
