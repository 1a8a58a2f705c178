"""The tables of the mailing domain: clients, mailings and their messages."""

from __future__ import annotations

from datetime import datetime, time
from enum import Enum as PyEnum
from typing import TypeVar

from sqlalchemy import ForeignKey, Index, Integer, String, Text, Time, UniqueConstraint, text
from sqlalchemy.orm import Mapped, Session, mapped_column, relationship

from db.base import Base, NotFound, UTCDateTime, status_enum, utcnow
from db.jobs import JobColumns
from rules.mailing import MessageStatus


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
        Index("ix_messages_mailing_id_status_sent_at", "mailing_id", "status", "sent_at"),  # statistics
        Index(  # the claim of a mailing's new messages, in id order (db.mailing.dispatch)
            "ix_messages_new",
            "mailing_id",
            "id",
            postgresql_where=text("status = 'new'"),
            sqlite_where=text("status = 'new'"),
        ),
        Index(  # the few messages whose outcome was once unknown, for the statistics
            "ix_messages_unknown_outcomes",
            "mailing_id",
            "unknown_outcomes",
            postgresql_where=text("unknown_outcomes > 0"),
            sqlite_where=text("unknown_outcomes > 0"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    mailing_id: Mapped[int] = mapped_column(ForeignKey("mailings.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[int] = mapped_column(ForeignKey("clients.id", ondelete="CASCADE"), index=True)
    status: Mapped[MessageStatus] = mapped_column(status_enum(MessageStatus), default=MessageStatus.NEW)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    gateway_answer: Mapped[str | None] = mapped_column(Text)
    # tries whose outcome was unknown (sent, then no answer): each was tried again, perhaps a duplicate
    unknown_outcomes: Mapped[int] = mapped_column(Integer, default=0, server_default="0")

    mailing: Mapped[Mailing] = relationship(back_populates="messages")
    client: Mapped[Client] = relationship()


class Unset(PyEnum):
    """An argument left out, where None is a value of its own ("no filter", "no interval")."""

    UNSET = "unset"


UNSET = Unset.UNSET


Stored = TypeVar("Stored", Client, Mailing)


def get_row(session: Session, model: type[Stored], row_id: int) -> Stored:
    """The row of ``model`` with ``row_id``; NotFound, a ValueError ("no client 7"), when there is none."""
    row = session.get(model, row_id)
    if row is None:
        raise NotFound(f"no {model.__name__.lower()} {row_id}")
    return row
