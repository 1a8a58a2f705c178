"""One classification of HTTP answers and one backoff, for every outside service."""

from __future__ import annotations

import math
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from enum import StrEnum

RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
AUTH_STATUS = frozenset({401, 403})


class Answer(StrEnum):
    """What an HTTP status means for the work that got it."""

    OK = "ok"  # 2xx (and 1xx/3xx that reached the caller)
    RETRY = "retry"  # transient: the same request may succeed later
    AUTH = "auth"  # the credentials were refused: retrying cannot help until a person acts
    PERMANENT = "permanent"  # this request will never succeed (other 4xx, 501, 505, …)


def classify_status(status: int) -> Answer:
    """The class of an HTTP status code, the same for the gateway, the platforms and web pages."""
    if status < 400:
        return Answer.OK
    if status in RETRYABLE_STATUS:
        return Answer.RETRY
    if status in AUTH_STATUS:
        return Answer.AUTH
    return Answer.PERMANENT


def backoff_delay(attempt: int, *, base: float, cap: float, retry_after: float | None = None) -> float:
    """Seconds to wait before try ``attempt + 1``: the service's Retry-After if given, else doubling.

    ``attempt`` counts the tries made so far (0 before the first retry); the result never exceeds ``cap``.
    """
    if retry_after is not None:
        return min(max(retry_after, 0.0), cap)
    return min(cap, base * 2 ** max(attempt, 0))


MAX_RETRY_AFTER = 3600.0


def parse_retry_after(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date), within 0–3600."""
    if value is None:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - datetime.now(UTC)).total_seconds()
    if math.isnan(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)
