"""The dispatch side of mailings: claiming due messages, recording send outcomes, expiring what the
window closed on, Never commits: the caller does.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, Update, and_, bindparam, case, func, or_, select, update
from sqlalchemy.orm import Session

from db import jobs
from db.base import utcnow
from db.claims import Lease, claim_ids, claim_values, renew_claims
from db.mailing.models import Client, Mailing, Message
from rules.mailing import WINDOW_CLOSED, DueMessage, MessageStatus, SendOutcome

WORKING = (MessageStatus.SENDING,)


def _open_mailings(now: datetime, mailing_id: int | None) -> object:
    query = select(Mailing.id).where(
        Mailing.starts_at <= now, Mailing.ends_at > now, Mailing.cancelled_at.is_(None)
    )
    if mailing_id is not None:
        query = query.where(Mailing.id == mailing_id)
    return query


def _claimable(now: datetime, mailing_id: int | None) -> ColumnElement[bool]:
    """New and due (no retry time, or one past), or held under a lapsed lease, in an open mailing."""
    due = and_(
        Message.status == MessageStatus.NEW,
        or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
    )
    return and_(
        or_(due, jobs.lease_lapsed(Message, WORKING, now)),
        Message.mailing_id.in_(_open_mailings(now, mailing_id)),
    )


def claim_due_messages(
    session: Session,
    *,
    limit: int,
    lease: Lease,
    mailing_id: int | None = None,
    now: datetime | None = None,
) -> list[DueMessage]:
    """Claim up to ``limit`` messages whose mailing window is open and whose retry time has come.

    ``attempts`` is not touched here: it counts sends tried, written with each outcome.
    """
    now = now or utcnow()
    ids = claim_ids(
        session,
        id_column=Message.id,
        claimable=_claimable(now, mailing_id),
        values={
            "status": MessageStatus.SENDING,
            "started_at": func.coalesce(Message.started_at, now),
            **claim_values(lease, now),
        },
        limit=limit,
    )
    if not ids:
        return []
    rows = session.execute(
        select(
            Message.id,
            Message.mailing_id,
            Message.client_id,
            Message.attempts,
            Client.phone,
            Client.timezone,
            Mailing.text,
            Mailing.ends_at,
            Mailing.daily_from,
            Mailing.daily_until,
        )
        .join(Client, Client.id == Message.client_id)
        .join(Mailing, Mailing.id == Message.mailing_id)
        .where(Message.id.in_(ids))
        .order_by(Message.id)
    )
    return [DueMessage(**row._asdict()) for row in rows]


def renew_messages(
    session: Session, *, ids: Sequence[int], lease: Lease, now: datetime | None = None
) -> set[int]:
    """Extend the lease on the messages of ``ids`` still being sent under ``lease``; returns those."""
    return renew_claims(
        session,
        id_column=Message.id,
        held=Message.status.in_(WORKING),
        ids=ids,
        lease=lease,
        now=now or utcnow(),
    )


def fail_expired(session: Session, *, now: datetime | None = None) -> int:
    """Turn unfinished messages of mailings that have ended into failures; returns how many."""
    now = now or utcnow()
    ended = select(Mailing.id).where(Mailing.ends_at <= now, Mailing.cancelled_at.is_(None))
    return jobs.transition(
        session,
        Message,
        where=and_(
            Message.mailing_id.in_(ended),
            or_(Message.status == MessageStatus.NEW, Message.claimed_until < now),  # not in flight
        ),
        to=MessageStatus.FAILURE,
        from_=(MessageStatus.NEW, *WORKING),
        terminal=True,
        now=now,
        last_error=func.coalesce(Message.last_error + "; ", "") + WINDOW_CLOSED,
    )


def record_send_outcomes(
    session: Session, *, outcomes: Sequence[SendOutcome], owner: str, now: datetime | None = None
) -> None:
    """Write a batch of outcomes in (at most) two executemany statements.

    Only messages still claimed by ``owner`` are changed (an outcome of a claim lost to another run
    is dropped), except that a message the gateway accepted is recorded as sent whoever holds it
    now, even if its mailing was cancelled meanwhile: the record must say what happened.
    """
    now = now or utcnow()
    table = Message.__table__
    sent = [outcome for outcome in outcomes if outcome.sent]
    other = [outcome for outcome in outcomes if not outcome.sent]
    if sent:
        accepted = or_(  # not IN (…): an expanding parameter cannot go in an executemany
            table.c.status == MessageStatus.SENDING.value, table.c.status == MessageStatus.CANCELLED.value
        )
        session.execute(_outcome_update(accepted), _params(sent, now))
    if other:
        held = and_(table.c.status == MessageStatus.SENDING.value, table.c.claimed_by == owner)
        session.execute(_outcome_update(held), _params(other, now))


def _outcome_update(condition: ColumnElement[bool]) -> Update:
    table = Message.__table__
    return (
        update(table)
        .where(table.c.id == bindparam("message_id"), condition)
        .values(
            status=bindparam("new_status"),
            attempts=table.c.attempts + bindparam("tried"),
            next_attempt_at=bindparam("retry_at"),
            claimed_until=None,
            claimed_by=None,
            sent_at=bindparam("sent_time"),
            finished_at=bindparam("finished_time"),
            last_error=func.coalesce(bindparam("error"), table.c.last_error),  # kept once sent
            gateway_answer=bindparam("answer"),
            unknown_outcomes=table.c.unknown_outcomes + bindparam("unknown"),
        )
    )


def _params(outcomes: Sequence[SendOutcome], now: datetime) -> list[dict[str, object]]:
    return [
        {
            "message_id": outcome.id,
            "new_status": outcome.status.value,
            "tried": int(outcome.tried),
            "retry_at": outcome.retry_at,
            "sent_time": now if outcome.sent else None,
            "finished_time": None if outcome.status == MessageStatus.NEW else now,
            "error": outcome.error,
            "answer": outcome.answer,
            "unknown": int(outcome.unknown),
        }
        for outcome in outcomes
    ]


def count_due(session: Session, *, mailing_id: int, now: datetime | None = None) -> int:
    """How many messages of the mailing are due now (new and due, or held under a lapsed lease)."""
    now = now or utcnow()
    return session.scalar(select(func.count()).where(_claimable(now, mailing_id))) or 0


def next_retry_time(
    session: Session, *, mailing_id: int | None = None, now: datetime | None = None
) -> datetime | None:
    """When the next unsent message of an open mailing may be claimed (``now`` if one already may), or
    None: a deferred retry's time, or the end of a lease held by another sender (claimed again then,
    should that sender have died)."""
    now = now or utcnow()
    return session.scalar(
        select(
            func.min(
                case(
                    (Message.status == MessageStatus.NEW, func.coalesce(Message.next_attempt_at, now)),
                    else_=Message.claimed_until,
                )
            )
        ).where(
            Message.status.in_([MessageStatus.NEW, *WORKING]),
            Message.mailing_id.in_(_open_mailings(now, mailing_id)),
        )
    )
