"""What the dashboard and the CLI show of mailings: counts by status, problems, sends per minute."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any, Literal

from sqlalchemy import ColumnElement, Integer, case, cast, extract, func, or_, select
from sqlalchemy.orm import Session

from db.base import NotFound, utcnow
from db.mailing.models import Client, Mailing, Message
from rules.mailing import MessageStatus

_MAX_PROBLEMS = 200

MailingState = Literal["cancelled", "scheduled", "sending", "finished"]


@dataclass(frozen=True)
class MailingStats:
    """A mailing with its messages counted by status; ``text`` is its first 80 characters."""

    id: int
    text: str
    starts_at: datetime
    ends_at: datetime
    cancelled_at: datetime | None
    filter_operator_code: str | None
    filter_tag: str | None
    daily_from: time | None
    daily_until: time | None
    total: int
    new: int
    sending: int
    sent: int
    failure: int
    cancelled: int

    @property
    def state(self) -> MailingState:
        now = utcnow()
        if self.cancelled_at is not None:
            return "cancelled"
        if now < self.starts_at:
            return "scheduled"
        if now >= self.ends_at or self.new + self.sending == 0:
            return "finished"
        return "sending"


@dataclass(frozen=True)
class MessageProblem:
    """A message that failed, or met an error and is not sent yet (``next_attempt_at``: when it is
    tried again, if deferred)."""

    id: int
    phone: str
    status: MessageStatus
    attempts: int
    last_error: str | None
    gateway_answer: str | None
    next_attempt_at: datetime | None


@dataclass(frozen=True)
class MailingDetail:
    stats: MailingStats
    problems: list[MessageProblem]
    sends_per_minute: list[tuple[datetime, int]]


def _status_count(status: MessageStatus) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((Message.status == status, 1), else_=0)), 0).label(status.value)


def mailing_stats(
    session: Session, *, mailing_ids: Sequence[int] | None = None, limit: int = 100, offset: int = 0
) -> list[MailingStats]:
    """Newest mailings first (from ``offset``), their messages counted by status, in one grouped query."""
    statement = (
        select(
            Mailing.id,
            func.substr(Mailing.text, 1, 80).label("text"),
            Mailing.starts_at,
            Mailing.ends_at,
            Mailing.cancelled_at,
            Mailing.filter_operator_code,
            Mailing.filter_tag,
            Mailing.daily_from,
            Mailing.daily_until,
            func.count(Message.id).label("total"),
            *(_status_count(status) for status in MessageStatus),
        )
        .outerjoin(Message, Message.mailing_id == Mailing.id)
        .group_by(Mailing.id)
        .order_by(Mailing.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if mailing_ids is not None:
        statement = statement.where(Mailing.id.in_(mailing_ids))
    return [MailingStats(**row._asdict()) for row in session.execute(statement)]


def mailing_detail(session: Session, *, mailing_id: int) -> MailingDetail:
    """One mailing: its counts, the unsent messages that failed or met an error, and sends per minute."""
    found = mailing_stats(session, mailing_ids=[mailing_id])
    if not found:
        raise NotFound(f"no mailing {mailing_id}")
    problems = session.execute(
        select(
            Message.id,
            Client.phone,
            Message.status,
            Message.attempts,
            Message.last_error,
            Message.gateway_answer,
            Message.next_attempt_at,
        )
        .join(Client, Client.id == Message.client_id)
        .where(
            Message.mailing_id == mailing_id,
            Message.status != MessageStatus.SENT,  # an error on the way to being sent is no problem now
            or_(Message.status == MessageStatus.FAILURE, Message.last_error.is_not(None)),
        )
        .order_by(Message.id)
        .limit(_MAX_PROBLEMS)
    )
    return MailingDetail(
        stats=found[0],
        problems=[MessageProblem(**row._asdict()) for row in problems],
        sends_per_minute=_sends_per_minute(session, mailing_id),
    )


def _sends_per_minute(session: Session, mailing_id: int) -> list[tuple[datetime, int]]:
    """(minute in UTC, messages sent in it), counted in SQL as minutes since the epoch.

    SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" text; its date functions round that to milliseconds,
    so the fraction is cut off first (59.9999 s must not count in the next minute).
    """
    if session.get_bind().dialect.name == "postgresql":
        minute: ColumnElement[Any] = func.floor(extract("epoch", Message.sent_at) / 60)
    else:
        minute = cast(func.strftime("%s", func.substr(Message.sent_at, 1, 19)), Integer) // 60
    rows = session.execute(
        select(minute, func.count())
        .where(Message.mailing_id == mailing_id, Message.sent_at.is_not(None))
        .group_by(minute)
        .order_by(minute)
    )
    return [(datetime.fromtimestamp(int(minute) * 60, UTC), count) for minute, count in rows]


def message_totals(session: Session) -> tuple[int, dict[MessageStatus, int]]:
    """How many mailings there are, and all their messages counted by status."""
    mailings = session.scalar(select(func.count()).select_from(Mailing)) or 0
    by_status = session.execute(select(Message.status, func.count()).group_by(Message.status)).all()
    return mailings, {MessageStatus(status): count for status, count in by_status}


def mailing_text(session: Session, *, mailing_id: int) -> str:
    """The whole text of a mailing (the statistics carry its first 80 characters)."""
    return session.get_one(Mailing, mailing_id).text


def mailing_texts(session: Session, *, mailing_ids: Sequence[int]) -> dict[int, str]:
    """The whole texts of several mailings, by id, in one query."""
    rows = session.execute(select(Mailing.id, Mailing.text).where(Mailing.id.in_(mailing_ids)))
    return dict(rows.tuples().all())


def _message_conditions(
    mailing_id: int | None, client_id: int | None, status: MessageStatus | None
) -> list[ColumnElement[bool]]:
    wanted = [(Message.mailing_id, mailing_id), (Message.client_id, client_id), (Message.status, status)]
    return [column == value for column, value in wanted if value is not None]


def find_messages(
    session: Session,
    *,
    mailing_id: int | None = None,
    client_id: int | None = None,
    status: MessageStatus | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Message]:
    """Messages matching every filter given, in the order created."""
    conditions = _message_conditions(mailing_id, client_id, status)
    statement = select(Message).where(*conditions).order_by(Message.id).limit(limit).offset(offset)
    return list(session.scalars(statement))


def count_messages(
    session: Session,
    *,
    mailing_id: int | None = None,
    client_id: int | None = None,
    status: MessageStatus | None = None,
) -> int:
    """How many messages match every filter given."""
    conditions = _message_conditions(mailing_id, client_id, status)
    return session.scalar(select(func.count()).select_from(Message).where(*conditions)) or 0
