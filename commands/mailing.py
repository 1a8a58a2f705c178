"""Mailing commands: add a client, import clients, create, change and cancel a mailing.

One function per user action, each in its own transaction, called alike by the dashboard, the CLI,
the demo and the benchmark: the settings they depend on (the text length limit) are applied here
once. Bad input raises ValueError and stores nothing.
"""

from __future__ import annotations

from datetime import datetime, time
from functools import partial

from core.settings import get_settings
from db import mailing as mailing_db
from db.engine import session_factory
from db.mailing import UNSET, Client, CreatedMailing, ImportReport, Unset
from db.transactions import in_transaction


def describe_filter(operator_code: str | None, tag: str | None) -> str:
    """A mailing filter in words ("operator code 912, tag vip", or "all clients")."""
    parts = [
        f"{name} {value.strip()}"
        for name, value in (("operator code", operator_code), ("tag", tag))
        if value and value.strip()
    ]
    return ", ".join(parts) or "all clients"


def add_client(
    *, phone: str, tag: str = "", timezone: str = "UTC", operator_code: str | None = None
) -> Client:
    """Store one client; a blank operator code is derived from the phone."""
    with session_factory().begin() as session:
        return mailing_db.add_client(
            session,
            phone=phone,
            tag=tag,
            timezone=timezone,
            operator_code=(operator_code or "").strip() or None,
        )


def update_client(
    *,
    client_id: int,
    phone: str | None = None,
    tag: str | None = None,
    timezone: str | None = None,
    operator_code: str | None = None,
) -> Client:
    """Change the fields of a client that are given (None: unchanged)."""
    with session_factory().begin() as session:
        return mailing_db.update_client(
            session, client_id=client_id, phone=phone, tag=tag, timezone=timezone, operator_code=operator_code
        )


def delete_client(*, client_id: int) -> None:
    """Delete a client and its messages."""
    with session_factory().begin() as session:
        mailing_db.delete_client(session, client_id=client_id)


def import_clients(*, text: str) -> ImportReport:
    """Add or update the clients of a CSV text (see ``db.mailing.import_clients_csv``)."""
    with session_factory().begin() as session:
        return mailing_db.import_clients_csv(session, text=text)


def create_mailing(
    *,
    text: str,
    starts_at: datetime,
    ends_at: datetime,
    operator_code: str | None = None,
    tag: str | None = None,
    daily_from: time | None = None,
    daily_until: time | None = None,
    now: datetime | None = None,
) -> CreatedMailing:
    """Store a mailing and a message for every matching client.

    Refused, storing nothing, for bad input, a text longer than ``gateway.max_text_length``, or a
    filter that matches no client (a mailing of no messages would only look like one).
    """
    with session_factory().begin() as session:
        created = mailing_db.create_mailing(
            session,
            text=text,
            starts_at=starts_at,
            ends_at=ends_at,
            filter_operator_code=operator_code,
            filter_tag=tag,
            daily_from=daily_from,
            daily_until=daily_until,
            max_text_length=get_settings().gateway.max_text_length,
            now=now,
        )
        if not created.messages:
            raise ValueError(f"no client matches the filter ({describe_filter(operator_code, tag)})")
    return created


def update_mailing(
    *,
    mailing_id: int,
    text: str | None = None,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    operator_code: str | Unset | None = UNSET,
    tag: str | Unset | None = UNSET,
    daily_from: time | Unset | None = UNSET,
    daily_until: time | Unset | None = UNSET,
) -> CreatedMailing:
    """Change a mailing (text and times: None is unchanged; filters and the daily interval: UNSET is
    unchanged, None removes it); see ``db.mailing.update_mailing`` for what may change."""
    with session_factory().begin() as session:
        return mailing_db.update_mailing(
            session,
            mailing_id=mailing_id,
            text=text,
            starts_at=starts_at,
            ends_at=ends_at,
            filter_operator_code=operator_code,
            filter_tag=tag,
            daily_from=daily_from,
            daily_until=daily_until,
            max_text_length=get_settings().gateway.max_text_length,
        )


def delete_mailing(*, mailing_id: int) -> None:
    """Delete a mailing and all its messages, sent or not (cancelling keeps them)."""
    with session_factory().begin() as session:
        mailing_db.delete_mailing(session, mailing_id=mailing_id)


def cancel_mailing(*, mailing_id: int) -> int:
    """Cancel a mailing; returns how many unsent messages were cancelled (run again if it deadlocked
    with a sender recording outcomes of the same messages)."""
    cancel = partial(mailing_db.cancel_mailing, mailing_id=mailing_id)
    return in_transaction(session_factory(), cancel)
