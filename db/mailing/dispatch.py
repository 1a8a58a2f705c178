"""The dispatch side of mailings: claiming due messages, recording send outcomes, expiring what the
window closed on, Never commits: the caller does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from functools import cache
from typing import Any

from sqlalchemy import (
    ARRAY,
    ColumnElement,
    DateTime,
    Integer,
    String,
    Text,
    and_,
    bindparam,
    case,
    cast,
    column,
    func,
    or_,
    select,
    update,
)
from sqlalchemy.orm import Session
from sqlalchemy.sql.dml import Update
from sqlalchemy.types import TypeEngine

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


def _new_and_due(now: datetime, mailing_id: int | None) -> ColumnElement[bool]:
    """New and due (no retry time, or one past), in an open mailing. With ``mailing_id`` the mailing
    is also named directly, so its claim reads ``ix_messages_new`` in id order and stops at the
    limit instead of passing over every message already sent."""
    due = and_(
        Message.status == MessageStatus.NEW,
        or_(Message.next_attempt_at.is_(None), Message.next_attempt_at <= now),
        Message.mailing_id.in_(_open_mailings(now, mailing_id)),
    )
    return due if mailing_id is None else and_(due, Message.mailing_id == mailing_id)


def _lapsed(now: datetime, mailing_id: int | None) -> ColumnElement[bool]:
    """Held under a lapsed lease (its sender is gone), in an open mailing."""
    return and_(
        jobs.lease_lapsed(Message, WORKING, now), Message.mailing_id.in_(_open_mailings(now, mailing_id))
    )


def _claimable(now: datetime, mailing_id: int | None) -> ColumnElement[bool]:
    return or_(_new_and_due(now, mailing_id), _lapsed(now, mailing_id))


def claim_due_messages(
    session: Session,
    *,
    limit: int,
    lease: Lease,
    mailing_id: int | None = None,
    now: datetime | None = None,
) -> list[DueMessage]:
    """Claim up to ``limit`` messages whose mailing window is open and whose retry time has come:
    those left under a lapsed lease first, then new ones, each in id order.

    Two statements, each of which an index serves (one condition with both would be read as a scan
    of every unsent message). ``attempts`` is not touched here: it counts sends tried, written with
    each outcome.
    """
    now = now or utcnow()
    values = {
        "status": MessageStatus.SENDING,
        "started_at": func.coalesce(Message.started_at, now),
        **claim_values(lease, now),
    }
    ids: list[int] = []
    for claimable in (_lapsed(now, mailing_id), _new_and_due(now, mailing_id)):
        if len(ids) < limit:
            ids += claim_ids(
                session, id_column=Message.id, claimable=claimable, values=values, limit=limit - len(ids)
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
    """Write a batch of outcomes in a few statements: on PostgreSQL one UPDATE joined to the outcomes
    passed as arrays (planned once, not once a row: the plan of a row's UPDATE cost more than its
    execution); elsewhere one ``UPDATE … WHERE id IN (…)`` for outcomes alike but for their message
    (most often: sent, with the gateway's same answer) and an executemany for the rest. Each statement
    is built once per process (building one cost more than running it for a few rows).

    Only messages still claimed by ``owner`` are changed (an outcome of a claim lost to another run
    is dropped), except that a message the gateway accepted is recorded as sent whoever holds it
    now, even if its mailing was cancelled meanwhile: the record must say what happened.
    """
    now = now or utcnow()
    write = _update_from_arrays if session.get_bind().dialect.name == "postgresql" else _update_many
    for held, group in (
        (False, [o for o in outcomes if o.sent]),
        (True, [o for o in outcomes if not o.sent]),
    ):
        if group:
            write(session, held, owner, _params(group, now))


def _condition(held: bool) -> ColumnElement[bool]:
    """Which rows an outcome may change: still claimed by the writer (bound as ``owner``), or — for a
    message the gateway accepted — being sent or cancelled, whoever holds it."""
    table = Message.__table__
    if held:
        return and_(table.c.status == MessageStatus.SENDING.value, table.c.claimed_by == bindparam("owner"))
    return or_(table.c.status == MessageStatus.SENDING.value, table.c.status == MessageStatus.CANCELLED.value)


# the columns of an outcome as written: (name, type)
_OUTCOME_COLUMNS: tuple[tuple[str, TypeEngine[object]], ...] = (
    ("message_id", Integer()),
    ("new_status", String()),
    ("tried", Integer()),
    ("retry_at", DateTime(timezone=True)),
    ("sent_time", DateTime(timezone=True)),
    ("finished_time", DateTime(timezone=True)),
    ("error", Text()),
    ("answer", Text()),
    ("unknown", Integer()),
)
_ALIKE = [name for name, _ in _OUTCOME_COLUMNS[1:]]  # what outcomes alike share


def _outcome_values(outcome: Callable[[str], ColumnElement[Any]]) -> dict[str, ColumnElement[Any]]:
    """The columns an outcome sets, ``outcome(name)`` being its value of each column above."""
    table = Message.__table__
    return {
        "status": outcome("new_status"),
        "attempts": table.c.attempts + outcome("tried"),
        "next_attempt_at": outcome("retry_at"),
        "claimed_until": None,
        "claimed_by": None,
        "sent_at": outcome("sent_time"),
        "finished_at": outcome("finished_time"),
        "last_error": func.coalesce(outcome("error"), table.c.last_error),  # kept once sent
        "gateway_answer": outcome("answer"),
        "unknown_outcomes": table.c.unknown_outcomes + outcome("unknown"),
    }


@cache
def _update_statement(held: bool, shape: str) -> Update:
    """The UPDATE of outcomes: ``each`` (one row per parameter set), ``alike`` (``message_ids``, one
    set of values) or ``arrays`` (PostgreSQL: ``unnest`` of one array per column)."""
    table = Message.__table__
    statement = update(table)
    if shape == "arrays":
        outcome = (
            func.unnest(
                *(cast(bindparam(name, type_=ARRAY(kind)), ARRAY(kind)) for name, kind in _OUTCOME_COLUMNS)
            )
            .table_valued(*(column(name, kind) for name, kind in _OUTCOME_COLUMNS))
            .render_derived(name="outcome")
        )
        return statement.where(table.c.id == outcome.c.message_id, _condition(held)).values(
            _outcome_values(lambda name: outcome.c[name])
        )
    if shape == "alike":
        target = table.c.id.in_(bindparam("message_ids", expanding=True))
    else:
        target = table.c.id == bindparam("message_id")
    return statement.where(target, _condition(held)).values(_outcome_values(bindparam))


def _update_many(session: Session, held: bool, owner: str, params: list[dict[str, object]]) -> None:
    kinds: dict[tuple[object, ...], list[dict[str, object]]] = {}
    for row in params:
        kinds.setdefault(tuple(row[name] for name in _ALIKE), []).append(row)
    singles = []
    for rows in kinds.values():
        if len(rows) == 1:
            singles += rows
            continue
        alike = {name: rows[0][name] for name in _ALIKE}
        ids = [row["message_id"] for row in rows]
        session.execute(_update_statement(held, "alike"), alike | {"message_ids": ids, "owner": owner})
    if singles:
        session.execute(_update_statement(held, "each"), [row | {"owner": owner} for row in singles])


def _update_from_arrays(session: Session, held: bool, owner: str, params: list[dict[str, object]]) -> None:
    """``UPDATE messages … FROM unnest(:message_id, :new_status, …) AS outcome(…)``: one array a column."""
    arrays = {name: [row[name] for row in params] for name, _ in _OUTCOME_COLUMNS}
    session.execute(_update_statement(held, "arrays"), arrays | {"owner": owner})


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
