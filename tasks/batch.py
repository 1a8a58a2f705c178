"""The batch skeleton every queued domain runs in one task run: claim with a lease, work the items
concurrently, record outcomes in groups (by count and on a timer), renew the lease while working.

Prefect-free but for the lease's owner, which names the flow run (tasks/claims.py): a domain's
``@task`` wires its claim, work and record functions into ``run_batch``, names the task run, and owns
the one client the batch's items share.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Generic, TypeVar

from core.batching import gather_in_groups
from db.claims import Lease
from tasks.claims import run_lease

Item = TypeVar("Item")
Outcome = TypeVar("Outcome")

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class Batch(Generic[Item, Outcome]):
    """What a domain plugs into the skeleton. The sync callables own their transactions and run in a
    worker thread; ``work`` runs on the event loop, many at once."""

    claim: Callable[[Lease], Sequence[Item]]
    work: Callable[[Item], Awaitable[Outcome]]
    record: Callable[[list[Outcome]], None]
    renew: Callable[[Lease, Sequence[int]], set[int]]  # ids still held (see db.claims.renew_claims)
    item_id: Callable[[Item], int]
    outcome_id: Callable[[Outcome], int]
    crashed: Callable[[Item, str], Outcome]  # the outcome of an item whose work raised, or lost its claim


async def run_batch(
    batch: Batch[Item, Outcome],
    *,
    lease_seconds: float,
    concurrency: int,
    group_size: int = 100,
    max_wait: float = 1.0,
    lease: Lease | None = None,
) -> tuple[int, list[Outcome]]:
    """Claim, work and record one batch; returns how many were claimed and their outcomes.

    At most ``concurrency`` items are worked at once. The lease is renewed every third of its length
    for the items not yet recorded, so it never runs out under work that is still alive however long
    the batch takes (rate limits, slow services); an item whose claim was lost meanwhile is not started.
    An item whose work raises gets the ``crashed`` outcome with the error: one bad item never fails its
    batch. ``lease``: the claim's owner when the caller holds one already (a job claimed before its
    batch), else a new one owned by the current flow run.
    """
    lease = lease or run_lease(lease_seconds)
    items = await asyncio.to_thread(batch.claim, lease)
    if not items:
        return 0, []
    open_ids = {batch.item_id(item) for item in items}
    lost: set[int] = set()
    outcomes: list[Outcome] = []
    slots = asyncio.Semaphore(concurrency)

    async def one(item: Item) -> Outcome:
        item_id = batch.item_id(item)
        async with slots:
            if item_id in lost:
                return batch.crashed(item, "its claim was lost before the work started")
            try:
                return await batch.work(item)
            except Exception as exc:  # the item's own error: recorded on it, the batch goes on
                logger.exception("item %s failed unexpectedly", item_id)
                return batch.crashed(item, f"unexpected error: {type(exc).__name__}: {exc}"[:500])

    async def flush(group: list[Outcome]) -> None:
        await asyncio.to_thread(batch.record, group)
        open_ids.difference_update(batch.outcome_id(outcome) for outcome in group)
        outcomes.extend(group)

    async def keep_lease() -> None:
        while True:
            await asyncio.sleep(lease_seconds / 3)
            still_held = await asyncio.to_thread(batch.renew, lease, sorted(open_ids))
            lost.update(open_ids - still_held)

    renewer = asyncio.create_task(keep_lease())
    try:
        await gather_in_groups((one(item) for item in items), flush, group_size=group_size, max_wait=max_wait)
    finally:
        renewer.cancel()
    return len(items), outcomes


@asynccontextmanager
async def keep_alive(renew: Callable[[], bool], *, every: float) -> AsyncIterator[None]:
    """Call ``renew`` (sync, in a worker thread) every ``every`` seconds while the block runs: a
    claim held for work that is not a batch of items (planning a job) keeps its lease."""

    async def loop() -> None:
        while True:
            await asyncio.sleep(every)
            if not await asyncio.to_thread(renew):
                logger.warning("a claim was lost while its work went on")

    renewer = asyncio.create_task(loop())
    try:
        yield
    finally:
        renewer.cancel()
