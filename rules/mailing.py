"""The rules of mailings as plain functions: valid clients and mailings, and when a client may be sent to.

No Prefect and no database here; db/mailing.py validates through these, the dispatch tasks ask
``next_send_time`` when a client's daily sending interval allows a message.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Literal
from zoneinfo import ZoneInfo, available_timezones

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumber, PhoneNumberFormat

from core.retry import backoff_delay
from core.settings import MailingSettings

MAX_TAG_LENGTH = 64

_NORMALISED_PHONE = re.compile(r"7[0-9]{10}")
_PHONE_CHARACTERS = re.compile(r"[\d\s+()\-.]+")
_OPERATOR_CODE = re.compile(r"[0-9]{3}")


def normalise_phone(raw: str) -> str:
    """The "7XXXXXXXXXX" form of a +7 phone number written in any common way.

    Accepted: "+7 912 345-67-89", "79123456789", "8 (912) 345 67 89", "7-912-345-67-89", "9123456789"
    (parsed by ``phonenumbers`` with region RU, so a leading 8 is the Russian trunk prefix). The number
    must be valid in libphonenumber's metadata (phonenumbers 9.0). By the three digits after the 7:
    the Russian mobile ranges 9XX, the Russian geographic and service ranges within 3XX, 4XX, 8XX
    (800 included), and Kazakhstan's 700–708, 747, 751, 760–764, 771, 775–778, 785 (country code 7
    too). Everything else (0XX, 1XX, 2XX, 5XX, 6XX, 709, …) is refused, as are too few or too many
    digits.
    """
    number = _parse_phone(raw.strip())
    if number.country_code != 7:
        raise ValueError(f"not a +7 number: {raw!r}")
    if not phonenumbers.is_valid_number(number):
        raise ValueError(f"not a valid +7 number: {raw!r}")
    return phonenumbers.format_number(number, PhoneNumberFormat.E164).removeprefix("+")


def _parse_phone(text: str) -> PhoneNumber:
    """Parse a phone number; the canonical form skips the (slow) general parser."""
    if not text:
        raise ValueError("the phone is empty")
    canonical = text.removeprefix("+")
    if _NORMALISED_PHONE.fullmatch(canonical):
        return PhoneNumber(country_code=7, national_number=int(canonical[1:]))
    if not _PHONE_CHARACTERS.fullmatch(text):
        raise ValueError(f"not a phone number: {text!r}")
    try:
        return phonenumbers.parse(text, "RU")
    except NumberParseException:
        raise ValueError(f"not a phone number: {text!r}") from None


def operator_code_of(phone: str) -> str:
    """The mobile operator code of a normalised phone: the three digits after the 7."""
    if not _NORMALISED_PHONE.fullmatch(phone):
        raise ValueError(f"not a normalised phone (7XXXXXXXXXX): {phone!r}")
    return phone[1:4]


def check_operator_code(code: str) -> str:
    code = code.strip()
    if not _OPERATOR_CODE.fullmatch(code):
        raise ValueError(f"an operator code is 3 digits: {code!r}")
    return code


def check_tag(tag: str) -> str:
    tag = tag.strip()
    if len(tag) > MAX_TAG_LENGTH:
        raise ValueError(f"the tag has {len(tag)} characters; at most {MAX_TAG_LENGTH}")
    return tag


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    # "localtime" is the host's own setting, not an IANA name.
    return frozenset(available_timezones() - {"localtime"})


def check_timezone(name: str) -> str:
    """An IANA timezone name such as "Europe/Moscow" or "UTC"."""
    name = name.strip()
    if name not in _zone_names():
        raise ValueError(f"unknown timezone: {name!r}")
    return name


def check_text(text: str, max_length: int) -> str:
    """A message text: stripped, not empty, at most ``max_length`` characters."""
    text = text.strip()
    if not text:
        raise ValueError("the message text is empty")
    if len(text) > max_length:
        raise ValueError(f"the message text has {len(text)} characters; at most {max_length}")
    return text


def check_window(starts_at: datetime, ends_at: datetime) -> None:
    """A mailing's window: two timezone-aware times, the end after the start."""
    if starts_at.tzinfo is None or ends_at.tzinfo is None:
        raise ValueError("the start and end times must be timezone-aware")
    if ends_at <= starts_at:
        raise ValueError(f"the end time {ends_at.isoformat()} is not after the start {starts_at.isoformat()}")


def check_daily_interval(daily_from: time | None, daily_until: time | None) -> None:
    """Both times or neither, in the client's local time (no timezone), not equal."""
    if daily_from is None and daily_until is None:
        return
    if daily_from is None or daily_until is None:
        raise ValueError("give both ends of the daily sending interval, or neither")
    if daily_from.tzinfo is not None or daily_until.tzinfo is not None:
        raise ValueError("the daily sending interval is each client's local time: give no timezone")
    if daily_from == daily_until:
        raise ValueError(f"the daily sending interval starts and ends at {daily_from.isoformat()}")


def inside_daily_interval(local: time, daily_from: time, daily_until: time) -> bool:
    """Whether a wall-clock time is in [daily_from, daily_until); an end before the start wraps midnight."""
    if daily_from < daily_until:
        return daily_from <= local < daily_until
    return local >= daily_from or local < daily_until


def next_send_time(
    now: datetime, timezone: str, daily_from: time | None, daily_until: time | None
) -> datetime:
    """The earliest instant (aware UTC) from ``now`` on at which the client's wall clock is in the interval.

    ``now`` itself when there is no interval or the client's local time is inside it. Otherwise the next
    opening, DST included: an opening time that does not exist that day (spring forward) opens at the
    end of the gap, the first valid instant after it, when that is inside the interval (an interval
    lying wholly in the gap is skipped that day); an ambiguous one (fall back) opens at its first
    occurrence, and again at the second if ``now`` falls between them outside the interval. Assumes a
    zone changes its offset at most once between two consecutive daily openings, as every zone does.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    start = now.astimezone(UTC)
    if daily_from is None or daily_until is None:
        return start
    zone = ZoneInfo(timezone)
    while True:
        offset = _offset(start, zone)
        wall = start.replace(tzinfo=None) + offset
        if inside_daily_interval(wall.time(), daily_from, daily_until):
            return start
        opening = datetime.combine(wall.date(), daily_from)
        if opening < wall:
            opening += timedelta(days=1)
        candidate = (opening - offset).replace(tzinfo=UTC)
        if _offset(candidate, zone) == offset:
            return candidate
        # The offset changes before the opening: carry on from the change, with the new offset.
        start = _offset_change(start, candidate, zone)


def _offset(instant: datetime, zone: ZoneInfo) -> timedelta:
    return instant.astimezone(zone).utcoffset() or timedelta(0)


def _offset_change(after: datetime, before: datetime, zone: ZoneInfo) -> datetime:
    """The instant in (after, before] at which the zone's offset changes; tzdata changes on whole seconds."""
    offset = _offset(after, zone)
    low, high = math.floor(after.timestamp()), math.ceil(before.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if _offset(datetime.fromtimestamp(middle, UTC), zone) == offset:
            low = middle
        else:
            high = middle
    return datetime.fromtimestamp(high, UTC)


# Dispatch: the records passed between the claim, the gateway and the outcome writes, and the
# decisions taken for each message.


class MessageStatus(StrEnum):
    NEW = "new"
    SENDING = "sending"
    SENT = "sent"
    FAILURE = "failure"
    CANCELLED = "cancelled"


Outcome = Literal["sent", "retry", "failed"]


@dataclass(frozen=True)
class SendResult:
    """What became of one send: ``retry`` keeps the message for a later try, ``failed`` gives it up."""

    outcome: Outcome
    answer: str | None  # the gateway's raw answer, truncated (None if there was no answer)
    error: str | None = None  # why it was not sent
    retry_after: float | None = None  # seconds the gateway asked to wait (429/503 Retry-After)
    unknown: bool = False  # sent, then no answer (a read timeout, a lost connection): it may have arrived


WINDOW_CLOSED = "the mailing ended before it could be sent"


@dataclass(frozen=True)
class DueMessage:
    """A claimed message with what sending it needs."""

    id: int
    mailing_id: int
    client_id: int
    phone: str
    text: str
    timezone: str
    ends_at: datetime
    daily_from: time | None
    daily_until: time | None
    attempts: int


@dataclass(frozen=True)
class SendOutcome:
    """What became of one claimed message: sent, failure, or new again (``retry_at`` set)."""

    id: int
    status: MessageStatus
    tried: bool = False
    sent: bool = False
    retry_at: datetime | None = None
    error: str | None = None
    answer: str | None = None
    unknown: bool = False  # the try's outcome was unknown: its retry may be a duplicate


DAILY_INTERVAL_CLOSED = "the daily sending interval does not open again before the mailing ends"


def decide(message: DueMessage, result: SendResult, now: datetime, settings: MailingSettings) -> SendOutcome:
    """The outcome of one try: sent, failure, or another try later if the window allows it."""
    common = {
        "id": message.id,
        "tried": True,
        "answer": result.answer,
        "error": result.error,
        "unknown": result.unknown,
    }
    if result.outcome == "sent":
        return SendOutcome(status=MessageStatus.SENT, sent=True, **common)
    if result.outcome == "failed":
        return SendOutcome(status=MessageStatus.FAILURE, **common)
    delay = backoff_delay(
        message.attempts,
        base=settings.retry_backoff,
        cap=settings.max_retry_delay,
        retry_after=result.retry_after,
    )
    retry_at = now + timedelta(seconds=delay)
    if too_late(message, retry_at, settings):
        return SendOutcome(
            status=MessageStatus.FAILURE, **common | {"error": f"{result.error}; {WINDOW_CLOSED} again"}
        )
    return SendOutcome(status=MessageStatus.NEW, retry_at=retry_at, **common)


def send_deadline(message: DueMessage, settings: MailingSettings) -> datetime:
    """The last instant a send of ``message`` may start, or wait for a slot or a connection: the
    mailing's end less the margin."""
    return message.ends_at - timedelta(seconds=settings.end_margin)


def too_late(message: DueMessage, now: datetime, settings: MailingSettings) -> bool:
    """Whether a send starting now might reach the gateway after the mailing's end."""
    return now >= send_deadline(message, settings)


def not_yet(message: DueMessage, now: datetime, settings: MailingSettings) -> SendOutcome | None:
    """An outcome without sending, when the window or the client's daily interval says not now."""
    if too_late(message, now, settings):
        return SendOutcome(id=message.id, status=MessageStatus.FAILURE, error=WINDOW_CLOSED)
    opens = next_send_time(now, message.timezone, message.daily_from, message.daily_until)
    if opens >= message.ends_at:
        return SendOutcome(id=message.id, status=MessageStatus.FAILURE, error=DAILY_INTERVAL_CLOSED)
    if opens > now:
        return SendOutcome(id=message.id, status=MessageStatus.NEW, retry_at=opens)
    return None
