"""What a dead flow run leaves: its claims name it, and once Prefect says it ended Crashed they come
back at once, in every domain's table, while a live, completed or cancelled run keeps what it holds
(SQLite and PostgreSQL, the Prefect test harness)."""

from __future__ import annotations

import asyncio
import ipaddress
import uuid
from datetime import timedelta

import pytest
from prefect import flow, get_client
from prefect.client.schemas.filters import FlowFilter, FlowFilterName
from prefect.client.schemas.objects import FlowRun, StateType
from prefect.states import Cancelled, Completed, Crashed, Pending, Running, State
from sqlalchemy.orm import Session, sessionmaker

from db.base import utcnow
from db.briefs import claim_brief, create_brief
from db.claims import Lease, claim_tables, expire_claims_of, run_prefix
from db.webpages import claim_pages, create_request
from deployments.crashed_runs import (
    PENDING_AUTOMATION_NAME,
    ensure_crash_automation,
    pending_automation,
)
from rules.briefs import Stage, validate_brief
from tasks.claims import release_claims_of_dead_runs, run_lease

Sessions = sessionmaker[Session]
LOOPBACK = [ipaddress.ip_network("127.0.0.1/32")]

pytestmark = pytest.mark.usefixtures("prefect_harness")


def _pages(sessions: Sessions, count: int) -> int:
    with sessions.begin() as session:
        urls = [f"http://127.0.0.1:9/dead/{uuid.uuid4().hex}" for _ in range(count)]
        return create_request(session, urls=urls, word="x", allowed=LOOPBACK).id


def _claim(sessions: Sessions, request_id: int, lease: Lease) -> list[int]:
    with sessions.begin() as session:
        pages = claim_pages(session, limit=100, lease=lease, max_attempts=5, request_id=request_id)
        return [page.id for page in pages]


def _brief(sessions: Sessions) -> int:
    with sessions.begin() as session:
        return create_brief(session, spec=validate_brief(["咖啡"], ["weibo"], max_keywords=5))


def _claim_brief(sessions: Sessions, brief_id: int, lease: Lease) -> bool:
    with sessions.begin() as session:
        owner = lease.owner
        return (
            claim_brief(session, brief_id=brief_id, stage=Stage.COLLECT, lease_seconds=900, owner=owner)
            is not None
        )


@flow
async def a_run() -> str:
    """A flow run that ends at once; the owner of a lease it took."""
    return run_lease(60).owner


async def _finished_run(state: State) -> FlowRun:
    """A flow run submitted and started, then put in ``state`` as the crash automation or a person would."""
    async with get_client() as client:
        run = await client.create_flow_run(a_run, state=Pending())
        await client.set_flow_run_state(run.id, Running())
        await client.set_flow_run_state(run.id, state, force=True)
        return await client.read_flow_run(run.id)


def test_a_lease_taken_in_a_flow_run_names_the_run() -> None:
    owner = asyncio.run(a_run())

    async def the_run() -> FlowRun:
        """The run whose id the owner begins with, among a_run's runs (the session's Prefect server
        holds every other test's runs too)."""
        async with get_client() as client:
            runs = await client.read_flow_runs(
                flow_filter=FlowFilter(name=FlowFilterName(any_=["a-run"])), limit=200
            )
            return next(run for run in runs if owner.startswith(run_prefix(run.id)))

    run = asyncio.run(the_run())
    assert len(owner) == 32 and owner.startswith(run.id.hex[:16])
    assert len(run_lease(5).owner) == 32  # outside a run: a plain random owner


def test_every_claim_table_is_covered() -> None:
    names = {table.name for table in claim_tables()}
    assert {
        "page_jobs",
        "messages",
        "brief_jobs",
        "growth_jobs",
        "channel_posts",
        "channel_watermarks",
    } <= names


def test_expiring_a_dead_runs_claims_frees_them_for_the_next_claimer_and_no_other(sessions: Sessions) -> None:
    dead_run, live_run = uuid.uuid4(), uuid.uuid4()
    dead, live = Lease.for_run(300, dead_run), Lease.for_run(300, live_run)
    dead_pages = _claim(sessions, _pages(sessions, 3), dead)
    live_request = _pages(sessions, 2)
    live_pages = _claim(sessions, live_request, live)
    brief_id = _brief(sessions)
    assert _claim_brief(sessions, brief_id, dead)

    with sessions.begin() as session:
        assert expire_claims_of(session, prefixes=[run_prefix(dead_run)], now=utcnow()) == 4

    taker = Lease(300)
    with sessions.begin() as session:
        taken = [page.id for page in claim_pages(session, limit=100, lease=taker, max_attempts=5)]
    assert taken == dead_pages  # the live run's pages stay with it
    assert _claim_brief(sessions, brief_id, taker)
    assert len(live_pages) == 2


def test_the_claims_of_crashed_runs_come_back_and_those_of_completed_or_cancelled_ones_wait(
    sessions: Sessions,
) -> None:
    crashed = asyncio.run(_finished_run(Crashed(message="no heartbeat for 90 s")))
    held = {
        name: _claim(sessions, _pages(sessions, 2), Lease.for_run(300, run.id))
        for name, run in {
            "crashed": crashed,
            "cancelled": asyncio.run(_finished_run(Cancelled())),  # its process may still be at work
            "completed": asyncio.run(_finished_run(Completed())),
        }.items()
    }
    assert crashed.state.type == StateType.CRASHED
    _claim(sessions, _pages(sessions, 1), Lease(300))  # a claim outside any run: left to its lease

    async def crashed_before_starting() -> FlowRun:  # the pending automation's kind: it never ran
        async with get_client() as client:
            run = await client.create_flow_run(a_run, state=Pending())
            await client.set_flow_run_state(run.id, Crashed(), force=True)
            return run

    never_started = asyncio.run(crashed_before_starting())
    # a run that never started claimed nothing: its owners are not looked for, left to their lease
    _claim(sessions, _pages(sessions, 1), Lease.for_run(300, never_started.id))

    assert asyncio.run(release_claims_of_dead_runs()) == 2
    with sessions.begin() as session:
        taken = {page.id for page in claim_pages(session, limit=100, lease=Lease(300), max_attempts=5)}
    assert taken == set(held["crashed"])
    assert asyncio.run(release_claims_of_dead_runs()) == 0  # nothing live of a dead run is left


def test_nothing_is_asked_of_prefect_while_no_claim_is_live(sessions: Sessions) -> None:
    _claim(sessions, _pages(sessions, 1), Lease.for_run(300, uuid.uuid4()))
    later = utcnow() + timedelta(seconds=301)
    assert asyncio.run(release_claims_of_dead_runs(now=later)) == 0


def test_the_pending_automation_waits_for_a_start_and_is_installed_with_the_heartbeat_one() -> None:
    automation = pending_automation(timedelta(seconds=300))
    assert {"prefect.flow-run.Pending", "prefect.flow-run.Submitting"} == automation.trigger.after
    assert {"prefect.flow-run.Running", "prefect.flow-run.Crashed"} <= automation.trigger.expect
    assert not automation.trigger.after & automation.trigger.expect

    async def installed() -> list[timedelta]:
        await ensure_crash_automation(30, 3, pending_seconds=120)
        await ensure_crash_automation(30, 3, pending_seconds=240)
        async with get_client() as client:
            found = await client.read_automations_by_name(PENDING_AUTOMATION_NAME)
            for automation in found:
                await client.delete_automation(automation.id)
        return [automation.trigger.within for automation in found]

    assert asyncio.run(installed()) == [timedelta(seconds=240)]
