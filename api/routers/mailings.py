"""``/mailings``: list, create (starting its dispatch when its window is open, as the dashboard does),
read, change in part, cancel, delete; ``/mailings/stats`` (every mailing's messages by status) and
``/mailings/{id}/stats`` (one in detail)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, Response

from api.auth import Caller, authorize
from api.cache import FreshFor
from api.idempotency import IdempotencyKey, run_once
from api.pagination import Page, PageParams, page_params
from api.problems import errors
from api.schemas.common import Id
from api.schemas.mailing import (
    MailingCancelled,
    MailingCounts,
    MailingCreated,
    MailingDetailOut,
    MailingIn,
    MailingOut,
    MailingPatch,
    MailingStatsPage,
    ProblemMessage,
    SendsInMinute,
)
from commands import mailing as commands
from core.settings import get_settings
from db import mailing as mailing_db
from db.engine import session_factory
from db.mailing import UNSET, MailingStats
from deployments.runs import start_dispatch

router = APIRouter(prefix="/mailings", tags=["mailings"], dependencies=[Depends(authorize)])
STATS = FreshFor()  # the statistics' answers, per process
NOT_MODIFIED: dict[int | str, dict[str, Any]] = {304: {"description": "Not modified (the ETag given)"}}


def _counts(stats: MailingStats) -> MailingCounts:
    return MailingCounts(
        id=stats.id,
        state=stats.state,
        total=stats.total,
        new=stats.new,
        sending=stats.sending,
        sent=stats.sent,
        failure=stats.failure,
        cancelled=stats.cancelled,
        unknown_outcomes=stats.unknown_outcomes,
    )


def _mailing(stats: MailingStats, text: str) -> MailingOut:
    return MailingOut(
        **_counts(stats).model_dump(),
        text=text,
        starts_at=stats.starts_at,
        ends_at=stats.ends_at,
        cancelled_at=stats.cancelled_at,
        operator_code=stats.filter_operator_code,
        tag=stats.filter_tag,
        daily_from=stats.daily_from,
        daily_until=stats.daily_until,
    )


def _read_mailing(mailing_id: int) -> MailingOut:
    with session_factory().begin() as session:
        detail = mailing_db.mailing_detail(session, mailing_id=mailing_id)
        return _mailing(detail.stats, mailing_db.mailing_text(session, mailing_id=mailing_id))


@router.get("", response_model=Page[MailingOut], responses=errors(401, 403, 422, 429))
def list_mailings(page: Annotated[PageParams, Depends(page_params)]) -> Page[MailingOut]:
    """Mailings, newest first, with their messages counted by status."""
    with session_factory().begin() as session:
        found = mailing_db.mailing_stats(session, limit=page.limit, offset=page.offset)
        texts = mailing_db.mailing_texts(session, mailing_ids=[stats.id for stats in found])
        total, _ = mailing_db.message_totals(session)
    items = [_mailing(stats, texts[stats.id]) for stats in found]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post(
    "", status_code=201, response_model=MailingCreated, responses=errors(400, 401, 403, 409, 422, 429)
)
def create_mailing(
    body: MailingIn, request: Request, caller: Caller, idempotency_key: IdempotencyKey = None
) -> Response:
    """Store a mailing and a message for every matching client; its dispatch starts now when its
    window is open (else the scheduled dispatch run sends it). Repeat safely with Idempotency-Key."""

    def work(run_key: str | None) -> MailingCreated:
        created = commands.create_mailing(
            text=body.text,
            starts_at=body.starts_at,
            ends_at=body.ends_at,
            operator_code=body.operator_code,
            tag=body.tag,
            daily_from=body.daily_from,
            daily_until=body.daily_until,
        )
        if created.starts_now:
            run = start_dispatch(created.id, idempotency_key=run_key)
        else:
            run = f"sending starts at {body.starts_at.isoformat()}, in the scheduled dispatch-mailings run"
        return MailingCreated(
            id=created.id, messages=created.messages, starts_now=created.starts_now, run=run
        )

    return run_once(caller=caller, key=idempotency_key, request=request, payload=body, status=201, work=work)


@router.get("/stats", response_model=MailingStatsPage, responses=errors(401, 403, 422, 429) | NOT_MODIFIED)
def all_stats(request: Request, page: Annotated[PageParams, Depends(page_params)]) -> Response:
    """Every mailing's messages counted by status (newest first), and all messages by status; made at
    most every ``api.stats_seconds`` per process (ETag, 304 to ``If-None-Match``)."""

    def make() -> MailingStatsPage:
        with session_factory().begin() as session:
            found = mailing_db.mailing_stats(session, limit=page.limit, offset=page.offset)
            total, by_status = mailing_db.message_totals(session)
        return MailingStatsPage(
            items=[_counts(stats) for stats in found],
            total=total,
            limit=page.limit,
            offset=page.offset,
            mailings=total,
            messages_by_status={status: by_status.get(status, 0) for status in mailing_db.MessageStatus},
        )

    return STATS.respond(request, ("all", page.limit, page.offset), make, get_settings().api.stats_seconds)


@router.get("/{mailing_id}", response_model=MailingOut, responses=errors(401, 403, 404, 422, 429))
def get_mailing(mailing_id: Id) -> MailingOut:
    return _read_mailing(mailing_id)


@router.get(
    "/{mailing_id}/stats",
    response_model=MailingDetailOut,
    responses=errors(401, 403, 404, 422, 429) | NOT_MODIFIED,
)
def mailing_stats(request: Request, mailing_id: Id) -> Response:
    """One mailing in detail: its counts, its problem messages, and messages sent per minute; made at
    most every ``api.stats_seconds`` per process (ETag, 304 to ``If-None-Match``)."""

    def make() -> MailingDetailOut:
        with session_factory().begin() as session:
            detail = mailing_db.mailing_detail(session, mailing_id=mailing_id)
            text = mailing_db.mailing_text(session, mailing_id=mailing_id)
        return MailingDetailOut(
            mailing=_mailing(detail.stats, text),
            problems=[ProblemMessage(**vars(problem)) for problem in detail.problems],
            sends_per_minute=[
                SendsInMinute(minute=minute, sent=sent) for minute, sent in detail.sends_per_minute
            ],
        )

    return STATS.respond(request, mailing_id, make, get_settings().api.stats_seconds)


@router.patch("/{mailing_id}", response_model=MailingOut, responses=errors(400, 401, 403, 404, 422, 429))
def change_mailing(mailing_id: Id, body: MailingPatch) -> MailingOut:
    """Change the fields given. Before it starts anything may change (its messages are planned
    again, and its dispatch starts if the new window is open); after, only its text and end time."""
    given = body.model_fields_set
    before = _read_mailing(mailing_id)
    changed = commands.update_mailing(
        mailing_id=mailing_id,
        text=body.text,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        operator_code=body.operator_code if "operator_code" in given else UNSET,
        tag=body.tag if "tag" in given else UNSET,
        daily_from=body.daily_from if "daily_from" in given else UNSET,
        daily_until=body.daily_until if "daily_until" in given else UNSET,
    )
    if before.state == "scheduled" and changed.starts_now:
        start_dispatch(mailing_id)
    return _read_mailing(mailing_id)


@router.post(
    "/{mailing_id}/cancel", response_model=MailingCancelled, responses=errors(401, 403, 404, 422, 429)
)
def cancel_mailing(mailing_id: Id) -> MailingCancelled:
    """Cancel a mailing: its unsent messages will not be sent. Cancelling again changes nothing."""
    return MailingCancelled(id=mailing_id, cancelled_messages=commands.cancel_mailing(mailing_id=mailing_id))


@router.delete("/{mailing_id}", status_code=204, responses=errors(401, 403, 404, 422, 429))
def delete_mailing(mailing_id: Id) -> Response:
    """Delete a mailing and all its messages (to keep them, cancel it instead)."""
    commands.delete_mailing(mailing_id=mailing_id)
    return Response(status_code=204)
