"""The network's answers read into records or a NetworkError: pure functions, no I/O.

Every reader takes the decoded JSON (``None`` when the body was not JSON) and either returns records
or raises NetworkError: a success whose body lacks a field or holds the wrong type is ``TRANSIENT``
with a message naming what was wrong, never a KeyError or TypeError; for a like, follow or unfollow
it is ``UNKNOWN_OUTCOME`` instead (a 2xx: the network may have applied it).
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Any

from connectors.fields import Malformed, as_object, field, string
from connectors.growth.base import LoggedIn, NetworkError
from core.http import parse_retry_after
from rules.growth import ErrorKind, Friendship, Page, Post, Profile, UserRef

HASHTAG_IN_TEXT = re.compile(r"#(\w{1,100})")
CHALLENGES = frozenset(
    {"challenge_required", "login_required", "checkpoint_required", "checkpoint_challenge_required"}
)
MAX_MESSAGE = 200
MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31


def _int(obj: dict[str, Any], name: str, where: str) -> int:
    value = field(obj, name, where)
    if type(value) is not int or value < 0:
        raise Malformed(f"{where}.{name} is not a whole number")
    return value


def _bool(obj: dict[str, Any], name: str, where: str, *, default: bool | None = None) -> bool:
    if default is not None and name not in obj:
        return default
    value = field(obj, name, where)
    if not isinstance(value, bool):
        raise Malformed(f"{where}.{name} is not true or false")
    return value


def _id(obj: dict[str, Any], name: str, where: str) -> str:
    """An id given as a number or a string of digits (the network uses both)."""
    value = field(obj, name, where)
    if type(value) is int and value >= 0:
        return str(value)
    if isinstance(value, str) and value.strip():
        return value.strip()
    raise Malformed(f"{where}.{name} is not an id")


def _list(obj: dict[str, Any], name: str, where: str) -> list[object]:
    value = field(obj, name, where)
    if not isinstance(value, list):
        raise Malformed(f"{where}.{name} is not a list")
    return value


def _ok(body: object) -> dict[str, Any]:
    obj = as_object(body, "the answer")
    if obj.get("status") != "ok":
        raise Malformed(f"status is {obj.get('status')!r}, not 'ok'")
    return obj


def _reading(what: str, read: Any, body: object, *, action: bool = False) -> Any:
    """``read(body)``, a Malformed turned into a NetworkError about `what`: TRANSIENT, or for an
    action (answered 2xx, so perhaps applied) UNKNOWN_OUTCOME, checked before it is tried again."""
    try:
        return read(body)
    except Malformed as exc:
        message = f"{what}: the network's answer is malformed ({exc})"
        if action:
            raise NetworkError(f"{message}; it may have been applied", ErrorKind.UNKNOWN_OUTCOME) from None
        raise NetworkError(message, ErrorKind.TRANSIENT) from None


# --- errors ---


def _message(body: object) -> str:
    if not isinstance(body, dict):
        return ""
    parts = [body.get("message"), body.get("feedback_title"), body.get("feedback_message")]
    text = ": ".join(str(part) for part in parts if isinstance(part, str) and part)
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def error_of(what: str, status: int, body: object, retry_after: str | None = None) -> NetworkError | None:
    """The NetworkError an answer of HTTP `status` with `body` means for `what`, or None for a success.

    A 2xx with ``"status": "fail"`` is read by its message like a refusal.
    """
    message = body.get("message") if isinstance(body, dict) else None
    failed = isinstance(body, dict) and body.get("status") == "fail"
    if status < 300 and not failed:
        return None
    detail = _message(body)
    reason = f"HTTP {status}: {detail}" if detail else f"HTTP {status}"
    if status == 429:
        return NetworkError(
            f"{what}: throttled ({reason})", ErrorKind.THROTTLED, retry_after=parse_retry_after(retry_after)
        )
    if message == "feedback_required" or (
        isinstance(body, dict) and "feedback_title" in body and body.get("spam")
    ):
        return NetworkError(f"{what}: action blocked ({reason})", ErrorKind.BLOCKED)
    checkpoint = isinstance(message, str) and message.startswith("checkpoint")
    if (
        message in CHALLENGES
        or checkpoint
        or (isinstance(body, dict) and isinstance(body.get("challenge"), dict))
    ):
        return NetworkError(
            f"{what}: the account must be checked by a person ({reason})", ErrorKind.CHALLENGE
        )
    if status >= 500:
        return NetworkError(f"{what}: the network is unavailable ({reason})", ErrorKind.TRANSIENT)
    if status == 404:
        return NetworkError(f"{what}: not found ({reason})", ErrorKind.NOT_FOUND)
    error_type = body.get("error_type") if isinstance(body, dict) else None
    if error_type == "invalid_user":
        return NetworkError(f"{what}: no such user ({reason})", ErrorKind.NOT_FOUND)
    if error_type == "bad_password":
        return NetworkError(f"{what}: the password was refused ({reason})", ErrorKind.PERMANENT)
    return NetworkError(f"{what}: refused ({reason})", ErrorKind.PERMANENT)


# --- successes ---


def _user_ref(value: object, where: str) -> UserRef:
    obj = as_object(value, where)
    return UserRef(
        _id(obj, "pk", where),
        string(obj, "username", where),
        string(obj, "full_name", where, default=""),
        _bool(obj, "is_private", where, default=False),
    )


def _profile(body: object) -> Profile:
    user = as_object(field(_ok(body), "user", "the answer"), "user")
    return Profile(
        user_id=_id(user, "pk", "user"),
        username=string(user, "username", "user"),
        full_name=string(user, "full_name", "user", default=""),
        bio=string(user, "biography", "user", default=""),
        is_private=_bool(user, "is_private", "user"),
        is_business=_bool(user, "is_business", "user", default=False),
        followers=_int(user, "follower_count", "user"),
        followings=_int(user, "following_count", "user"),
        posts=_int(user, "media_count", "user"),
    )


def _cursor(obj: dict[str, Any], name: str = "next_max_id") -> str | None:
    value = obj.get(name)
    if value is None or value == "":
        return None
    if type(value) is int:
        return str(value)
    if not isinstance(value, str):
        raise Malformed(f"the answer.{name} is not a cursor")
    return value


def _user_page(body: object) -> Page[UserRef]:
    obj = _ok(body)
    users = [_user_ref(item, f"users[{n}]") for n, item in enumerate(_list(obj, "users", "the answer"))]
    return Page(users, _cursor(obj))


def hashtags_of(caption: str) -> tuple[str, ...]:
    """The hashtags in a caption, lower-cased, each once, in order."""
    return tuple(dict.fromkeys(tag.lower() for tag in HASHTAG_IN_TEXT.findall(caption)))


def _taken_at(obj: dict[str, Any], where: str) -> datetime:
    value = field(obj, "taken_at", where)
    if type(value) not in (int, float) or not 0 <= value <= MAX_TIMESTAMP:
        raise Malformed(f"{where}.taken_at is not a time")
    return datetime.fromtimestamp(value, UTC)


def _post(value: object, where: str) -> Post:
    obj = as_object(value, where)
    caption_obj = obj.get("caption")
    caption = (
        ""
        if caption_obj is None
        else string(as_object(caption_obj, f"{where}.caption"), "text", f"{where}.caption")
    )
    location = obj.get("location")
    location_id = (
        None if location is None else _id(as_object(location, f"{where}.location"), "pk", f"{where}.location")
    )
    return Post(
        post_id=_id(obj, "id", where),
        owner=_user_ref(field(obj, "user", where), f"{where}.user"),
        taken_at=_taken_at(obj, where),
        like_count=_int(obj, "like_count", where),
        caption=caption,
        hashtags=hashtags_of(caption),
        location_id=location_id,
        has_liked=_bool(obj, "has_liked", where, default=False),
    )


def _post_page(body: object) -> Page[Post]:
    obj = _ok(body)
    posts = [_post(item, f"items[{n}]") for n, item in enumerate(_list(obj, "items", "the answer"))]
    more = _bool(obj, "more_available", "the answer", default=False)
    cursor = _cursor(obj)
    return Page(posts, cursor if more else None)


def _one_post(body: object) -> Post:
    items = _list(_ok(body), "items", "the answer")
    if not items:
        raise Malformed("the answer.items is empty")
    return _post(items[0], "items[0]")


def _friendship_of(obj: dict[str, Any], where: str) -> Friendship:
    return Friendship(
        following=_bool(obj, "following", where),
        followed_by=_bool(obj, "followed_by", where, default=False),
        outgoing_request=_bool(obj, "outgoing_request", where, default=False),
    )


def _friendship_status(body: object) -> Friendship:
    obj = _ok(body)
    return _friendship_of(
        as_object(field(obj, "friendship_status", "the answer"), "friendship_status"), "friendship_status"
    )


def _friendship_show(body: object) -> Friendship:
    return _friendship_of(_ok(body), "the answer")


def _logged_in(body: object) -> LoggedIn:
    obj = _ok(body)
    user = as_object(field(obj, "logged_in_user", "the answer"), "logged_in_user")
    session = string(obj, "session", "the answer")
    if not session:
        raise Malformed("the answer.session is empty")
    return LoggedIn(_id(user, "pk", "logged_in_user"), string(user, "username", "logged_in_user"), session)


def read_profile(what: str, body: object) -> Profile:
    return _reading(what, _profile, body)


def read_users(what: str, body: object) -> Page[UserRef]:
    return _reading(what, _user_page, body)


def read_posts(what: str, body: object) -> Page[Post]:
    """A page of posts; ``next_cursor`` is None when the network says there are no more."""
    return _reading(what, _post_page, body)


def read_post(what: str, body: object) -> Post:
    return _reading(what, _one_post, body)


def read_friendship_status(what: str, body: object, *, action: bool = True) -> Friendship:
    """A follow's (or unfollow's) answer: ``{"friendship_status": {...}}``."""
    return _reading(what, _friendship_status, body, action=action)


def read_friendship(what: str, body: object) -> Friendship:
    """``friendships/show``'s answer: the fields at the top level."""
    return _reading(what, _friendship_show, body)


def read_ok(what: str, body: object, *, action: bool = False) -> None:
    """A bare ``{"status": "ok"}`` (a like's or an unfollow's answer: ``action=True``)."""
    _reading(what, _ok, body, action=action)


def read_logged_in(what: str, body: object) -> LoggedIn:
    return _reading(what, _logged_in, body)
