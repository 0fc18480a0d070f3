"""Blocking addresses after failed authentication (seeds R8.5), and the admin token check.

note_auth_failure(request) is the one call for every failed sign-in: a bad admin token now, a failed Google
OAuth callback later. Requests from a blocked address get 403 IP_BLOCKED, except probes and admin requests
that carry the valid admin token (so an admin can always unblock). A blocklist store that fails lets
requests through (it must never hang the service).
"""

from __future__ import annotations

import logging

from fastapi import Request
from starlette.types import Scope, Send

from schedgen.adapters.bearer import bearer_ok
from schedgen.config import Settings
from schedgen.errors import IpBlockedError
from schedgen.web.context import client_of
from schedgen.web.errors import send_error
from schedgen.web.middleware.paths import ADMIN_PREFIX
from schedgen.web.middleware.runtime import Guards

log = logging.getLogger(__name__)


def admin_token_ok(settings: Settings, authorization: str) -> bool:
    """Whether an Authorization header carries the admin bearer token (constant-time comparison)."""
    return bearer_ok(settings.admin_token, authorization)


async def note_auth_failure(request: Request) -> bool:
    """Record a failed authentication from the request's address; True if the address is now blocked."""
    guards: Guards = request.app.state.guards
    ip = client_of(request.scope).ip
    log.warning("authentication failed", extra={"ip": ip, "path": request.url.path})
    if guards.blocklist is None:
        return False
    try:
        blocked = await guards.blocklist.record_failure(ip)
    except Exception as exc:  # the store is down: note it and carry on
        log.warning("could not record a failed authentication: %s", type(exc).__name__)
        return False
    if blocked:
        log.warning("address blocked after repeated failed authentication", extra={"ip": ip})
    return blocked


async def refuse_if_blocked(guards: Guards, scope: Scope, send: Send, ip: str) -> bool:
    """Answer 403 IP_BLOCKED if the address is blocked and this is not an admin request with the token.

    True if it answered. Probes are never refused: the caller does not ask for them.
    """
    blocklist = guards.blocklist
    if blocklist is None:
        return False
    try:
        blocked = await blocklist.is_blocked(ip)
    except Exception as exc:  # fail open: a blocklist outage must not take the service down
        log.warning("blocklist unavailable: %s", type(exc).__name__)
        return False
    if not blocked or _admin(guards.settings, scope):
        return False
    retry = str(int(guards.settings.auth_block_s))
    await send_error(scope, send, IpBlockedError(), {"Retry-After": retry})
    return True


def _admin(settings: Settings, scope: Scope) -> bool:
    if not scope["path"].startswith(ADMIN_PREFIX):
        return False
    authorization = next((v.decode("latin-1") for k, v in scope["headers"] if k == b"authorization"), "")
    return admin_token_ok(settings, authorization)
