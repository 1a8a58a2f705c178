"""Secrets kept in the database, encrypted at rest with Fernet; MultiFernet for key rotation.

``SWITCHYARD_SECRET_KEYS`` lists Fernet keys, newest first: new secrets are encrypted with the first,
every listed key decrypts. To rotate: put a new key first, run ``python -m cli secrets rotate``
(re-encrypts every stored secret with it), then drop the old key.
"""

from __future__ import annotations

from collections.abc import Sequence

from cryptography.fernet import Fernet, InvalidToken, MultiFernet


def new_key() -> str:
    """A fresh Fernet key (URL-safe base64 of 32 random bytes)."""
    return Fernet.generate_key().decode()


def check_key(key: str) -> str:
    """``key`` if it is a Fernet key, else ValueError (the key itself is never repeated)."""
    try:
        Fernet(key.encode())
    except (ValueError, TypeError):
        raise ValueError("not a Fernet key (`python -m cli secrets new-key` makes one)") from None
    return key


class Cipher:
    """Encrypts with the first of ``keys``, decrypts with any of them."""

    def __init__(self, keys: Sequence[str]) -> None:
        if not keys:
            raise ValueError("no secret key: set SWITCHYARD_SECRET_KEYS")
        self._fernet = MultiFernet([Fernet(check_key(key).encode()) for key in keys])

    def encrypt(self, secret: str) -> str:
        return self._fernet.encrypt(secret.encode()).decode()

    def decrypt(self, token: str) -> str:
        """The secret; ValueError when none of the keys encrypted it (a key was dropped too early)."""
        try:
            return self._fernet.decrypt(token.encode()).decode()
        except InvalidToken:
            raise ValueError("a stored secret cannot be decrypted with SWITCHYARD_SECRET_KEYS") from None

    def rotate(self, token: str) -> str:
        """The same secret encrypted with the first key."""
        try:
            return self._fernet.rotate(token.encode()).decode()
        except InvalidToken:
            raise ValueError("a stored secret cannot be decrypted with SWITCHYARD_SECRET_KEYS") from None
