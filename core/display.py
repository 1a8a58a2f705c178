"""How times, durations and counts are written for people, the same on the dashboard and the CLI."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo


def moment(when: datetime | None, zone: tzinfo = UTC) -> str:
    """A point in time to the second in ``zone``, with the zone's name: ``2026-12-01 15:42:11 UTC``."""
    if when is None:
        return "—"
    local = when.astimezone(zone)
    return f"{local:%Y-%m-%d %H:%M:%S} {local.tzname() or ''}".rstrip()


def duration(seconds: float | None) -> str:
    """A length of time as a person says it: ``0.4 s``, ``42 s``, ``25 min 35 s``, ``3 h 5 min``."""
    if seconds is None:
        return "—"
    if seconds < 10:
        return f"{seconds:.1f} s"
    whole = round(seconds)
    hours, rest = divmod(whole, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    if minutes:
        return f"{minutes} min {secs} s" if secs else f"{minutes} min"
    return f"{secs} s"


def plural(count: int, noun: str, nouns: str | None = None) -> str:
    """``1 mailing``, ``2 mailings``, ``0 mailings`` (``nouns`` for irregular plurals)."""
    return f"{count:,} {noun if count == 1 else nouns or noun + 's'}"
