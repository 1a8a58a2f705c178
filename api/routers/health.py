"""``/healthz`` (the process answers; no database) and ``/readyz`` (the database answers ``SELECT 1``;
the Prefect API answers when PREFECT_API_URL is set). Neither needs a key."""

from __future__ import annotations

from typing import Literal

import httpx
from fastapi import APIRouter
from prefect.settings import PREFECT_API_URL
from pydantic import BaseModel, Field
from sqlalchemy import text

from api.problems import ApiProblem, errors
from db.engine import session_factory

router = APIRouter(tags=["health"])


class Health(BaseModel):
    status: Literal["ok"] = "ok"


class Readiness(BaseModel):
    status: Literal["ready"] = "ready"
    database: str = Field(description='"ok"')
    prefect: str = Field(
        description='"ok", or "not configured" (PREFECT_API_URL unset; runs are left to schedules)'
    )


@router.get("/healthz", response_model=Health, responses=errors())
def healthz() -> Health:
    """The process is up (nothing else is checked)."""
    return Health()


def _prefect() -> str:
    url = (PREFECT_API_URL.value() or "").rstrip("/")
    if not url:
        return "not configured"
    try:
        httpx.get(f"{url}/health", timeout=2).raise_for_status()
    except httpx.HTTPError as exc:
        raise ApiProblem(
            503, f"the Prefect API at {url} does not answer ({type(exc).__name__})", kind="not-ready"
        ) from None
    return "ok"


@router.get("/readyz", response_model=Readiness, responses=errors(503))
def readyz() -> Readiness:
    """Ready to serve: the database answers, and the Prefect API when one is configured."""
    try:
        with session_factory().begin() as session:
            session.execute(text("SELECT 1"))
    except Exception as exc:
        raise ApiProblem(
            503, f"the database does not answer ({type(exc).__name__})", kind="not-ready"
        ) from None
    return Readiness(database="ok", prefect=_prefect())
