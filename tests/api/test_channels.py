"""/channels on SQLite and PostgreSQL, with a channel connected for real on the sandbox's microblog:
list and read, switches and start/stop, scheduled posts (preview after hashtags, weighted length,
over 280 a 422 naming ``text``, Idempotency-Key replay), cancel and retry, repost rules, hashtags,
the repost log, notifications; problems naming the field; 401/403 by scope."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from db.channels import channels as channels_db
from db.channels import posts as posts_db
from db.channels import reposts as reposts_db
from db.channels.models import RepostStatus
from rules.channels import PostState
from tests.api.conftest import bearer
from tests.api.test_contract import assert_problem
from tests.conftest import connect_channel

Sessions = sessionmaker[Session]


def later(**delta: float) -> str:
    return (datetime.now(UTC) + timedelta(**delta)).isoformat()


@pytest.fixture
def channel(microblog: str) -> int:
    return connect_channel()


def test_list_read_and_change_a_channel(client: TestClient, write_key: str, channel: int) -> None:
    page = client.get("/channels", headers=bearer(write_key)).json()
    assert page["total"] == 1 and page["items"][0]["id"] == channel
    assert page["items"][0]["screen_name"] == "demo_brand" and page["items"][0]["state"] == "running"
    one = client.get(f"/channels/{channel}", headers=bearer(write_key)).json()
    assert one["slots"] == [] and one["hashtags"] is None and one["owner"] == "ann"

    stopped = client.patch(
        f"/channels/{channel}", json={"state": "stopped", "reposting_on": False}, headers=bearer(write_key)
    )
    assert stopped.status_code == 200, stopped.text
    assert stopped.json()["state"] == "stopped" and stopped.json()["reposting_on"] is False
    assert stopped.json()["scheduling_on"] == one["scheduling_on"]
    running = client.patch(
        f"/channels/{channel}", json={"state": "running"}, headers=bearer(write_key)
    ).json()
    assert running["state"] == "running" and running["reposting_on"] is False

    bad = client.patch(f"/channels/{channel}", json={"state": "gone", "x": 1}, headers=bearer(write_key))
    assert {e["field"] for e in assert_problem(bad, 422)["errors"]} == {"body.state", "body.x"}
    assert_problem(client.get("/channels/999999", headers=bearer(write_key)), 404)
    assert_problem(client.patch("/channels/999999", json={}, headers=bearer(write_key)), 404)


def test_schedule_with_hashtags_replay_cancel_and_retry(
    client: TestClient, write_key: str, channel: int, sessions: Sessions
) -> None:
    tags = client.put(
        f"/channels/{channel}/hashtags", json={"tags": ["news"], "count": 1}, headers=bearer(write_key)
    )
    assert tags.status_code == 200 and tags.json()["tags"] == ["news"]
    client.patch(f"/channels/{channel}", json={"hashtags_on": True}, headers=bearer(write_key))
    assert client.get(f"/channels/{channel}", headers=bearer(write_key)).json()["hashtags"]["tags"] == [
        "news"
    ]

    body = {"text": "hello world", "due_at": later(hours=2)}
    headers = bearer(write_key) | {"Idempotency-Key": "post-1"}
    first = client.post(f"/channels/{channel}/posts", json=body, headers=headers)
    assert first.status_code == 201, first.text
    post = first.json()
    assert post["preview"] == {"text": "hello world #news", "weighted": 17, "added": ["news"]}
    assert post["from_slot"] is False and post["channel"] == "demo_brand"
    again = client.post(f"/channels/{channel}/posts", json=body, headers=headers)
    assert again.json() == post and again.headers["idempotent-replayed"] == "true"
    queue = client.get(f"/channels/{channel}/posts", headers=bearer(write_key)).json()
    assert queue["total"] == 1 and queue["items"][0]["id"] == post["id"]  # scheduled once
    assert queue["items"][0]["status"] == "queued" and queue["items"][0]["text"] == "hello world"

    long = client.post(f"/channels/{channel}/posts", json={"text": "x" * 281}, headers=bearer(write_key))
    error = assert_problem(long, 422)["errors"][0]
    assert error["field"] == "body.text" and "281" in error["message"]
    no_slot = client.post(f"/channels/{channel}/posts", json={"text": "hi"}, headers=bearer(write_key))
    assert "no time slots" in assert_problem(no_slot, 422)["detail"]
    past = client.post(
        f"/channels/{channel}/posts", json={"text": "hi", "due_at": later(days=-1)}, headers=bearer(write_key)
    )
    assert_problem(past, 422)

    cancelled = client.post(f"/channels/{channel}/posts/{post['id']}/cancel", headers=bearer(write_key))
    assert cancelled.status_code == 200 and cancelled.json()["status"] == "cancelled"
    twice = client.post(f"/channels/{channel}/posts/{post['id']}/cancel", headers=bearer(write_key))
    assert "cancelled" in assert_problem(twice, 409)["detail"]
    assert client.get(f"/channels/{channel}/posts", headers=bearer(write_key)).json()["total"] == 0
    every = client.get(
        f"/channels/{channel}/posts", params={"state": ["cancelled", "published"]}, headers=bearer(write_key)
    ).json()
    assert every["total"] == 1 and every["items"][0]["status"] == "cancelled"

    second = client.post(f"/channels/{channel}/posts", json=body, headers=bearer(write_key)).json()
    with sessions.begin() as session:
        posts_db.transition(session, post_ids=[second["id"]], to=PostState.ERROR, from_=[PostState.QUEUED])
    not_error = client.post(f"/channels/{channel}/posts/{post['id']}/retry", headers=bearer(write_key))
    assert_problem(not_error, 409)
    retried = client.post(
        f"/channels/{channel}/posts/{second['id']}/retry",
        json={"due_at": later(hours=3)},
        headers=bearer(write_key),
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "queued"
    assert_problem(client.post(f"/channels/{channel}/posts/999999/cancel", headers=bearer(write_key)), 404)
    assert client.delete(f"/channels/{channel}/hashtags", headers=bearer(write_key)).status_code == 204
    assert client.get(f"/channels/{channel}", headers=bearer(write_key)).json()["hashtags"] is None


def test_repost_rules_log_and_notifications(
    client: TestClient, write_key: str, channel: int, sessions: Sessions
) -> None:
    rule = {"name": "english", "rule": {"languages": ["en"], "min_likes": 5}}
    added = client.post(f"/channels/{channel}/repost-rules", json=rule, headers=bearer(write_key))
    assert added.status_code == 201, added.text
    assert added.json()["rule"]["languages"] == ["en"] and added.json()["enabled"] is True
    bad = client.post(
        f"/channels/{channel}/repost-rules",
        json={"name": "x", "rule": {"min_likes": -1}},
        headers=bearer(write_key),
    )
    assert assert_problem(bad, 422)["errors"][0]["field"] == "body.rule.min_likes"
    rule_id = added.json()["id"]
    off = client.patch(
        f"/channels/{channel}/repost-rules/{rule_id}", json={"enabled": False}, headers=bearer(write_key)
    )
    assert off.json()["enabled"] is False
    listed = client.get(f"/channels/{channel}/repost-rules", headers=bearer(write_key)).json()
    assert [r["id"] for r in listed] == [rule_id]
    assert (
        client.delete(f"/channels/{channel}/repost-rules/{rule_id}", headers=bearer(write_key)).status_code
        == 204
    )
    gone = client.delete(f"/channels/{channel}/repost-rules/{rule_id}", headers=bearer(write_key))
    assert_problem(gone, 404)

    with sessions.begin() as session:
        judged = [
            reposts_db.Judged(str(n), "someone", RepostStatus.SKIPPED, "no rule lets it through")
            for n in range(3)
        ]
        reposts_db.record_judgements(session, channel_id=channel, judged=judged)
        for n in range(3):
            channels_db.notify(session, channel_id=channel, level="info", text=f"note {n}")
    log = client.get(f"/channels/{channel}/reposts", params={"limit": 2}, headers=bearer(write_key)).json()
    assert log["total"] == 3 and len(log["items"]) == 2 and log["items"][0]["status"] == "skipped"

    notes = client.get(f"/channels/{channel}/notifications", headers=bearer(write_key)).json()
    assert notes["total"] == 3 and all(n["read_at"] is None for n in notes["items"])
    one = client.post(
        f"/channels/{channel}/notifications/read",
        json={"ids": [notes["items"][0]["id"]]},
        headers=bearer(write_key),
    )
    assert one.json() == {"marked": 1}
    rest = client.post(f"/channels/{channel}/notifications/read", headers=bearer(write_key))
    assert rest.json() == {"marked": 2}
    assert client.get(f"/channels/{channel}", headers=bearer(write_key)).json()["unread"] == 0


def test_scopes(client: TestClient, read_key: str) -> None:
    assert_problem(client.get("/channels"), 401)
    assert_problem(client.post("/channels/1/posts", json={"text": "hi"}), 401)
    assert_problem(client.post("/channels/1/posts", json={"text": "hi"}, headers=bearer(read_key)), 403)
    assert_problem(client.patch("/channels/1", json={}, headers=bearer(read_key)), 403)
    assert_problem(client.delete("/channels/1/hashtags", headers=bearer(read_key)), 403)
    assert client.get("/channels", headers=bearer(read_key)).json()["total"] == 0
