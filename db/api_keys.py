"""API keys and the answers kept for Idempotency-Key: tables and queries. Never commits.

A key is shown once when created (``sy_<prefix>_<secret>``); only its prefix (to find it) and the
SHA-256 of the whole key are stored. Scopes nest: read < write < admin.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, ForeignKey, Integer, String, UniqueConstraint, delete, select, update
from sqlalchemy.orm import Mapped, Session, mapped_column

from db.base import Base, NotFound, UTCDateTime, status_enum, upsert_insert, utcnow

KEY_PREFIX = "sy_"
LAST_USE_EVERY = timedelta(minutes=1)  # how often a key's last use is written


class Scope(StrEnum):
    """What a key may do: read (GET), write (and read), admin (everything)."""

    READ = "read"
    WRITE = "write"
    ADMIN = "admin"

    def allows(self, needed: Scope) -> bool:
        order = [Scope.READ, Scope.WRITE, Scope.ADMIN]
        return order.index(self) >= order.index(needed)


class ApiKey(Base):
    """A caller of the service API; the secret itself is never stored."""

    __tablename__ = "api_keys"

    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    secret_hash: Mapped[str] = mapped_column(String(64))
    scope: Mapped[Scope] = mapped_column(status_enum(Scope))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class IdempotentAnswer(Base):
    """The first answer to a POST made with an Idempotency-Key, replayed to its repeats.

    ``response_status`` is None while the first request is still being worked.
    """

    __tablename__ = "api_idempotency"
    __table_args__ = (UniqueConstraint("api_key_id", "idempotency_key"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    api_key_id: Mapped[int] = mapped_column(ForeignKey("api_keys.id", ondelete="CASCADE"))
    idempotency_key: Mapped[str] = mapped_column(String(255))
    request_method: Mapped[str] = mapped_column(String(10))
    request_path: Mapped[str] = mapped_column(String(255))
    request_hash: Mapped[str] = mapped_column(String(64))
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[Any | None] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


@dataclass(frozen=True)
class KeyInfo:
    """A key as listed and as the API knows its caller (never the secret)."""

    id: int
    name: str
    prefix: str
    scope: Scope
    created_at: datetime
    last_used_at: datetime | None
    revoked_at: datetime | None


def _info(key: ApiKey) -> KeyInfo:
    return KeyInfo(
        id=key.id,
        name=key.name,
        prefix=key.prefix,
        scope=Scope(key.scope),
        created_at=key.created_at,
        last_used_at=key.last_used_at,
        revoked_at=key.revoked_at,
    )


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_key(session: Session, *, name: str, scope: Scope | str) -> tuple[KeyInfo, str]:
    """A new key: its stored description and the key itself (to show once, never stored)."""
    name = name.strip()
    if not name or len(name) > 100:
        raise ValueError("a key needs a name of 1 to 100 characters")
    try:
        scope = Scope(scope)
    except ValueError:
        raise ValueError(f"no scope {scope!r}: read, write or admin") from None
    prefix = secrets.token_hex(4)
    key = f"{KEY_PREFIX}{prefix}_{secrets.token_urlsafe(32)}"
    row = ApiKey(name=name, prefix=prefix, secret_hash=hash_key(key), scope=scope, created_at=utcnow())
    session.add(row)
    session.flush()
    return _info(row), key


def authenticate(session: Session, *, key: str, now: datetime | None = None) -> KeyInfo | None:
    """The live key ``key`` is (its last use stamped, at most every minute), or None for an unknown or
    revoked one."""
    parts = key.split("_", 2)  # the secret itself may hold "_"
    if len(parts) != 3 or f"{parts[0]}_" != KEY_PREFIX or len(parts[1]) != 8:
        return None
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if row is None or row.revoked_at is not None or not hmac.compare_digest(row.secret_hash, hash_key(key)):
        return None
    now = now or utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USE_EVERY:  # not a write per request
        row.last_used_at = now
        session.flush()
    return _info(row)


def list_keys(session: Session) -> list[KeyInfo]:
    """Every key, revoked ones included, in the order created."""
    return [_info(row) for row in session.scalars(select(ApiKey).order_by(ApiKey.id))]


def revoke_key(session: Session, *, key_id: int, now: datetime | None = None) -> KeyInfo:
    """Revoke a key at once (idempotent: a revoked key keeps its first revocation time)."""
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"no API key {key_id}")
    row.revoked_at = row.revoked_at or now or utcnow()
    session.flush()
    return _info(row)


def find_answer(session: Session, *, api_key_id: int, idempotency_key: str) -> IdempotentAnswer | None:
    return session.scalar(
        select(IdempotentAnswer).where(
            IdempotentAnswer.api_key_id == api_key_id, IdempotentAnswer.idempotency_key == idempotency_key
        )
    )


def reserve_answer(
    session: Session, *, api_key_id: int, idempotency_key: str, method: str, path: str, request_hash: str
) -> bool:
    """Claim an Idempotency-Key for a request about to be worked; False when another holds it."""
    statement = (
        upsert_insert(session, IdempotentAnswer)
        .values(
            api_key_id=api_key_id,
            idempotency_key=idempotency_key,
            request_method=method,
            request_path=path[:255],
            request_hash=request_hash,
            created_at=utcnow(),
        )
        .on_conflict_do_nothing()
    )
    return bool(session.execute(statement).rowcount)


def keep_answer(session: Session, *, api_key_id: int, idempotency_key: str, status: int, body: Any) -> None:
    """Store the answer to replay for a claimed Idempotency-Key."""
    session.execute(
        update(IdempotentAnswer)
        .where(IdempotentAnswer.api_key_id == api_key_id, IdempotentAnswer.idempotency_key == idempotency_key)
        .values(response_status=status, response_body=body)
    )


def release_answer(session: Session, *, api_key_id: int, idempotency_key: str) -> None:
    """Let go of a claimed key whose request failed, so that it may be tried again."""
    session.execute(
        delete(IdempotentAnswer).where(
            IdempotentAnswer.api_key_id == api_key_id,
            IdempotentAnswer.idempotency_key == idempotency_key,
            IdempotentAnswer.response_status.is_(None),
        )
    )
