"""Every change of a brief's or a search's status: ordering, claims with a lease (numbered, so a
later claim fences off an earlier holder), collection, analysis, failure, re-collection."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    and_,
    case,
    func,
    insert,
    or_,
    select,
    true,
    update,
)
from sqlalchemy.orm import Session

from db import jobs
from db.base import utcnow
from db.briefs.articles import refresh_accounts
from db.briefs.models import UNFINISHED, Brief, BriefArticle, BriefSearch, BriefStatus, SearchStatus
from rules.briefs import BriefSpec, Stage


@dataclass(frozen=True)
class SearchToRun:
    """A search a collection run works on."""

    id: int
    platform: str
    keyword: str


@dataclass(frozen=True)
class ClaimedBrief:
    """A brief claimed for collection or analysis, with what the work needs."""

    id: int
    claim: int  # the claim's number (the brief's attempts then): a later claim fences this one off
    keywords: list[str]
    platforms: list[str]
    since: datetime | None
    until: datetime | None
    searches: list[SearchToRun]


@dataclass(frozen=True)
class SearchOutcome:
    """Where one search got to: ``error`` set with some articles is partial, with none failed."""

    id: int
    pages: int
    articles: int
    malformed: int
    attempts: int
    error: str | None = None


def create_brief(session: Session, *, spec: BriefSpec) -> int:
    """Store a validated brief and its searches; returns the brief id."""
    brief = Brief(
        keywords=list(spec.keywords), platforms=list(spec.platforms), since=spec.since, until=spec.until
    )
    session.add(brief)
    session.flush()
    session.execute(
        insert(BriefSearch),
        [
            {"brief_id": brief.id, "platform": platform, "keyword": keyword}
            for platform in spec.platforms
            for keyword in spec.keywords
        ],
    )
    return brief.id


def transition(
    session: Session,
    *,
    to: BriefStatus,
    from_: Sequence[BriefStatus],
    brief_id: int | None = None,
    where: Sequence[Any] = (),
    now: datetime | None = None,
    **values: Any,
) -> int:
    """Move briefs from one of ``from_`` to ``to`` (with ``values``) in one conditional UPDATE.

    One brief (``brief_id``) or every brief matching ``where`` too. Finished and failed briefs get
    their finish time and lose their lease. Returns how many briefs moved. Every status change of a
    brief goes through here.
    """
    conditions = [*where, *([Brief.id == brief_id] if brief_id is not None else [])]
    terminal = to in (BriefStatus.FINISHED, BriefStatus.FAILED)
    where_all = and_(true(), *conditions)
    return jobs.transition(
        session, Brief, where=where_all, to=to, from_=from_, terminal=terminal, now=now or utcnow(), **values
    )


STAGES = {  # stage: (status waiting for it, status while it runs)
    Stage.COLLECT: (BriefStatus.SUBMITTED, BriefStatus.COLLECTING),
    Stage.ANALYSE: (BriefStatus.COLLECTED, BriefStatus.ANALYSING),
}


STAGE_WORKING = [working for _, working in STAGES.values()]


def _claimable(waiting: BriefStatus, working: BriefStatus, now: datetime) -> Any:
    lapsed = and_(Brief.status == working, Brief.claimed_until < now)
    return or_(Brief.status == waiting, lapsed)


def _held(claim: int) -> Any:
    """The brief is still held by the claim whose attempt number is ``claim`` (a later claim fences it)."""
    return Brief.attempts == claim


def claim_brief(
    session: Session,
    *,
    brief_id: int,
    stage: Stage,
    lease_seconds: int,
    owner: str | None = None,
    now: datetime | None = None,
) -> ClaimedBrief | None:
    """Claim a brief for ``stage`` with a lease; None if it is not waiting for it.

    A brief waits for a stage in the status before it, or in the stage's own status once the lease of
    the run that held it has lapsed. One conditional UPDATE: two runs never hold the same brief, and
    the claim's number (its attempt) fences off the run that held it before. A collection claims the
    searches not yet done. ``owner`` (a ``db.claims.Lease`` owner) names the run holding the claim, so
    that it can be given back once that run is known dead.
    """
    now = now or utcnow()
    waiting, working = STAGES[stage]
    claimed = transition(
        session,
        brief_id=brief_id,
        to=working,
        from_=(waiting, working),
        where=(or_(Brief.status == waiting, Brief.claimed_until < now),),
        claimed_until=now + timedelta(seconds=lease_seconds),
        claimed_by=owner,
        attempts=Brief.attempts + 1,
        started_at=func.coalesce(Brief.started_at, now),
    )
    if claimed != 1:
        return None
    brief = session.get_one(Brief, brief_id, populate_existing=True)
    query = select(BriefSearch.id, BriefSearch.platform, BriefSearch.keyword).where(
        BriefSearch.brief_id == brief_id
    )
    if stage == Stage.COLLECT:
        query = query.where(BriefSearch.status != SearchStatus.DONE)
    return ClaimedBrief(
        id=brief.id,
        claim=brief.attempts,
        keywords=list(brief.keywords),
        platforms=list(brief.platforms),
        since=brief.since,
        until=brief.until,
        searches=[SearchToRun(**row._asdict()) for row in session.execute(query.order_by(BriefSearch.id))],
    )


def holds_claim(session: Session, *, brief_id: int, stage: Stage, claim: int) -> bool:
    """Whether the claim numbered ``claim`` still holds the brief for ``stage``."""
    working = STAGES[stage][1]
    found = session.scalar(
        select(Brief.id).where(Brief.id == brief_id, Brief.status == working, _held(claim))
    )
    return found is not None


def waiting_briefs(
    session: Session, *, stage: Stage, after: int = 0, now: datetime | None = None, limit: int = 50
) -> list[int]:
    """Ids (above ``after``, at most ``limit``) of briefs waiting for ``stage``, oldest first.

    New ones and those a lost run held; page with ``after`` the last id seen.
    """
    waiting, working = STAGES[stage]
    return list(
        session.scalars(
            select(Brief.id)
            .where(_claimable(waiting, working, now or utcnow()), Brief.id > after)
            .order_by(Brief.id)
            .limit(limit)
        )
    )


def fail_abandoned(session: Session, *, max_attempts: int, now: datetime | None = None) -> int:
    """Fail briefs whose lease lapsed after ``max_attempts`` claims (their runs keep getting lost)."""
    now = now or utcnow()
    return transition(
        session,
        to=BriefStatus.FAILED,
        from_=STAGE_WORKING,
        where=(jobs.lease_lapsed(Brief, STAGE_WORKING, now), Brief.attempts >= max_attempts),
        now=now,
        last_error=f"gave up after {max_attempts} claims: the runs holding this brief were lost",
    )


def start_searches(session: Session, *, search_ids: Sequence[int], now: datetime | None = None) -> None:
    """Mark searches running (again, on a re-run)."""
    session.execute(
        update(BriefSearch)
        .where(BriefSearch.id.in_(list(search_ids)))
        .values(status=SearchStatus.RUNNING, started_at=now or utcnow(), finished_at=None, error=None)
        .execution_options(synchronize_session=False)
    )


def record_search(session: Session, *, outcome: SearchOutcome, now: datetime | None = None) -> None:
    """Store where a search got to, and its status from that.

    Pages and articles never go down: a search run again (re-collected, or after a lost run) keeps
    what an earlier run stored, so one that found some articles before is partial, not failed.
    """
    s = BriefSearch
    pages = case((s.pages > outcome.pages, s.pages), else_=outcome.pages)
    articles = case((s.articles > outcome.articles, s.articles), else_=outcome.articles)
    if outcome.error is None:
        status: Any = SearchStatus.DONE
    else:
        status = case((articles > 0, SearchStatus.PARTIAL.value), else_=SearchStatus.FAILED.value)
    session.execute(
        update(s)
        .where(s.id == outcome.id)
        .values(
            status=status,
            pages=pages,
            articles=articles,
            malformed=outcome.malformed,
            attempts=s.attempts + outcome.attempts,
            error=outcome.error,
            finished_at=now or utcnow(),
        )
        .execution_options(synchronize_session=False)
    )


def reopen_short_searches(session: Session, *, brief_id: int, now: datetime | None = None) -> int:
    """Send a finished or failed brief back to collection for its partial and failed searches only.

    What was stored stays (articles, the searches done, their counts). Returns how many searches
    are to run again; ValueError when the brief does not exist, is still at work, or is complete.
    """
    brief = session.get(Brief, brief_id)
    if brief is None:
        raise ValueError(f"there is no brief {brief_id}")
    if brief.status in UNFINISHED:
        raise ValueError(f"brief {brief_id} is {brief.status.value}: let it end first")
    short = [SearchStatus.PARTIAL, SearchStatus.FAILED]
    reopened = session.execute(
        update(BriefSearch)
        .where(BriefSearch.brief_id == brief_id, BriefSearch.status.in_(short))
        .values(status=SearchStatus.PENDING, error=None, finished_at=None)
        .execution_options(synchronize_session=False)
    ).rowcount
    if not reopened and brief.status == BriefStatus.FINISHED:
        raise ValueError(f"every search of brief {brief_id} is complete: nothing to re-collect")
    transition(
        session,
        brief_id=brief_id,
        to=BriefStatus.SUBMITTED,
        from_=[BriefStatus.FINISHED, BriefStatus.FAILED],
        now=now,
        collected_at=None,
        finished_at=None,
        last_error=None,
    )
    return reopened


def finish_collection(session: Session, *, brief_id: int, claim: int, now: datetime | None = None) -> bool:
    """Count the brief's articles, sum its accounts, and mark it collected.

    False if the claim numbered ``claim`` no longer holds the brief's collection.
    """
    now = now or utcnow()
    refresh_accounts(session, brief_id=brief_id)
    total = session.scalar(select(func.count()).where(BriefArticle.brief_id == brief_id)) or 0
    searches = session.execute(
        select(BriefSearch.platform, BriefSearch.keyword, BriefSearch.error).where(
            BriefSearch.brief_id == brief_id, BriefSearch.error.is_not(None)
        )
    ).all()
    problems = "; ".join(f"{row.platform}/{row.keyword}: {row.error}" for row in searches) or None
    return (
        transition(
            session,
            brief_id=brief_id,
            to=BriefStatus.COLLECTED,
            from_=[BriefStatus.COLLECTING],
            where=(_held(claim),),
            collected_at=now,
            claimed_until=None,
            articles=total,
            last_error=problems,
        )
        == 1
    )


def finish_brief(
    session: Session,
    *,
    brief_id: int,
    claim: int,
    zip_path: str,
    summary: dict[str, Any],
    now: datetime | None = None,
) -> bool:
    """Mark an analysed brief finished with its files and summary.

    False if the claim numbered ``claim`` no longer holds the brief's analysis. On success the row
    stays locked until the caller commits, so the files can be put in place meanwhile.
    """
    return (
        transition(
            session,
            brief_id=brief_id,
            to=BriefStatus.FINISHED,
            from_=[BriefStatus.ANALYSING],
            where=(_held(claim),),
            now=now,
            zip_path=zip_path,
            summary=summary,
        )
        == 1
    )


def fail_brief(
    session: Session, *, brief_id: int, error: str, claim: int | None = None, now: datetime | None = None
) -> bool:
    """Mark an unfinished brief failed with the reason (only while the claim ``claim`` holds it, if given)."""
    where = () if claim is None else (_held(claim),)
    failed = transition(
        session,
        brief_id=brief_id,
        to=BriefStatus.FAILED,
        from_=UNFINISHED,
        where=where,
        now=now,
        last_error=error[:4000],
    )
    return failed == 1
