"""A flow run whose process was killed is marked Crashed, not left Running forever.

Every flow run sends a heartbeat event every ``SWITCHYARD_SERVE__HEARTBEAT_SECONDS`` (serve passes it
to its flow-run processes; workers read ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``). The automation below,
on the Prefect server, marks a run Crashed when neither a heartbeat nor a final state follows its
last heartbeat within ``missed_heartbeats`` heartbeats: Prefect's own zombie-flow recipe.

In embedded mode serve is the only process that runs the deployments' flows, so when it starts, any
run of them still Pending or Running lost its process with the previous serve: `crash_orphaned_runs`
marks those Crashed at once (which also gives a sweep's concurrency slot back; Prefect would
otherwise hold it until the run's 300 s lease lapses, and cancel the sweep's runs until then).
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from prefect import get_client
from prefect.automations import AutomationCore
from prefect.client.schemas.filters import (
    FlowRunFilter,
    FlowRunFilterDeploymentId,
    FlowRunFilterState,
    FlowRunFilterStateType,
)
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification
from prefect.exceptions import ObjectNotFound
from prefect.states import Crashed

AUTOMATION_NAME = "switchyard: crash flow runs that stopped sending heartbeats"
LIVE_OR_FINAL = {
    "prefect.flow-run.heartbeat",
    "prefect.flow-run.Completed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.Cancelled",
    "prefect.flow-run.Crashed",
}


def crash_automation(silence: timedelta) -> AutomationCore:
    """Mark a flow run Crashed when ``silence`` passes after a heartbeat with no heartbeat or final state."""
    return AutomationCore(
        name=AUTOMATION_NAME,
        description="A flow run whose process died (killed, machine lost) stops sending heartbeats.",
        trigger=EventTrigger(
            after={"prefect.flow-run.heartbeat"},
            expect=LIVE_OR_FINAL,
            match=ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]}),
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=silence,
        ),
        actions=[
            ChangeFlowRunState(
                state=StateType.CRASHED,
                message=f"no heartbeat for {silence.total_seconds():.0f} s: its process was killed or lost",
            )
        ],
    )


async def ensure_crash_automation(heartbeat_seconds: int, missed_heartbeats: int) -> UUID:
    """Create the automation on the Prefect server, or bring the existing one up to date; return its id."""
    automation = crash_automation(timedelta(seconds=heartbeat_seconds * missed_heartbeats))
    async with get_client() as client:
        existing = await client.read_automations_by_name(AUTOMATION_NAME)
        if not existing:
            return await client.create_automation(automation)
        first, *duplicates = existing
        await client.update_automation(first.id, automation)
        for duplicate in duplicates:
            await client.delete_automation(duplicate.id)
        return first.id


async def crash_orphaned_runs(deployment_names: list[str]) -> int:
    """Mark every Pending or Running run of the named deployments Crashed; return how many.

    Only for a process that is the sole runner of these deployments, as it starts (serve).
    """
    crashed = 0
    async with get_client() as client:
        for name in deployment_names:
            try:
                deployment = await client.read_deployment_by_name(name)
            except ObjectNotFound:
                continue
            runs = await client.read_flow_runs(
                flow_run_filter=FlowRunFilter(
                    deployment_id=FlowRunFilterDeploymentId(any_=[deployment.id]),
                    state=FlowRunFilterState(
                        type=FlowRunFilterStateType(any_=[StateType.PENDING, StateType.RUNNING])
                    ),
                )
            )
            for run in runs:
                message = "the serve process running it stopped before the run finished"
                await client.set_flow_run_state(run.id, Crashed(message=message))
                crashed += 1
    return crashed
