"""Time zone names: the one check shared by the domains that store a local time zone (growth, channels)."""

from __future__ import annotations

from zoneinfo import ZoneInfo


def check_timezone(name: str) -> str:
    """``name`` if it is an IANA time zone (``Europe/Moscow``), else ValueError."""
    try:
        ZoneInfo(name)
    except (ValueError, KeyError):  # ZoneInfoNotFoundError is a KeyError
        raise ValueError(f"unknown time zone {name!r}: use an IANA name such as Europe/Moscow") from None
    return name
