"""``/briefs`` (the old brief service's ``/job/submit``, ``/job/view``, ``/job/search``,
``/job/view_article_list``, ``/job/view_account_list``): order a brief (its collection run started
at once, as the dashboard and CLI do), search them, read one with its progress per platform ×
keyword, page through its articles and accounts, download its zip, re-collect what came up short.

The zip: a brief not finished yet (submitted, collecting, collected, analysing) or failed answers
409 (it has no zip, or not yet: poll ``GET /briefs/{id}`` until ``zip_ready``); a finished brief
whose archive is not on disk (removed since) answers 404."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import FileResponse

from api.auth import Caller, authorize
from api.idempotency import IdempotencyKey, run_once
from api.pagination import Page, PageParams, page_params
from api.problems import ApiProblem, errors
from api.schemas.briefs import (
    AccountOut,
    ArticleOut,
    BriefCreated,
    BriefDetail,
    BriefIn,
    BriefOut,
    BriefRecollected,
    PlatformTotal,
    Progress,
    SearchOut,
)
from api.schemas.common import Id, UtcDatetime, text
from commands.briefs import order_brief, recollect_brief
from db import briefs as briefs_db
from db.base import NotFound
from db.briefs import BriefStatus, BriefSummary, SearchStatus
from db.engine import session_factory
from deployments.runs import start_collection

router = APIRouter(prefix="/briefs", tags=["briefs"], dependencies=[Depends(authorize)])

Filter = Annotated[str, text(64, 1)]
STAGE = {
    BriefStatus.SUBMITTED: "waiting",
    BriefStatus.COLLECTING: "collecting",
    BriefStatus.COLLECTED: "waiting",
    BriefStatus.ANALYSING: "analysing",
    BriefStatus.FINISHED: "finished",
    BriefStatus.FAILED: "failed",
}
ENDED = (SearchStatus.DONE, SearchStatus.PARTIAL, SearchStatus.FAILED)


def _zip_of(brief: BriefSummary) -> Path | None:
    if brief.status != BriefStatus.FINISHED or not brief.zip_path:
        return None
    path = Path(brief.zip_path)
    return path if path.is_file() else None


def _brief(brief: BriefSummary) -> BriefOut:
    return BriefOut(
        id=brief.id,
        keywords=brief.keywords,
        platforms=brief.platforms,
        since=brief.since,
        until=brief.until,
        status=brief.status,
        label=briefs_db.status_label(brief),
        created_at=brief.created_at,
        started_at=brief.started_at,
        collected_at=brief.collected_at,
        finished_at=brief.finished_at,
        attempts=brief.attempts,
        last_error=brief.last_error,
        articles=brief.articles,
        zip_ready=_zip_of(brief) is not None,
    )


def _found(session, brief_id: int) -> BriefSummary:  # type: ignore[no-untyped-def]
    brief = briefs_db.get_brief(session, brief_id=brief_id)
    if brief is None:
        raise NotFound(f"no brief {brief_id}")
    return brief


@router.post("", status_code=201, response_model=BriefCreated, responses=errors(400, 401, 403, 409, 422, 429))
def submit(
    body: BriefIn, request: Request, caller: Caller, idempotency_key: IdempotencyKey = None
) -> Response:
    """Order a brief: one search per platform × keyword (no platforms: all five), its collection run
    started now (then its analysis). Repeat safely with Idempotency-Key."""

    def work(run_key: str | None) -> BriefCreated:
        ordered = order_brief(body.keywords, body.platforms, body.since, body.until)
        spec = ordered.spec
        return BriefCreated(
            id=ordered.id,
            keywords=list(spec.keywords),
            platforms=list(spec.platforms),
            since=spec.since,
            until=spec.until,
            searches=len(spec.keywords) * len(spec.platforms),
            run=start_collection(ordered.id, idempotency_key=run_key),
        )

    return run_once(caller=caller, key=idempotency_key, request=request, payload=body, status=201, work=work)


@router.get("", response_model=Page[BriefOut], responses=errors(401, 403, 422, 429))
def search_briefs(
    page: Annotated[PageParams, Depends(page_params)],
    status: Annotated[BriefStatus | None, Query(description="only briefs in this status")] = None,
    keyword: Annotated[Filter | None, Query(description="only briefs with a keyword containing this")] = None,
    created_from: Annotated[UtcDatetime | None, Query(description="ordered at or after this time")] = None,
    created_until: Annotated[UtcDatetime | None, Query(description="ordered before this time")] = None,
) -> Page[BriefOut]:
    """Briefs, newest first, filtered."""
    filters = {
        "keyword": keyword,
        "status": status,
        "submitted_from": created_from,
        "submitted_until": created_until,
    }
    with session_factory().begin() as session:
        found = briefs_db.list_briefs(session, **filters, limit=page.limit, offset=page.offset)
        total = briefs_db.count_briefs(session, **filters)
    return Page(items=[_brief(brief) for brief in found], total=total, limit=page.limit, offset=page.offset)


@router.get("/{brief_id}", response_model=BriefDetail, responses=errors(401, 403, 404, 422, 429))
def view_brief(brief_id: Id) -> BriefDetail:
    """One brief: its status and stage, progress per platform × keyword, counts, timings, last error."""
    with session_factory().begin() as session:
        brief = _found(session, brief_id)
        searches = [SearchOut(**row) for row in briefs_db.list_searches(session, brief_id=brief_id)]
        totals = [
            PlatformTotal(**{name: value or 0 for name, value in row.items()} | {"platform": row["platform"]})
            for row in briefs_db.platform_totals(session, brief_id=brief_id)
        ]
    by_status = {status: sum(s.status == status for s in searches) for status in SearchStatus}
    progress = Progress(
        searches=len(searches), finished=sum(by_status[s] for s in ENDED), by_status=by_status
    )
    return BriefDetail(
        **_brief(brief).model_dump(),
        stage=STAGE[brief.status],
        progress=progress,
        searches=searches,
        platforms_totals=totals,
        summary=brief.summary,
    )


@router.get(
    "/{brief_id}/articles", response_model=Page[ArticleOut], responses=errors(401, 403, 404, 422, 429)
)
def brief_articles(
    brief_id: Id,
    page: Annotated[PageParams, Depends(page_params)],
    platform: Annotated[Filter | None, Query(description="only this platform's")] = None,
    keyword: Annotated[Filter | None, Query(description="only those found for this keyword")] = None,
    text_contains: Annotated[
        Filter | None, Query(alias="text", description="only those whose title or content contains this")
    ] = None,
) -> Page[ArticleOut]:
    """The brief's articles, most interaction first."""
    filters = {"brief_id": brief_id, "platform": platform, "keyword": keyword, "text": text_contains}
    with session_factory().begin() as session:
        _found(session, brief_id)
        found = briefs_db.list_articles(session, **filters, limit=page.limit, offset=page.offset)
        total = briefs_db.count_articles(session, **filters)
    items = [ArticleOut(**vars(article) | {"topics": list(article.topics)}) for article in found]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/{brief_id}/accounts", response_model=Page[AccountOut], responses=errors(401, 403, 404, 422, 429)
)
def brief_accounts(brief_id: Id, page: Annotated[PageParams, Depends(page_params)]) -> Page[AccountOut]:
    """The accounts behind the brief's articles, most interaction first."""
    with session_factory().begin() as session:
        _found(session, brief_id)
        found = briefs_db.list_accounts(session, brief_id=brief_id, limit=page.limit, offset=page.offset)
        total = briefs_db.count_accounts(session, brief_id=brief_id)
    return Page(items=[AccountOut(**row) for row in found], total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/{brief_id}/zip",
    response_class=FileResponse,
    responses={
        200: {
            "content": {"application/zip": {"schema": {"type": "string", "format": "binary"}}},
            "description": "the brief's archive (workbooks, charts, word clouds)",
        },
        **errors(401, 403, 404, 409, 422, 429),
    },
)
def brief_zip(brief_id: Id) -> FileResponse:
    """The finished brief's archive as a download. 409 while the brief is not finished (or failed);
    404 when the brief, or a finished brief's archive, is not there."""
    with session_factory().begin() as session:
        brief = _found(session, brief_id)
    if brief.status != BriefStatus.FINISHED:
        raise ApiProblem(
            409,
            f"brief {brief_id} is {brief.status.value}: a zip comes only with a finished brief",
            kind="not-finished",
        )
    path = _zip_of(brief)
    if path is None:
        raise NotFound(f"brief {brief_id} is finished but its zip is not on disk")
    return FileResponse(path, media_type="application/zip", filename=f"brief-{brief_id}.zip")


@router.post(
    "/{brief_id}/recollect", response_model=BriefRecollected, responses=errors(401, 403, 404, 409, 422, 429)
)
def recollect(brief_id: Id) -> BriefRecollected:
    """Collect a finished or failed brief's partial and failed searches again, keeping what was
    stored; its collection run starts now. 422 while it is still at work or when nothing came up short."""
    with session_factory().begin() as session:
        _found(session, brief_id)
    searches = recollect_brief(brief_id)
    return BriefRecollected(id=brief_id, searches=searches, run=start_collection(brief_id))
