"""Claims and the flow runs holding them: leases that name their run, and the claims of dead runs given
back at once.

A run whose process was killed (worker killed, machine lost) cannot release what it claimed, and no
``on_crashed`` hook runs after a kill -9. Once Prefect marks the run Crashed (the heartbeat automation
of deployments/crashed_runs.py, or the run itself as its process is stopped),
`release_dead_runs_claims` ends its leases in every domain's claim table, and the next claim of any
worker takes the rows; without it they wait out their lease (up to 15 minutes for a brief).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from prefect import get_client, get_run_logger, task
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterEndTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.runtime import flow_run

from db.base import utcnow
from db.claims import Lease, expire_claims_of, live_owner_prefixes, run_prefix
from db.engine import session_factory

# Crashed: the run's process is gone. Not Cancelled: a run can be shown Cancelled while its process
# still works (a cancellation nobody acknowledged), so its claims wait out their lease.
DEAD = [StateType.CRASHED]
LOOK_BACK = timedelta(hours=2)  # a dead run's claims lapse by themselves (leases are minutes) before this
PAGE = 200


def run_lease(seconds: float) -> Lease:
    """A lease owned by the current flow run (a plain one outside a run)."""
    return Lease.for_run(seconds, flow_run.get_id())


async def dead_run_prefixes(since: datetime) -> set[str]:
    """The owner prefixes of the flow runs that ran, then ended Crashed since ``since`` (a run crashed
    before it started, e.g. by the pending automation, never claimed anything)."""
    prefixes: set[str] = set()
    async with get_client() as client:
        offset = 0
        while True:
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    state=FlowRunFilterState(type=FlowRunFilterStateType(any_=DEAD)),
                    end_time=FlowRunFilterEndTime(after_=since),
                ),
                offset=offset,
                limit=PAGE,
            )
            prefixes.update(run_prefix(run.id) for run in runs if run.run_count > 0)
            if len(runs) < PAGE:
                return prefixes
            offset += PAGE


async def release_claims_of_dead_runs(now: datetime | None = None) -> int:
    """End the live claims held by flow runs Prefect knows ended Crashed; returns how many
    rows came back. Asks Prefect only when some claim is live."""
    now = now or utcnow()
    with session_factory().begin() as session:
        live = live_owner_prefixes(session, now=now)
    if not live:
        return 0
    dead = live & await dead_run_prefixes(datetime.now(UTC) - LOOK_BACK)
    if not dead:
        return 0
    with session_factory().begin() as session:
        return expire_claims_of(session, prefixes=sorted(dead), now=now)


@task(task_run_name="release the claims of crashed runs")
async def release_dead_runs_claims() -> int:
    """`release_claims_of_dead_runs` as a task run; logs what came back."""
    released = await release_claims_of_dead_runs()
    if released:
        get_run_logger().warning("released %d claims held by crashed flow runs", released)
    return released
