"""A flow run whose process was killed is marked Crashed, not left Running forever.

Every flow run sends a heartbeat event every ``SWITCHYARD_SERVE__HEARTBEAT_SECONDS`` (serve passes it
to its flow-run processes; workers read ``PREFECT_FLOWS_HEARTBEAT_FREQUENCY``). The automation below,
on the Prefect server, marks a run Crashed when neither a heartbeat nor a final state follows its
last heartbeat within ``missed_heartbeats`` heartbeats: Prefect's own zombie-flow recipe.
"""

from __future__ import annotations

from datetime import timedelta
from uuid import UUID

from prefect import get_client
from prefect.automations import AutomationCore
from prefect.client.schemas.objects import StateType
from prefect.events.actions import ChangeFlowRunState
from prefect.events.schemas.automations import EventTrigger, Posture
from prefect.events.schemas.events import ResourceSpecification

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
