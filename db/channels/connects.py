"""Authorisations begun and not finished: what the callback needs (the PKCE verifier, the owner, the
time zone, the redirect URI), kept in the database because the browser may come back to another
process. Found by the SHA-256 of the ``state``; the verifier encrypted (``db/secrets.py``); used once."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from db.base import utcnow
from db.channels.models import PendingConnect
from db.secrets import cipher

CONNECT_WINDOW = timedelta(minutes=10)  # an authorisation not finished within this is refused
KEEP_EXPIRED = timedelta(days=1)  # an expired one is still recognised (and said so) this long


@dataclass(frozen=True)
class Pending:
    """An authorisation taken for finishing; the verifier decrypted (memory only)."""

    owner: str
    timezone: str
    redirect_uri: str
    code_verifier: str

    def __repr__(self) -> str:  # never the verifier
        return f"Pending({self.owner!r}, {self.timezone!r}, {self.redirect_uri!r})"


def _hash(state: str) -> str:
    return hashlib.sha256(state.encode()).hexdigest()


def begin(
    session: Session,
    *,
    state: str,
    code_verifier: str,
    owner: str,
    timezone: str,
    redirect_uri: str,
    now: datetime | None = None,
) -> None:
    """Keep an authorisation until its callback (at most ``CONNECT_WINDOW``); long-expired ones go."""
    now = now or utcnow()
    session.execute(delete(PendingConnect).where(PendingConnect.expires_at < now - KEEP_EXPIRED))
    session.add(
        PendingConnect(
            state_hash=_hash(state),
            code_verifier=cipher().encrypt(code_verifier),
            owner=owner,
            timezone=timezone,
            redirect_uri=redirect_uri,
            created_at=now,
            expires_at=now + CONNECT_WINDOW,
        )
    )
    session.flush()


def take(session: Session, *, state: str, now: datetime | None = None) -> Pending:
    """The authorisation of ``state``, deleted as it is taken (so only one caller gets it);
    ValueError if it is unknown, used already or expired."""
    now = now or utcnow()
    row = session.scalar(select(PendingConnect).where(PendingConnect.state_hash == _hash(state)))
    taken = row is not None and bool(
        session.execute(
            delete(PendingConnect)
            .where(PendingConnect.id == row.id)
            .execution_options(synchronize_session=False)
        ).rowcount
    )
    if row is None or not taken:
        raise ValueError("this authorisation is unknown or was used already: start connecting again")
    if row.expires_at < now:
        minutes = int(CONNECT_WINDOW.total_seconds() // 60)
        raise ValueError(f"this authorisation expired (it lasts {minutes} minutes): start connecting again")
    return Pending(row.owner, row.timezone, row.redirect_uri, cipher().decrypt(row.code_verifier))
