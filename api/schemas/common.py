"""Field types every domain's schemas share: text without NUL characters (PostgreSQL refuses them),
timestamps that must carry a UTC offset and fit in UTC, wall-clock times without a zone, and ids
bounded to the database's integers."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Annotated

from fastapi import Path
from pydantic import AfterValidator, AwareDatetime, StringConstraints

MAX_ID = 2_147_483_647
NO_NUL = r"^[^\x00]*$"


def text(max_length: int, min_length: int = 0) -> StringConstraints:
    return StringConstraints(min_length=min_length, max_length=max_length, pattern=NO_NUL)


def _in_utc(value: datetime) -> datetime:
    try:
        return value.astimezone(UTC)
    except OverflowError:
        raise ValueError("out of range once converted to UTC") from None


def _naive_time(value: time) -> time:
    if value.tzinfo is not None:
        raise ValueError("a wall-clock time HH:MM, without a UTC offset (the client's timezone applies)")
    return value


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_in_utc)]
WallTime = Annotated[time, AfterValidator(_naive_time)]
Id = Annotated[int, Path(ge=1, le=MAX_ID)]
