"""The ``briefs`` command group: order a brief, find briefs, follow one, list its articles and accounts.

Ordering stores the brief and starts its collection (``PREFECT_API_URL`` needed; without it the
scheduled process-briefs run collects it). Bad input exits with code 2 and a message on stderr.
"""

from __future__ import annotations

import time
from typing import Annotated

import typer

from cli.common import WHEN_HELP, echo_table, fail, one_line, parse_when, transaction
from commands.briefs import order_brief, recollect_brief
from core.display import moment, plural
from core.settings import PLATFORMS
from db.base import utcnow
from db.briefs import (
    UNFINISHED,
    BriefStatus,
    get_brief,
    list_accounts,
    list_articles,
    list_briefs,
    list_searches,
    status_label,
)

WAIT_POLL = 0.25  # seconds between looks at a brief's status with --wait (one read of its row)

briefs_app = typer.Typer(
    help="Briefs: articles for keywords from five platforms, analysed.", no_args_is_help=True
)


@briefs_app.command("submit")
def submit(
    keywords: Annotated[list[str], typer.Argument(help="one or more keywords")],
    platform: Annotated[
        list[str] | None, typer.Option(help=f"one of {', '.join(PLATFORMS)}; repeat it; default: all")
    ] = None,
    since: Annotated[str | None, typer.Option(help=f"earliest post time: {WHEN_HELP}")] = None,
    until: Annotated[str | None, typer.Option(help="latest post time, written like --since")] = None,
    wait: Annotated[bool, typer.Option(help="wait until the brief is done and say how it ended")] = False,
) -> None:
    """Store a brief and start collecting it now; the files follow when it is analysed."""
    now = utcnow()
    try:
        ordered = order_brief(
            keywords,
            platform or None,
            parse_when(since, now) if since else None,
            parse_when(until, now) if until else None,
        )
    except ValueError as exc:
        fail(str(exc))
    spec = ordered.spec
    typer.echo(f"brief {ordered.id}: {', '.join(spec.keywords)} on {', '.join(spec.platforms)}")
    from deployments.runs import start_collection  # imports Prefect (seconds): only when it is needed

    typer.echo(start_collection(ordered.id))
    if wait:
        wait_for(ordered.id)


@briefs_app.command("recollect")
def recollect(
    brief_id: Annotated[int, typer.Argument(metavar="ID")],
    wait: Annotated[bool, typer.Option(help="wait until the brief is done and say how it ended")] = False,
) -> None:
    """Collect again only the partial and failed searches of a finished or failed brief, keeping
    what was stored, then analyse it again."""
    try:
        reopened = recollect_brief(brief_id)
    except ValueError as exc:
        fail(str(exc))
    typer.echo(f"brief {brief_id}: {plural(reopened, 'search', 'searches')} to collect again")
    from deployments.runs import start_collection

    typer.echo(start_collection(brief_id))
    if wait:
        wait_for(brief_id)


@briefs_app.command("wait")
def wait_for(brief_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """Block until the brief has finished or failed, then say how it ended (exit 1 if it failed)."""
    while True:
        with transaction() as session:
            brief = get_brief(session, brief_id=brief_id)
        if brief is None:
            fail(f"there is no brief {brief_id}")
        if brief.status not in UNFINISHED:
            break
        time.sleep(WAIT_POLL)
    typer.echo(
        f"brief {brief.id} {status_label(brief)} at {moment(brief.finished_at)}, {brief.articles} articles"
    )
    if brief.last_error:
        typer.echo(f"problems: {brief.last_error}")
    if brief.zip_path:
        typer.echo(f"files: {brief.zip_path}")
    if brief.status == BriefStatus.FAILED:
        raise typer.Exit(1)


@briefs_app.command("list")
def list_all(
    keyword: Annotated[str | None, typer.Option(help="only briefs with a keyword containing this")] = None,
    status: Annotated[BriefStatus | None, typer.Option(help="only briefs in this status")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, newest first")] = 50,
) -> None:
    """Briefs, newest first."""
    with transaction() as session:
        found = list_briefs(session, keyword=keyword, status=status, limit=limit)
    rows = [
        (
            brief.id,
            status_label(brief),
            moment(brief.created_at),
            brief.articles,
            ", ".join(brief.keywords),
            len(brief.platforms),
        )
        for brief in found
    ]
    echo_table(("id", "status", "submitted", "articles", "keywords", "platforms"), rows)


@briefs_app.command("show")
def show(brief_id: Annotated[int, typer.Argument(metavar="ID")]) -> None:
    """One brief: its status and times, each search's progress, what went wrong, where the files are."""
    with transaction() as session:
        brief = get_brief(session, brief_id=brief_id)
        if brief is None:
            fail(f"there is no brief {brief_id}")
        searches = list_searches(session, brief_id=brief_id)
    typer.echo(
        f"brief {brief.id}: {status_label(brief)}, {brief.articles} articles; "
        f"keywords {', '.join(brief.keywords)}"
    )
    times = [
        ("submitted", brief.created_at),
        ("started", brief.started_at),
        ("collected", brief.collected_at),
        ("finished", brief.finished_at),
    ]
    typer.echo("; ".join(f"{name} {moment(when)}" for name, when in times if when))
    rows = [
        (
            s["platform"],
            s["keyword"],
            s["status"],
            s["pages"],
            s["articles"],
            s["malformed"],
            one_line(s["error"]),
        )
        for s in searches
    ]
    echo_table(("platform", "keyword", "status", "pages", "articles", "malformed", "error"), rows)
    if brief.last_error:
        typer.echo(f"problems: {brief.last_error}")
    if brief.zip_path:
        typer.echo(f"files: {brief.zip_path}")


@briefs_app.command("articles")
def articles(
    brief_id: Annotated[int, typer.Argument(metavar="ID")],
    platform: Annotated[str | None, typer.Option(help="only this platform's")] = None,
    keyword: Annotated[str | None, typer.Option(help="only those found for this keyword")] = None,
    limit: Annotated[int, typer.Option(min=1, help="at most this many, most interaction first")] = 20,
) -> None:
    """A brief's articles, most interaction first."""
    with transaction() as session:
        found = list_articles(session, brief_id=brief_id, platform=platform, keyword=keyword, limit=limit)
    rows = [(a.platform, a.keyword, a.interaction, a.user_name, one_line(a.title, 40), a.url) for a in found]
    echo_table(("platform", "keyword", "interaction", "account", "title", "url"), rows)


@briefs_app.command("accounts")
def accounts(
    brief_id: Annotated[int, typer.Argument(metavar="ID")],
    limit: Annotated[int, typer.Option(min=1, help="at most this many, most interaction first")] = 20,
) -> None:
    """The accounts behind a brief's articles, with their sums."""
    with transaction() as session:
        found = list_accounts(session, brief_id=brief_id, limit=limit)
    columns = ("platform", "user_name", "user_fans", "user_fans_level", "articles", "interaction")
    echo_table(columns, [[row[column] for column in columns] for row in found])
