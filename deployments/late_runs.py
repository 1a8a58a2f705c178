"""After downtime a sweep runs once: the late scheduled runs of each sweep but the newest are skipped.

Prefect's scheduler creates a sweep's runs ahead of time (up to 100 of an every-minute schedule). When
nothing serves them for a while (serve stopped, workers down), they are all still Scheduled, and
whoever serves them next would start every one of them. `skip_late_runs` cancels all but the newest
late one per deployment, as state "Skipped" (`skipped_state`); runs someone started by hand are never touched.
serve does it when it starts; ``python -m deployments.late_runs`` does it for prefect.yaml's sweeps
(run it before workers start again after downtime: docs/operations.md).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from uuid import UUID

from prefect import get_client
from prefect.client.orchestration import PrefectClient
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterExpectedStartTime,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import FlowRun, State, StateType
from prefect.client.schemas.sorting import FlowRunSort
from prefect.exceptions import ObjectNotFound
from prefect.states import Completed

from deployments.specs import load_specs

PAGE = 200


def skipped_state(reason: str) -> State:
    """The final state of a sweep's run that is not run: Completed, named "Skipped", with ``reason``.

    Not Cancelled: Prefect's cancellation clean-up visits every run Cancelled in the last day, every
    loop, so a day of skipped every-minute runs would make an idle server busy."""
    return Completed(name="Skipped", message=reason)


async def _late_runs(
    client: PrefectClient, deployment_id: UUID, before: datetime, offset: int
) -> list[FlowRun]:
    """Scheduled runs of a deployment due before ``before``, newest first."""
    return await client.read_flow_runs(
        flow_run_filter=FlowRunFilter(
            deployment_id=FlowRunFilterDeploymentId(any_=[deployment_id]),
            state=FlowRunFilterState(type=FlowRunFilterStateType(any_=[StateType.SCHEDULED])),
            expected_start_time=FlowRunFilterExpectedStartTime(before_=before),
        ),
        sort=FlowRunSort.EXPECTED_START_TIME_DESC,
        offset=offset,
        limit=PAGE,
    )


async def skip_late_runs_of(client: PrefectClient, deployment_id: UUID, now: datetime) -> int:
    """Skip every late auto-scheduled run of one deployment but the newest; return how many were skipped."""
    skipped = kept = 0
    newest_kept = False
    while True:
        runs = await _late_runs(client, deployment_id, now, kept)
        for run in runs:
            if not run.auto_scheduled or not newest_kept:  # started by hand, or the one that runs
                newest_kept = newest_kept or run.auto_scheduled
                kept += 1
                continue
            late = (now - run.expected_start_time).total_seconds() if run.expected_start_time else 0
            await client.set_flow_run_state(
                run.id, skipped_state(f"late by {late:.0f} s: a sweep runs once after downtime")
            )
            skipped += 1
        if len(runs) < PAGE:
            return skipped


async def skip_late_runs(deployment_names: list[str], now: datetime | None = None) -> dict[str, int]:
    """Skip the late runs of each named deployment (``flow/deployment``) on the server; count them by name.

    A deployment the server does not know yet has nothing to skip.
    """
    now = now or datetime.now(UTC)
    skipped: dict[str, int] = {}
    async with get_client() as client:
        for name in deployment_names:
            try:
                deployment = await client.read_deployment_by_name(name)
            except ObjectNotFound:
                continue
            skipped[name] = await skip_late_runs_of(client, deployment.id, now)
    return skipped


def main() -> None:
    sweeps = [spec.full_name for spec in load_specs() if spec.is_sweep]
    for name, count in asyncio.run(skip_late_runs(sweeps)).items():
        print(f"{name}: {count} late runs skipped")


if __name__ == "__main__":
    main()
