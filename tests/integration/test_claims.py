"""The kit's claims on a real database: an owner per claim, leases renewed by their owner only, and a
batch that outlasts its lease keeping its rows (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
import ipaddress
from collections.abc import Sequence
from datetime import timedelta

from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.claims import Lease
from db.webpages import PageOutcome, PageStatus, claim_pages, create_request, renew_pages, request_pages
from tasks.batch import Batch, run_batch

Sessions = sessionmaker[Session]
LOOPBACK = [ipaddress.ip_network("127.0.0.1/32")]


def _request(sessions: Sessions, count: int) -> int:
    with sessions.begin() as session:
        urls = [f"http://127.0.0.1:9/claims/{n}" for n in range(count)]
        return create_request(session, urls=urls, word="x", allowed=LOOPBACK).id


def _claim(sessions: Sessions, request_id: int, lease: Lease, **kwargs: object) -> list[int]:
    with sessions.begin() as session:
        pages = claim_pages(session, limit=100, lease=lease, max_attempts=5, request_id=request_id, **kwargs)
        return [page.id for page in pages]


def test_a_claim_records_its_owner_and_only_the_owner_renews_it(sessions: Sessions) -> None:
    request_id = _request(sessions, 2)
    start = utcnow()
    lease = Lease(10)
    ids = _claim(sessions, request_id, lease, now=start)
    with sessions.begin() as session:
        assert {page.claimed_by for page in request_pages(session, request_id=request_id)} == {lease.owner}
        assert renew_pages(session, ids=ids, lease=Lease(10), now=start) == set()  # another owner
        assert renew_pages(session, ids=ids, lease=lease, now=start + timedelta(seconds=8)) == set(ids)
    # past the first lease's end but inside the renewed one: nobody else may take the pages
    assert _claim(sessions, request_id, Lease(10), now=start + timedelta(seconds=12)) == []
    # once the renewed lease lapses, another claimer takes them and the first owner has lost them
    thief = Lease(10)
    assert _claim(sessions, request_id, thief, now=start + timedelta(seconds=19)) == ids
    with sessions.begin() as session:
        assert renew_pages(session, ids=ids, lease=lease, now=start + timedelta(seconds=20)) == set()


def test_a_batch_that_outlasts_its_lease_keeps_its_pages(sessions: Sessions) -> None:
    """A lease of 1 s, work that holds on until a rival claimer has tried well past it: the rival
    gets nothing, because the working batch renews its lease."""
    request_id = _request(sessions, 3)
    rival_tries: list[list[int]] = []

    def claim(lease: Lease) -> list[int]:
        return _claim(sessions, request_id, lease)

    def renew(lease: Lease, ids: Sequence[int]) -> set[int]:
        with sessions.begin() as session:
            return renew_pages(session, ids=ids, lease=lease)

    async def work(page_id: int) -> PageOutcome:
        while len(rival_tries) < 3:  # each try comes a lease's length after the last
            await asyncio.sleep(1.0)
            rival_tries.append(await asyncio.to_thread(_claim, sessions, request_id, Lease(60)))
        return PageOutcome(id=page_id, count=1)

    batch = Batch(
        claim=claim,
        work=work,
        record=lambda outcomes: None,
        renew=renew,
        item_id=lambda page_id: page_id,
        outcome_id=lambda outcome: outcome.id,
        crashed=lambda page_id, error: PageOutcome(id=page_id, error=error),
    )
    claimed, outcomes = asyncio.run(run_batch(batch, lease_seconds=1.0, concurrency=1, max_wait=0.05))
    assert claimed == 3 and all(outcome.error is None for outcome in outcomes)
    assert rival_tries and all(taken == [] for taken in rival_tries)
    with sessions.begin() as session:
        assert {page.status for page in request_pages(session, request_id=request_id)} == {PageStatus.PENDING}
