"""API keys: the user actions, creating, listing and revoking the keys callers of the service API use.

Called by the CLI (``python -m cli api-keys …``) and the tests; the key itself is returned once, by
``create_key``, and never stored.
"""

from __future__ import annotations

from sqlalchemy.orm import Session, sessionmaker

from db import api_keys as keys_db
from db.api_keys import KeyInfo, Scope
from db.engine import session_factory


def create_key(
    *, name: str, scope: Scope | str, sessions: sessionmaker[Session] | None = None
) -> tuple[KeyInfo, str]:
    """Store a new key; returns it described, and the key itself, to hand over once."""
    with (sessions or session_factory()).begin() as session:
        return keys_db.create_key(session, name=name, scope=scope)


def list_keys(*, sessions: sessionmaker[Session] | None = None) -> list[KeyInfo]:
    """Every key, revoked ones included (never a secret)."""
    with (sessions or session_factory()).begin() as session:
        return keys_db.list_keys(session)


def revoke_key(*, key_id: int, sessions: sessionmaker[Session] | None = None) -> KeyInfo:
    """Revoke a key: its next request is refused (401). Raises ValueError for an unknown key."""
    with (sessions or session_factory()).begin() as session:
        return keys_db.revoke_key(session, key_id=key_id)
