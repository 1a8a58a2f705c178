"""The ``reports`` command group: build the daily report of a past day now (kept, replacing one of
that day), print it, and e-mail it unless ``--no-send``. ``reports list`` shows the last ones kept.

The day defaults to yesterday in ``report.timezone``; a day not over yet exits with code 2. A failed
send is recorded on the report and exits with code 1 (the report is kept).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated

import typer

from cli.common import echo_table, fail, one_line
from commands.reports import build_daily_report, email_daily_report, last_reports
from core.settings import get_settings

reports_app = typer.Typer(help="The daily report: build, e-mail and list it.", no_args_is_help=True)


def _day(text: str | None) -> date | None:
    if text is None:
        return None
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"--day {text!r} is not a date as YYYY-MM-DD")


@reports_app.command("daily")
def daily(
    day: Annotated[str | None, typer.Option(help="the day, YYYY-MM-DD; default: yesterday")] = None,
    send: Annotated[bool, typer.Option("--send/--no-send", help="e-mail it to report.recipients")] = True,
) -> None:
    """Build the daily report of a past day, keep it, print it and e-mail it."""
    try:
        stored = build_daily_report(_day(day))
    except ValueError as exc:
        fail(str(exc))
    typer.echo(stored.markdown)
    if not send:
        typer.echo(f"report of {stored.day} kept; not e-mailed (--no-send)")
        return
    outcome = email_daily_report(stored.day)
    if outcome.error:
        typer.echo(f"report of {stored.day} kept, but not e-mailed: {outcome.error}", err=True)
        raise typer.Exit(1)
    recipients = ", ".join(outcome.recipients)
    settings = get_settings().report
    typer.echo(
        f"report of {stored.day} e-mailed to {recipients} via {settings.smtp_host}:{settings.smtp_port}"
    )


def _when(moment: datetime | None) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC") if moment else ""


@reports_app.command("list")
def list_reports(limit: Annotated[int, typer.Option(min=1, max=366)] = 7) -> None:
    """The last reports kept, newest day first, with whether each was e-mailed."""
    rows = [
        (
            r.day.isoformat(),
            r.figures.messages_sent,
            r.figures.messages_failed,
            r.figures.briefs_finished.count,
            r.figures.pages_counted,
            _when(r.emailed_at),
            one_line(r.email_error, 50),
        )
        for r in last_reports(limit)
    ]
    echo_table(["day", "sent", "failed", "briefs", "pages", "e-mailed", "e-mail error"], rows)
