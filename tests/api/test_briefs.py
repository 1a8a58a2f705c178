"""/briefs on SQLite and PostgreSQL: order (Idempotency-Key replayed, the key passed on to the run),
search with filters and totals, view with progress, articles and accounts paginated, the zip as a
download (409 before it is finished, 404 when it is gone), re-collect; problems naming the field;
401/403 by scope."""

from __future__ import annotations

import io
import zipfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from db.briefs import (
    get_brief,
)
from tests.api.conftest import bearer
from tests.api.test_contract import assert_problem

Sessions = sessionmaker[Session]


def test_order_a_brief_and_replay_it(
    client: TestClient, write_key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    started: list[tuple[int, str | None]] = []

    def start(brief_id: int, *, idempotency_key: str | None = None) -> str:
        started.append((brief_id, idempotency_key))
        return f"Started a run for brief {brief_id}"

    monkeypatch.setattr("api.routers.briefs.start_collection", start)
    body = {"keywords": [" 新能源 ", "电动车", "新能源"], "platforms": ["weibo", "douyin"]}
    headers = bearer(write_key) | {"Idempotency-Key": "brief-1"}
    first = client.post("/briefs", json=body, headers=headers)
    assert first.status_code == 201, first.text
    created = first.json()
    assert created["keywords"] == ["新能源", "电动车"] and created["platforms"] == ["weibo", "douyin"]
    assert created["searches"] == 4 and created["run"].startswith("Started")
    again = client.post("/briefs", json=body, headers=headers)
    assert again.status_code == 201 and again.json() == created
    assert again.headers["idempotent-replayed"] == "true"
    assert len(started) == 1 and started[0][0] == created["id"] and started[0][1].endswith(":brief-1")
    other = client.post("/briefs", json=body | {"keywords": ["x"]}, headers=headers)
    assert "Idempotency-Key" in assert_problem(other, 422)["detail"]

    view = client.get(f"/briefs/{created['id']}", headers=bearer(write_key)).json()
    assert view["status"] == "submitted" and view["stage"] == "waiting" and view["zip_ready"] is False
    assert view["progress"] == {
        "searches": 4,
        "finished": 0,
        "by_status": {"pending": 4, "running": 0, "done": 0, "partial": 0, "failed": 0},
    }
    assert {(s["platform"], s["keyword"]) for s in view["searches"]} == {
        (p, k) for p in ("weibo", "douyin") for k in ("新能源", "电动车")
    }
    not_yet = client.get(f"/briefs/{created['id']}/zip", headers=bearer(write_key))
    assert "submitted" in assert_problem(not_yet, 409)["detail"]
    busy = client.post(f"/briefs/{created['id']}/recollect", headers=bearer(write_key))
    assert "let it end first" in assert_problem(busy, 422)["detail"]


def test_all_platforms_by_default_and_problems_name_the_field(client: TestClient, write_key: str) -> None:
    every = client.post("/briefs", json={"keywords": ["茶"]}, headers=bearer(write_key))
    assert every.status_code == 201 and every.json()["searches"] == 5
    bad = client.post(
        "/briefs",
        json={"keywords": [], "platforms": ["myspace"], "since": "2026-01-01"},
        headers=bearer(write_key),
    )
    fields = {error["field"] for error in assert_problem(bad, 422)["errors"]}
    assert {"body.keywords", "body.platforms.0", "body.since"} <= fields
    extra = client.post("/briefs", json={"keywords": ["a"], "colour": "red"}, headers=bearer(write_key))
    assert assert_problem(extra, 422)["errors"][0]["field"] == "body.colour"
    backwards = {"keywords": ["a"], "since": "2026-02-01T00:00:00Z", "until": "2026-01-01T00:00:00Z"}
    refused = client.post("/briefs", json=backwards, headers=bearer(write_key))
    assert "ends before it starts" in assert_problem(refused, 422)["detail"]
    limit = client.get("/briefs", params={"created_from": "yesterday"}, headers=bearer(write_key))
    assert assert_problem(limit, 422)["errors"][0]["field"] == "query.created_from"
    assert_problem(client.get("/briefs/999999", headers=bearer(write_key)), 404)
    for suffix in ("articles", "accounts", "zip"):
        assert_problem(client.get(f"/briefs/999999/{suffix}", headers=bearer(write_key)), 404)
    assert_problem(client.post("/briefs/999999/recollect", headers=bearer(write_key)), 404)


def test_search_filters_and_totals(client: TestClient, read_key: str, write_key: str) -> None:
    ids = [
        client.post(
            "/briefs", json={"keywords": [k], "platforms": ["weibo"]}, headers=bearer(write_key)
        ).json()["id"]
        for k in ("新能源汽车", "咖啡", "新能源")
    ]
    page = client.get("/briefs", params={"limit": 2}, headers=bearer(read_key)).json()
    assert page["total"] == 3 and page["limit"] == 2 and [b["id"] for b in page["items"]] == ids[:0:-1]
    found = client.get("/briefs", params={"keyword": "能源", "offset": 1}, headers=bearer(read_key)).json()
    assert found["total"] == 2 and [b["id"] for b in found["items"]] == [ids[0]]
    status = client.get("/briefs", params={"status": "finished"}, headers=bearer(read_key)).json()
    assert status["total"] == 0 and status["items"] == []
    future = (datetime.now(UTC) + timedelta(hours=1)).isoformat()
    later = client.get("/briefs", params={"created_from": future}, headers=bearer(read_key)).json()
    assert later["total"] == 0
    earlier = client.get("/briefs", params={"created_until": future}, headers=bearer(read_key)).json()
    assert earlier["total"] == 3
    bad = client.get("/briefs", params={"status": "lost"}, headers=bearer(read_key))
    assert assert_problem(bad, 422)["errors"][0]["field"] == "query.status"


def test_a_finished_brief_its_articles_accounts_and_zip(
    client: TestClient, read_key: str, finished_brief: int
) -> None:
    view = client.get(f"/briefs/{finished_brief}", headers=bearer(read_key)).json()
    assert (
        view["status"] == "finished" and view["label"] == "finished (partial)" and view["stage"] == "finished"
    )
    assert view["zip_ready"] is True and view["articles"] == 6 and "HTTP 500" in view["last_error"]
    assert view["progress"]["finished"] == 2 and view["progress"]["by_status"]["partial"] == 1
    assert {t["platform"]: t["articles"] for t in view["platforms_totals"]} == {"douyin": 3, "weibo": 3}
    assert view["finished_at"] and view["collected_at"]

    page = client.get(
        f"/briefs/{finished_brief}/articles", params={"limit": 4}, headers=bearer(read_key)
    ).json()
    assert page["total"] == 6 and len(page["items"]) == 4
    assert page["items"][0]["interaction"] >= page["items"][-1]["interaction"]
    assert page["items"][0]["topics"] == ["电动车"]
    rest = client.get(
        f"/briefs/{finished_brief}/articles", params={"limit": 4, "offset": 4}, headers=bearer(read_key)
    ).json()
    seen = {a["external_id"] for a in page["items"] + rest["items"]}
    assert len(rest["items"]) == 2 and len(seen) == 6
    weibo = client.get(
        f"/briefs/{finished_brief}/articles",
        params={"platform": "weibo", "text": "第2"},
        headers=bearer(read_key),
    ).json()
    assert weibo["total"] == 1 and weibo["items"][0]["external_id"] == "weibo-2"
    none = client.get(
        f"/briefs/{finished_brief}/articles", params={"keyword": "咖啡"}, headers=bearer(read_key)
    )
    assert none.json()["total"] == 0

    accounts = client.get(
        f"/briefs/{finished_brief}/accounts", params={"limit": 2}, headers=bearer(read_key)
    ).json()
    assert accounts["total"] == 6 and len(accounts["items"]) == 2
    assert accounts["items"][0]["interaction"] >= accounts["items"][1]["interaction"]

    download = client.get(f"/briefs/{finished_brief}/zip", headers=bearer(read_key))
    assert download.status_code == 200 and download.headers["content-type"] == "application/zip"
    assert f'filename="brief-{finished_brief}.zip"' in download.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(download.content)) as archive:
        assert archive.namelist()


def test_recollect_and_a_zip_gone_from_disk(
    client: TestClient,
    write_key: str,
    finished_brief: int,
    sessions: Sessions,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with sessions.begin() as session:
        brief = get_brief(session, brief_id=finished_brief)
    assert brief is not None
    Path(brief.zip_path or "").unlink()
    gone = client.get(f"/briefs/{finished_brief}/zip", headers=bearer(write_key))
    assert "not on disk" in assert_problem(gone, 404)["detail"]

    monkeypatch.setattr("api.routers.briefs.start_collection", lambda brief_id: f"run for {brief_id}")
    again = client.post(f"/briefs/{finished_brief}/recollect", headers=bearer(write_key))
    assert again.status_code == 200, again.text
    assert again.json() == {"id": finished_brief, "searches": 1, "run": f"run for {finished_brief}"}
    view = client.get(f"/briefs/{finished_brief}", headers=bearer(write_key)).json()
    assert view["status"] == "submitted" and view["progress"]["by_status"]["pending"] == 1
    assert view["articles"] == 6  # what was stored stays


def test_scopes(client: TestClient, read_key: str) -> None:
    assert_problem(client.get("/briefs"), 401)
    assert_problem(client.get("/briefs/1/zip"), 401)
    assert_problem(client.post("/briefs", json={"keywords": ["a"]}), 401)
    assert_problem(client.post("/briefs", json={"keywords": ["a"]}, headers=bearer(read_key)), 403)
    assert_problem(client.post("/briefs/1/recollect", headers=bearer(read_key)), 403)
    assert client.get("/briefs", headers=bearer(read_key)).status_code == 200
