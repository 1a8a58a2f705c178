"""Runs started through the API carry the caller's Idempotency-Key to Prefect; readiness says what
does not answer."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any
from uuid import uuid4

import pytest
from fastapi.testclient import TestClient
from prefect.settings import PREFECT_API_URL, temporary_settings

from deployments import runs
from tests.api.conftest import bearer
from tests.conftest import set_env


def test_a_started_dispatch_gets_the_idempotency_key(
    client: TestClient, write_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[runs.NewRun] = []

    async def fake_create(client: Any, run: runs.NewRun) -> runs.Created:
        started.append(run)
        return runs.Created(SimpleNamespace(id=uuid4(), name="dispatch mailing"), polled=True)  # type: ignore[arg-type]

    monkeypatch.setattr(runs, "_create", fake_create)
    assert (
        client.post("/clients", json={"phone": "79123456701"}, headers=bearer(write_key)).status_code == 201
    )
    now = datetime.now(UTC)
    body = {
        "text": "now",
        "starts_at": (now - timedelta(minutes=1)).isoformat(),
        "ends_at": (now + timedelta(hours=1)).isoformat(),
    }
    headers = bearer(write_key) | {"Idempotency-Key": "k1"}
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        first = client.post("/mailings", json=body, headers=headers)
        again = client.post("/mailings", json=body, headers=headers)
    assert first.status_code == 201 and first.json()["starts_now"] is True
    assert "Started flow run" in first.json()["run"]
    assert again.json() == first.json()
    assert len(started) == 1
    assert started[0].idempotency_key.endswith(":k1") and started[0].parameters == {
        "mailing_id": first.json()["id"]
    }


def test_readiness_when_prefect_does_not_answer(client: TestClient) -> None:
    with temporary_settings({PREFECT_API_URL: "http://127.0.0.1:9/api"}):
        answer = client.get("/readyz")
    assert answer.status_code == 503
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "Prefect API" in answer.json()["detail"]


def test_readiness_when_the_database_does_not_answer(client: TestClient, database_url: str) -> None:
    set_env({"SWITCHYARD_DATABASE_URL": "postgresql+psycopg2://nobody@127.0.0.1:9/none"})
    try:
        answer = client.get("/readyz")
        health = client.get("/healthz")
    finally:
        set_env({"SWITCHYARD_DATABASE_URL": database_url})
    assert answer.status_code == 503 and "database" in answer.json()["detail"]
    assert health.status_code == 200
