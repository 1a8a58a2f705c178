"""Dispatch against the sandbox gateway: real flow runs, real HTTP, a real database.

The gateway records every message id it accepts, so each test can prove nothing was lost or sent
twice, and that nothing went out after a mailing's end.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

import pytest
from prefect.settings import PREFECT_API_URL
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker
from starlette.applications import Starlette

from core.settings import PROJECT_ROOT, get_settings
from db.base import utcnow
from db.mailing import Message, add_client, create_mailing
from flows.mailing import dispatch_mailings
from rules.mailing import WINDOW_CLOSED, MessageStatus
from tests.conftest import set_env

pytestmark = pytest.mark.usefixtures("prefect_harness")
Sessions = sessionmaker[Session]
FAST_RETRIES = {
    "SWITCHYARD_MAILING__RETRY_BACKOFF": "0.05",
    "SWITCHYARD_MAILING__MAX_RETRY_DELAY": "0.5",
    "SWITCHYARD_MAILING__WAIT_FOR_RETRIES": "30",
    "SWITCHYARD_MAILING__BATCH_SIZE": "100",
}


@pytest.fixture
def gateway(sandbox_app: Starlette, sandbox_url: str) -> Iterator[Any]:
    """The sandbox gateway's delivery record, emptied, with fast retries and no faults."""
    saved = {name: os.environ.get(name) for name in [*FAST_RETRIES, "SWITCHYARD_GATEWAY__BASE_URL"]}
    set_env(FAST_RETRIES | {"SWITCHYARD_GATEWAY__BASE_URL": f"{sandbox_url}/gateway"})
    config = sandbox_app.state.config
    original = config.model_copy()
    record = sandbox_app.state.gateway
    record.reset()
    yield record
    sandbox_app.state.config = original
    set_env({name: value for name, value in saved.items() if value is not None})
    for name in (name for name, value in saved.items() if value is None):
        os.environ.pop(name, None)


def set_faults(app: Starlette, **rates: float) -> None:
    app.state.config = app.state.config.model_copy(update=rates)


def new_mailing(sessions: Sessions, clients: int, *, ends_in: float = 600, **options: Any) -> int:
    with sessions.begin() as session:
        for n in range(clients):
            add_client(session, phone=f"7912{n:07d}", tag="test")
    now = utcnow()
    with sessions.begin() as session:
        created = create_mailing(
            session,
            text="Hello from Switchyard",
            starts_at=now - timedelta(seconds=1),
            ends_at=now + timedelta(seconds=ends_in),
            **options,
        )
    assert created.messages == clients and created.starts_now
    return created.id


def statuses(sessions: Sessions, mailing_id: int) -> dict[int, MessageStatus]:
    with sessions.begin() as session:
        rows = session.execute(select(Message.id, Message.status).where(Message.mailing_id == mailing_id))
        return {row.id: row.status for row in rows}


def test_every_message_is_delivered_exactly_once(sessions: Sessions, gateway: Any) -> None:
    mailing_id = new_mailing(sessions, 300)
    totals = asyncio.run(dispatch_mailings(mailing_id))
    messages = statuses(sessions, mailing_id)
    assert set(messages.values()) == {MessageStatus.SENT}
    assert gateway.delivered_ids() == set(messages)
    assert gateway.duplicates() == {}
    assert totals["sent"] == 300


def test_faults_are_retried_until_all_are_delivered_once(
    sessions: Sessions, gateway: Any, sandbox_app: Starlette, caplog: pytest.LogCaptureFixture
) -> None:
    set_faults(sandbox_app, gateway_error_rate=0.10, gateway_throttle_rate=0.05, gateway_malformed_rate=0.02)
    mailing_id = new_mailing(sessions, 300)
    asyncio.run(dispatch_mailings(mailing_id))
    messages = statuses(sessions, mailing_id)
    assert set(messages.values()) == {MessageStatus.SENT}
    assert gateway.delivered_ids() == set(messages)
    assert gateway.duplicates() == {}
    with sessions.begin() as session:
        retried = session.scalars(select(Message).where(Message.attempts > 1)).all()
        assert retried and all(message.last_error for message in retried)
        first = retried[0]
    logged = f"mailing={mailing_id} message={first.id} client={first.client_id} will retry"
    assert any(logged in record.getMessage() for record in caplog.records)


def test_a_mailing_that_ends_midway_fails_the_rest_and_sends_nothing_late(
    sessions: Sessions, gateway: Any, sandbox_app: Starlette
) -> None:
    set_faults(sandbox_app, latency_ms=200)
    set_env({"SWITCHYARD_GATEWAY__CONCURRENCY": "5"})
    try:
        mailing_id = new_mailing(sessions, 200, ends_in=4)
        with sessions.begin() as session:
            ends_at = session.get(Message, min(statuses(sessions, mailing_id))).mailing.ends_at
        asyncio.run(dispatch_mailings(mailing_id))
    finally:
        set_env({"SWITCHYARD_GATEWAY__CONCURRENCY": "200"})
    messages = statuses(sessions, mailing_id)
    counts = Counter(messages.values())
    # 200 sends at 5 × 200 ms need 8 s: some must fail, however fast the machine (how many are sent
    # depends on its speed, so that is not asserted)
    assert counts[MessageStatus.FAILURE] > 0
    assert counts[MessageStatus.SENT] + counts[MessageStatus.FAILURE] == 200
    sent = {id_ for id_, status in messages.items() if status == MessageStatus.SENT}
    assert gateway.delivered_ids() == sent
    assert all(gateway.first_accepted(id_) < ends_at for id_ in sent)


def test_sends_queued_behind_a_rate_limit_fail_at_the_end_and_none_goes_late(
    sessions: Sessions, gateway: Any
) -> None:
    set_env({"SWITCHYARD_GATEWAY__RATE_LIMIT": "1"})
    try:
        mailing_id = new_mailing(sessions, 60, ends_in=6)  # at 1/s, at most 6 or 7 can go
        with sessions.begin() as session:
            ends_at = session.get(Message, min(statuses(sessions, mailing_id))).mailing.ends_at
        totals = asyncio.run(dispatch_mailings(mailing_id))
    finally:
        set_env({"SWITCHYARD_GATEWAY__RATE_LIMIT": "0"})
    sent = {id_ for id_, status in statuses(sessions, mailing_id).items() if status == MessageStatus.SENT}
    assert totals["sent"] == len(sent) < 60
    assert gateway.delivered_ids() == sent
    assert all(gateway.first_accepted(id_) < ends_at for id_ in sent)
    with sessions.begin() as session:
        unsent = session.execute(
            select(Message.status, Message.last_error).where(
                Message.mailing_id == mailing_id, Message.status != MessageStatus.SENT
            )
        ).all()
    assert set(unsent) == {(MessageStatus.FAILURE, WINDOW_CLOSED)}


def test_two_dispatch_runs_at_once_never_send_a_message_twice(sessions: Sessions, gateway: Any) -> None:
    mailing_id = new_mailing(sessions, 600)

    async def both() -> list[dict[str, int]]:
        return await asyncio.gather(dispatch_mailings(mailing_id), dispatch_mailings(None))

    first, second = asyncio.run(both())
    assert first["sent"] + second["sent"] == 600
    assert gateway.delivered_ids() == set(statuses(sessions, mailing_id))
    assert gateway.duplicates() == {}


def test_a_batch_outlasting_its_lease_keeps_its_messages_from_a_second_run(
    sessions: Sessions, gateway: Any
) -> None:
    # 100 messages at 10/s take ~10 s against a 5 s lease: the second run starts once the first has
    # held its batch longer than the lease (70 sent at 10/s span more than six clock seconds)
    set_env({"SWITCHYARD_GATEWAY__RATE_LIMIT": "10", "SWITCHYARD_MAILING__LEASE_SECONDS": "5"})
    try:
        mailing_id = new_mailing(sessions, 100)

        async def second_run_after_the_lease() -> dict[str, int]:
            while len(gateway.delivered_ids()) < 70:
                await asyncio.sleep(0.05)  # polling a condition, not timing
            return await dispatch_mailings(mailing_id)

        async def both() -> list[dict[str, int]]:
            return await asyncio.gather(dispatch_mailings(mailing_id), second_run_after_the_lease())

        first, second = asyncio.run(both())
    finally:
        set_env({"SWITCHYARD_GATEWAY__RATE_LIMIT": "0", "SWITCHYARD_MAILING__LEASE_SECONDS": "120"})
    assert (first["sent"], second["sent"]) == (100, 0)
    assert gateway.duplicates() == {}
    assert gateway.delivered_ids() == set(statuses(sessions, mailing_id))
    with sessions.begin() as session:
        attempts = session.scalars(select(Message.attempts).where(Message.mailing_id == mailing_id)).all()
    assert set(attempts) == {1}


def test_the_daily_interval_defers_clients_outside_it(sessions: Sessions, gateway: Any) -> None:
    now = utcnow()
    closed_from = (now + timedelta(hours=3)).time().replace(microsecond=0)
    closed_until = (now + timedelta(hours=4)).time().replace(microsecond=0)
    mailing_id = new_mailing(sessions, 5, ends_in=86400 * 2, daily_from=closed_from, daily_until=closed_until)
    asyncio.run(dispatch_mailings(mailing_id))
    assert gateway.delivered_ids() == set()
    with sessions.begin() as session:
        waiting = session.scalars(select(Message).where(Message.mailing_id == mailing_id)).all()
        assert {message.status for message in waiting} == {MessageStatus.NEW}
        opens = datetime.combine(now.date(), closed_from, now.tzinfo)
        opens = opens if opens > now else opens + timedelta(days=1)
        assert all(abs(message.next_attempt_at - opens) < timedelta(seconds=2) for message in waiting)


def test_the_rate_limit_holds(sessions: Sessions, gateway: Any) -> None:
    set_env({"SWITCHYARD_GATEWAY__RATE_LIMIT": "40"})
    try:
        mailing_id = new_mailing(sessions, 120)
        asyncio.run(dispatch_mailings(mailing_id))
    finally:
        set_env({"SWITCHYARD_GATEWAY__RATE_LIMIT": "0"})
    assert gateway.delivered_ids() == set(statuses(sessions, mailing_id))
    # at most 40 sends start per clock second; on arrival each sender's last reserved chunk (40 // 10)
    # may cross into the next second, so the gateway may count that many more per sender
    arrivals = sorted(gateway.first_accepted(id_).timestamp() for id_ in gateway.delivered_ids())
    per_second = Counter(int(arrival) for arrival in arrivals)
    assert max(per_second.values()) <= 40 + 4 * get_settings().mailing.senders
    # so 120 sends span at least three clock seconds, wherever in a second the run began
    assert len(per_second) >= 3


def test_a_run_killed_mid_batch_loses_nothing(sessions: Sessions, gateway: Any, database_url: str) -> None:
    mailing_id = new_mailing(sessions, 400)
    env = os.environ | {
        "PREFECT_API_URL": PREFECT_API_URL.value(),
        "SWITCHYARD_MAILING__LEASE_SECONDS": "5",
        "SWITCHYARD_GATEWAY__CONCURRENCY": "10",
    }
    code = (
        "import asyncio; from flows.mailing import dispatch_mailings; "
        f"asyncio.run(dispatch_mailings({mailing_id}))"
    )
    child = subprocess.Popen([sys.executable, "-c", code], env=env, cwd=PROJECT_ROOT)
    deadline = time.monotonic() + 60
    while len(gateway.delivered_ids()) < 50 and time.monotonic() < deadline and child.poll() is None:
        time.sleep(0.05)
    child.send_signal(signal.SIGKILL)
    child.wait()
    delivered_before = len(gateway.delivered_ids())
    assert 0 < delivered_before < 400, "the run was not killed mid-way"
    in_flight = {
        id_ for id_, status in statuses(sessions, mailing_id).items() if status == MessageStatus.SENDING
    }

    with sessions.begin() as session:  # the dead run's lease lapses (now, rather than waited for)
        session.execute(
            update(Message)
            .where(Message.mailing_id == mailing_id, Message.status == MessageStatus.SENDING)
            .values(claimed_until=utcnow() - timedelta(seconds=1))
        )
    asyncio.run(dispatch_mailings(mailing_id))

    messages = statuses(sessions, mailing_id)
    assert set(messages.values()) == {MessageStatus.SENT}
    assert gateway.delivered_ids() == set(messages)
    # only a message in flight at the kill (sent, its outcome not yet written) can go twice
    assert set(gateway.duplicates()) <= in_flight
