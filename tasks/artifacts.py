"""Prefect UI artifacts shared by the domains."""

from __future__ import annotations

from uuid import UUID

from prefect.artifacts import acreate_progress_artifact, aupdate_progress_artifact


async def publish_progress(artifact_id: UUID | None, progress: float, description: str) -> UUID:
    """Create the run's progress artifact (``artifact_id`` None) or update it; returns its id."""
    if artifact_id is None:
        return await acreate_progress_artifact(progress=progress, description=description)
    await aupdate_progress_artifact(artifact_id=artifact_id, progress=progress, description=description)
    return artifact_id
