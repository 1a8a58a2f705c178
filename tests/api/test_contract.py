"""Every route's contract on SQLite and PostgreSQL: status, body shape, totals, partial updates,
problem bodies that name the field, 401/403/429, and Idempotency-Key replay and refusal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from commands.api_keys import revoke_key
from db.api_keys import list_keys
from db.mailing import Message
from tests.api.conftest import bearer
from tests.conftest import set_env

PROBLEM = "application/problem+json"


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


def add_clients(client: TestClient, key: str) -> list[dict]:
    added = []
    for phone, tag in (("+7 912 345-67-01", "vip"), ("79123456702", "vip"), ("79263456703", "")):
        answer = client.post("/clients", json={"phone": phone, "tag": tag}, headers=bearer(key))
        assert answer.status_code == 201, answer.text
        added.append(answer.json())
    return added


def assert_problem(answer, status: int) -> dict:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith(PROBLEM)
    body = answer.json()
    assert body["status"] == status and body["title"] and body["detail"] and body["type"]
    return body


def test_health_needs_no_key(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"
    assert ready.json()["prefect"] in ("ok", "not configured")
    assert client.get("/openapi.json").status_code == 200


def test_the_documentation_is_served_from_this_process(client: TestClient) -> None:
    page = client.get("/docs")
    assert page.status_code == 200 and "cdn." not in page.text  # works without internet access
    for asset in ("/docs-assets/swagger-ui-bundle.js", "/docs-assets/swagger-ui.css"):
        assert asset in page.text
        served = client.get(asset)
        assert served.status_code == 200 and len(served.content) > 10_000


def test_clients_crud_filters_and_totals(client: TestClient, write_key: str) -> None:
    added = add_clients(client, write_key)
    assert added[0]["phone"] == "79123456701" and added[0]["operator_code"] == "912"
    page = client.get("/clients", params={"limit": 2}, headers=bearer(write_key)).json()
    assert page["total"] == 3 and page["limit"] == 2 and page["offset"] == 0 and len(page["items"]) == 2
    vip = client.get("/clients", params={"tag": "vip", "offset": 1}, headers=bearer(write_key)).json()
    assert vip["total"] == 2 and [c["id"] for c in vip["items"]] == [added[1]["id"]]
    by_code = client.get("/clients", params={"operator_code": "926"}, headers=bearer(write_key)).json()
    assert by_code["total"] == 1 and by_code["items"][0]["id"] == added[2]["id"]

    one = added[0]["id"]
    assert client.get(f"/clients/{one}", headers=bearer(write_key)).json() == added[0] | {
        "updated_at": client.get(f"/clients/{one}", headers=bearer(write_key)).json()["updated_at"]
    }
    patched = client.patch(f"/clients/{one}", json={"tag": "gold"}, headers=bearer(write_key))
    assert patched.status_code == 200
    assert patched.json()["tag"] == "gold" and patched.json()["phone"] == added[0]["phone"]
    assert patched.json()["timezone"] == "UTC"

    assert client.delete(f"/clients/{one}", headers=bearer(write_key)).status_code == 204
    assert_problem(client.get(f"/clients/{one}", headers=bearer(write_key)), 404)
    assert_problem(client.delete(f"/clients/{one}", headers=bearer(write_key)), 404)


def test_client_problems_name_the_field(client: TestClient, write_key: str) -> None:
    body = assert_problem(client.post("/clients", json={"tag": 5}, headers=bearer(write_key)), 422)
    fields = {error["field"] for error in body["errors"]}
    assert {"body.phone", "body.tag"} <= fields
    assert {error["pointer"] for error in body["errors"]} >= {"/phone", "/tag"}
    refused = assert_problem(client.post("/clients", json={"phone": "123"}, headers=bearer(write_key)), 422)
    assert "123" in refused["detail"]
    add_clients(client, write_key)
    taken = client.post("/clients", json={"phone": "79123456701"}, headers=bearer(write_key))
    assert "exists" in assert_problem(taken, 409)["detail"]
    limit = assert_problem(client.get("/clients", params={"limit": 501}, headers=bearer(write_key)), 422)
    assert limit["errors"][0]["field"] == "query.limit"


def test_mailings_create_read_patch_cancel_delete(client: TestClient, write_key: str) -> None:
    add_clients(client, write_key)
    body = {"text": "hello", "starts_at": later(days=1), "ends_at": later(days=2), "tag": "vip"}
    created = client.post("/mailings", json=body, headers=bearer(write_key))
    assert created.status_code == 201, created.text
    mailing = created.json()
    assert mailing["messages"] == 2 and mailing["starts_now"] is False and mailing["run"]

    page = client.get("/mailings", headers=bearer(write_key)).json()
    assert page["total"] == 1 and page["items"][0]["text"] == "hello" and page["items"][0]["new"] == 2
    one = client.get(f"/mailings/{mailing['id']}", headers=bearer(write_key)).json()
    assert one["state"] == "scheduled" and one["tag"] == "vip" and one["total"] == 2

    patched = client.patch(f"/mailings/{mailing['id']}", json={"tag": None}, headers=bearer(write_key))
    assert patched.status_code == 200, patched.text
    assert (
        patched.json()["tag"] is None and patched.json()["total"] == 3 and patched.json()["text"] == "hello"
    )
    text_only = client.patch(f"/mailings/{mailing['id']}", json={"text": "hi"}, headers=bearer(write_key))
    assert text_only.json()["text"] == "hi" and text_only.json()["total"] == 3

    messages = client.get(
        "/messages", params={"mailing_id": mailing["id"], "limit": 2}, headers=bearer(write_key)
    )
    assert messages.json()["total"] == 3 and len(messages.json()["items"]) == 2
    assert messages.json()["items"][0]["status"] == "new"

    stats = client.get("/mailings/stats", headers=bearer(write_key)).json()
    assert stats["mailings"] == 1 and stats["messages_by_status"]["new"] == 3
    assert stats["items"][0] == {
        "id": mailing["id"],
        "state": "scheduled",
        "total": 3,
        "new": 3,
        "sending": 0,
        "sent": 0,
        "failure": 0,
        "cancelled": 0,
        "unknown_outcomes": 0,
    }
    detail = client.get(f"/mailings/{mailing['id']}/stats", headers=bearer(write_key)).json()
    assert detail["mailing"]["total"] == 3 and detail["problems"] == [] and detail["sends_per_minute"] == []

    cancelled = client.post(f"/mailings/{mailing['id']}/cancel", headers=bearer(write_key))
    assert cancelled.json() == {"id": mailing["id"], "cancelled_messages": 3}
    by_status = client.get("/messages", params={"status": "cancelled"}, headers=bearer(write_key)).json()
    assert by_status["total"] == 3
    refused = client.patch(f"/mailings/{mailing['id']}", json={"text": "x"}, headers=bearer(write_key))
    assert "cancelled" in assert_problem(refused, 422)["detail"]
    assert client.delete(f"/mailings/{mailing['id']}", headers=bearer(write_key)).status_code == 204
    assert_problem(client.get(f"/mailings/{mailing['id']}/stats", headers=bearer(write_key)), 404)
    assert client.get("/messages", headers=bearer(write_key)).json()["total"] == 0


def test_statistics_are_reused_for_a_moment_with_their_etag(client: TestClient, write_key: str) -> None:
    add_clients(client, write_key)
    body = {"text": "hello", "starts_at": later(days=1), "ends_at": later(days=2), "tag": "vip"}
    mailing = client.post("/mailings", json=body, headers=bearer(write_key)).json()
    path = f"/mailings/{mailing['id']}/stats"
    first = client.get(path, headers=bearer(write_key))
    etag = first.headers["etag"]
    assert first.json()["mailing"]["total"] == 2 and first.headers["cache-control"] == "private, max-age=0"
    again = client.get(path, headers=bearer(write_key) | {"If-None-Match": etag})
    assert again.status_code == 304 and again.headers["etag"] == etag and not again.content

    client.patch(f"/mailings/{mailing['id']}", json={"tag": None}, headers=bearer(write_key))  # 3 now
    made = client.get(path, headers=bearer(write_key))  # max-age 0: made anew
    assert made.json()["mailing"]["total"] == 3 and made.headers["etag"] != etag

    set_env({"SWITCHYARD_API__STATS_SECONDS": "30"})
    try:
        client.patch(f"/mailings/{mailing['id']}", json={"text": "hello again"}, headers=bearer(write_key))
        reused = client.get(path, headers=bearer(write_key))
        assert reused.json() == made.json() and reused.headers["cache-control"] == "private, max-age=30"
    finally:
        set_env({"SWITCHYARD_API__STATS_SECONDS": "0"})
    assert client.get(path, headers=bearer(write_key)).json()["mailing"]["text"] == "hello again"


def test_statistics_count_unknown_outcomes(
    client: TestClient, sessions: sessionmaker[Session], write_key: str
) -> None:
    add_clients(client, write_key)
    body = {"text": "hello", "starts_at": later(days=1), "ends_at": later(days=2)}
    mailing = client.post("/mailings", json=body, headers=bearer(write_key)).json()
    with sessions.begin() as session:  # as a dispatch run records two tries whose answer never came
        first, second = session.scalars(
            select(Message).where(Message.mailing_id == mailing["id"]).order_by(Message.id).limit(2)
        )
        first.unknown_outcomes, second.unknown_outcomes = 2, 1

    detail = client.get(f"/mailings/{mailing['id']}/stats", headers=bearer(write_key)).json()
    assert detail["mailing"]["unknown_outcomes"] == 3
    listed = client.get("/mailings/stats", headers=bearer(write_key)).json()["items"]
    assert [item["unknown_outcomes"] for item in listed] == [3]
    assert client.get(f"/mailings/{mailing['id']}", headers=bearer(write_key)).json()["unknown_outcomes"] == 3


def test_mailing_problems(client: TestClient, write_key: str) -> None:
    no_zone = {"text": "x", "starts_at": "2030-01-01T10:00:00", "ends_at": later(days=2)}
    body = assert_problem(client.post("/mailings", json=no_zone, headers=bearer(write_key)), 422)
    assert body["errors"][0]["field"] == "body.starts_at"
    nobody = {"text": "x", "starts_at": later(days=1), "ends_at": later(days=2)}
    assert (
        "no client matches"
        in assert_problem(client.post("/mailings", json=nobody, headers=bearer(write_key)), 422)["detail"]
    )
    assert_problem(client.get("/mailings/99", headers=bearer(write_key)), 404)
    assert_problem(client.patch("/mailings/99", json={"text": "x"}, headers=bearer(write_key)), 404)
    assert_problem(client.get("/mailings/0", headers=bearer(write_key)), 422)


def test_idempotent_mailing_create(client: TestClient, write_key: str) -> None:
    add_clients(client, write_key)
    body = {"text": "once", "starts_at": later(days=1), "ends_at": later(days=2)}
    headers = bearer(write_key) | {"Idempotency-Key": "order-1"}
    first = client.post("/mailings", json=body, headers=headers)
    again = client.post("/mailings", json=body, headers=headers)
    assert first.status_code == again.status_code == 201
    assert again.json() == first.json() and again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert client.get("/mailings", headers=bearer(write_key)).json()["total"] == 1
    other = client.post("/mailings", json=body | {"text": "twice"}, headers=headers)
    assert "Idempotency-Key" in assert_problem(other, 422)["detail"]
    new_key = client.post("/mailings", json=body, headers=bearer(write_key) | {"Idempotency-Key": "order-2"})
    assert new_key.status_code == 201 and new_key.json()["id"] != first.json()["id"]


def test_a_refused_request_keeps_no_idempotent_answer(client: TestClient, write_key: str) -> None:
    body = {"text": "x", "starts_at": later(days=1), "ends_at": later(days=2)}
    headers = bearer(write_key) | {"Idempotency-Key": "retry-me"}
    assert_problem(client.post("/mailings", json=body, headers=headers), 422)  # no clients yet
    add_clients(client, write_key)
    assert client.post("/mailings", json=body, headers=headers).status_code == 201


def test_word_counts(client: TestClient, write_key: str) -> None:
    urls = ["http://127.0.0.1:9/a", "http://10.0.0.1/private", "https://example.com/"]
    headers = bearer(write_key) | {"Idempotency-Key": "wc-1"}
    created = client.post("/word-counts", json={"urls": urls, "word": "python"}, headers=headers)
    assert created.status_code == 201, created.text
    request = created.json()
    assert request["accepted"] == 2 and list(request["refused"]) == ["http://10.0.0.1/private"]
    replay = client.post("/word-counts", json={"urls": urls, "word": "python"}, headers=headers)
    assert replay.json() == request and replay.headers["idempotent-replayed"] == "true"
    listed = client.get("/word-counts", headers=bearer(write_key)).json()
    assert listed["total"] == 1 and listed["items"][0]["total"] == 3 and listed["items"][0]["refused"] == 1
    one = client.get(
        f"/word-counts/{request['id']}", params={"limit": 2, "offset": 1}, headers=bearer(write_key)
    )
    assert one.status_code == 200
    pages = one.json()["pages"]
    assert pages["total"] == 3 and len(pages["items"]) == 2 and pages["offset"] == 1
    assert_problem(client.get("/word-counts/12345", headers=bearer(write_key)), 404)
    bad = client.post("/word-counts", json={"urls": [], "word": ""}, headers=bearer(write_key))
    assert {e["field"] for e in assert_problem(bad, 422)["errors"]} == {"body.urls", "body.word"}


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", "/clients"),
        ("POST", "/clients"),
        ("GET", "/mailings/stats"),
        ("GET", "/messages"),
        ("POST", "/word-counts"),
        ("DELETE", "/mailings/1"),
    ],
)
def test_no_key_or_a_bad_one_is_401(
    client: TestClient, sessions: sessionmaker[Session], method: str, path: str
) -> None:
    for headers in (
        {},
        bearer("sy_00000000_nope"),
        {"X-API-Key": "garbage"},
        {"Authorization": "Basic eDp5"},
    ):
        body = assert_problem(client.request(method, path, headers=headers), 401)
        assert client.request(method, path, headers=headers).headers["www-authenticate"].startswith("Bearer")
        assert "sy_00000000_nope" not in str(body) and "garbage" not in str(body)


def test_scopes_and_revocation(client: TestClient, sessions, read_key: str, admin_key: str) -> None:
    assert client.get("/clients", headers={"X-API-Key": read_key}).status_code == 200
    forbidden = assert_problem(
        client.post("/clients", json={"phone": "79123456701"}, headers=bearer(read_key)), 403
    )
    assert read_key not in forbidden["detail"]
    assert (
        client.post("/clients", json={"phone": "79123456701"}, headers=bearer(admin_key)).status_code == 201
    )
    with sessions.begin() as session:
        read_id = next(key.id for key in list_keys(session) if key.scope == "read")
        assert all(key.last_used_at for key in list_keys(session))
    revoke_key(key_id=read_id, sessions=sessions)
    assert_problem(client.get("/clients", headers=bearer(read_key)), 401)


def test_rate_limit_is_429_with_retry_after(client: TestClient, read_key: str) -> None:
    set_env({"SWITCHYARD_API__RATE_LIMIT_PER_MINUTE": "2"})
    try:
        answers = [client.get("/clients", headers=bearer(read_key)) for _ in range(5)]
    finally:
        set_env({"SWITCHYARD_API__RATE_LIMIT_PER_MINUTE": "600"})
    limited = [answer for answer in answers if answer.status_code == 429]
    assert limited and all(answer.status_code in (200, 429) for answer in answers)
    assert_problem(limited[0], 429)
    assert 1 <= int(limited[0].headers["retry-after"]) <= 60


def test_openapi_declares_problems_and_security(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    operation = schema["paths"]["/clients"]["post"]
    for status in ("401", "403", "409", "422", "429", "500"):
        assert PROBLEM in operation["responses"][status]["content"]
    assert operation["security"]
    assert "security" not in schema["paths"]["/healthz"]["get"]


def test_metrics_are_served_without_a_key_and_count_requests_by_route(
    client: TestClient, read_key: str
) -> None:
    assert client.get("/clients/12345", headers=bearer(read_key)).status_code == 404
    assert client.get("/clients/54321", headers=bearer(read_key)).status_code == 404
    scraped = client.get("/metrics")
    assert scraped.status_code == 200 and scraped.headers["content-type"].startswith("text/plain")
    lines = scraped.text.splitlines()
    counted = [line for line in lines if line.startswith("switchyard_http_requests_total{")]
    by_route = [line for line in counted if 'route="/clients/{client_id}"' in line and 'status="404"' in line]
    assert by_route and float(by_route[0].rsplit(" ", 1)[1]) >= 2
    assert not any("/clients/12345" in line for line in lines)  # the template, never the raw path
    assert any(
        line.startswith("switchyard_messages{") or line.startswith("switchyard_queue_depth{")
        for line in lines
    )
    assert read_key not in scraped.text
