"""Mailing dispatch: send every due message inside its mailing's window, every minute and on demand.

Settings used: ``SWITCHYARD_DATABASE_URL``, ``SWITCHYARD_GATEWAY__*`` (base URL, token — a secret,
concurrency per sender, rate limit, timeouts) and ``SWITCHYARD_MAILING__*`` (senders, claim size,
lease, retry backoff, fan-out). The gateway token never appears in logs or artifacts.
"""

from __future__ import annotations

from collections import Counter
from functools import partial
from uuid import UUID

from prefect import flow, get_run_logger
from prefect.runtime import deployment, flow_run

from core.names import dispatch_run_name
from core.settings import get_settings
from tasks.artifacts import ProgressReporter
from tasks.mailing import (
    expire_messages,
    fan_out,
    follow_senders,
    mailing_progress,
    report_mailings,
    start_senders,
    stop_senders,
    wait_for_senders,
)

PROGRESS_EVERY = 2.0  # seconds between progress artifact updates


def _run_name() -> str:
    name = dispatch_run_name(flow_run.parameters.get("mailing_id"))
    return f"{name} (helper)" if flow_run.parameters.get("helper") else name


@flow(flow_run_name=_run_name)
async def dispatch_mailings(mailing_id: int | None = None, helper: bool = False) -> dict[str, int]:
    """Send the due messages of one mailing, or of all, until none is due; fail what the window closed on.

    Up to ``mailing.senders`` sender processes send, one per free slot of the machine's
    ``mailing.senders_per_machine``; with none free the run waits for one while messages are due.
    With ``mailing.fan_out`` set, a mailing's first run (not a ``helper``) also starts that many helper
    runs of its deployment, for other workers (it fans out even while it waits for a slot itself).
    """
    settings = get_settings()
    wanted = settings.mailing.senders
    # the senders start first: the rest of the set-up runs meanwhile
    senders = await start_senders(mailing_id, wanted, run_id=flow_run.id)
    try:
        totals: Counter[str] = Counter(expired=expire_messages())
        progress = ProgressReporter(partial(mailing_progress, mailing_id), every=PROGRESS_EVERY)
        await progress.update(force=True)
        if mailing_id is not None and not helper and settings.mailing.fan_out:
            deployment_id = UUID(deployment.id) if deployment.id else None
            await fan_out(
                mailing_id, settings.mailing.fan_out, deployment_id=deployment_id, parent=str(flow_run.id)
            )
        if not senders:
            senders = await wait_for_senders(mailing_id, wanted, run_id=flow_run.id)
        totals.update(await follow_senders(senders, on_tally=progress.update))
    finally:
        await stop_senders(senders)
    totals.update(expired=expire_messages())
    await progress.update(force=True)
    await report_mailings(mailing_id)
    get_run_logger().info("dispatch finished: %s", dict(totals))
    return dict(totals)
