"""connectors.growth.answers: every answer shape of the network read into records or a NetworkError."""

from __future__ import annotations

import copy
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.growth import answers
from connectors.growth.base import LoggedIn, NetworkError
from rules.growth import ErrorKind, Friendship, Page, Post, Profile, UserRef

USER = {
    "pk": 11,
    "pk_id": "11",
    "username": "corner_shop",
    "full_name": "Corner Shop",
    "biography": "Handmade goods shop, promo",
    "is_private": False,
    "is_business": True,
    "follower_count": 1200,
    "following_count": 800,
    "media_count": 45,
}
SHORT = {"pk": 1001, "username": "user1001", "full_name": "Sofia Nielsen", "is_private": True}
MEDIA = {
    "id": "1001_7",
    "pk": "7",
    "user": SHORT,
    "taken_at": 1_764_547_200,
    "like_count": 12,
    "caption": {"text": "Sunday #Coffee and #travel #coffee 咖啡 #咖啡"},
    "location": {"pk": 213385402, "name": "Moscow, Russia"},
    "has_liked": True,
}
POSTS = {"items": [MEDIA], "num_results": 1, "more_available": True, "next_max_id": "12", "status": "ok"}
FRIENDSHIP = {"following": True, "followed_by": False, "outgoing_request": False}
LOGIN = {
    "logged_in_user": {"pk": 1, "username": "demo_bakery", "full_name": "Demo Bakery"},
    "session": "tok-abcdefghijklmnop",
    "status": "ok",
}

READERS: dict[str, tuple[Callable[[str, object], object], dict[str, Any]]] = {
    "profile": (answers.read_profile, {"user": USER, "status": "ok"}),
    "users": (answers.read_users, {"users": [SHORT], "next_max_id": "200", "status": "ok"}),
    "posts": (answers.read_posts, POSTS),
    "post": (answers.read_post, {"items": [MEDIA], "num_results": 1, "status": "ok"}),
    "friendship_status": (
        lambda what, body: answers.read_friendship_status(what, body, action=False),
        {"friendship_status": FRIENDSHIP, "status": "ok"},
    ),
    "friendship": (answers.read_friendship, FRIENDSHIP | {"status": "ok"}),
    "ok": (answers.read_ok, {"status": "ok"}),
    "logged_in": (answers.read_logged_in, LOGIN),
}


def malformed(read: Callable[[str, object], object], body: object) -> NetworkError:
    with pytest.raises(NetworkError) as caught:
        read("the call", body)
    assert caught.value.kind is ErrorKind.TRANSIENT
    assert str(caught.value).startswith("the call: the network's answer is malformed (")
    return caught.value


def with_change(body: dict[str, Any], path: tuple[str | int, ...], value: object) -> dict[str, Any]:
    """A deep copy of `body` with the field at `path` set to `value` (or deleted for `...`)."""
    changed = copy.deepcopy(body)
    target: Any = changed
    for key in path[:-1]:
        target = target[key]
    if value is ...:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return changed


# --- successes ---


def test_profile() -> None:
    profile = answers.read_profile("p", {"user": USER, "status": "ok"})
    assert profile == Profile(
        "11", "corner_shop", "Corner Shop", "Handmade goods shop, promo", False, True, 1200, 800, 45
    )
    assert profile.ref == UserRef("11", "corner_shop", "Corner Shop", False)


def test_profile_optional_fields_and_string_ids() -> None:
    lean = {k: v for k, v in USER.items() if k not in ("full_name", "biography", "is_business")}
    profile = answers.read_profile("p", {"user": lean | {"pk": "11", "biography": None}, "status": "ok"})
    assert (profile.user_id, profile.full_name, profile.bio, profile.is_business) == ("11", "", "", False)


def test_users_page() -> None:
    page = answers.read_users(
        "u", {"users": [SHORT, SHORT | {"pk": "1002"}], "next_max_id": "200", "status": "ok"}
    )
    assert page == Page(
        [
            UserRef("1001", "user1001", "Sofia Nielsen", True),
            UserRef("1002", "user1001", "Sofia Nielsen", True),
        ],
        "200",
    )


@pytest.mark.parametrize(("cursor", "expected"), [(None, None), ("", None), ("400", "400"), (400, "400")])
def test_users_cursor(cursor: object, expected: str | None) -> None:
    assert (
        answers.read_users("u", {"users": [], "next_max_id": cursor, "status": "ok"}).next_cursor == expected
    )
    assert answers.read_users("u", {"users": [], "status": "ok"}).next_cursor is None


def test_a_minimal_user_in_a_list() -> None:
    page = answers.read_users("u", {"users": [{"pk": 5, "username": "x"}], "status": "ok"})
    assert page.items == [UserRef("5", "x", "", False)]


def test_posts_page() -> None:
    page = answers.read_posts("p", POSTS)
    assert page.next_cursor == "12"
    assert page.items == [
        Post(
            post_id="1001_7",
            owner=UserRef("1001", "user1001", "Sofia Nielsen", True),
            taken_at=datetime(2025, 12, 1, tzinfo=UTC),
            like_count=12,
            caption="Sunday #Coffee and #travel #coffee 咖啡 #咖啡",
            hashtags=("coffee", "travel", "咖啡"),
            location_id="213385402",
            has_liked=True,
        )
    ]


def test_posts_without_caption_location_or_has_liked_and_the_last_page() -> None:
    bare = {k: v for k, v in MEDIA.items() if k != "has_liked"} | {"caption": None, "location": None}
    page = answers.read_posts(
        "p", {"items": [bare], "more_available": False, "next_max_id": "9", "status": "ok"}
    )
    (post,) = page.items
    assert (post.caption, post.hashtags, post.location_id, post.has_liked) == ("", (), None, False)
    assert page.next_cursor is None  # no more available: the cursor is ignored
    assert answers.read_posts("p", {"items": [], "status": "ok"}) == Page([], None)


def test_a_float_taken_at() -> None:
    post = answers.read_post("p", {"items": [MEDIA | {"taken_at": 1_764_547_200.5}], "status": "ok"})
    assert post.taken_at == datetime(2025, 12, 1, 0, 0, 0, 500_000, tzinfo=UTC)


def test_one_post() -> None:
    assert answers.read_post("p", {"items": [MEDIA], "status": "ok"}).has_liked is True


def test_friendships() -> None:
    assert answers.read_friendship_status(
        "f", {"friendship_status": FRIENDSHIP, "status": "ok"}
    ) == Friendship(True)
    requested = {"following": False, "followed_by": True, "outgoing_request": True}
    shown = answers.read_friendship("f", requested | {"status": "ok", "is_private": True})
    assert shown == Friendship(False, True, True) and shown.follow_applied
    assert answers.read_friendship("f", {"following": False, "status": "ok"}) == Friendship()


def test_ok_and_login() -> None:
    assert answers.read_ok("like", {"status": "ok"}) is None
    assert answers.read_logged_in("login", LOGIN) == LoggedIn("1", "demo_bakery", "tok-abcdefghijklmnop")


@pytest.mark.parametrize(
    ("caption", "tags"),
    [
        ("", ()),
        ("no tags # here", ()),
        ("#A #a #b", ("a", "b")),
        ("mid#word and #with_under_score!", ("word", "with_under_score")),
        ("#咖啡 #Москва", ("咖啡", "москва")),
    ],
)
def test_hashtags_of(caption: str, tags: tuple[str, ...]) -> None:
    assert answers.hashtags_of(caption) == tags


# --- errors ---


def error(status: int, body: object, retry_after: str | None = None) -> NetworkError:
    found = answers.error_of("follow of user 11", status, body, retry_after)
    assert found is not None
    assert str(found).startswith("follow of user 11: ")
    return found


def test_a_success_is_no_error() -> None:
    assert answers.error_of("x", 200, {"status": "ok"}) is None
    assert answers.error_of("x", 200, None) is None  # the readers then find it malformed
    assert answers.error_of("x", 201, {"status": "ok"}) is None


def test_throttled() -> None:
    throttled = error(
        429, {"message": "Please wait a few minutes before you try again.", "status": "fail"}, "1"
    )
    assert (throttled.kind, throttled.retry_after) == (ErrorKind.THROTTLED, 1.0)
    assert "Please wait a few minutes" in str(throttled)
    assert error(429, None).retry_after is None
    assert error(429, None, "soon").retry_after is None
    assert error(429, None, "Wed, 21 Oct 2015 07:28:00 GMT").retry_after == 0.0


def test_feedback_required_is_blocked() -> None:
    body = {
        "message": "feedback_required",
        "feedback_title": "Action Blocked",
        "feedback_message": "We restrict certain activity.",
        "spam": True,
        "status": "fail",
    }
    blocked = error(400, body)
    assert blocked.kind is ErrorKind.BLOCKED
    assert "feedback_required: Action Blocked: We restrict certain activity." in str(blocked)
    assert error(400, body | {"message": "Try again later"}).kind is ErrorKind.BLOCKED
    assert error(200, body).kind is ErrorKind.BLOCKED  # a 200 that says fail


@pytest.mark.parametrize(
    "body",
    [
        {
            "message": "challenge_required",
            "challenge": {"url": "u", "api_path": "/challenge/"},
            "status": "fail",
        },
        {"message": "something new", "challenge": {"url": "u"}, "status": "fail"},
        {"message": "login_required", "status": "fail"},
        {"message": "checkpoint_required", "checkpoint_url": "u", "status": "fail"},
        {"message": "checkpoint_logged_out", "status": "fail"},
    ],
)
@pytest.mark.parametrize("status", [400, 403])
def test_challenges(body: dict[str, Any], status: int) -> None:
    assert error(status, body).kind is ErrorKind.CHALLENGE


@pytest.mark.parametrize(
    ("status", "body", "kind"),
    [
        (404, {"message": "User not found", "status": "fail"}, ErrorKind.NOT_FOUND),
        (404, None, ErrorKind.NOT_FOUND),
        (500, None, ErrorKind.TRANSIENT),
        (502, {"message": "bad gateway"}, ErrorKind.TRANSIENT),
        (503, None, ErrorKind.TRANSIENT),
        (403, {"message": "Not authorized to view user", "status": "fail"}, ErrorKind.PERMANENT),
        (
            400,
            {"message": "The password you entered is incorrect.", "error_type": "bad_password"},
            ErrorKind.PERMANENT,
        ),
        (
            400,
            {"message": "no such user", "error_type": "invalid_user", "status": "fail"},
            ErrorKind.NOT_FOUND,
        ),
        (400, {"message": "You cannot follow yourself.", "status": "fail"}, ErrorKind.PERMANENT),
        (401, None, ErrorKind.PERMANENT),
        (200, {"message": "something", "status": "fail"}, ErrorKind.PERMANENT),
        (418, ["not", "an", "object"], ErrorKind.PERMANENT),
    ],
)
def test_other_answers(status: int, body: object, kind: ErrorKind) -> None:
    found = error(status, body)
    assert found.kind is kind
    assert f"HTTP {status}" in str(found)
    if isinstance(body, dict):
        assert body["message"] in str(found)


def test_long_messages_are_cut() -> None:
    found = error(400, {"message": "x" * 5000, "status": "fail"})
    assert len(str(found)) < 300 and str(found).endswith("…)")


# --- malformed successes ---


@pytest.mark.parametrize("name", READERS)
@pytest.mark.parametrize("body", [None, [], "ok", 3, {}, {"status": "fail"}, {"status": "OK"}])
def test_not_an_ok_object(name: str, body: object) -> None:
    malformed(READERS[name][0], body)


FIELD_CASES: list[tuple[str, tuple[str | int, ...], object, str]] = [
    ("profile", ("user",), ..., "the answer.user is missing"),
    ("profile", ("user",), [], "user is not an object"),
    ("profile", ("user", "pk"), ..., "user.pk is missing"),
    ("profile", ("user", "pk"), None, "user.pk is not an id"),
    ("profile", ("user", "pk"), True, "user.pk is not an id"),
    ("profile", ("user", "pk"), " ", "user.pk is not an id"),
    ("profile", ("user", "pk"), -1, "user.pk is not an id"),
    ("profile", ("user", "username"), 7, "user.username is not a string"),
    ("profile", ("user", "full_name"), 7, "user.full_name is not a string"),
    ("profile", ("user", "is_private"), ..., "user.is_private is missing"),
    ("profile", ("user", "is_private"), "false", "user.is_private is not true or false"),
    ("profile", ("user", "is_business"), 0, "user.is_business is not true or false"),
    ("profile", ("user", "follower_count"), "1200", "user.follower_count is not a whole number"),
    ("profile", ("user", "follower_count"), True, "user.follower_count is not a whole number"),
    ("profile", ("user", "follower_count"), 1.5, "user.follower_count is not a whole number"),
    ("profile", ("user", "following_count"), -1, "user.following_count is not a whole number"),
    ("profile", ("user", "media_count"), ..., "user.media_count is missing"),
    ("users", ("users",), ..., "the answer.users is missing"),
    ("users", ("users",), {}, "the answer.users is not a list"),
    ("users", ("users", 0), "user1001", "users[0] is not an object"),
    ("users", ("users", 0, "username"), ..., "users[0].username is missing"),
    ("users", ("users", 0, "is_private"), "yes", "users[0].is_private is not true or false"),
    ("users", ("next_max_id",), 2.5, "the answer.next_max_id is not a cursor"),
    ("posts", ("items",), ..., "the answer.items is missing"),
    ("posts", ("items",), None, "the answer.items is not a list"),
    ("posts", ("more_available",), "yes", "the answer.more_available is not true or false"),
    ("posts", ("next_max_id",), ["12"], "the answer.next_max_id is not a cursor"),
    ("posts", ("items", 0), None, "items[0] is not an object"),
    ("posts", ("items", 0, "id"), ..., "items[0].id is missing"),
    ("posts", ("items", 0, "user"), ..., "items[0].user is missing"),
    ("posts", ("items", 0, "user"), "user1001", "items[0].user is not an object"),
    ("posts", ("items", 0, "user", "pk"), {}, "items[0].user.pk is not an id"),
    ("posts", ("items", 0, "taken_at"), ..., "items[0].taken_at is missing"),
    ("posts", ("items", 0, "taken_at"), "2025-12-01", "items[0].taken_at is not a time"),
    ("posts", ("items", 0, "taken_at"), True, "items[0].taken_at is not a time"),
    ("posts", ("items", 0, "taken_at"), 10**20, "items[0].taken_at is not a time"),
    ("posts", ("items", 0, "taken_at"), -5, "items[0].taken_at is not a time"),
    ("posts", ("items", 0, "like_count"), None, "items[0].like_count is not a whole number"),
    ("posts", ("items", 0, "caption"), "text", "items[0].caption is not an object"),
    ("posts", ("items", 0, "caption", "text"), ..., "items[0].caption.text is missing"),
    ("posts", ("items", 0, "caption", "text"), None, "items[0].caption.text is not a string"),
    ("posts", ("items", 0, "location"), 213385402, "items[0].location is not an object"),
    ("posts", ("items", 0, "location", "pk"), ..., "items[0].location.pk is missing"),
    ("posts", ("items", 0, "has_liked"), 1, "items[0].has_liked is not true or false"),
    ("post", ("items",), [], "the answer.items is empty"),
    ("post", ("items", 0, "has_liked"), "true", "items[0].has_liked is not true or false"),
    ("friendship_status", ("friendship_status",), ..., "the answer.friendship_status is missing"),
    ("friendship_status", ("friendship_status",), True, "friendship_status is not an object"),
    ("friendship_status", ("friendship_status", "following"), ..., "friendship_status.following is missing"),
    (
        "friendship_status",
        ("friendship_status", "outgoing_request"),
        None,
        "outgoing_request is not true or false",
    ),
    ("friendship", ("following",), ..., "the answer.following is missing"),
    ("friendship", ("followed_by",), "no", "the answer.followed_by is not true or false"),
    ("logged_in", ("logged_in_user",), ..., "the answer.logged_in_user is missing"),
    ("logged_in", ("logged_in_user", "pk"), ..., "logged_in_user.pk is missing"),
    ("logged_in", ("logged_in_user", "username"), None, "logged_in_user.username is not a string"),
    ("logged_in", ("session",), ..., "the answer.session is missing"),
    ("logged_in", ("session",), 12345, "the answer.session is not a string"),
    ("logged_in", ("session",), "", "the answer.session is empty"),
]


@pytest.mark.parametrize(("name", "path", "value", "message"), FIELD_CASES)
def test_missing_fields_and_wrong_types(
    name: str, path: tuple[str | int, ...], value: object, message: str
) -> None:
    read, good = READERS[name]
    read("the call", good)  # the unchanged answer reads
    assert message in str(malformed(read, with_change(good, path, value)))


ACTION_ANSWERS: list[tuple[Callable[[object], object], object]] = [
    (lambda body: answers.read_ok("like of post 1_1", body, action=True), body)
    for body in (None, {}, {"status": "okay"}, [])
] + [
    (lambda body: answers.read_friendship_status("follow of user 11", body), body)
    for body in (None, {"status": "ok"}, {"friendship_status": 1, "status": "ok"}, {"friendship_status": {}})
]


@pytest.mark.parametrize(("read", "body"), ACTION_ANSWERS)
def test_an_actions_malformed_success_has_an_unknown_outcome(
    read: Callable[[object], object], body: object
) -> None:
    with pytest.raises(NetworkError) as caught:
        read(body)
    assert caught.value.kind is ErrorKind.UNKNOWN_OUTCOME
    assert "the network's answer is malformed (" in str(caught.value)
    assert str(caught.value).endswith("; it may have been applied")


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=6)
    ),
    max_leaves=20,
)
KEYS = st.sampled_from(
    [
        "status",
        "user",
        "users",
        "items",
        "pk",
        "username",
        "taken_at",
        "caption",
        "friendship_status",
        "session",
    ]
)


@given(name=st.sampled_from(sorted(READERS)), body=JSON, key=KEYS, value=JSON)
def test_any_json_is_a_record_or_a_network_error(name: str, body: object, key: str, value: object) -> None:
    read, good = READERS[name]
    for candidate in (body, {"status": "ok", key: value}, copy.deepcopy(good) | {key: value}):
        try:
            read("the call", candidate)
        except NetworkError as exc:
            assert exc.kind is ErrorKind.TRANSIENT


@given(status=st.integers(100, 599), body=JSON, retry_after=st.none() | st.text(max_size=12))
def test_any_answer_classifies(status: int, body: object, retry_after: str | None) -> None:
    found = answers.error_of("x", status, body, retry_after)
    assert found is None or isinstance(found.kind, ErrorKind)
    if status >= 300:
        assert found is not None
