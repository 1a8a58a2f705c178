"""``/word-counts``: submit pages to count a word on (its counting run started at once), list the
requests, and read one with its pages, paginated."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response

from api.auth import Caller, authorize
from api.idempotency import IdempotencyKey, run_once
from api.pagination import Page, PageParams, page_params
from api.problems import errors
from api.schemas.common import Id
from api.schemas.webpages import PageOut, WordCountCreated, WordCountDetail, WordCountIn, WordCountOut
from commands.webpages import submit_pages
from db import webpages as webpages_db
from db.base import NotFound
from db.engine import session_factory
from deployments.runs import start_processing

router = APIRouter(prefix="/word-counts", tags=["word counts"], dependencies=[Depends(authorize)])


@router.post(
    "", status_code=201, response_model=WordCountCreated, responses=errors(400, 401, 403, 409, 422, 429)
)
def submit(
    body: WordCountIn, request: Request, caller: Caller, idempotency_key: IdempotencyKey = None
) -> Response:
    """Count ``word`` on ``urls``: the request is stored (refused URLs as failed, with why) and its
    counting run started. Repeat safely with Idempotency-Key."""

    def work(run_key: str | None) -> WordCountCreated:
        created = submit_pages(body.urls, body.word, source="api")
        run = (
            start_processing(created.id, idempotency_key=run_key) if created.accepted else "nothing to fetch"
        )
        return WordCountCreated(
            id=created.id, word=created.word, accepted=created.accepted, refused=created.refused, run=run
        )

    return run_once(caller=caller, key=idempotency_key, request=request, payload=body, status=201, work=work)


@router.get("", response_model=Page[WordCountOut], responses=errors(401, 403, 422, 429))
def list_word_counts(page: Annotated[PageParams, Depends(page_params)]) -> Page[WordCountOut]:
    """Requests, newest first, with their pages counted by status."""
    with session_factory().begin() as session:
        found = webpages_db.list_requests(session, limit=page.limit, offset=page.offset)
        total = webpages_db.count_requests(session)
    items = [WordCountOut(**vars(summary)) for summary in found]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{request_id}", response_model=WordCountDetail, responses=errors(401, 403, 404, 422, 429))
def get_word_count(request_id: Id, page: Annotated[PageParams, Depends(page_params)]) -> WordCountDetail:
    """One request with its counts, and its pages (``limit``/``offset`` page through them)."""
    with session_factory().begin() as session:
        found = webpages_db.list_requests(session, request_ids=[request_id])
        if not found:
            raise NotFound(f"no word-count request {request_id}")
        pages = webpages_db.request_pages(
            session, request_id=request_id, limit=page.limit, offset=page.offset
        )
        items = [PageOut.model_validate(row) for row in pages]
    summary = found[0]
    return WordCountDetail(
        **vars(summary),
        pages=Page(items=items, total=summary.total, limit=page.limit, offset=page.offset),
    )
