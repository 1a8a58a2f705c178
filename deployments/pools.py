"""Create the work pools of prefect.yaml on the Prefect server if missing, and install the automation
that marks killed flow runs Crashed: ``python -m deployments.pools``."""

from __future__ import annotations

import asyncio

from prefect import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectAlreadyExists

from core.settings import get_settings
from deployments.crashed_runs import ensure_crash_automation
from deployments.specs import load_pool_names


async def create_pools(names: list[str]) -> list[str]:
    """Create each process work pool that does not exist yet; return the names created."""
    created: list[str] = []
    async with get_client() as client:
        for name in names:
            try:
                await client.create_work_pool(WorkPoolCreate(name=name, type="process"))
                created.append(name)
            except ObjectAlreadyExists:
                pass
    return created


def main() -> None:
    names = load_pool_names()
    created = asyncio.run(create_pools(names))
    for name in names:
        print(f"work pool {name}: {'created' if name in created else 'exists'}")
    settings = get_settings().serve
    asyncio.run(
        ensure_crash_automation(
            settings.heartbeat_seconds, settings.missed_heartbeats, settings.pending_seconds
        )
    )
    silence = settings.heartbeat_seconds * settings.missed_heartbeats
    print(f"crash automation: a Running flow run silent for {silence} s is marked Crashed")
    print(
        f"crash automation: a flow run Pending {settings.pending_seconds} s, not started, is marked Crashed"
    )


if __name__ == "__main__":
    main()
