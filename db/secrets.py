"""The cipher of every secret kept in the database (account sessions, OAuth tokens), from
``SWITCHYARD_SECRET_KEYS``: the first key encrypts, all decrypt (see ``core/crypto.py``)."""

from __future__ import annotations

from core.crypto import Cipher
from core.settings import get_settings


def cipher() -> Cipher:
    return Cipher([key.get_secret_value() for key in get_settings().secret_keys])
