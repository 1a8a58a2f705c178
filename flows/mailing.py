"""Mailing dispatch: send every due message inside its mailing's window, every minute and on demand.

Settings used: ``SWITCHYARD_DATABASE_URL``, ``SWITCHYARD_GATEWAY__*`` (base URL, token — a secret,
concurrency, rate limit, timeouts) and ``SWITCHYARD_MAILING__*`` (batch size, lanes, lease, retry
backoff). The gateway token never appears in logs or artifacts.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from functools import partial

from prefect import flow, get_run_logger
from prefect.runtime import flow_run

from core.names import dispatch_run_name
from core.settings import get_settings
from flows.lanes import drain_in_lanes
from tasks.artifacts import ProgressReporter
from tasks.mailing import (
    BatchResult,
    close_gateway_client,
    expire_messages,
    mailing_progress,
    report_mailings,
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
    progress = ProgressReporter(partial(mailing_progress, mailing_id), every=PROGRESS_EVERY)
    await progress.update(force=True)

    async def batch(lane: int, batch_no: int) -> BatchResult:
        result = await send_batch(mailing_id, lane=lane, batch_no=batch_no)
        await progress.update()
        return result

    try:
        while True:
            for result in await drain_in_lanes(batch, settings.mailing.lanes):
                totals.update(sent=result.sent, failed=result.failed, deferred=result.deferred)
            wait = seconds_until_next_retry(mailing_id)
            if wait is None or wait > settings.mailing.wait_for_retries:
                break  # the next scheduled run picks the rest up
            await asyncio.sleep(max(wait, 0.05))
    finally:
        await close_gateway_client()

    totals.update(expired=expire_messages())
    await progress.update(force=True)
    await report_mailings(mailing_id)
    get_run_logger().info("dispatch finished: %s", dict(totals))
    return dict(totals)
