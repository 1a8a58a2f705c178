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
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

import httpx
from prefect import get_run_logger, task
from prefect.artifacts import acreate_table_artifact
from prefect.runtime import task_run
from sqlalchemy.orm import Session, sessionmaker

from connectors.gateway import gateway_http_client, send_message
from core.pacing import LimitKey, Pacer, Window
from core.settings import Settings, get_settings
from db.base import utcnow
from db.claims import Lease
from db.engine import session_factory
from db.mailing import mailing_stats
from db.mailing.dispatch import (
    claim_due_messages,
    fail_expired,
    next_retry_time,
    record_send_outcomes,
    renew_messages,
)
from rules.mailing import (
    WINDOW_CLOSED,
    DueMessage,
    MessageStatus,
    SendOutcome,
    decide,
    not_yet,
    send_deadline,
    too_late,
)
from tasks.artifacts import report
from tasks.batch import Batch, run_batch
from tasks.pacing import shared_pacer

CLAIM_LOST = "its claim was lost to another run before it was sent"
GATEWAY_SENDS = LimitKey("gateway", action="send")
GROUP_SIZE = 100  # outcomes per write: small and frequent, so a killed run leaves few sends unrecorded
GROUP_WAIT = 0.25  # seconds: outcomes waiting are written at least this often


@dataclass(frozen=True)
class BatchResult:
    claimed: int
    sent: int
    failed: int
    deferred: int


@dataclass
class MessageClaims:
    """One batch's hold on its messages: claimed under a lease, renewed, recorded by the same owner.

    A renewal that no longer finds a message held (its lease lapsed and another run claimed it)
    marks it lost: its send must not start.
    """

    sessions: sessionmaker[Session]
    settings: Settings
    mailing_id: int | None
    log: Callable[[DueMessage, SendOutcome], None]
    lease: Lease | None = None
    messages: dict[int, DueMessage] = field(default_factory=dict)
    lost: set[int] = field(default_factory=set)

    def claim(self, lease: Lease) -> list[DueMessage]:
        self.lease = lease
        with self.sessions.begin() as session:
            claimed = claim_due_messages(
                session, limit=self.settings.mailing.batch_size, lease=lease, mailing_id=self.mailing_id
            )
        self.messages = {message.id: message for message in claimed}
        return claimed

    def renew(self, lease: Lease, ids: Sequence[int]) -> set[int]:
        with self.sessions.begin() as session:
            held = renew_messages(session, ids=ids, lease=lease)
        self.lost.update(set(ids) - held)
        return held

    def record(self, outcomes: list[SendOutcome]) -> None:
        assert self.lease is not None, "record before claim"
        for outcome in outcomes:
            if outcome.error and outcome.id not in self.lost:  # a lost claim's outcome is dropped
                self.log(self.messages[outcome.id], outcome)
        with self.sessions.begin() as session:
            record_send_outcomes(session, outcomes=outcomes, owner=self.lease.owner)

    def held(self, message_id: int) -> bool:
        return message_id not in self.lost


async def wait_until(deadline: datetime, waiting: Awaitable[object]) -> bool:
    """Await ``waiting`` unless ``deadline`` comes first; False (and ``waiting`` cancelled) when it did."""
    try:
        async with asyncio.timeout((deadline - utcnow()).total_seconds()):
            await waiting
    except TimeoutError:
        return False
    return True


def window_closed(message: DueMessage) -> SendOutcome:
    return SendOutcome(id=message.id, status=MessageStatus.FAILURE, error=WINDOW_CLOSED)


async def send_one(
    message: DueMessage,
    *,
    client: httpx.AsyncClient,
    pacer: Pacer | None,
    claims: MessageClaims,
    settings: Settings,
) -> SendOutcome:
    """Send one claimed message unless its window says not now; no wait (for a rate-limit slot or a
    connection), and no send, starts past the end margin, and none starts once its claim is lost.

    ``run_batch`` runs at most ``gateway.concurrency`` of these at once, the size of the client's
    connection pool (one client per task run), so no send ever queues in the pool."""
    skipped = not_yet(message, utcnow(), settings.mailing)
    if skipped is not None:
        return skipped
    deadline = send_deadline(message, settings.mailing)
    if pacer is not None and not await wait_until(deadline, pacer.acquire()):
        return window_closed(message)
    now = utcnow()
    if too_late(message, now, settings.mailing):
        return window_closed(message)
    if not claims.held(message.id):
        return SendOutcome(id=message.id, status=MessageStatus.FAILURE, error=CLAIM_LOST)
    within = (deadline - now).total_seconds()
    result = await send_message(client, message.id, message.phone, message.text, connect_within=within)
    return decide(message, result, utcnow(), settings.mailing)


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


def gateway_pacer(per_second: int) -> Pacer | None:
    """Sends paced by the gateway's limit across every run (None when it is off), reserved a tenth of
    a second's worth at a time."""
    if not per_second:
        return None
    return shared_pacer(GATEWAY_SENDS, [Window(per_second, 1)], chunk=per_second // 10)


def _batch_run_name() -> str:
    params = task_run.parameters
    scope = f"mailing {params['mailing_id']}" if params.get("mailing_id") else "due messages"
    return f"send {scope}, lane {params['lane']} batch {params['batch_no']}"


def _result(claimed: int, outcomes: list[SendOutcome], lost: set[int]) -> BatchResult:
    """The batch's outcomes counted; those of claims lost to another run are that run's to count."""
    kept = [outcome for outcome in outcomes if outcome.sent or outcome.id not in lost]
    sent = sum(1 for outcome in kept if outcome.sent)
    failed = sum(1 for outcome in kept if outcome.status == MessageStatus.FAILURE)
    return BatchResult(claimed=claimed, sent=sent, failed=failed, deferred=len(kept) - sent - failed)


@task(task_run_name=_batch_run_name)
async def send_batch(mailing_id: int | None, lane: int, batch_no: int) -> BatchResult:
    """Claim one batch of due messages (of a mailing, or any), send them, record the outcomes.

    The batch's own gateway client (one per task run) holds ``gateway.concurrency`` connections, and
    no more sends than that are in flight on it. The lease is renewed while the batch works, however
    long a rate limit makes it.
    """
    settings = get_settings()
    sessions = session_factory()
    logger = get_run_logger()
    claims = MessageClaims(
        sessions, settings, mailing_id, log=lambda message, outcome: log_problem(logger, message, outcome)
    )

    pacer = gateway_pacer(settings.gateway.rate_limit)
    async with gateway_http_client(settings.gateway) as client:

        async def work(message: DueMessage) -> SendOutcome:
            return await send_one(message, client=client, pacer=pacer, claims=claims, settings=settings)

        claimed, outcomes = await run_batch(
            Batch(
                claim=claims.claim,
                work=work,
                record=claims.record,
                renew=claims.renew,
                item_id=lambda message: message.id,
                outcome_id=lambda outcome: outcome.id,
                crashed=lambda message, error: SendOutcome(
                    id=message.id, status=MessageStatus.FAILURE, error=error
                ),
            ),
            lease_seconds=settings.mailing.lease_seconds,
            concurrency=settings.gateway.concurrency,  # the client's pool: no send waits in it
            group_size=GROUP_SIZE,
            max_wait=GROUP_WAIT,
        )
    return _result(claimed, outcomes, claims.lost)


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
