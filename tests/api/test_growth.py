"""/growth on SQLite and PostgreSQL, against the sandbox's photo network: an account added with its
password (never answered), read, changed, paused and resumed; follow and like jobs (Idempotency-Key
replayed); jobs filtered with totals; stats; notices; problems naming the field; 401/403 by scope."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from db.growth import accounts as accounts_db
from tests.api.conftest import bearer
from tests.api.test_contract import assert_problem
from tests.integration import test_cli_growth as cli_growth

Sessions = sessionmaker[Session]
PASSWORD = "sandbox-password"  # every account of the sandbox's network has it


network = cli_growth.network  # the fixture: the sandbox's network, reset, in the settings


@pytest.fixture
def bakery(client: TestClient, write_key: str, network: str) -> int:
    body = {"owner": "ann", "username": "@Demo_Bakery", "password": PASSWORD, "likes_on": True}
    added = client.post("/growth/accounts", json=body, headers=bearer(write_key))
    assert added.status_code == 201, added.text
    assert PASSWORD not in added.text and added.json()["username"] == "demo_bakery"
    return added.json()["id"]


def test_add_read_change_pause_resume(client: TestClient, write_key: str, bakery: int) -> None:
    refused = client.post(
        "/growth/accounts",
        json={"owner": "ann", "username": "demo_bakery", "password": "wrong"},
        headers=bearer(write_key),
    )
    assert refused.status_code in (409, 422) and "wrong" not in refused.text
    missing = client.post(
        "/growth/accounts", json={"owner": "ann", "username": "x"}, headers=bearer(write_key)
    )
    assert assert_problem(missing, 422)["errors"][0]["field"] == "body.password"

    page = client.get("/growth/accounts", headers=bearer(write_key)).json()
    assert page["total"] == 1 and page["items"][0]["id"] == bakery and page["items"][0]["likes_on"] is True
    assert (
        client.get("/growth/accounts", params={"owner": "bob"}, headers=bearer(write_key)).json()["total"]
        == 0
    )
    one = client.get(f"/growth/accounts/{bakery}", headers=bearer(write_key)).json()
    assert one["state"] == "active" and one["settings"]["like_quota"]["per_hour"] == 57

    changed = client.patch(
        f"/growth/accounts/{bakery}",
        json={"follows_on": True, "settings": {"like_quota": {"per_hour": 5}}},
        headers=bearer(write_key),
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["follows_on"] is True and changed.json()["likes_on"] is True
    assert changed.json()["settings"]["like_quota"] == {"per_hour": 5, "per_day": 585}
    bad = client.patch(
        f"/growth/accounts/{bakery}", json={"settings": {"min_delay": -1}}, headers=bearer(write_key)
    )
    assert "min_delay" in assert_problem(bad, 422)["detail"]

    paused = client.post(f"/growth/accounts/{bakery}/pause", headers=bearer(write_key)).json()
    assert paused == {"id": bakery, "state": "paused", "changed": True}
    assert (
        client.post(f"/growth/accounts/{bakery}/pause", headers=bearer(write_key)).json()["changed"] is False
    )
    resumed = client.post(f"/growth/accounts/{bakery}/resume", headers=bearer(write_key)).json()
    assert resumed == {"id": bakery, "state": "active", "changed": True}
    assert_problem(client.get("/growth/accounts/999999", headers=bearer(write_key)), 404)
    assert_problem(client.post("/growth/accounts/999999/pause", headers=bearer(write_key)), 404)


def test_jobs_stats_and_notices(client: TestClient, write_key: str, bakery: int, sessions: Sessions) -> None:
    body = {"source": "hashtag", "target": "#Coffee", "count": 7}
    headers = bearer(write_key) | {"Idempotency-Key": "follow-1"}
    first = client.post(f"/growth/accounts/{bakery}/follow-jobs", json=body, headers=headers)
    assert first.status_code == 201, first.text
    job = first.json()
    assert job["kind"] == "follow" and job["account"] == "demo_bakery" and job["run"]
    again = client.post(f"/growth/accounts/{bakery}/follow-jobs", json=body, headers=headers)
    assert again.json() == job and again.headers["idempotent-replayed"] == "true"
    unknown = client.post(
        f"/growth/accounts/{bakery}/follow-jobs", json={"source": "moon", "target": "x", "count": 0},
        headers=bearer(write_key),
    )  # fmt: skip
    assert {e["field"] for e in assert_problem(unknown, 422)["errors"]} == {"body.source", "body.count"}
    nobody = client.post(
        f"/growth/accounts/{bakery}/follow-jobs",
        json={"source": "account", "target": "no_such_user_zz", "count": 3},
        headers=bearer(write_key),
    )
    assert "no_such_user_zz" in assert_problem(nobody, 422)["detail"]

    likes = client.post(f"/growth/accounts/{bakery}/like-jobs", headers=bearer(write_key))
    assert likes.status_code == 201, likes.text
    assert likes.json()["kind"] == "like"
    twice = client.post(f"/growth/accounts/{bakery}/like-jobs", headers=bearer(write_key))
    assert "open like job" in assert_problem(twice, 422)["detail"]

    jobs = client.get("/growth/jobs", params={"limit": 1}, headers=bearer(write_key)).json()
    assert jobs["total"] == 2 and len(jobs["items"]) == 1 and jobs["items"][0]["kind"] == "like"
    follows = client.get(
        "/growth/jobs",
        params={"account_id": bakery, "status": "added", "offset": 1},
        headers=bearer(write_key),
    ).json()
    assert follows["total"] == 2 and follows["items"][0]["id"] == job["id"]
    assert (
        client.get("/growth/jobs", params={"status": "failed"}, headers=bearer(write_key)).json()["total"]
        == 0
    )
    assert_problem(client.get("/growth/jobs", params={"status": "lost"}, headers=bearer(write_key)), 422)

    stats = client.get(f"/growth/accounts/{bakery}/stats", headers=bearer(write_key)).json()
    assert stats["actions_per_day"] == [] and stats["skip_reasons"] == {}
    assert {q["action"] for q in stats["quota_use"]} >= {"like", "follow"}

    with sessions.begin() as session:
        accounts_db.notify(session, account_id=bakery, level="info", text="job done")
    notices = client.get("/growth/notices", params={"account_id": bakery}, headers=bearer(write_key)).json()
    assert notices["total"] >= 1 and notices["items"][0]["read_at"] is None


def test_scopes(client: TestClient, read_key: str) -> None:
    assert_problem(client.get("/growth/accounts"), 401)
    assert_problem(client.post("/growth/accounts/1/pause", headers=bearer(read_key)), 403)
    body = {"owner": "a", "username": "b", "password": "secret-pw"}
    forbidden = client.post("/growth/accounts", json=body, headers=bearer(read_key))
    assert "secret-pw" not in assert_problem(forbidden, 403)["detail"]
    assert client.get("/growth/jobs", headers=bearer(read_key)).json()["total"] == 0
