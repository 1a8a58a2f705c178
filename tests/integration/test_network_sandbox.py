"""The sandbox's photo network stand-in as a client sees it: answer shapes, faults, control, the graph."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from core.settings import SandboxSettings
from sandbox.app import create_app
from sandbox.network import CATALOG, HASHTAGS, LOCATIONS, graph
from sandbox.server import running_sandbox
from tests.conftest import ConfigureSandbox

PASSWORD = "sandbox-password"


@pytest.fixture
def api(sandbox_url: str) -> Iterator[httpx.Client]:
    """A client of the network's base URL, logged in as demo_bakery, the overlay reset first."""
    with httpx.Client(base_url=f"{sandbox_url}/network", timeout=5) as client:
        client.post("/_control/reset").raise_for_status()
        answer = client.post("/api/v1/accounts/login", json={"username": "demo_bakery", "password": PASSWORD})
        client.headers["Authorization"] = f"Bearer {answer.json()['session']}"
        yield client


def test_login_answer(sandbox_url: str) -> None:
    answer = httpx.post(
        f"{sandbox_url}/network/api/v1/accounts/login",
        json={"username": "Demo_Gallery", "password": PASSWORD},
    )
    body = answer.json()
    assert answer.status_code == 200 and body["status"] == "ok"
    assert body["logged_in_user"] == {
        "pk": 2,
        "username": "demo_gallery",
        "full_name": "Demo Gallery",
        "is_private": False,
    }
    assert isinstance(body["session"], str) and len(body["session"]) >= 16


@pytest.mark.parametrize(
    ("payload", "error_type"),
    [
        ({"username": "demo_bakery", "password": "nope"}, "bad_password"),
        ({"username": "nobody", "password": PASSWORD}, "invalid_user"),
        ({"username": "demo_bakery"}, "missing_parameters"),
    ],
)
def test_login_refusals(sandbox_url: str, payload: dict[str, str], error_type: str) -> None:
    answer = httpx.post(f"{sandbox_url}/network/api/v1/accounts/login", json=payload)
    assert answer.status_code == 400
    assert answer.json()["status"] == "fail" and answer.json()["error_type"] == error_type


def test_no_session_is_login_required(sandbox_url: str) -> None:
    for headers in ({}, {"Authorization": "Bearer made-up-session"}):
        answer = httpx.get(f"{sandbox_url}/network/api/v1/users/demo_bakery/usernameinfo", headers=headers)
        assert answer.status_code == 403
        assert answer.json()["message"] == "login_required" and answer.json()["status"] == "fail"


def test_user_answers(api: httpx.Client) -> None:
    by_name = api.get("/api/v1/users/big_brand/usernameinfo").json()
    by_id = api.get("/api/v1/users/10/info").json()
    assert by_name == by_id
    keys = {"pk", "username", "full_name", "biography", "is_private", "is_business", "follower_count"}
    assert keys | {"following_count", "media_count"} <= set(by_name["user"])
    assert by_name["user"]["follower_count"] == 100_000
    missing = api.get("/api/v1/users/999/info")
    assert missing.status_code == 404 and missing.json() == {"message": "User not found", "status": "fail"}


def test_user_lists_and_bad_parameters(api: httpx.Client) -> None:
    page = api.get("/api/v1/friendships/10/followers", params={"count": 500}).json()
    assert len(page["users"]) == 200 and page["next_max_id"] == "200"
    assert set(page["users"][0]) == {"pk", "username", "full_name", "is_private"}
    small = api.get("/api/v1/friendships/10/followers", params={"count": 7, "max_id": 200}).json()
    second = api.get("/api/v1/friendships/10/followers", params={"max_id": 200}).json()
    assert [user["pk"] for user in small["users"]] == [user["pk"] for user in second["users"][:7]]
    assert api.get("/api/v1/friendships/10/followers", params={"max_id": "x"}).status_code == 400
    refused = api.get("/api/v1/friendships/12/following")
    assert refused.status_code == 403 and refused.json()["message"] == "Not authorized to view user"
    last = api.get("/api/v1/friendships/16/followers").json()
    assert last == {"users": [], "next_max_id": None, "page_size": 200, "status": "ok"}


def test_media_answers(api: httpx.Client) -> None:
    feed = api.get("/api/v1/feed/user/11", params={"count": 5}).json()
    assert len(feed["items"]) == 5 and feed["more_available"] is True
    media = feed["items"][0]
    assert set(media) >= {"id", "pk", "user", "taken_at", "like_count", "caption", "location", "has_liked"}
    assert media["id"] == "11_44" and media["user"]["username"] == "corner_shop"
    assert api.get(f"/api/v1/media/{media['id']}/info").json()["items"] == [media]
    for tag in HASHTAGS:
        items = api.get(f"/api/v1/feed/tag/{tag}", params={"count": 3}).json()["items"]
        assert all(f"#{tag}" in item["caption"]["text"] for item in items)
        for item in items:
            assert api.get(f"/api/v1/media/{item['id']}/info").json()["items"] == [item]
    located = api.get(f"/api/v1/feed/location/{LOCATIONS[1].pk}", params={"count": 3}).json()["items"]
    assert all(item["location"] == {"pk": LOCATIONS[1].pk, "name": LOCATIONS[1].name} for item in located)
    for path in (
        "/api/v1/feed/tag/nosuch",
        "/api/v1/feed/location/5",
        "/api/v1/media/11_45/info",
        "/api/v1/media/x/info",
    ):
        assert api.get(path).status_code == 404, path


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/users/²/info",
        "/api/v1/friendships/²/followers",
        "/api/v1/feed/user/٣",
        "/api/v1/feed/location/²",
        "/api/v1/media/²_1/info",
        "/api/v1/users/user²/usernameinfo",
        "/api/v1/users/user0012/usernameinfo",
    ],
)
def test_odd_digits_are_not_found(api: httpx.Client, path: str) -> None:
    assert api.get(path).status_code == 404


def test_actions_and_friendship_answers(api: httpx.Client) -> None:
    assert api.post("/api/v1/media/11_1/like").json() == {"status": "ok"}
    followed = api.post("/api/v1/friendships/create/11").json()
    assert followed["friendship_status"].items() >= {"following": True, "outgoing_request": False}.items()
    assert api.get("/api/v1/friendships/show/11").json()["following"] is True
    requested = api.post("/api/v1/friendships/create/12").json()["friendship_status"]
    assert (requested["following"], requested["outgoing_request"]) == (False, True)
    assert api.post("/api/v1/friendships/destroy/11").json()["friendship_status"]["following"] is False
    assert api.post("/api/v1/friendships/create/1").status_code == 400  # oneself
    totals = api.get("/_counters").json()["accounts"]["demo_bakery"]
    assert totals == {
        "like": {"received": 1, "applied": 1, "duplicates": 0},
        "follow": {"received": 3, "applied": 2, "duplicates": 0},
        "unfollow": {"received": 1, "applied": 1, "duplicates": 0},
    }
    api.delete("/_counters")
    assert api.get("/_counters").json() == {"accounts": {}, "duplicates": []}


@pytest.mark.parametrize(
    ("knob", "status", "expected"),
    [
        ("network_throttle_rate", 429, {"message": "Please wait a few minutes before you try again."}),
        ("network_challenge_rate", 400, {"message": "challenge_required"}),
    ],
)
def test_fault_answers(
    api: httpx.Client, configure_sandbox: ConfigureSandbox, knob: str, status: int, expected: dict[str, Any]
) -> None:
    configure_sandbox(**{knob: 1.0})
    answer = api.get("/api/v1/users/11/info")
    assert answer.status_code == status
    assert answer.json().items() >= (expected | {"status": "fail"}).items()
    if status == 429:
        assert answer.headers["retry-after"] == "1"
    else:
        assert set(answer.json()["challenge"]) >= {"url", "api_path"}


def test_errors_are_plain_text(api: httpx.Client, configure_sandbox: ConfigureSandbox) -> None:
    configure_sandbox(network_error_rate=1.0)
    answer = api.get("/api/v1/users/11/info")
    assert answer.status_code == 500 and answer.headers["content-type"].startswith("text/plain")


def test_feedback_required_answer(api: httpx.Client) -> None:
    api.put("/_control/accounts/demo_bakery/block_budget", json={"budget": 1}).raise_for_status()
    assert api.post("/api/v1/media/11_1/like").status_code == 200
    blocked = api.post("/api/v1/media/11_2/like")
    assert blocked.status_code == 400
    assert (
        blocked.json().items()
        >= {"message": "feedback_required", "feedback_title": "Action Blocked", "spam": True}.items()
    )
    assert api.post("/api/v1/friendships/create/11").status_code == 200  # budgets are per action
    assert api.put("/_control/accounts/demo_bakery/block_budget", json={"budget": None}).json() == {
        "budget": None
    }
    assert api.post("/api/v1/media/11_2/like").status_code == 200


def test_control_refuses_unknown_accounts_and_bad_counts(api: httpx.Client) -> None:
    assert api.post("/_control/accounts/nobody/challenge").status_code == 404
    assert api.post("/_control/accounts/demo_bakery/remove_followers", json={"count": -1}).status_code == 400
    assert api.post("/_control/accounts/demo_bakery/remove_followers", json={"count": 0}).json() == {
        "removed": []
    }
    assert api.get("/_counters/demo_bakery/poke/11").status_code == 404
    assert api.get("/_counters/demo_bakery/like/11_1").json() == {
        "received": 0,
        "applied": 0,
        "duplicates": 0,
    }


def test_removing_more_than_remain(api: httpx.Client) -> None:
    removed = api.post("/_control/accounts/no_posts_yet/remove_followers", json={"count": 60}).json()[
        "removed"
    ]
    rest = api.post("/_control/accounts/no_posts_yet/remove_followers", json={"count": 60}).json()["removed"]
    assert (len(removed), len(rest), len(set(removed) | set(rest))) == (60, 30, 90)
    assert api.get("/api/v1/users/14/info").json()["user"]["follower_count"] == 0
    assert api.get("/api/v1/friendships/14/followers").json()["users"] == []


def test_the_graph_is_the_seeds() -> None:
    def sample(seed: int) -> list[Any]:
        app = create_app(SandboxSettings(port=0, seed=seed))
        with running_sandbox(app=app) as url, httpx.Client(base_url=f"{url}/network/api/v1") as client:
            login = {"username": "user5000", "password": PASSWORD}
            session = client.post("/accounts/login", json=login).json()["session"]
            client.headers["Authorization"] = f"Bearer {session}"
            return [
                client.get(path).json() for path in ("/users/5000/info", "/friendships/11/followers?count=5")
            ]

    assert sample(7) == sample(7) != sample(8)


def test_the_graphs_shape() -> None:
    g = graph(42)
    users = [g.user(pk) for pk in range(10_000, 30_000)]
    private = sum(user.is_private for user in users) / len(users)
    business = sum(user.is_business for user in users) / len(users)
    assert 0.08 < private < 0.12 and 0.06 < business < 0.10
    assert max(user.followers for user in users) > 50_000 > sorted(user.followers for user in users)[10_000]
    assert all(0 <= user.followings <= 7_500 and 0 <= user.media <= 300 for user in users)
    assert any("shop" in user.biography for user in users) and any("bot" in user.biography for user in users)
    owner = users[3]
    followers = [g.follower(owner.pk, i) for i in range(owner.followers)]
    assert len(set(followers)) == owner.followers and owner.pk not in followers
    assert all(g.follows_virtually(pk, owner.pk) for pk in followers)
    assert sum(g.follows_virtually(pk, owner.pk) for pk in range(1_000, 50_000)) < owner.followers + 50
    assert {user.pk for user in CATALOG.values()}.isdisjoint(g.follower(10, i) for i in range(100_000))
