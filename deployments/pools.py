"""Create the work pools of prefect.yaml on the Prefect server if missing: ``python -m deployments.pools``."""

from __future__ import annotations

import asyncio

from prefect import get_client
from prefect.client.schemas.actions import WorkPoolCreate
from prefect.exceptions import ObjectAlreadyExists

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


if __name__ == "__main__":
    main()
