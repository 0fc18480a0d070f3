"""Live worker consumers as Dramatiq's Redis broker records them (read-only).

Every consumer of the Redis broker writes its id and the time (ms) into the sorted set
`<namespace>:__heartbeats__` each time it polls; a member newer than the heartbeat timeout is alive.
"""

from __future__ import annotations

import time
from typing import Any

NAMESPACE = "schedgen"  # the broker namespace set in adapters/queue.build_broker


def live_workers(client: Any, heartbeat_timeout_ms: int, namespace: str = NAMESPACE) -> int:
    """How many broker consumers sent a heartbeat within the timeout (client: a sync redis.Redis)."""
    now_ms = int(time.time() * 1000)
    return int(client.zcount(f"{namespace}:__heartbeats__", now_ms - heartbeat_timeout_ms, "+inf"))
