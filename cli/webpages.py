"""The ``pages`` command group: count a word on web pages, list the requests, show one, re-count its
failed pages.

Submitting and re-counting start processing now (``PREFECT_API_URL`` needed; without it the scheduled
process-pending run counts the pages). Bad input exits with code 2 and a message on stderr.
"""

from __future__ import annotations

from typing import Annotated

import typer
from sqlalchemy.orm import Session

from cli.common import echo_table, fail, one_line, transaction
from commands.webpages import recount_failed, submit_pages
from core.display import moment, plural
from core.settings import get_settings
from db.webpages import RequestSummary, list_requests, request_pages

pages_app = typer.Typer(help="Web pages: count a word on them and follow the counts.", no_args_is_help=True)

COUNTS = ("not_started", "pending", "finished", "failed", "refused")


def _start(request_id: int) -> None:
    from deployments.runs import start_processing  # imports Prefect (seconds): only when it is needed

    typer.echo(start_processing(request_id))


def _summary(session: Session, request_id: int) -> RequestSummary:
    """The request's pages counted by status; exits 2 when there is no such request."""
    found = list_requests(session, request_ids=[request_id])
    if not found:
        fail(f"there is no request {request_id}")
    return found[0]


def _blank(value: int | None) -> str:
    return "" if value is None else str(value)


@pages_app.command("submit")
def submit(
    urls: Annotated[list[str], typer.Argument(help="one or more web addresses")],
    word: Annotated[str | None, typer.Option(help="the word to count; default from settings")] = None,
) -> None:
    """Store a request to count a word on web pages and start counting it now."""
    try:
        created = submit_pages(urls, word or get_settings().webpages.default_word, source="cli")
    except ValueError as exc:
        fail(str(exc))
    typer.echo(
        f"request {created.id}: count {created.word!r}; "
        f"{plural(created.accepted, 'URL')} accepted, {len(created.refused)} refused"
    )
    for url, reason in created.refused.items():
        typer.echo(f"refused {url}: {reason}")
    if not created.accepted:
        fail("none of these URLs can be fetched, so nothing will be counted", code=1)
    _start(created.id)


@pages_app.command("list")
def list_recent(
    limit: Annotated[int, typer.Option(min=1, help="at most this many, newest first")] = 50,
) -> None:
    """Requests, newest first, with their pages counted by status (refused: failed when stored)."""
    with transaction() as session:
        found = list_requests(session, limit=limit)
    rows = [
        (s.id, repr(s.word), s.source, moment(s.created_at), s.total, *(getattr(s, name) for name in COUNTS))
        for s in found
    ]
    echo_table(("id", "word", "source", "created", "total", *COUNTS), rows)


@pages_app.command("show")
def show(request_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """One request: its pages in the order given, with status, count, HTTP status and error."""
    with transaction() as session:
        summary = _summary(session, request_id)
        pages = request_pages(session, request_id=request_id)
        rows = [
            (
                page.url,
                page.status.value,
                _blank(page.count),
                _blank(page.http_status),
                one_line(page.last_error),
            )
            for page in pages
        ]
    done = summary.finished + summary.failed
    typer.echo(
        f"request {summary.id}: {summary.word!r}, {done} of {plural(summary.total, 'page')} done, "
        f"created {moment(summary.created_at)} ({summary.source})"
    )
    echo_table(("url", "status", "count", "HTTP", "error"), rows)


@pages_app.command("rerun")
def rerun(request_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Count the failed pages of a request again and start counting now (refused URLs stay failed)."""
    try:
        recounted = recount_failed(request_id)
    except ValueError as exc:
        fail(str(exc))
    with transaction() as session:
        refused = _summary(session, request_id).refused
    typer.echo(f"request {request_id}: {plural(recounted, 'failed page')} queued to be counted again")
    if refused:
        typer.echo(
            f"not re-counted: {plural(refused, 'URL')} refused when the request was stored, "
            "which would be refused the same way"
        )
    if recounted:
        _start(request_id)
