"""connectors.microblog.answers: every answer shape, problem body and header, and malformed bodies."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from connectors.microblog import ErrorKind, MicroblogError, RateLimit
from connectors.microblog.answers import (
    error_of,
    rate_limit_of,
    read_post_made,
    read_reposted,
    read_timeline,
    read_tokens,
    read_user,
    token_error_of,
)

RESET = 1_796_155_472
LIMIT = RateLimit(100, 0, datetime.fromtimestamp(RESET, UTC))


def problem(status: int, title: str, detail: str) -> dict[str, Any]:
    return {"title": title, "detail": detail, "type": "about:blank", "status": status}


POST = {
    "id": "2127852589511880704",
    "text": "RT @kotiki_ru: Доброе утро #котики #хоккей #котики",
    "edit_history_tweet_ids": ["2127852589511880704"],
    "created_at": "2026-12-01T19:49:25.586Z",
    "author_id": "2004",
    "lang": "ru",
    "public_metrics": {"retweet_count": 3, "reply_count": 0, "like_count": 41, "quote_count": 0},
    "entities": {
        "hashtags": [
            {"start": 27, "end": 34, "tag": "котики"},
            {"start": 35, "end": 42, "tag": "хоккей"},
            {"start": 43, "end": 50, "tag": "котики"},
        ],
        "mentions": [{"start": 3, "end": 13, "username": "kotiki_ru", "id": "2009"}],
    },
    "referenced_tweets": [{"type": "retweeted", "id": "2127847317892530176"}],
}
REPLY = {
    "id": "2127852581303635968",
    "text": "@nyc_eats What do you think?",
    "created_at": "2026-12-01T19:49:23Z",
    "author_id": "2006",
    "lang": "en",
    "referenced_tweets": [{"type": "replied_to", "id": "2127852581303635000"}],
}


def page(*posts: dict[str, Any], **meta: Any) -> dict[str, Any]:
    return {
        "data": list(posts),
        "includes": {"users": [{"id": "2004", "name": "Market Pulse", "username": "market_pulse"}]},
        "meta": {"result_count": len(posts), **meta},
    }


# --- headers ---


def test_rate_limit_headers() -> None:
    headers = {"x-rate-limit-limit": "180", "x-rate-limit-remaining": "179", "x-rate-limit-reset": str(RESET)}
    assert rate_limit_of(headers) == RateLimit(180, 179, datetime.fromtimestamp(RESET, UTC))
    for broken in ({}, headers | {"x-rate-limit-remaining": "-1"}, headers | {"x-rate-limit-reset": "soon"}):
        assert rate_limit_of(broken) is None
    assert rate_limit_of(headers | {"x-rate-limit-reset": "9" * 15}) is None


# --- successes ---


def test_a_timeline_page() -> None:
    found = read_timeline(
        "t", page(POST, REPLY, newest_id=POST["id"], oldest_id=REPLY["id"], next_token="7140dab")
    )
    repost, reply = found.posts
    assert (found.newest_id, found.next_token) == (POST["id"], "7140dab")
    assert (repost.author_username, repost.language, repost.like_count, repost.repost_count) == (
        "market_pulse",
        "ru",
        41,
        3,
    )
    assert repost.is_repost and not repost.is_reply and found.originals == {POST["id"]: "2127847317892530176"}
    assert repost.hashtags == ("котики", "хоккей")
    assert repost.created_at == datetime(2026, 12, 1, 19, 49, 25, 586_000, tzinfo=UTC)
    assert reply.is_reply and not reply.is_repost and reply.author_username == "" and reply.hashtags == ()
    assert (reply.like_count, reply.repost_count) == (0, 0)


def test_an_empty_page_and_a_page_without_meta_ids() -> None:
    assert read_timeline("t", {"data": [REPLY | {"lang": None}], "meta": {}}).posts[0].language is None
    empty = read_timeline("t", {"meta": {"result_count": 0}})
    assert (empty.posts, empty.newest_id, empty.next_token) == ((), None, None)
    assert read_timeline("t", {"data": [REPLY, POST], "meta": {"result_count": 2}}).newest_id == POST["id"]


def test_users_posts_reposts_and_tokens() -> None:
    assert (
        read_user("u", {"data": {"id": "1001", "name": "Demo Brand", "username": "demo_brand"}}).username
        == "demo_brand"
    )
    made = read_post_made("p", {"data": {"id": "2127", "text": "hi", "edit_history_tweet_ids": ["2127"]}})
    assert (made.id, made.text) == ("2127", "hi")
    read_reposted("r", {"data": {"retweeted": True}})
    now = datetime(2026, 12, 1, tzinfo=UTC)
    tokens = read_tokens(
        "t",
        {
            "token_type": "bearer",
            "access_token": "A" * 40,
            "refresh_token": "R" * 40,
            "expires_in": 7200,
            "scope": "tweet.read",
        },
        now,
    )
    assert (tokens.expires_at, tokens.scope, tokens.refresh_token) == (
        now + timedelta(hours=2),
        "tweet.read",
        "R" * 40,
    )
    assert "A" * 40 not in repr(tokens) and "R" * 40 not in repr(tokens)
    no_refresh = read_tokens("t", {"token_type": "Bearer", "access_token": "A" * 40, "expires_in": 60}, now)
    assert no_refresh.refresh_token is None and no_refresh.scope == ""


# --- malformed successes ---


@pytest.mark.parametrize(
    "body",
    [
        None,
        [],
        {"data": "x"},
        {"meta": "x"},
        {"data": [{"id": "1"}], "meta": {}},
        {"data": [POST | {"id": 5}], "meta": {}},
        {"data": [POST | {"created_at": "yesterday"}], "meta": {}},
        {"data": [POST | {"public_metrics": {"like_count": -1}}], "meta": {}},
        {"data": [POST | {"entities": {"hashtags": [{"start": 1}]}}], "meta": {}},
        {"data": [POST | {"referenced_tweets": [{"type": "retweeted"}]}], "meta": {}},
        {"data": [POST], "meta": {"next_token": 7}},
        {"data": [POST], "includes": {"users": [{"id": "x"}]}, "meta": {}},
    ],
)
def test_a_malformed_page_is_transient(body: object) -> None:
    with pytest.raises(MicroblogError) as caught:
        read_timeline("home timeline", body)
    assert caught.value.kind is ErrorKind.TRANSIENT and "malformed" in str(caught.value)


@pytest.mark.parametrize("body", [None, {}, {"data": {"id": "1"}}, {"data": {"id": 1, "text": "x"}}])
def test_a_malformed_post_answer_is_an_unknown_outcome(body: object) -> None:
    with pytest.raises(MicroblogError) as caught:
        read_post_made("post", body)
    assert caught.value.kind is ErrorKind.UNKNOWN_OUTCOME
    with pytest.raises(MicroblogError) as repost:
        read_reposted("repost", {"data": {"retweeted": False}})
    assert repost.value.kind is ErrorKind.UNKNOWN_OUTCOME


@pytest.mark.parametrize(
    "body",
    [
        {"token_type": "mac", "access_token": "A", "expires_in": 1},
        {"token_type": "bearer", "access_token": "", "expires_in": 1},
        {"token_type": "bearer", "access_token": "A", "expires_in": "soon"},
        {"token_type": "bearer", "access_token": "A", "refresh_token": 5, "expires_in": 1},
        None,
    ],
)
def test_malformed_tokens(body: object) -> None:
    with pytest.raises(MicroblogError) as caught:
        read_tokens("token", body, datetime.now(UTC))
    assert caught.value.kind is ErrorKind.TRANSIENT


# --- errors ---


@pytest.mark.parametrize(
    ("status", "body", "action", "kind"),
    [
        (401, problem(401, "Unauthorized", "Unauthorized"), False, ErrorKind.UNAUTHORISED),
        (429, problem(429, "Too Many Requests", "Too Many Requests"), True, ErrorKind.RATE_LIMITED),
        (503, problem(503, "Service Unavailable", "Service Unavailable"), False, ErrorKind.TRANSIENT),
        (503, problem(503, "Service Unavailable", "Service Unavailable"), True, ErrorKind.UNKNOWN_OUTCOME),
        (500, None, False, ErrorKind.TRANSIENT),
        (
            403,
            problem(403, "Forbidden", "You are not allowed to create a Tweet with duplicate content."),
            True,
            ErrorKind.DUPLICATE,
        ),
        (
            403,
            problem(403, "Forbidden", "You have already retweeted this Tweet."),
            True,
            ErrorKind.ALREADY_REPOSTED,
        ),
        (
            403,
            problem(403, "Forbidden", "You are not permitted to perform this action."),
            True,
            ErrorKind.PERMANENT,
        ),
        (
            400,
            {
                "errors": [{"message": "Your Tweet text is too long."}],
                "title": "Invalid Request",
                "detail": "One or more parameters to your request was invalid.",
                "type": "https://api.twitter.com/2/problems/invalid-request",
            },
            True,
            ErrorKind.PERMANENT,
        ),
        (404, {"errors": [{"title": "Not Found Error", "type": "x"}]}, True, ErrorKind.NOT_FOUND),
        (
            200,
            {
                "errors": [
                    {
                        "detail": "Could not find user with username: [nobody].",
                        "title": "Not Found Error",
                        "type": "https://api.twitter.com/2/problems/resource-not-found",
                    }
                ]
            },
            False,
            ErrorKind.NOT_FOUND,
        ),
    ],
)
def test_error_shapes(status: int, body: object, action: bool, kind: ErrorKind) -> None:
    error = error_of("call", status, body, LIMIT, action=action)
    assert error is not None and error.kind is kind and str(error).startswith("call: ")
    assert error.rate_limit == LIMIT
    if kind is ErrorKind.RATE_LIMITED:
        assert error.reset_at == LIMIT.reset_at


def test_successes_and_partial_errors_are_no_error() -> None:
    assert error_of("call", 200, {"data": {"id": "1"}}) is None
    assert error_of("call", 201, {"data": {"id": "1"}, "errors": [{"type": "x"}]}) is None
    assert error_of("call", 200, None) is None  # a malformed success: the reader decides
    limited = error_of("call", 429, None)
    assert limited is not None and limited.reset_at is None


def test_long_details_are_clipped() -> None:
    error = error_of("call", 403, problem(403, "Forbidden", "x" * 1000))
    assert error is not None and len(str(error)) < 300


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (
            400,
            {"error": "invalid_request", "error_description": "Value passed for the token was invalid."},
            ErrorKind.UNAUTHORISED,
        ),
        (
            401,
            {"error": "unauthorized_client", "error_description": "Missing valid authorization header"},
            ErrorKind.UNAUTHORISED,
        ),
        (503, problem(503, "Service Unavailable", "Service Unavailable"), ErrorKind.TRANSIENT),
        (429, None, ErrorKind.RATE_LIMITED),
        (418, None, ErrorKind.PERMANENT),
    ],
)
def test_token_errors(status: int, body: object, kind: ErrorKind) -> None:
    error = token_error_of("token refresh", status, body)
    assert error is not None and error.kind is kind
    assert token_error_of("token refresh", 200, {}) is None
