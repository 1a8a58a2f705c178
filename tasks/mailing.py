"""Prefect tasks for mailing dispatch: sender processes started and followed, helper runs fanned out,
expiry and reports.

The sending itself happens in ``mailing.senders`` long-lived sender processes forked from the run's
process (`tasks.mailing_sender`), each with its own event loop, gateway client and database sessions,
so both cores send; this module starts them, reads their counts and log lines, and fails the run
clearly when one dies (its claimed messages come back to the queue when their lease lapses).

The senders of every dispatch run of one machine share ``mailing.senders_per_machine`` slots
(`core.slots`: a file lock each, under the data directory, held by the sender process itself, so the
kernel frees it when the sender ends or is killed). A run starts one sender per free slot, up to
``mailing.senders``; a run that finds none free waits for one while messages are due, and ends when
none is.
"""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from uuid import UUID

from prefect import get_run_logger, task
from prefect.artifacts import acreate_table_artifact
from prefect.deployments import run_deployment

from core.settings import get_settings
from core.slots import held_slots, take_slot
from db.engine import session_factory
from db.mailing import mailing_stats
from db.mailing.dispatch import count_due, fail_expired
from rules.mailing import MessageStatus
from tasks.artifacts import report
from tasks.mailing_sender import SenderProcess, fork_sender, seconds_until_due

COUNTS = ("sent", "failed", "deferred", "unknown")
SLOT_POLL = 1.0  # seconds between looks for a free sender slot (and at what is due) while waiting


class SenderDied(RuntimeError):
    """A sender process ended without finishing: its claimed messages wait for their lease to lapse."""


Senders = list[SenderProcess]


def sender_slots() -> tuple[Path, int]:
    """Where this machine's sender slots are, and how many there are."""
    settings = get_settings()
    return settings.data_dir / "slots" / "mailing-senders", settings.mailing.senders_per_machine


async def start_senders(mailing_id: int | None, count: int, run_id: str | None = None) -> Senders:
    """Fork up to ``count`` sender processes for the mailing (None: every open mailing), one per free
    sender slot of this machine (none started when none is free). Each sender holds its slot for its
    life (the descriptor it got at the fork; this process closes its own copy at once); they die with
    this process, and their claims name ``run_id`` (the flow run), so the claims of a run Prefect
    marked Crashed are released at once. Follow them with `follow_senders`; `stop_senders` in a
    ``finally``."""
    directory, per_machine = sender_slots()
    senders: Senders = []
    for _ in range(count):
        slot = take_slot(directory, per_machine)
        if slot is None:
            break
        try:
            senders.append(await fork_sender(mailing_id, run_id))
        finally:
            slot.release()  # the sender's copy holds it now (or nothing does, had the fork failed)
    return senders


async def wait_for_senders(
    mailing_id: int | None, count: int, run_id: str | None = None, *, poll: float = SLOT_POLL
) -> Senders:
    """For a run that found every sender slot of this machine held: look again every ``poll`` seconds
    and start senders as soon as a slot frees, while messages are due (or come due within
    ``mailing.wait_for_retries``, the senders' own rule for ending); [] once nothing is."""
    logger = get_run_logger()
    directory, per_machine = sender_slots()
    logger.info(
        "all %s sender slots of this machine are held (%s): waiting for one while messages are due",
        per_machine,
        directory,
    )
    while True:
        wait = await asyncio.to_thread(seconds_until_due, session_factory(), mailing_id)
        if wait is None or wait > get_settings().mailing.wait_for_retries:
            logger.info("nothing is due: this run ends without sending (others sent it)")
            return []
        await asyncio.sleep(poll)
        if senders := await start_senders(mailing_id, count, run_id):
            logger.info(
                "%s sender(s) started on freed slots (%s of %s held)",
                len(senders),
                held_slots(directory, per_machine),
                per_machine,
            )
            return senders


async def follow_senders(senders: Senders, *, on_tally: Callable[[], Awaitable[None]]) -> Counter[str]:
    """Wait for the senders to finish; their counts summed (``sender_cpu_ms``: their CPU time).

    Each sender's log lines (failed and retried tries) go to the run's log; ``on_tally`` is awaited
    whenever a sender reports its counts (about every second). A sender that exits without finishing
    fails the run once the others have finished (SenderDied).
    """
    logger = get_run_logger()

    async def follow(process: SenderProcess) -> tuple[int, dict[str, float] | None]:
        assert process.stdout is not None
        done: dict[str, float] | None = None
        async for line in process.stdout:
            try:
                record = json.loads(line)
            except ValueError:
                continue  # not ours (a library printing): ignored
            if "log" in record:
                level, text = record["log"]
                logger.log(level, "%s", text)
            elif "tally" in record:
                await on_tally()
            elif "done" in record:
                done = record["done"]
        return await process.wait(), done

    ended = await asyncio.gather(*(follow(process) for process in senders))
    totals: Counter[str] = Counter()
    failed = []
    for number, (code, done) in enumerate(ended, start=1):
        if code != 0 or done is None:
            failed.append(f"sender {number} exited with code {code}")
            continue
        totals.update({name: int(done[name]) for name in COUNTS})
        totals["sender_cpu_ms"] += round(done["cpu"] * 1000)
    if failed:
        raise SenderDied(
            f"{'; '.join(failed)} before it finished: its claimed messages go back to the queue when "
            f"their lease ({get_settings().mailing.lease_seconds} s) lapses"
        )
    return totals


async def stop_senders(senders: Senders) -> None:
    """Kill the senders still running (the run failed or was cancelled)."""
    for process in senders:
        if process.returncode is None:
            process.kill()
            await process.wait()


@task(task_run_name="start {runs} helper runs for mailing {mailing_id}")
async def fan_out(mailing_id: int, runs: int, *, deployment_id: UUID | None, parent: str) -> list[UUID]:
    """Start ``runs`` more runs of ``deployment_id`` for the mailing, marked helpers (they never fan
    out again), so that other workers of the pool share it; each at most once per ``parent`` run.
    Only when the mailing has at least ``mailing.fan_out_min`` messages due."""
    logger = get_run_logger()
    if deployment_id is None:
        logger.info("not a deployment's run: mailing %s is sent by this run alone", mailing_id)
        return []
    with session_factory().begin() as session:
        due = count_due(session, mailing_id=mailing_id)
    if due < get_settings().mailing.fan_out_min:
        logger.info("mailing %s has %s messages due: sent by this run alone", mailing_id, due)
        return []
    started = [
        await run_deployment(
            deployment_id,
            parameters={"mailing_id": mailing_id, "helper": True},
            timeout=0,
            as_subflow=False,
            idempotency_key=f"{parent}-helper-{number}",
        )
        for number in range(1, runs + 1)
    ]
    logger.info("mailing %s (%s due) shared with %s helper runs", mailing_id, due, len(started))
    return [run.id for run in started]


@task(task_run_name="fail messages of ended mailings")
def expire_messages() -> int:
    """Fail the unfinished messages of mailings whose window has closed; returns how many."""
    with session_factory().begin() as session:
        return fail_expired(session)


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
                "unknown outcomes": s.unknown_outcomes,
            }
            for s in stats
        ]

    rows = await asyncio.to_thread(read)
    key = f"mailing-{mailing_id}-status" if mailing_id else "mailings-status"
    table = acreate_table_artifact(table=rows, key=key, description="Messages by status after this dispatch")
    await report(table, "mailings table artifact")
