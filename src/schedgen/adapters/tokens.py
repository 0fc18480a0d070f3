"""Encryption of Google tokens at rest (Fernet): the key from SCHEDGEN_TOKEN_KEY, else a key file."""

from __future__ import annotations

import base64
import logging
import secrets
from typing import TYPE_CHECKING

from schedgen.adapters.keyfiles import key_from_file
from schedgen.config import Settings

if TYPE_CHECKING:
    from cryptography.fernet import Fernet

log = logging.getLogger(__name__)

KEY_FILE = "token_key"  # in the data folder, mode 0600, made on first use when no key is configured


class TokenDecryptError(Exception):
    """Raised when a stored token cannot be decrypted (the key changed)."""


def token_key(settings: Settings) -> bytes:
    """SCHEDGEN_TOKEN_KEY, else the key file in the data folder (created once, like the session key)."""
    if settings.token_key is not None:
        return settings.token_key.get_secret_value().encode()
    if not settings.embedded:
        log.warning(
            "SCHEDGEN_TOKEN_KEY is not set: Google tokens are encrypted with a key local to this host"
        )
    return key_from_file(settings.data_dir / KEY_FILE, _new_fernet_key)


def _new_fernet_key() -> bytes:
    """A Fernet key: 32 random bytes, URL-safe base64 (what Fernet.generate_key makes, without importing
    cryptography - ~7 MiB - into a process that may never encrypt a token)."""
    return base64.urlsafe_b64encode(secrets.token_bytes(32))


class TokenCipher:
    """Encrypts and decrypts token strings."""

    def __init__(self, key: bytes) -> None:
        self._key = key
        self._cipher: Fernet | None = None

    @property
    def _fernet(self) -> Fernet:
        """The cipher, made on first use (cryptography is loaded only by processes that use tokens)."""
        if self._cipher is None:
            from cryptography.fernet import Fernet

            self._cipher = Fernet(self._key)
        return self._cipher

    def encrypt(self, value: str) -> str:
        """The encrypted token (URL-safe text)."""
        return self._fernet.encrypt(value.encode()).decode()

    def decrypt(self, value: str) -> str:
        """The token; TokenDecryptError if the key does not match."""
        from cryptography.fernet import InvalidToken

        try:
            return self._fernet.decrypt(value.encode()).decode()
        except InvalidToken as exc:
            raise TokenDecryptError("stored token cannot be decrypted with this key") from exc
