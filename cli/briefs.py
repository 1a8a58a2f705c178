"""The ``briefs`` command group: order a brief, find briefs, follow one, list its articles and accounts.

Ordering stores the brief and starts its collection (``PREFECT_API_URL`` needed; without it the
scheduled process-briefs run collects it). Bad input exits with code 2 and a message on stderr.
"""

from __future__ import annotations

from typing import Annotated

import typer

from cli.common import WHEN_HELP, echo_table, fail, one_line, parse_when, transaction, utc
from core.settings import PLATFORMS, get_settings
from db.base import utcnow
from db.briefs import (
    BriefStatus,
    create_brief,
    get_brief,
    list_accounts,
    list_articles,
    list_briefs,
    list_searches,
    status_label,
)
from rules.briefs import validate_brief

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
) -> None:
    """Store a brief and start collecting it now; the files follow when it is analysed."""
    now = utcnow()
    with transaction() as session:
        spec = validate_brief(
            keywords,
            platform or None,
            parse_when(since, now) if since else None,
            parse_when(until, now) if until else None,
            max_keywords=get_settings().briefs.max_keywords,
        )
        brief_id = create_brief(session, spec=spec)
    typer.echo(f"brief {brief_id}: {', '.join(spec.keywords)} on {', '.join(spec.platforms)}")
    from deployments.runs import start_collection  # imports Prefect (seconds): only when it is needed

    typer.echo(start_collection(brief_id))


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
            utc(brief.submitted_at),
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
        (name, getattr(brief, f"{name}_at")) for name in ("submitted", "started", "collected", "finished")
    ]
    typer.echo("; ".join(f"{name} {utc(when)}" for name, when in times if when))
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
