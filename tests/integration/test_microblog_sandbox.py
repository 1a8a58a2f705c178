"""The sandbox's microblog stand-in as a client sees it: answer shapes, headers, refusals and control."""

from __future__ import annotations

import base64
import hashlib
import itertools
import time
from collections.abc import Iterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from sandbox.microblog import AUTHORS, streams

CLIENT = ("dev-microblog-client", "dev-microblog-secret")
CALLBACK = "http://127.0.0.1:9/cb"
VERIFIER = "a-verifier-of-at-least-forty-three-characters-long"
FIELDS = "created_at,lang,public_metrics,entities,referenced_tweets,author_id"


def challenge(verifier: str) -> str:
    return base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()


def authorize(client: httpx.Client, **extra: str) -> httpx.Response:
    params = {
        "response_type": "code",
        "client_id": CLIENT[0],
        "redirect_uri": CALLBACK,
        "scope": "tweet.read tweet.write users.read offline.access",
        "state": "st",
        "code_challenge": challenge(VERIFIER),
        "code_challenge_method": "S256",
    }
    return client.get("/oauth2/authorize", params=params | extra)


def callback(answer: httpx.Response) -> dict[str, str]:
    assert answer.status_code == 302
    return {key: values[0] for key, values in parse_qs(urlsplit(answer.headers["location"]).query).items()}


def sign_in(client: httpx.Client) -> None:
    """demo_brand's access token (the whole code flow) on `client`."""
    code = callback(authorize(client))["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": VERIFIER,
    }
    client.headers.pop("Authorization", None)
    tokens = client.post("/oauth2/token", data=form, auth=CLIENT).json()
    client.headers["Authorization"] = f"Bearer {tokens['access_token']}"


@pytest.fixture
def api(sandbox_url: str) -> Iterator[httpx.Client]:
    """A client of the microblog's base URL with demo_brand's access token, the overlay reset first."""
    with httpx.Client(base_url=f"{sandbox_url}/microblog", timeout=5) as client:
        client.post("/_control/reset").raise_for_status()
        sign_in(client)
        yield client


def test_the_authorize_endpoint_s_refusals(api: httpx.Client) -> None:
    assert callback(authorize(api, login_hint="demo_books"))["state"] == "st"
    assert callback(authorize(api, login_hint="tokyo_ramen"))["error"] == "access_denied"  # an author
    assert callback(authorize(api, scope="dm.write"))["error"] == "invalid_scope"
    assert callback(authorize(api, code_challenge=""))["error"] == "invalid_request"
    assert authorize(api, client_id="someone-else").status_code == 400  # no redirect to an unknown client
    assert authorize(api, redirect_uri="javascript:alert(1)").status_code == 400


def test_a_public_client_and_a_plain_challenge(api: httpx.Client) -> None:
    code = callback(authorize(api, code_challenge=VERIFIER, code_challenge_method="plain"))["code"]
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": CALLBACK,
        "code_verifier": VERIFIER,
        "client_id": CLIENT[0],
    }
    answer = httpx.post(f"{api.base_url}oauth2/token", data=form)
    assert answer.status_code == 200 and answer.json()["token_type"] == "bearer"
    refused = httpx.post(f"{api.base_url}oauth2/token", data=form)  # the code was used
    assert refused.status_code == 400 and refused.json()["error"] == "invalid_request"


def test_no_token_is_a_401_problem(sandbox_url: str) -> None:
    answer = httpx.get(f"{sandbox_url}/microblog/2/users/me", headers={"Authorization": "Bearer made-up"})
    assert answer.status_code == 401
    assert answer.json() == {
        "title": "Unauthorized",
        "detail": "Unauthorized",
        "type": "about:blank",
        "status": 401,
    }


def test_users_and_rate_limit_headers(api: httpx.Client) -> None:
    me = api.get("/2/users/me")
    assert me.json() == {"data": {"id": "1001", "name": "Demo Brand", "username": "demo_brand"}}
    assert {"x-rate-limit-limit", "x-rate-limit-remaining", "x-rate-limit-reset"} <= set(me.headers)
    remaining = int(me.headers["x-rate-limit-remaining"])
    by_id = api.get(f"/2/users/{AUTHORS[0].id}")
    assert by_id.json()["data"]["username"] == AUTHORS[0].username
    assert int(by_id.headers["x-rate-limit-remaining"]) == remaining - 1
    missing = api.get("/2/users/by/username/nobody_here")
    assert missing.status_code == 200 and "data" not in missing.json()
    assert missing.json()["errors"][0]["type"] == "https://api.twitter.com/2/problems/resource-not-found"


def test_timeline_answer_shape_and_bad_parameters(api: httpx.Client) -> None:
    path = "/2/users/1001/timelines/reverse_chronological"
    body = api.get(path, params={"max_results": 10, "tweet.fields": FIELDS, "expansions": "author_id"}).json()
    assert len(body["data"]) == 10 and body["meta"]["result_count"] == 10
    assert set(body["meta"]) == {"result_count", "newest_id", "oldest_id", "next_token"}
    post = body["data"][0]
    assert {
        "id",
        "text",
        "edit_history_tweet_ids",
        "created_at",
        "lang",
        "public_metrics",
        "author_id",
    } <= set(post)
    assert post["created_at"].endswith("Z") and {user["id"] for user in body["includes"]["users"]} >= {
        post["author_id"]
    }
    bare = api.get(path, params={"max_results": 1}).json()["data"][0]
    assert set(bare) == {"id", "text", "edit_history_tweet_ids"}  # only the fields asked for
    for params in (
        {"max_results": 101},
        {"max_results": 0},
        {"since_id": "abc"},
        {"pagination_token": "nope"},
    ):
        refused = api.get(path, params=params)
        assert refused.status_code == 400, params
        assert refused.json()["type"] == "https://api.twitter.com/2/problems/invalid-request"
    assert api.get("/2/users/1002/timelines/reverse_chronological").status_code == 403  # another's


def test_every_timeline_post_is_found_again_by_its_id(api: httpx.Client) -> None:
    body = api.get("/2/users/1001/timelines/reverse_chronological", params={"tweet.fields": FIELDS}).json()
    g = streams(42, 2.0)
    now_ms = int(api.get("/_control/clock").json()["now"] * 1000) + 1000
    assert all(g.exists(int(post["id"]), now_ms) for post in body["data"] if post["author_id"] != "1001")
    assert {post["author_id"] for post in body["data"]} <= {AUTHORS[a].id for a in g.followed("1001")}


def test_a_post_another_refers_to_is_an_original_when_read_by_its_own_id() -> None:
    g = streams(42, 2.0)
    now_ms = int(time.time() * 1000)
    refs = [
        int(ref)
        for a in range(len(AUTHORS))
        for pid in itertools.islice(g.descending(a, 1 << 62, now_ms, 0), 40)
        for _, ref in g.post(pid).referenced
    ]
    assert len(refs) > 100
    assert all(g.exists(ref, now_ms) and g.post(ref).referenced == () for ref in refs)


def test_post_refusals(api: httpx.Client) -> None:
    assert api.post("/2/tweets", json={"text": ""}).status_code == 400
    assert api.post("/2/tweets", json={"nothing": 1}).status_code == 400
    assert api.post("/2/tweets", json={"text": "界" * 141}).status_code == 400  # CJK counts double
    assert api.post("/2/tweets", json={"text": "界" * 140}).status_code == 201
    made = api.post("/2/tweets", json={"text": "Once"})
    assert made.status_code == 201 and made.json()["data"]["text"] == "Once"
    again = api.post("/2/tweets", json={"text": "Once "})
    assert again.status_code == 403 and again.json() == {
        "title": "Forbidden",
        "detail": "You are not allowed to create a Tweet with duplicate content.",
        "type": "about:blank",
        "status": 403,
    }
    api.post("/_control/clock", json={"advance": 86_401})
    assert api.post("/2/tweets", json={"text": "Once"}).status_code == 401  # the token expired
    sign_in(api)
    assert api.post("/2/tweets", json={"text": "Once"}).status_code == 201  # a day later it may repeat


def test_a_repost_of_a_repost_reposts_the_original(api: httpx.Client) -> None:
    body = api.get("/2/users/1001/timelines/reverse_chronological", params={"tweet.fields": FIELDS}).json()
    repost = next(
        post for post in body["data"] if post.get("referenced_tweets", [{}])[0].get("type") == "retweeted"
    )
    original = repost["referenced_tweets"][0]["id"]
    assert api.post("/2/users/1001/retweets", json={"tweet_id": repost["id"]}).json() == {
        "data": {"retweeted": True}
    }
    assert api.post("/2/users/1001/retweets", json={"tweet_id": original}).status_code == 200
    counters = api.get("/_counters").json()
    assert counters["users"]["demo_brand"]["reposts"] == {
        "received": 2,
        "applied": 1,
        "duplicates": 1,
        "limited": 0,
    }
    assert counters["reposts_received_again"] == [
        {
            "user": "demo_brand",
            "tweet_id": original,
            "received": 2,
            "applied": 1,
            "duplicates": 1,
            "limited": 0,
        }
    ]
    assert api.post("/2/users/1002/retweets", json={"tweet_id": original}).status_code == 403  # as another


def test_control_refusals_and_counter_reset(api: httpx.Client) -> None:
    assert api.post("/_control/users/nobody/revoke").status_code == 404
    assert api.put("/_control/users/demo_brand/limits", json={"posts": -1}).status_code == 400
    assert api.put("/_control/users/demo_brand/limits", json={"likes": 1}).status_code == 400
    assert api.put("/_control/users/demo_brand/limits", json={"posts": 0}).json() == {"limits": {"posts": 0}}
    limited = api.post("/2/tweets", json={"text": "no room"})
    assert limited.status_code == 429 and limited.json()["title"] == "Too Many Requests"
    assert limited.headers["x-rate-limit-remaining"] == "0"
    assert api.post("/_control/clock", json={"advance": -5}).status_code == 400
    assert api.post("/_control/users/demo_brand/timeline", json={"count": -1}).status_code == 400
    assert len(api.post("/_control/users/demo_brand/timeline", json={"count": 3}).json()["ids"]) == 3
    assert api.get("/_counters/demo_brand").json()["posts"]["limited"] == 1
    api.delete("/_counters")
    assert api.get("/_counters").json() == {"users": {}, "reposts_received_again": []}
