"""What every command group shares: parsing times, one transaction per command, plain-text tables."""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime, time, timedelta
from pathlib import Path
from typing import NoReturn

import typer
from sqlalchemy.orm import Session

from db.engine import session_factory

WHEN_HELP = 'ISO 8601 with a UTC offset (2026-11-24T09:00:00+03:00), "now", or +30m, +2h, +1d from now'
_RELATIVE = re.compile(r"\+(\d+)([mhd])")
_UNITS = {"m": "minutes", "h": "hours", "d": "days"}


def parse_when(text: str, now: datetime) -> datetime:
    """A point in time: "now", "+30m"/"+2h"/"+1d" after ``now``, or ISO 8601 with a UTC offset."""
    text = text.strip()
    if text.lower() == "now":
        return now
    relative = _RELATIVE.fullmatch(text)
    if relative:
        try:
            return now + timedelta(**{_UNITS[relative[2]]: int(relative[1])})
        except OverflowError:
            raise ValueError(f"too far ahead: {text!r}") from None
    try:
        when = datetime.fromisoformat(text)
    except ValueError:
        raise ValueError(f"not a time: {text!r}; give {WHEN_HELP}") from None
    if when.tzinfo is None:
        raise ValueError(
            f"{text!r} has no UTC offset: say which timezone you mean, "
            "as in 2026-11-24T09:00:00+03:00, or 2026-11-24T06:00:00Z for UTC"
        )
    return when


def time_of_day(text: str | None) -> time | None:
    """An "HH:MM" wall-clock time, or None when not given."""
    if text is None:
        return None
    try:
        return time.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(f"not a time of day (HH:MM): {text!r}") from None


def fail(message: str, code: int = 2) -> NoReturn:
    typer.echo(message, err=True)
    raise typer.Exit(code)


@contextmanager
def refusing() -> Iterator[None]:
    """A ValueError (bad input: a command stores nothing then) exits 2 with its message."""
    try:
        yield
    except ValueError as exc:
        fail(str(exc))


@contextmanager
def transaction() -> Iterator[Session]:
    """A session committed at the end; a ValueError rolls it back and exits 2 with its message."""
    with refusing(), session_factory().begin() as session:
        yield session


def read_text(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        fail(f"cannot read {path}: not UTF-8 text")
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror or exc}")


def echo_table(headers: Sequence[str], rows: Sequence[Sequence[object]]) -> None:
    """Rows under their headers, each column as wide as its widest cell."""
    cells = [list(headers), *([str(cell) for cell in row] for row in rows)]
    widths = [max(len(row[column]) for row in cells) for column in range(len(headers))]
    for row in cells:
        typer.echo("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip())


def utc(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")


def one_line(text: str | None, width: int = 60) -> str:
    flat = " ".join((text or "").split())
    return flat if len(flat) <= width else flat[: width - 1] + "…"
