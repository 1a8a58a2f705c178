"""What the dashboard and the CLI show of mailings: counts by status, problems, sends per minute."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from typing import Any, Literal

from sqlalchemy import ColumnElement, extract, func, or_, select
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
    unknown_outcomes: int = 0  # tries whose outcome was unknown, each tried again (perhaps a duplicate)

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


def mailing_stats(
    session: Session, *, mailing_ids: Sequence[int] | None = None, limit: int = 100, offset: int = 0
) -> list[MailingStats]:
    """Newest mailings first (from ``offset``), their messages counted by status.

    Two queries: the page of mailings, then their messages counted by (mailing, status), which the
    index on (mailing_id, status, sent_at) answers without reading the table (one grouped query
    over the join summed a CASE per status per message: ~45 ms a request for a mailing of 100k
    messages on SQLite, bench/api.py).
    """
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
        )
        .order_by(Mailing.id.desc())
        .limit(limit)
        .offset(offset)
    )
    if mailing_ids is not None:
        statement = statement.where(Mailing.id.in_(mailing_ids))
    mailings = session.execute(statement).all()
    counts: dict[int, dict[str, int]] = {row.id: dict.fromkeys(MessageStatus, 0) for row in mailings}
    unknown: dict[int, int] = {}
    if counts:
        by_status = session.execute(
            select(Message.mailing_id, Message.status, func.count())
            .where(Message.mailing_id.in_(counts))
            .group_by(Message.mailing_id, Message.status)
        )
        for mailing_id, status, count in by_status:
            counts[mailing_id][MessageStatus(status)] = count
        unknown = {  # rare: read through the partial index on the messages with any
            mailing_id: total
            for mailing_id, total in session.execute(
                select(Message.mailing_id, func.sum(Message.unknown_outcomes))
                .where(Message.mailing_id.in_(counts), Message.unknown_outcomes > 0)
                .group_by(Message.mailing_id)
            )
        }
    return [
        MailingStats(
            **row._asdict(),
            total=sum(counts[row.id].values()),
            **{status.value: count for status, count in counts[row.id].items()},
            unknown_outcomes=int(unknown.get(row.id, 0)),
        )
        for row in mailings
    ]


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
    """(minute in UTC, messages sent in it), counted in SQL.

    PostgreSQL counts minutes since the epoch. SQLite keeps "YYYY-MM-DD HH:MM:SS.ffffff" text in
    UTC, so its minute is the text's first 16 characters ("YYYY-MM-DD HH:MM", which also sort in
    time order): no date function per row (their cost dominated GET /mailings/{id}/stats at 100k
    messages, bench/api.py), and a fraction of a second never rounds into the next minute.
    """
    if session.get_bind().dialect.name == "postgresql":
        minute: ColumnElement[Any] = func.floor(extract("epoch", Message.sent_at) / 60)
    else:
        minute = func.substr(Message.sent_at, 1, 16)
    rows = session.execute(
        select(minute, func.count())
        .where(Message.mailing_id == mailing_id, Message.sent_at.is_not(None))
        .group_by(minute)
        .order_by(minute)
    )
    return [(_minute_start(minute), count) for minute, count in rows]


def _minute_start(minute: Any) -> datetime:
    """The UTC start of a minute counted by ``_sends_per_minute``: minutes since the epoch
    (PostgreSQL), or "YYYY-MM-DD HH:MM" (SQLite)."""
    if isinstance(minute, str):
        return datetime.strptime(minute, "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    return datetime.fromtimestamp(int(minute) * 60, UTC)


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
