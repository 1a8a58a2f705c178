"""Counts as the content platforms write them ("1.2万", "3.4w", "10万+", "1,234"), and follower buckets."""

from __future__ import annotations

import math
import re
from decimal import ROUND_HALF_UP, Decimal

UNITS = {"": 1, "k": 1_000, "w": 10_000, "万": 10_000, "亿": 100_000_000}
COUNT = re.compile(r"(?P<number>\d+(?:\.\d+)?|\.\d+)\s*(?P<unit>[kw万亿]?)\+?", re.IGNORECASE)
EMPTY = frozenset({"", "-", "--"})
FANS_LEVELS = ((1_000_000, "100万+"), (100_000, "10万-100万"), (10_000, "1万-10万"))
FEWEST_FANS = "<1万"


def parse_count(value: object) -> int:
    """A platform's count as an int, rounded half up; empty, ``None`` and ``"-"`` are 0.

    Accepts ints, floats, numeric strings with thousands separators and the units k (thousand),
    w/万 (ten thousand) and 亿 (hundred million), with an optional trailing ``+`` ("10万+" is 100000).
    Raises ValueError for anything else, negative numbers included.
    """
    if value is None:
        return 0
    if type(value) is int and value >= 0:  # most counts: no Decimal needed
        return value
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise ValueError(f"{value!r} is not a number")
    if isinstance(value, str):
        return _parse_text(value)
    if not math.isfinite(value):
        raise ValueError(f"{value!r} is not a finite number")
    return _whole(Decimal(value), value)


def _parse_text(text: str) -> int:
    cleaned = text.strip().replace(",", "")
    if cleaned in EMPTY:
        return 0
    match = COUNT.fullmatch(cleaned)
    if match is None:
        negative = cleaned.startswith("-") and COUNT.fullmatch(cleaned[1:].strip())
        raise ValueError(f"{text!r} is negative" if negative else f"{text!r} is not a number")
    return _whole(Decimal(match["number"]) * UNITS[match["unit"].lower()], text)


def _whole(number: Decimal, original: object) -> int:
    if number < 0:
        raise ValueError(f"{original!r} is negative")
    return int(number.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def fans_level(fans: int) -> str:
    """The follower bucket of an account: "<1万", "1万-10万", "10万-100万" or "100万+".

    Used for accounts whose platform gives no level of its own; each bucket includes its lower bound
    (10000 followers is "1万-10万", 1000000 is "100万+").
    """
    return next((label for floor, label in FANS_LEVELS if fans >= floor), FEWEST_FANS)
