"""HMAC signing of session cookie values, and the key: from settings, else a file kept in the data folder."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import secrets

from schedgen.adapters.keyfiles import key_from_file
from schedgen.config import Settings

log = logging.getLogger(__name__)

KEY_FILE = "secret_key"  # in the data folder, mode 0600, made on first start when no key is configured
SIGNATURE_BYTES = 16


def secret_key(settings: Settings) -> bytes:
    """SCHEDGEN_SECRET_KEY, else the key file in the data folder (created once)."""
    if settings.secret_key is not None:
        return settings.secret_key.get_secret_value().encode()
    if not settings.embedded:
        log.warning("SCHEDGEN_SECRET_KEY is not set: sessions are signed with a key local to this host")
    return key_from_file(settings.data_dir / KEY_FILE, lambda: secrets.token_urlsafe(48).encode())


class Signer:
    """Signs and checks `value.signature` strings."""

    def __init__(self, key: bytes) -> None:
        self._key = hashlib.sha256(b"schedgen-session:" + key).digest()

    def _signature(self, value: str) -> str:
        digest = hmac.new(self._key, value.encode(), hashlib.sha256).digest()[:SIGNATURE_BYTES]
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")

    def sign(self, value: str) -> str:
        """The value with its signature appended."""
        return f"{value}.{self._signature(value)}"

    def verify(self, signed: str) -> bool:
        """Whether `signed` carries a valid signature (compared in constant time)."""
        value, dot, signature = signed.rpartition(".")
        return bool(dot and value) and hmac.compare_digest(signature, self._signature(value))

    def new_session(self) -> str:
        """A fresh random, signed session value."""
        return self.sign(secrets.token_urlsafe(24))
