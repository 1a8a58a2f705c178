"""Prefect tasks for mailing dispatch, and the per-message decisions they run.

A batch is one task run: claim up to ``batch_size`` due messages, send them concurrently through
one gateway client (paced by the shared rate limit when it is on), and write the outcomes in a few
round trips as they complete. A failed try goes back to ``new`` with a later ``next_attempt_at``
(deferred, so a slow gateway never stalls the run) while the window allows another try, and
becomes ``failure`` when it does not.
"""

from __future__ import annotations

import asyncio
import logging
import time as clock
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

import httpx
from prefect import get_run_logger, task
from prefect.artifacts import acreate_table_artifact
from prefect.runtime import flow_run, task_run

from connectors.gateway import gateway_http_client, send_message
from core.batching import gather_in_groups
from core.settings import GatewaySettings, Settings, get_settings
from db.base import utcnow
from db.engine import session_factory
from db.mailing import mailing_stats
from db.mailing_dispatch import (
    claim_due_messages,
    fail_expired,
    next_retry_time,
    record_send_outcomes,
    reserve_send_slots,
)
from rules.mailing import WINDOW_CLOSED, DueMessage, MessageStatus, SendOutcome, decide, not_yet, too_late
from tasks.artifacts import report


@dataclass(frozen=True)
class BatchResult:
    claimed: int
    sent: int
    failed: int
    deferred: int


class RatePacer:
    """Spends sends reserved against the shared per-second limit, a small chunk at a time."""

    def __init__(self, per_second: int, reserve: Callable[[int], Awaitable[int]]) -> None:
        self._chunk = max(1, per_second // 10)
        self._reserve = reserve
        self._lock = asyncio.Lock()
        self._left = 0
        self._second = 0

    async def acquire(self) -> None:
        """Wait until one send may go out."""
        async with self._lock:
            while self._left == 0 or self._second != int(clock.time()):
                self._second = int(clock.time())
                self._left = await self._reserve(self._chunk)
                if self._left == 0:
                    await asyncio.sleep(self._second + 1 - clock.time())
            self._left -= 1


async def send_messages(
    messages: list[DueMessage],
    settings: Settings,
    flush: Callable[[list[SendOutcome]], Awaitable[None]],
    pacer: RatePacer | None,
) -> None:
    """Send ``messages`` concurrently through one client; hand outcomes to ``flush`` in groups."""
    semaphore = asyncio.Semaphore(settings.gateway.concurrency)

    async def one(client: httpx.AsyncClient, message: DueMessage) -> SendOutcome:
        skipped = not_yet(message, utcnow(), settings.mailing)
        if skipped is not None:
            return skipped
        async with semaphore:
            if pacer is not None:
                await pacer.acquire()
            if too_late(message, utcnow(), settings.mailing):  # however long the wait for a slot was
                return SendOutcome(id=message.id, status=MessageStatus.FAILURE, error=WINDOW_CLOSED)
            result = await send_message(client, message.id, message.phone, message.text)
        return decide(message, result, utcnow(), settings.mailing)

    client = shared_gateway_client(settings.gateway)
    # small, frequent groups: a run killed mid-batch leaves few sent messages unrecorded
    await gather_in_groups((one(client, m) for m in messages), flush, group_size=100, max_wait=0.25)


_clients: dict[tuple[str, int], httpx.AsyncClient] = {}


def _client_key() -> tuple[str, int]:
    """Clients belong to one flow run and one event loop (a client cannot move between loops)."""
    return str(flow_run.id), id(asyncio.get_running_loop())


def shared_gateway_client(settings: GatewaySettings) -> httpx.AsyncClient:
    """The gateway client of the current flow run: connections and TLS set-up outlive a batch."""
    key = _client_key()
    client = _clients.get(key)
    if client is None or client.is_closed:
        client = _clients[key] = gateway_http_client(settings)
    return client


async def close_gateway_client() -> None:
    """Close the current flow run's gateway client, if it has one."""
    client = _clients.pop(_client_key(), None)
    if client is not None:
        await client.aclose()


def log_problem(
    logger: logging.LoggerAdapter[logging.Logger], message: DueMessage, outcome: SendOutcome
) -> None:
    """One log line per failed or retried try, searchable by mailing=, message= and client=."""
    failed = outcome.status == MessageStatus.FAILURE
    logger.log(
        logging.WARNING if failed else logging.INFO,
        "mailing=%s message=%s client=%s %s: %s",
        message.mailing_id,
        message.id,
        message.client_id,
        "failed" if failed else "will retry",
        outcome.error,
    )


def _batch_run_name() -> str:
    params = task_run.parameters
    scope = f"mailing {params['mailing_id']}" if params.get("mailing_id") else "due messages"
    return f"send {scope}, lane {params['lane']} batch {params['batch_no']}"


@task(task_run_name=_batch_run_name)
async def send_batch(mailing_id: int | None, lane: int, batch_no: int) -> BatchResult:
    """Claim one batch of due messages (of a mailing, or any), send them, record the outcomes."""
    settings = get_settings()
    sessions = session_factory()

    def claim() -> list[DueMessage]:
        with sessions.begin() as session:
            return claim_due_messages(
                session,
                limit=settings.mailing.batch_size,
                lease_seconds=settings.mailing.lease_seconds,
                mailing_id=mailing_id,
            )

    def record(outcomes: list[SendOutcome]) -> None:
        with sessions.begin() as session:
            record_send_outcomes(session, outcomes=outcomes)

    def reserve(wanted: int) -> int:
        with sessions.begin() as session:
            return reserve_send_slots(session, wanted=wanted, per_second=settings.gateway.rate_limit)

    counts = {"sent": 0, "failed": 0, "deferred": 0}
    messages = await asyncio.to_thread(claim)
    by_id = {message.id: message for message in messages}
    logger = get_run_logger()

    async def flush(outcomes: list[SendOutcome]) -> None:
        for outcome in outcomes:
            failed = outcome.status == MessageStatus.FAILURE
            counts["sent" if outcome.sent else "failed" if failed else "deferred"] += 1
            if outcome.error:
                log_problem(logger, by_id[outcome.id], outcome)
        await asyncio.to_thread(record, outcomes)

    if messages:
        rate = settings.gateway.rate_limit
        pacer = RatePacer(rate, lambda wanted: asyncio.to_thread(reserve, wanted)) if rate else None
        await send_messages(messages, settings, flush, pacer)
    return BatchResult(claimed=len(messages), **counts)


@task(task_run_name="fail messages of ended mailings")
def expire_messages() -> int:
    """Fail the unfinished messages of mailings whose window has closed; returns how many."""
    with session_factory().begin() as session:
        return fail_expired(session)


@task(task_run_name="find the next retry")
def seconds_until_next_retry(mailing_id: int | None) -> float | None:
    """Seconds until the earliest deferred message becomes due, or None if none waits."""
    with session_factory().begin() as session:
        due = next_retry_time(session, mailing_id=mailing_id)
    return None if due is None else max(0.0, (due - utcnow()).total_seconds())


def mailing_progress(mailing_id: int | None) -> tuple[int, int, str]:
    """Messages sent or failed, messages in all, and a line saying so (for the progress artifact)."""
    with session_factory().begin() as session:
        stats = mailing_stats(session, mailing_ids=[mailing_id] if mailing_id else None)
    total = sum(s.total - s.cancelled for s in stats)
    done = sum(s.sent + s.failure for s in stats)
    return done, total, f"{done} of {total} messages sent or failed"


@task(task_run_name="report mailings")
async def report_mailings(mailing_id: int | None) -> None:
    """Publish message counts by status per mailing as a table artifact."""

    def read() -> list[dict[str, object]]:
        with session_factory().begin() as session:
            stats = mailing_stats(session, mailing_ids=[mailing_id] if mailing_id else None, limit=50)
        return [
            {
                "mailing": s.id,
                "state": s.state,
                "total": s.total,
                **{status.value: getattr(s, status.value) for status in MessageStatus},
            }
            for s in stats
        ]

    rows = await asyncio.to_thread(read)
    key = f"mailing-{mailing_id}-status" if mailing_id else "mailings-status"
    table = acreate_table_artifact(table=rows, key=key, description="Messages by status after this dispatch")
    await report(table, "mailings table artifact")
