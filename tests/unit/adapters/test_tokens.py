"""The Google token cipher's key: generated once into the data folder, a valid Fernet key."""

from __future__ import annotations

from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from schedgen.adapters.tokens import TokenCipher, TokenDecryptError, token_key
from schedgen.config import Settings


def test_a_generated_key_is_a_fernet_key_kept_in_the_data_folder(tmp_path: Path) -> None:
    settings = Settings(data_dir=tmp_path)
    key = token_key(settings)
    assert token_key(settings) == key  # read back, not made again
    token = Fernet(key).encrypt(b"refresh-token")
    assert TokenCipher(key).decrypt(token.decode()) == "refresh-token"
    assert token_key(Settings(data_dir=tmp_path / "other")) != key


def test_a_key_from_another_folder_cannot_read_the_tokens(tmp_path: Path) -> None:
    first = TokenCipher(token_key(Settings(data_dir=tmp_path / "a")))
    second = TokenCipher(token_key(Settings(data_dir=tmp_path / "b")))
    with pytest.raises(TokenDecryptError):
        second.decrypt(first.encrypt("refresh-token"))
