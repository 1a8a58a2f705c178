"""Mailing dispatch: clients, mailings and their messages; status transitions and queries.

A mailing's messages go new → sending (claimed, with a lease) → sent | failure, or cancelled
when the mailing is cancelled or deleted before they are sent. This module owns those
transitions. Functions take a keyword-only ``session`` and never commit: the caller does.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from enum import Enum as PyEnum
from typing import Any, Literal, TypeVar

from sqlalchemy import (
    ColumnElement,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    Time,
    UniqueConstraint,
    bindparam,
    case,
    cast,
    delete,
    exists,
    extract,
    func,
    insert,
    literal,
    or_,
    select,
    update,
)
from sqlalchemy.engine import RowMapping
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from db.base import Base, UTCDateTime, status_enum, utcnow
from db.jobs import JobColumns
from rules.mailing import (
    MessageStatus,
    check_daily_interval,
    check_operator_code,
    check_tag,
    check_text,
    check_timezone,
    check_window,
    normalise_phone,
    operator_code_of,
)


class Client(Base):
    """Someone messages are sent to."""

    __tablename__ = "clients"

    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(11), unique=True)
    operator_code: Mapped[str] = mapped_column(String(3), index=True)
    tag: Mapped[str] = mapped_column(String(64), default="", index=True)
    timezone: Mapped[str] = mapped_column(String(64), default="UTC")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)


class Mailing(Base):
    """A text sent to every client matching a filter, between ``starts_at`` and ``ends_at``.

    ``daily_from``/``daily_until`` (optional, both or neither) limit sending to that time of day in
    each client's own timezone; an interval whose end is before its start runs over midnight.
    """

    __tablename__ = "mailings"

    id: Mapped[int] = mapped_column(primary_key=True)
    text: Mapped[str] = mapped_column(Text)
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    filter_operator_code: Mapped[str | None] = mapped_column(String(3))
    filter_tag: Mapped[str | None] = mapped_column(String(64))
    daily_from: Mapped[time | None] = mapped_column(Time)
    daily_until: Mapped[time | None] = mapped_column(Time)
    cancelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow, onupdate=utcnow)

    messages: Mapped[list[Message]] = relationship(back_populates="mailing", passive_deletes=True)


class Message(JobColumns, Base):
    """One mailing's text for one client: at most one per mailing and client."""

    __tablename__ = "messages"
    __table_args__ = (
        UniqueConstraint("mailing_id", "client_id"),
        Index("ix_messages_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailing_id: Mapped[int] = mapped_column(ForeignKey("mailings.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    status: Mapped[MessageStatus] = mapped_column(status_enum(MessageStatus), default=MessageStatus.NEW)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    gateway_answer: Mapped[str | None] = mapped_column(Text)

    mailing: Mapped[Mailing] = relationship(back_populates="messages")
    client: Mapped[Client] = relationship()


class GatewaySlot(Base):
    """Sends reserved against the gateway's rate limit in one second, shared by every run."""

    __tablename__ = "gateway_slots"

    second: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    used: Mapped[int] = mapped_column(Integer, default=0)


# --- operations -----------------------------------------------------------------------------------


class Unset(PyEnum):
    """An argument left out, where None is a value of its own ("no filter", "no interval")."""

    UNSET = "unset"


UNSET = Unset.UNSET
IMPORT_COLUMNS = ("phone", "tag", "timezone", "operator_code")
_LOOKUP_CHUNK = 5000  # phones per SELECT … IN (…), well under every database's parameter limit
_MAX_PROBLEMS = 200

MailingState = Literal["cancelled", "scheduled", "sending", "finished"]
_Stored = TypeVar("_Stored", Client, Mailing)


@dataclass(frozen=True)
class ImportReport:
    """What a CSV import did; ``errors`` are (line number, message) of the rows skipped.

    ``updated`` counts known phones whose row changed something, ``unchanged`` those it did not.
    """

    added: int
    updated: int
    errors: list[tuple[int, str]]
    unchanged: int = 0


@dataclass(frozen=True)
class CreatedMailing:
    """A stored mailing: its messages, and whether its window is open already."""

    id: int
    messages: int
    starts_now: bool


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
    """A message that failed or met an error on the way."""

    id: int
    phone: str
    status: MessageStatus
    attempts: int
    last_error: str | None
    gateway_answer: str | None


@dataclass(frozen=True)
class MailingDetail:
    stats: MailingStats
    problems: list[MessageProblem]
    sends_per_minute: list[tuple[datetime, int]]


# --- clients --------------------------------------------------------------------------------------


def _optional_filter(value: str | None, check: Callable[[str], str]) -> str | None:
    """A filter value checked; None or blank means no filter."""
    if value is None or not value.strip():
        return None
    return check(value)


def _client_conditions(operator_code: str | None, tag: str | None) -> list[ColumnElement[bool]]:
    """The clients a filter selects: every value given must match; None or blank matches all."""
    wanted = [
        (Client.operator_code, _optional_filter(operator_code, str.strip)),
        (Client.tag, _optional_filter(tag, str.strip)),
    ]
    return [column == value for column, value in wanted if value is not None]


def _get(session: Session, model: type[_Stored], row_id: int) -> _Stored:
    row = session.get(model, row_id)
    if row is None:
        raise ValueError(f"no {model.__name__.lower()} {row_id}")
    return row


def _refuse_taken_phone(session: Session, phone: str, client_id: int | None = None) -> None:
    statement = select(Client.id).where(Client.phone == phone)
    if client_id is not None:
        statement = statement.where(Client.id != client_id)
    if session.scalar(statement) is not None:
        raise ValueError(f"a client with phone {phone} exists")


def add_client(
    session: Session, *, phone: str, tag: str = "", timezone: str = "UTC", operator_code: str | None = None
) -> Client:
    """Add a client; the operator code is derived from the phone unless given."""
    phone = normalise_phone(phone)
    client = Client(
        phone=phone,
        tag=check_tag(tag),
        timezone=check_timezone(timezone),
        operator_code=check_operator_code(operator_code) if operator_code else operator_code_of(phone),
    )
    _refuse_taken_phone(session, phone)
    session.add(client)
    session.flush()
    return client


def update_client(
    session: Session,
    *,
    client_id: int,
    phone: str | None = None,
    tag: str | None = None,
    timezone: str | None = None,
    operator_code: str | None = None,
) -> Client:
    """Change the fields given; a new phone re-derives the operator code unless one is given."""
    client = _get(session, Client, client_id)
    values: dict[str, str] = {}
    if phone is not None:
        values["phone"] = normalise_phone(phone)
        values["operator_code"] = operator_code_of(values["phone"])
        _refuse_taken_phone(session, values["phone"], client_id)
    if operator_code is not None:
        values["operator_code"] = check_operator_code(operator_code)
    if tag is not None:
        values["tag"] = check_tag(tag)
    if timezone is not None:
        values["timezone"] = check_timezone(timezone)
    for name, value in values.items():
        setattr(client, name, value)
    session.flush()
    return client


def delete_client(session: Session, *, client_id: int) -> None:
    """Delete a client and its messages."""
    _get(session, Client, client_id)
    session.execute(delete(Message).where(Message.client_id == client_id))
    session.execute(delete(Client).where(Client.id == client_id))


def find_clients(
    session: Session,
    *,
    tag: str | None = None,
    operator_code: str | None = None,
    phone_prefix: str | None = None,
    limit: int = 100,
    offset: int = 0,
) -> list[Client]:
    """Clients matching every filter given (blank filters are ignored), in the order added."""
    conditions = _client_conditions(operator_code, tag)
    digits = re.sub(r"\D", "", phone_prefix or "")
    if digits:
        conditions.append(Client.phone.startswith(digits, autoescape=True))
    statement = select(Client).where(*conditions).order_by(Client.id).limit(limit).offset(offset)
    return list(session.scalars(statement))


def count_clients(session: Session, *, operator_code: str | None = None, tag: str | None = None) -> int:
    """How many clients a mailing filter selects now."""
    conditions = _client_conditions(operator_code, tag)
    return session.scalar(select(func.count()).select_from(Client).where(*conditions)) or 0


# --- CSV import -----------------------------------------------------------------------------------


def import_clients_csv(session: Session, *, text: str) -> ImportReport:
    """Add or update the clients of a CSV file; bad rows are reported by line number and skipped.

    The header names the columns (any case): ``phone`` is required; ``tag``, ``timezone`` and
    ``operator_code`` are optional, other columns are ignored. Commas, semicolons or tabs separate.
    A known phone updates that client (a re-import is idempotent): the optional columns the file has
    are set, an empty cell meaning no tag, UTC, or the code derived from the phone; the columns it
    lacks are left as they were. Validation runs in Python, then one bulk INSERT of the new clients
    and one executemany UPDATE of the changed ones. Raises ValueError, importing nothing, for an
    empty file, a header without ``phone``, or unreadable CSV.
    """
    rows, errors = _parse_clients_csv(text)
    existing = _clients_by_phone(session, list(rows))
    added: list[dict[str, str]] = []
    changed: list[dict[str, str | int]] = []
    for phone, fields in rows.items():
        known = existing.get(phone)
        if known is None:
            added.append({"tag": "", "timezone": "UTC", "operator_code": operator_code_of(phone)} | fields)
        elif any(known[name] != value for name, value in fields.items()):
            changed.append(fields | {"client_id": known["id"]})
    # The times as SQL, not as parameters: adapting 200,000 datetimes costs psycopg2 over a second.
    table, now = Client.__table__, func.current_timestamp()
    if added:
        session.execute(table.insert().values(created_at=now, updated_at=now), added)
    if changed:
        session.execute(
            update(table).where(table.c.id == bindparam("client_id")).values(updated_at=now), changed
        )
    return ImportReport(
        added=len(added),
        updated=len(changed),
        errors=errors,
        unchanged=len(rows) - len(added) - len(changed),
    )


def _parse_clients_csv(text: str) -> tuple[dict[str, dict[str, str]], list[tuple[int, str]]]:
    """The valid rows by phone, and (line, message) for every row refused."""
    text = text.removeprefix("\ufeff")
    first_line = text.lstrip().partition("\n")[0]
    if not first_line.strip():
        raise ValueError("the CSV file is empty")
    reader = csv.reader(io.StringIO(text), delimiter=max(",;\t", key=first_line.count))
    try:
        header = next(row for row in reader if row)
        columns = _csv_columns(header)
        rows: dict[str, dict[str, str]] = {}
        lines: dict[str, int] = {}
        errors: list[tuple[int, str]] = []
        for cells in reader:
            if not any(cell.strip() for cell in cells):
                continue
            try:
                fields = _client_fields(cells, columns, len(header))
                if fields["phone"] in lines:
                    raise ValueError(f"phone {fields['phone']} is on line {lines[fields['phone']]} already")
            except ValueError as exc:
                errors.append((reader.line_num, str(exc)))
                continue
            rows[fields["phone"]] = fields
            lines[fields["phone"]] = reader.line_num
    except csv.Error as exc:
        raise ValueError(f"line {reader.line_num}: unreadable CSV: {exc}") from None
    return rows, errors


def _csv_columns(header: list[str]) -> dict[str, int]:
    """Position of each known column in the header; the phone column must be there."""
    names = [name.strip().lower() for name in header]
    if "phone" not in names:
        raise ValueError(f"the CSV header has no 'phone' column: {', '.join(header)}")
    return {name: names.index(name) for name in IMPORT_COLUMNS if name in names}


def _client_fields(cells: list[str], columns: dict[str, int], width: int) -> dict[str, str]:
    """The validated fields of one CSV row: the phone and every optional column the file has."""
    if len(cells) > width:
        raise ValueError(f"{len(cells)} fields; the header has {width}")
    given = {name: cells[index] if index < len(cells) else "" for name, index in columns.items()}
    phone = normalise_phone(given["phone"])
    fields = {"phone": phone}
    if "tag" in given:
        fields["tag"] = check_tag(given["tag"])
    if "timezone" in given:
        fields["timezone"] = check_timezone(given["timezone"] or "UTC")
    if "operator_code" in given:
        code = given["operator_code"]
        fields["operator_code"] = check_operator_code(code) if code.strip() else operator_code_of(phone)
    return fields


def _clients_by_phone(session: Session, phones: list[str]) -> dict[str, RowMapping]:
    """The stored clients among ``phones``: a few SELECT … IN (…) of a few thousand phones each."""
    found: dict[str, RowMapping] = {}
    columns = (Client.id, Client.phone, Client.tag, Client.timezone, Client.operator_code)
    for start in range(0, len(phones), _LOOKUP_CHUNK):
        chunk = phones[start : start + _LOOKUP_CHUNK]
        for row in session.execute(select(*columns).where(Client.phone.in_(chunk))).mappings():
            found[row["phone"]] = row
    return found


# --- mailings -------------------------------------------------------------------------------------


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
        "filter_operator_code": _optional_filter(filter_operator_code, check_operator_code),
        "filter_tag": _optional_filter(filter_tag, check_tag),
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
    ).where(*_client_conditions(mailing.filter_operator_code, mailing.filter_tag), ~exists(has_message))
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
    mailing = _get(session, Mailing, mailing_id)
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
    mailing = _get(session, Mailing, mailing_id)
    mailing.cancelled_at = mailing.cancelled_at or now
    result = session.execute(
        update(Message)
        .where(
            Message.mailing_id == mailing_id,
            Message.status.in_([MessageStatus.NEW, MessageStatus.SENDING]),
        )
        .values(status=MessageStatus.CANCELLED, finished_at=now, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    return result.rowcount


def delete_mailing(session: Session, *, mailing_id: int) -> None:
    """Delete a mailing and its messages (explicitly: SQLite may run without foreign keys)."""
    _get(session, Mailing, mailing_id)
    session.execute(delete(Message).where(Message.mailing_id == mailing_id))
    session.execute(delete(Mailing).where(Mailing.id == mailing_id))


# --- statistics -----------------------------------------------------------------------------------


def _status_count(status: MessageStatus) -> ColumnElement[int]:
    return func.coalesce(func.sum(case((Message.status == status, 1), else_=0)), 0).label(status.value)


def mailing_stats(
    session: Session, *, mailing_ids: Sequence[int] | None = None, limit: int = 100
) -> list[MailingStats]:
    """Newest mailings first, with their messages counted by status, in one grouped query."""
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
    )
    if mailing_ids is not None:
        statement = statement.where(Mailing.id.in_(mailing_ids))
    return [MailingStats(**row._asdict()) for row in session.execute(statement)]


def mailing_detail(session: Session, *, mailing_id: int) -> MailingDetail:
    """One mailing: its counts, the messages that failed or met an error, and sends per minute."""
    found = mailing_stats(session, mailing_ids=[mailing_id])
    if not found:
        raise ValueError(f"no mailing {mailing_id}")
    problems = session.execute(
        select(
            Message.id,
            Client.phone,
            Message.status,
            Message.attempts,
            Message.last_error,
            Message.gateway_answer,
        )
        .join(Client, Client.id == Message.client_id)
        .where(
            Message.mailing_id == mailing_id,
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
