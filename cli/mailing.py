"""The ``clients`` and ``mailings`` command groups: import and add clients, create, follow and cancel
mailings. Each command runs in one transaction; bad input exits with code 2 and a message on stderr.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer

from cli.common import (
    WHEN_HELP,
    echo_table,
    fail,
    one_line,
    parse_when,
    read_text,
    refusing,
    time_of_day,
    transaction,
    utc,
)
from commands import mailing as commands
from db.base import utcnow
from db.mailing import MailingStats, find_clients, mailing_detail, mailing_stats
from rules.mailing import MessageStatus

clients_app = typer.Typer(help="Clients that mailings are sent to.", no_args_is_help=True)
mailings_app = typer.Typer(help="Mailings: create, follow and cancel them.", no_args_is_help=True)

STATUSES = [status.value for status in MessageStatus]
PROBLEMS_SHOWN = 20


def _counts(stats: MailingStats) -> list[int]:
    """The mailing's messages by status, in the order of STATUSES."""
    return [getattr(stats, status) for status in STATUSES]


def _audience(stats: MailingStats) -> str:
    """Which clients a mailing is for, and when in their day."""
    filters = [
        f"{name} {value}"
        for name, value in (("operator code", stats.filter_operator_code), ("tag", stats.filter_tag))
        if value
    ]
    audience = ", ".join(filters) or "all"
    if stats.daily_from is not None and stats.daily_until is not None:
        audience += f"; daily {stats.daily_from:%H:%M}–{stats.daily_until:%H:%M} in their timezone"
    return audience


# --- clients --------------------------------------------------------------------------------------


@clients_app.command("import")
def import_clients(
    file: Annotated[Path, typer.Argument(help="CSV: phone column; tag, timezone, operator_code optional")],
) -> None:
    """Add or update clients from a CSV file; bad rows are skipped and listed on stderr."""
    text = read_text(file)
    with refusing():
        report = commands.import_clients(text=text)
    typer.echo(f"added {report.added}, updated {report.updated}, unchanged {report.unchanged}")
    for line, message in report.errors:
        typer.echo(f"line {line}: {message}", err=True)
    if report.errors and not report.added + report.updated + report.unchanged:
        fail("every row was refused: nothing imported", code=1)


@clients_app.command("add")
def add(
    phone: Annotated[str, typer.Argument(help="a +7 number, written any common way")],
    tag: Annotated[str, typer.Option(help="a free label mailings can filter on")] = "",
    timezone: Annotated[str, typer.Option(help="IANA name, e.g. Europe/Moscow")] = "UTC",
    operator_code: Annotated[str | None, typer.Option(help="3 digits; by default from the phone")] = None,
) -> None:
    """Add one client."""
    with refusing():
        client = commands.add_client(phone=phone, tag=tag, timezone=timezone, operator_code=operator_code)
    typer.echo(f"client {client.id}: phone {client.phone}, operator code {client.operator_code}")


@clients_app.command("list")
def list_clients(
    tag: Annotated[str | None, typer.Option(help="only clients with this tag")] = None,
    operator_code: Annotated[str | None, typer.Option(help="only clients of this operator code")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, in the order added")] = 50,
) -> None:
    """Clients matching the filters given."""
    with transaction() as session:
        found = find_clients(session, tag=tag, operator_code=operator_code, limit=limit)
    rows = [(client.id, client.phone, client.operator_code, client.tag, client.timezone) for client in found]
    echo_table(("id", "phone", "operator", "tag", "timezone"), rows)


# --- mailings -------------------------------------------------------------------------------------


@mailings_app.command("create")
def create(
    text: Annotated[str, typer.Option(help="the message text")],
    start: Annotated[str, typer.Option(help=f"when sending starts: {WHEN_HELP}")],
    end: Annotated[str, typer.Option(help="when sending stops, written like --start")],
    operator_code: Annotated[str | None, typer.Option(help="only clients of this operator code")] = None,
    tag: Annotated[str | None, typer.Option(help="only clients with this tag")] = None,
    daily_from: Annotated[str | None, typer.Option(help="HH:MM: send only from then, client's time")] = None,
    daily_until: Annotated[str | None, typer.Option(help="HH:MM: and only until then")] = None,
) -> None:
    """Store a mailing for every matching client; sending starts at once when its window is open."""
    now = utcnow()
    with refusing():
        starts_at = parse_when(start, now)
        created = commands.create_mailing(
            text=text,
            starts_at=starts_at,
            ends_at=parse_when(end, now),
            operator_code=operator_code,
            tag=tag,
            daily_from=time_of_day(daily_from),
            daily_until=time_of_day(daily_until),
            now=now,
        )
    typer.echo(f"mailing {created.id}: {created.messages} messages")
    if created.starts_now:
        from deployments.runs import start_dispatch  # imports Prefect (seconds): only when it is needed

        typer.echo(start_dispatch(created.id))
    else:
        typer.echo(f"sending starts at {utc(starts_at)}, in the scheduled dispatch-mailings run")


@mailings_app.command("stats")
def show_stats(
    mailing_id: Annotated[int | None, typer.Argument(metavar="ID", help="this mailing in detail")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many mailings, newest first")] = 100,
) -> None:
    """All mailings with their messages counted by status, or one mailing in detail."""
    if mailing_id is None:
        _echo_mailings(limit)
    else:
        _echo_mailing(mailing_id)


def _echo_mailings(limit: int) -> None:
    with transaction() as session:
        found = mailing_stats(session, limit=limit)
    rows = [(s.id, s.state, utc(s.starts_at), utc(s.ends_at), s.total, *_counts(s)) for s in found]
    echo_table(("id", "state", "start", "end", "total", *STATUSES), rows)


def _echo_mailing(mailing_id: int) -> None:
    with transaction() as session:
        detail = mailing_detail(session, mailing_id=mailing_id)
    stats = detail.stats
    typer.echo(f"mailing {stats.id}: {stats.state}, {utc(stats.starts_at)} → {utc(stats.ends_at)}")
    typer.echo(f"text: {stats.text}")
    typer.echo(f"clients: {_audience(stats)}")
    echo_table(("total", *STATUSES), [(stats.total, *_counts(stats))])
    if stats.unknown_outcomes:
        typer.echo(
            f"unknown outcomes: {stats.unknown_outcomes} sends timed out or lost their connection after "
            "going out and were sent again (each may have reached the gateway twice)"
        )
    if not detail.problems:
        return
    shown = detail.problems[:PROBLEMS_SHOWN]
    more = f" (the first {PROBLEMS_SHOWN})" if len(detail.problems) > PROBLEMS_SHOWN else ""
    typer.echo(f"\nproblem messages{more}:")
    rows = [
        (p.id, p.phone, p.status.value, p.attempts, _next_attempt(p.next_attempt_at), one_line(p.last_error))
        for p in shown
    ]
    echo_table(("message", "phone", "status", "attempts", "next attempt", "last error"), rows)


def _next_attempt(when: datetime | None) -> str:
    """When a deferred message is tried again, to the second ("" when it is not waiting)."""
    return "" if when is None else when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


@mailings_app.command("cancel")
def cancel(mailing_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Cancel a mailing: its unsent messages will not be sent. Cancelling again changes nothing."""
    with refusing():
        cancelled = commands.cancel_mailing(mailing_id=mailing_id)
    typer.echo(f"mailing {mailing_id} cancelled: {cancelled} unsent messages will not be sent")
