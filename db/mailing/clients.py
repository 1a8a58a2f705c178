"""Clients: add, change, delete and find them; the filters mailings select them by. Never commits."""

from __future__ import annotations

import re
from collections.abc import Callable

from sqlalchemy import ColumnElement, delete, func, select
from sqlalchemy.orm import Session

from db.base import Conflict
from db.mailing.models import Client, Message, get_row
from rules.mailing import check_operator_code, check_tag, check_timezone, normalise_phone, operator_code_of


def optional_filter(value: str | None, check: Callable[[str], str]) -> str | None:
    """A filter value checked; None or blank means no filter."""
    if value is None or not value.strip():
        return None
    return check(value)


def client_conditions(operator_code: str | None, tag: str | None) -> list[ColumnElement[bool]]:
    """The clients a filter selects: every value given must match; None or blank matches all."""
    wanted = [
        (Client.operator_code, optional_filter(operator_code, str.strip)),
        (Client.tag, optional_filter(tag, str.strip)),
    ]
    return [column == value for column, value in wanted if value is not None]


def _refuse_taken_phone(session: Session, phone: str, client_id: int | None = None) -> None:
    statement = select(Client.id).where(Client.phone == phone)
    if client_id is not None:
        statement = statement.where(Client.id != client_id)
    if session.scalar(statement) is not None:
        raise Conflict(f"a client with phone {phone} exists")


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
    client = get_row(session, Client, client_id)
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
    get_row(session, Client, client_id)
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
    conditions = client_conditions(operator_code, tag)
    digits = re.sub(r"\D", "", phone_prefix or "")
    if digits:
        conditions.append(Client.phone.startswith(digits, autoescape=True))
    statement = select(Client).where(*conditions).order_by(Client.id).limit(limit).offset(offset)
    return list(session.scalars(statement))


def count_clients(session: Session, *, operator_code: str | None = None, tag: str | None = None) -> int:
    """How many clients a mailing filter selects now."""
    conditions = client_conditions(operator_code, tag)
    return session.scalar(select(func.count()).select_from(Client).where(*conditions)) or 0
