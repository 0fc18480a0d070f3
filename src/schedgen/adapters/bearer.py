"""Bearer tokens in Authorization headers (the admin API's, the metrics endpoints'): constant-time checks."""

from __future__ import annotations

import hmac

from pydantic import SecretStr


def bearer_ok(expected: SecretStr | None, authorization: str) -> bool:
    """Whether an Authorization header carries `expected` as its bearer token; False when none is set."""
    if expected is None:
        return False
    scheme, _, given = authorization.partition(" ")
    secret = expected.get_secret_value()
    return scheme.lower() == "bearer" and hmac.compare_digest(given.strip().encode(), secret.encode())


def metrics_allowed(token: SecretStr | None, authorization: str) -> bool:
    """Whether a /metrics request may be answered: no metrics token is set, or the header carries it."""
    return token is None or bearer_ok(token, authorization)
