"""Re-encrypting every secret stored in the database with the first of ``SWITCHYARD_SECRET_KEYS``
(after a new key was put first): the connected accounts' sessions and the channels' tokens."""

from __future__ import annotations

from db.channels.channels import rotate_tokens
from db.engine import session_factory
from db.growth.accounts import rotate_secrets as rotate_sessions


def rotate_secrets() -> int:
    """Re-encrypt every stored secret in one transaction; returns how many rows changed. A secret no
    key decrypts raises ValueError and nothing is changed."""
    with session_factory().begin() as session:
        return rotate_sessions(session) + rotate_tokens(session)
