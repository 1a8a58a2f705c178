"""Clients, mailings, their statistics and messages, as the API takes and gives them."""

from __future__ import annotations

from datetime import datetime, time
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from api.pagination import Page
from api.schemas.common import UtcDatetime, WallTime, text
from rules.mailing import MessageStatus

Phone = Annotated[str, text(32, 1)]
Tag = Annotated[str, text(64)]
Timezone = Annotated[str, text(64, 1)]
OperatorCode = Annotated[str, text(3)]
MailingText = Annotated[str, text(10_000, 1)]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ClientIn(Strict):
    phone: Phone = Field(description="a +7 number, written any common way (79001234567, +7 900 123-45-67)")
    tag: Tag = Field("", description="a free label mailings can filter on")
    timezone: Timezone = Field("UTC", description="IANA name, e.g. Europe/Moscow")
    operator_code: OperatorCode | None = Field(None, description="3 digits; by default from the phone")


class ClientPatch(Strict):
    """Only the fields given change."""

    phone: Phone | None = None
    tag: Tag | None = None
    timezone: Timezone | None = None
    operator_code: OperatorCode | None = None


class ClientOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    phone: str
    operator_code: str
    tag: str
    timezone: str
    created_at: datetime
    updated_at: datetime


class MailingIn(Strict):
    text: MailingText
    starts_at: UtcDatetime = Field(description="when sending starts (ISO 8601 with a UTC offset)")
    ends_at: UtcDatetime = Field(description="when sending stops")
    operator_code: OperatorCode | None = Field(None, description="only clients of this operator code")
    tag: Tag | None = Field(None, description="only clients with this tag")
    daily_from: WallTime | None = Field(None, description="send only from this time of day, client's time")
    daily_until: WallTime | None = Field(None, description="and only until this time of day")


class MailingPatch(Strict):
    """Only the fields given change; ``null`` removes a filter or the daily interval. Before a mailing
    starts anything may change (its messages are planned again); after, only its text and end."""

    text: MailingText | None = None
    starts_at: UtcDatetime | None = None
    ends_at: UtcDatetime | None = None
    operator_code: OperatorCode | None = None
    tag: Tag | None = None
    daily_from: WallTime | None = None
    daily_until: WallTime | None = None


class MailingCounts(BaseModel):
    """A mailing's messages counted by status (the old API's statistics, per mailing)."""

    id: int
    state: str = Field(description="scheduled, sending, finished or cancelled")
    total: int
    new: int
    sending: int
    sent: int
    failure: int
    cancelled: int
    unknown_outcomes: int = Field(
        description="sends whose answer never came (a read timeout or a lost connection after the request "
        "went out), each tried again: the only sends that may have reached the gateway twice"
    )


class MailingOut(MailingCounts):
    text: str
    starts_at: datetime
    ends_at: datetime
    cancelled_at: datetime | None
    operator_code: str | None
    tag: str | None
    daily_from: time | None
    daily_until: time | None


class MailingCreated(BaseModel):
    id: int
    messages: int = Field(description="messages planned, one per matching client")
    starts_now: bool = Field(description="its window is open: a dispatch run was started")
    run: str = Field(description="what happened to the dispatch run, in words")


class MailingCancelled(BaseModel):
    id: int
    cancelled_messages: int


class MailingStatsPage(Page[MailingCounts]):
    """Every mailing's messages by status (newest first, paginated), and all messages by status."""

    mailings: int
    messages_by_status: dict[MessageStatus, int]


class ProblemMessage(BaseModel):
    id: int
    phone: str
    status: MessageStatus
    attempts: int
    last_error: str | None
    gateway_answer: str | None
    next_attempt_at: datetime | None


class SendsInMinute(BaseModel):
    minute: datetime
    sent: int


class MailingDetailOut(BaseModel):
    mailing: MailingOut
    problems: list[ProblemMessage] = Field(description="failed messages, or unsent ones that met an error")
    sends_per_minute: list[SendsInMinute]


class MessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    mailing_id: int
    client_id: int
    status: MessageStatus
    attempts: int
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    sent_at: datetime | None
    next_attempt_at: datetime | None
    last_error: str | None
    gateway_answer: str | None
