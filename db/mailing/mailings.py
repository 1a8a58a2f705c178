"""Mailings: create, change, cancel and delete them, planning their messages. Never commits."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time
from typing import Any

from sqlalchemy import delete, exists, func, insert, literal, select
from sqlalchemy.orm import Session

from db import jobs
from db.base import UTCDateTime, utcnow
from db.mailing.clients import client_conditions, optional_filter
from db.mailing.models import UNSET, Client, Mailing, Message, Unset, get_row
from rules.mailing import (
    MessageStatus,
    check_daily_interval,
    check_operator_code,
    check_tag,
    check_text,
    check_window,
)


@dataclass(frozen=True)
class CreatedMailing:
    """A stored mailing: its messages, and whether its window is open already."""

    id: int
    messages: int
    starts_now: bool


def _mailing_values(
    *,
    text: str,
    starts_at: datetime,
    ends_at: datetime,
    filter_operator_code: str | None,
    filter_tag: str | None,
    daily_from: time | None,
    daily_until: time | None,
    max_text_length: int,
) -> dict[str, Any]:
    """A mailing's columns, validated; a blank filter is no filter."""
    check_window(starts_at, ends_at)
    check_daily_interval(daily_from, daily_until)
    return {
        "text": check_text(text, max_text_length),
        "starts_at": starts_at,
        "ends_at": ends_at,
        "filter_operator_code": optional_filter(filter_operator_code, check_operator_code),
        "filter_tag": optional_filter(filter_tag, check_tag),
        "daily_from": daily_from,
        "daily_until": daily_until,
    }


def _refuse_past_end(ends_at: datetime, now: datetime) -> None:
    if ends_at <= now:
        raise ValueError(f"the end time {ends_at.isoformat()} has passed")


def _add_messages(session: Session, *, mailing: Mailing, now: datetime) -> int:
    """A new message for every matching client without one, in one INSERT … SELECT; returns how many."""
    has_message = select(Message.id).where(Message.mailing_id == mailing.id, Message.client_id == Client.id)
    clients = select(
        literal(mailing.id),
        Client.id,
        literal(MessageStatus.NEW, Message.__table__.c.status.type),
        literal(now, UTCDateTime()),
        literal(0),
    ).where(*client_conditions(mailing.filter_operator_code, mailing.filter_tag), ~exists(has_message))
    columns = ["mailing_id", "client_id", "status", "created_at", "attempts"]
    return session.execute(insert(Message).from_select(columns, clients)).rowcount


def _window_open(mailing: Mailing, now: datetime) -> bool:
    return mailing.starts_at <= now < mailing.ends_at


def create_mailing(
    session: Session,
    *,
    text: str,
    starts_at: datetime,
    ends_at: datetime,
    filter_operator_code: str | None = None,
    filter_tag: str | None = None,
    daily_from: time | None = None,
    daily_until: time | None = None,
    max_text_length: int = 1000,
    now: datetime | None = None,
) -> CreatedMailing:
    """Store a mailing and a new message for every client matching its filter.

    Raises ValueError for bad input or an end time already past: nothing is stored then.
    """
    now = now or utcnow()
    values = _mailing_values(
        text=text,
        starts_at=starts_at,
        ends_at=ends_at,
        filter_operator_code=filter_operator_code,
        filter_tag=filter_tag,
        daily_from=daily_from,
        daily_until=daily_until,
        max_text_length=max_text_length,
    )
    _refuse_past_end(ends_at, now)
    mailing = Mailing(**values)
    session.add(mailing)
    session.flush()
    messages = _add_messages(session, mailing=mailing, now=now)
    return CreatedMailing(id=mailing.id, messages=messages, starts_now=_window_open(mailing, now))


def update_mailing(
    session: Session,
    *,
    mailing_id: int,
    text: str | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    filter_operator_code: str | Unset | None = UNSET,
    filter_tag: str | Unset | None = UNSET,
    daily_from: time | Unset | None = UNSET,
    daily_until: time | Unset | None = UNSET,
    max_text_length: int = 1000,
    now: datetime | None = None,
) -> CreatedMailing:
    """Change a mailing: anything before it starts (a new filter or times re-plan its messages),
    only its text and end time after. A cancelled mailing cannot change. Values equal to the current
    ones are no change. Raises ValueError, changing nothing, for what is refused.
    """
    now = now or utcnow()
    mailing = get_row(session, Mailing, mailing_id)
    if mailing.cancelled_at is not None:
        raise ValueError(f"mailing {mailing_id} is cancelled: it cannot change")
    given = {"text": text, "starts_at": starts_at, "ends_at": ends_at}
    optional = {
        "filter_operator_code": filter_operator_code,
        "filter_tag": filter_tag,
        "daily_from": daily_from,
        "daily_until": daily_until,
    }
    current = {name: getattr(mailing, name) for name in (*given, *optional)}
    changes = {name: value for name, value in given.items() if value is not None} | {
        name: value for name, value in optional.items() if value is not UNSET
    }
    values = _mailing_values(**(current | changes), max_text_length=max_text_length)
    changed = {name for name, value in values.items() if value != current[name]}
    if "ends_at" in changed:
        _refuse_past_end(values["ends_at"], now)
    started = mailing.starts_at <= now
    if started and changed - {"text", "ends_at"}:
        raise ValueError(f"mailing {mailing_id} has started: only its text and end time can change")
    for name in changed:
        setattr(mailing, name, values[name])
    session.flush()
    if not started and changed - {"text"}:
        session.execute(
            delete(Message).where(Message.mailing_id == mailing_id, Message.status == MessageStatus.NEW)
        )
        _add_messages(session, mailing=mailing, now=now)
    messages = session.scalar(select(func.count()).where(Message.mailing_id == mailing_id)) or 0
    return CreatedMailing(id=mailing_id, messages=messages, starts_now=_window_open(mailing, now))


def cancel_mailing(session: Session, *, mailing_id: int, now: datetime | None = None) -> int:
    """Cancel a mailing and its unsent (new and sending) messages; returns how many. Idempotent."""
    now = now or utcnow()
    mailing = get_row(session, Mailing, mailing_id)
    mailing.cancelled_at = mailing.cancelled_at or now
    return jobs.transition(
        session,
        Message,
        where=Message.mailing_id == mailing_id,
        to=MessageStatus.CANCELLED,
        from_=(MessageStatus.NEW, MessageStatus.SENDING),
        terminal=True,
        now=now,
    )


def delete_mailing(session: Session, *, mailing_id: int) -> None:
    """Delete a mailing and its messages (explicitly: SQLite may run without foreign keys)."""
    get_row(session, Mailing, mailing_id)
    session.execute(delete(Message).where(Message.mailing_id == mailing_id))
    session.execute(delete(Mailing).where(Mailing.id == mailing_id))
