"""A flow run whose process was killed is marked Crashed, not left Running forever.

Every flow run sends a heartbeat event every ``SWITCHYARD_SERVE__HEARTBEAT_SECONDS`` (serve passes it
to its flow-run processes; workers read ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``). The automation below,
on the Prefect server, marks a run Crashed when neither a heartbeat nor a final state follows its
last heartbeat (or its Running state) within ``missed_heartbeats`` heartbeats: Prefect's own
zombie-flow recipe, with the window opened by the Running state too, which the server announces in
order with the final state (a run started warm sends its first heartbeat only after one interval,
and none after its final state: deployments/heartbeats.py; a heartbeat arriving after the final state
used to make the automation fire on completed runs). Heartbeats begin only once a run is Running;
a run a worker submitted (Pending, "Submitting") whose worker died before its process started
would wait for ever, so a second automation marks a run Crashed when it neither starts nor ends
within ``SWITCHYARD_SERVE__PENDING_SECONDS`` of being submitted. The claims a
crashed run held are given back by tasks/claims.py.

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
PENDING_AUTOMATION_NAME = "switchyard: crash flow runs submitted but never started"
FINAL = {
    "prefect.flow-run.Completed",
    "prefect.flow-run.Failed",
    "prefect.flow-run.TimedOut",
    "prefect.flow-run.Cancelled",
    "prefect.flow-run.Skipped",
    "prefect.flow-run.Crashed",
}
LIVE_OR_FINAL = {"prefect.flow-run.heartbeat", *FINAL}
RUNNING = "prefect.flow-run.Running"
SUBMITTED = {"prefect.flow-run.Pending", "prefect.flow-run.Submitting"}
# what follows a submitted run that did not lose its worker: it starts, ends, or goes back to the queue
MOVED_ON = {
    RUNNING,
    "prefect.flow-run.Cancelling",
    "prefect.flow-run.Scheduled",
    "prefect.flow-run.Late",
    "prefect.flow-run.AwaitingRetry",
    "prefect.flow-run.Paused",
    *FINAL,
}
FLOW_RUNS = ResourceSpecification({"prefect.resource.id": ["prefect.flow-run.*"]})


def crash_automation(silence: timedelta) -> AutomationCore:
    """Mark a flow run Crashed when ``silence`` passes after it started running or sent a heartbeat
    with no heartbeat or final state."""
    return _crash_unless(
        AUTOMATION_NAME,
        "A flow run whose process died (killed, machine lost) stops sending heartbeats.",
        after={RUNNING, "prefect.flow-run.heartbeat"},
        expect=LIVE_OR_FINAL,
        within=silence,
        message=f"no heartbeat for {silence.total_seconds():.0f} s: its process was killed or lost",
    )


def pending_automation(timeout: timedelta) -> AutomationCore:
    """Mark a flow run Crashed when ``timeout`` passes after it was submitted and it neither started,
    ended nor went back to the queue: the worker that took it died before starting its process."""
    return _crash_unless(
        PENDING_AUTOMATION_NAME,
        "A worker that dies between taking a run and starting it leaves the run Pending.",
        after=SUBMITTED,
        expect=MOVED_ON,
        within=timeout,
        message=f"submitted {timeout.total_seconds():.0f} s ago, never started: its worker was lost",
    )


def _crash_unless(
    name: str, description: str, *, after: set[str], expect: set[str], within: timedelta, message: str
) -> AutomationCore:
    """An automation that marks a flow run Crashed when, after one of ``after``, none of ``expect``
    follows for that run ``within`` the time given."""
    return AutomationCore(
        name=name,
        description=description,
        trigger=EventTrigger(
            after=after,
            expect=expect,
            match=FLOW_RUNS,
            for_each={"prefect.resource.id"},
            posture=Posture.Proactive,
            threshold=1,
            within=within,
        ),
        actions=[ChangeFlowRunState(state=StateType.CRASHED, message=message)],
    )


async def _ensure(automation: AutomationCore) -> UUID:
    """Create ``automation`` on the Prefect server, or bring the one of its name up to date."""
    async with get_client() as client:
        existing = await client.read_automations_by_name(automation.name)
        if not existing:
            return await client.create_automation(automation)
        first, *duplicates = existing
        await client.update_automation(first.id, automation)
        for duplicate in duplicates:
            await client.delete_automation(duplicate.id)
        return first.id


async def ensure_crash_automation(
    heartbeat_seconds: int, missed_heartbeats: int, pending_seconds: int = 300
) -> UUID:
    """Install (or update) both crash automations on the Prefect server; return the heartbeat one's id."""
    await _ensure(pending_automation(timedelta(seconds=pending_seconds)))
    return await _ensure(crash_automation(timedelta(seconds=heartbeat_seconds * missed_heartbeats)))


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
