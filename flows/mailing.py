"""Mailing dispatch: send every due message inside its mailing's window, every minute and on demand.

Settings used: ``SWITCHYARD_DATABASE_URL``, ``SWITCHYARD_GATEWAY__*`` (base URL, token — a secret,
concurrency, rate limit, timeouts) and ``SWITCHYARD_MAILING__*`` (batch size, lanes, lease, retry
backoff). The gateway token never appears in logs or artifacts.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from core.names import dispatch_run_name
from core.settings import get_settings
from flows.lanes import drain_in_lanes
from tasks.mailing import (
    BatchResult,
    expire_messages,
    report_mailings,
    report_progress,
    seconds_until_next_retry,
    send_batch,
)

PROGRESS_EVERY = 2.0  # seconds between progress artifact updates


def _run_name() -> str:
    return dispatch_run_name(flow_run.parameters.get("mailing_id"))


@flow(flow_run_name=_run_name)
async def dispatch_mailings(mailing_id: int | None = None) -> dict[str, int]:
    """Send the due messages of one mailing, or of all, until none is due; fail what the window closed on."""
    settings = get_settings()
    totals: Counter[str] = Counter(expired=expire_messages())
    progress: UUID | None = await report_progress(mailing_id, None)
    last_report = time.monotonic()

    async def batch(lane: int, batch_no: int) -> BatchResult:
        nonlocal progress, last_report
        result = await send_batch(mailing_id, lane=lane, batch_no=batch_no)
        if time.monotonic() - last_report >= PROGRESS_EVERY:
            last_report = time.monotonic()
            progress = await report_progress(mailing_id, progress)
        return result

    while True:
        for result in await drain_in_lanes(batch, settings.mailing.lanes):
            totals.update(sent=result.sent, failed=result.failed, deferred=result.deferred)
        wait = seconds_until_next_retry(mailing_id)
        if wait is None or wait > settings.mailing.wait_for_retries:
            break  # the next scheduled run picks the rest up
        await asyncio.sleep(max(wait, 0.05))

    totals.update(expired=expire_messages())
    await report_progress(mailing_id, progress)
    await report_mailings(mailing_id)
    get_run_logger().info("dispatch finished: %s", dict(totals))
    return dict(totals)
