"""``/growth``: the accounts connected to the photo network (add with the password, read, change
settings and switches, pause, resume), their follow and like jobs, stats, and the notices.

The password of ``POST /growth/accounts`` (and of a resume that logs in again) is used once to log
in: it is never stored, answered, nor logged (a problem never echoes the request)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from sqlalchemy.orm import Session

from api.auth import Caller, authorize
from api.idempotency import IdempotencyKey, run_once
from api.pagination import Page, PageParams, page_params
from api.problems import errors
from api.schemas.common import MAX_ID, Id, text
from api.schemas.growth import (
    AccountAdded,
    AccountDetail,
    AccountIn,
    AccountMoved,
    AccountOut,
    AccountPatch,
    AccountStats,
    BlockOut,
    DayStat,
    FollowerPoint,
    FollowJobIn,
    JobCreated,
    LikeJobIn,
    NoticeOut,
    QuotaOut,
    ResumeIn,
)
from commands import growth as commands
from db.base import NotFound
from db.engine import session_factory
from db.growth import accounts as accounts_db
from db.growth import reports
from deployments.runs import start_growth_job, start_sync
from rules.growth import JobStatus

router = APIRouter(prefix="/growth", tags=["growth"], dependencies=[Depends(authorize)])

Owner = Annotated[str, text(64, 1)]


def _summary(session: Session, account_id: int) -> reports.AccountSummary:
    found = reports.accounts(session, account_ids=[account_id])
    if not found:
        raise NotFound(f"no growth account {account_id}")
    return found[0]


def _account(summary: reports.AccountSummary) -> AccountOut:
    blocks = [BlockOut(action=str(b.action), until=b.until, reason=b.reason) for b in summary.blocks]
    return AccountOut(**vars(summary) | {"blocks": blocks})


def _detail(account_id: int) -> AccountDetail:
    with session_factory().begin() as session:
        summary = _summary(session, account_id)
        settings = accounts_db.account_settings(accounts_db.find_account(session, account_id))
    return AccountDetail(**_account(summary).model_dump(), settings=settings)


def _exists(account_id: int) -> None:
    with session_factory().begin() as session:
        _summary(session, account_id)


def _moved(account_id: int, changed: bool) -> AccountMoved:
    with session_factory().begin() as session:
        return AccountMoved(id=account_id, state=_summary(session, account_id).state, changed=changed)


@router.get("/accounts", response_model=Page[AccountOut], responses=errors(401, 403, 422, 429))
def list_accounts(
    page: Annotated[PageParams, Depends(page_params)],
    owner: Annotated[Owner | None, Query(description="only this owner's")] = None,
) -> Page[AccountOut]:
    """The connected accounts, by username, with their counts, open jobs and blocks."""
    with session_factory().begin() as session:
        found = reports.accounts(session, owner=owner)
    items = [_account(summary) for summary in found[page.offset : page.offset + page.limit]]
    return Page(items=items, total=len(found), limit=page.limit, offset=page.offset)


@router.post(
    "/accounts", status_code=201, response_model=AccountAdded, responses=errors(400, 401, 403, 409, 422, 429)
)
def add_account(body: AccountIn) -> AccountAdded:
    """Log in to the network as the account (the password is used for that only) and store it with
    its session, encrypted; its first sync run starts now. 422 when the network refuses the login."""
    added = commands.add_account(
        owner=body.owner,
        username=body.username,
        password=body.password.get_secret_value(),
        timezone=body.timezone,
        likes_on=body.likes_on,
        follows_on=body.follows_on,
        unfollows_on=body.unfollows_on,
    )
    return AccountAdded(id=added.id, username=added.username, user_id=added.user_id, run=start_sync(added.id))


@router.get("/accounts/{account_id}", response_model=AccountDetail, responses=errors(401, 403, 404, 422, 429))
def get_account(account_id: Id) -> AccountDetail:
    """One account with its settings."""
    return _detail(account_id)


@router.patch(
    "/accounts/{account_id}", response_model=AccountDetail, responses=errors(400, 401, 403, 404, 422, 429)
)
def change_account(account_id: Id, body: AccountPatch) -> AccountDetail:
    """Change its switches, time zone or settings (only those given); running jobs use the change
    from their next action. A bad setting is a 422 naming it."""
    _exists(account_id)
    commands.change_account(
        account_id,
        settings=body.settings,
        timezone=body.timezone,
        likes_on=body.likes_on,
        follows_on=body.follows_on,
        unfollows_on=body.unfollows_on,
    )
    return _detail(account_id)


@router.post(
    "/accounts/{account_id}/pause", response_model=AccountMoved, responses=errors(401, 403, 404, 422, 429)
)
def pause_account(account_id: Id) -> AccountMoved:
    """Stop all its work (``changed`` false when it was not active)."""
    _exists(account_id)
    return _moved(account_id, commands.pause_account(account_id))


@router.post(
    "/accounts/{account_id}/resume",
    response_model=AccountMoved,
    responses=errors(400, 401, 403, 404, 422, 429),
)
def resume_account(account_id: Id, body: ResumeIn | None = None) -> AccountMoved:
    """Let it work again; one that needs attention is logged in again with ``password`` first."""
    _exists(account_id)
    password = body.password.get_secret_value() if body and body.password else None
    return _moved(account_id, commands.resume_account(account_id, password=password))


def _created(created: commands.CreatedJob, run_key: str | None) -> JobCreated:
    run = start_growth_job(created.kind, False, f"Job {created.id}", idempotency_key=run_key)
    return JobCreated(**vars(created), run=run)


@router.post(
    "/accounts/{account_id}/follow-jobs",
    status_code=201,
    response_model=JobCreated,
    responses=errors(400, 401, 403, 404, 409, 422, 429),
)
def follow_job(
    account_id: Id,
    body: FollowJobIn,
    request: Request,
    caller: Caller,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A follow job: ``count`` candidates from a target account's followers, or a hashtag's or a
    location's recent posters (the target is checked on the network first); its planning run
    starts now. Repeat safely with Idempotency-Key."""
    _exists(account_id)

    def work(run_key: str | None) -> JobCreated:
        created = commands.create_follow_job(
            account_id, source=body.source, target=body.target, count=body.count
        )
        return _created(created, run_key)

    return run_once(caller=caller, key=idempotency_key, request=request, payload=body, status=201, work=work)


@router.post(
    "/accounts/{account_id}/like-jobs",
    status_code=201,
    response_model=JobCreated,
    responses=errors(400, 401, 403, 404, 409, 422, 429),
)
def like_job(
    account_id: Id,
    request: Request,
    caller: Caller,
    body: LikeJobIn | None = None,
    idempotency_key: IdempotencyKey = None,
) -> Response:
    """A like job now: like recent posts of some of its followers (likes must be on, the account
    active, no like job open). Repeat safely with Idempotency-Key."""
    _exists(account_id)
    return run_once(
        caller=caller,
        key=idempotency_key,
        request=request,
        payload=body or LikeJobIn(),
        status=201,
        work=lambda run_key: _created(commands.create_like_job(account_id), run_key),
    )


@router.get("/jobs", response_model=Page[reports.JobSummary], responses=errors(401, 403, 422, 429))
def list_jobs(
    page: Annotated[PageParams, Depends(page_params)],
    account_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="only this account's")] = None,
    status: Annotated[JobStatus | None, Query(description="only jobs in this status")] = None,
) -> Page[reports.JobSummary]:
    """Jobs, newest first, with how many candidates each has still to act on."""
    filters = {"account_id": account_id, "status": status}
    with session_factory().begin() as session:
        found = reports.jobs(session, **filters, limit=page.limit, offset=page.offset)
        total = reports.count_jobs(session, **filters)
    return Page(items=found, total=total, limit=page.limit, offset=page.offset)


@router.get(
    "/accounts/{account_id}/stats", response_model=AccountStats, responses=errors(401, 403, 404, 422, 429)
)
def account_stats(
    account_id: Id, days: Annotated[int, Query(ge=1, le=366, description="days of actions per day")] = 30
) -> AccountStats:
    """Actions per day, followers over time, skip reasons, and quota use now."""
    with session_factory().begin() as session:
        _summary(session, account_id)
        per_day = [
            DayStat.model_validate(row)
            for row in reports.actions_per_day(session, account_id=account_id, days=days)
        ]
        followers = [
            FollowerPoint.model_validate(row)
            for row in reports.followers_over_time(session, account_id=account_id)
        ]
        skips = reports.skip_reasons(session, account_id=account_id)
        quota = [QuotaOut(**vars(use)) for use in reports.quota_use(session, account_id=account_id)]
    return AccountStats(actions_per_day=per_day, followers=followers, skip_reasons=skips, quota_use=quota)


@router.get("/notices", response_model=Page[NoticeOut], responses=errors(401, 403, 422, 429))
def notices(
    page: Annotated[PageParams, Depends(page_params)],
    owner: Annotated[Owner | None, Query(description="only this owner's")] = None,
    account_id: Annotated[int | None, Query(ge=1, le=MAX_ID, description="only this account's")] = None,
) -> Page[NoticeOut]:
    """Notices, unread first, newest first within each."""
    filters = {"owner": owner, "account_id": account_id}
    with session_factory().begin() as session:
        found = accounts_db.list_notices(session, **filters, limit=page.limit, offset=page.offset)
        items = [NoticeOut.model_validate(row) for row in found]
        total = accounts_db.count_notices(session, **filters)
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)
