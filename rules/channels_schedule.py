"""The schedule rules of channels: time slots, due times, and the states a post moves through.

See rules/channels.py for the public API and the DST behaviour of slots.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Sequence
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from itertools import pairwise
from zoneinfo import ZoneInfo

from core.timezones import check_timezone


def check_slots(slots: Iterable[time]) -> tuple[time, ...]:
    """The slots as given if they are local times (no tzinfo), sorted, without duplicates; else ValueError."""
    checked = tuple(slots)
    if not checked:
        raise ValueError("a channel needs at least one time slot")
    for slot in checked:
        if slot.tzinfo is not None:
            raise ValueError(f"slot {slot.isoformat()} carries a time zone: slots are local times")
    for earlier, later in pairwise(checked):
        if later == earlier:
            raise ValueError(f"duplicate slot {later:%H:%M}")
        if later < earlier:
            raise ValueError(f"slots out of order: {later:%H:%M} comes after {earlier:%H:%M}")
    return checked


def _aware(moment: datetime, name: str) -> datetime:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be timezone-aware")
    return moment.astimezone(UTC)


def check_due(due: datetime, now: datetime) -> datetime:
    """A post's due time in UTC; ValueError if naive or in the past (before ``now``)."""
    due, now = _aware(due, "the due time"), _aware(now, "now")
    if due < now:
        raise ValueError(f"the due time {due:%Y-%m-%d %H:%M} UTC is in the past")
    return due


def _slot_instant(day: date, slot: time, zone: ZoneInfo) -> datetime:
    # fold 0: the first of a repeated time; a time in a gap keeps the offset before the gap
    return datetime.combine(day, slot, tzinfo=zone).astimezone(UTC)


def next_free_slot(
    slots: Sequence[time], timezone: str, taken: Collection[datetime], after: datetime
) -> datetime:
    """The first slot instant (aware, UTC) strictly after ``after`` that is not in ``taken``."""
    zone = ZoneInfo(check_timezone(timezone))
    slots = check_slots(slots)
    after = _aware(after, "after")
    busy = {_aware(moment, "a taken slot") for moment in taken}
    day = after.astimezone(zone).date() - timedelta(days=1)
    for _ in range(len(busy) + 3):  # each busy instant can cost at most one day's worth of slots
        for instant in sorted({_slot_instant(day, slot, zone) for slot in slots}):
            if instant > after and instant not in busy:
                return instant
        day += timedelta(days=1)
    raise AssertionError("unreachable: more days were tried than slots are taken")


class PostState(StrEnum):
    """``draft`` → ``queued`` → ``publishing`` → ``published``, or ``error``, or ``cancelled``."""

    DRAFT = "draft"
    QUEUED = "queued"  # has a due time and waits for it
    PUBLISHING = "publishing"  # sent to the platform, answer not recorded yet
    PUBLISHED = "published"
    ERROR = "error"  # the platform refused it or the call failed: a person may retry it
    CANCELLED = "cancelled"


TRANSITIONS: dict[PostState, frozenset[PostState]] = {
    PostState.DRAFT: frozenset({PostState.QUEUED, PostState.CANCELLED}),
    PostState.QUEUED: frozenset({PostState.PUBLISHING, PostState.DRAFT, PostState.CANCELLED}),
    PostState.PUBLISHING: frozenset({PostState.PUBLISHED, PostState.ERROR}),
    PostState.PUBLISHED: frozenset(),
    PostState.ERROR: frozenset({PostState.QUEUED, PostState.CANCELLED}),
    PostState.CANCELLED: frozenset(),
}
# the moves a person makes (the others are the flows'): schedule, unschedule, cancel, retry an error
BY_PERSON: frozenset[tuple[PostState, PostState]] = frozenset(
    {
        (PostState.DRAFT, PostState.QUEUED),
        (PostState.DRAFT, PostState.CANCELLED),
        (PostState.QUEUED, PostState.DRAFT),
        (PostState.QUEUED, PostState.CANCELLED),
        (PostState.ERROR, PostState.QUEUED),
        (PostState.ERROR, PostState.CANCELLED),
    }
)


def can_move(current: PostState | str, to: PostState | str) -> bool:
    """Whether a post may go from ``current`` to ``to``; ValueError for a name that is no state."""
    return PostState(to) in TRANSITIONS[PostState(current)]
