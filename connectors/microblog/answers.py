"""The microblog's answers read into records or a MicroblogError: pure functions, no I/O.

Every reader takes the decoded JSON (``None`` when the body was not JSON) and either returns records
or raises MicroblogError: a success whose body lacks a field or holds the wrong type is ``TRANSIENT``
with a message naming what was wrong, never a KeyError or TypeError; for a post or repost it is
``UNKNOWN_OUTCOME`` instead (a 2xx: the microblog may have applied it). Errors come in three shapes:
problem bodies (RFC 7807: ``title``, ``detail``, ``type``, ``status``), X's ``{"errors": [...]}`` lists
(with HTTP 200 for a lookup of something missing) and OAuth's ``{"error", "error_description"}``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from connectors.fields import Malformed, as_object, field, string
from connectors.microblog.base import (
    ErrorKind,
    MicroblogError,
    PostMade,
    RateLimit,
    TimelinePage,
    TimelinePost,
    Tokens,
    User,
)

MAX_MESSAGE = 200
MAX_TIMESTAMP = 253_402_300_799  # 9999-12-31
DUPLICATE = "duplicate content"
ALREADY_REPOSTED = "already retweeted"
NOT_FOUND_TYPE = "https://api.twitter.com/2/problems/resource-not-found"
DIGITS = re.compile(r"[0-9]{1,20}")


def _id(obj: dict[str, Any], name: str, where: str) -> str:
    value = field(obj, name, where)
    if not isinstance(value, str) or not DIGITS.fullmatch(value):
        raise Malformed(f"{where}.{name} is not an id")
    return value


def _count(obj: dict[str, Any], name: str, where: str) -> int:
    value = obj.get(name, 0)
    if type(value) is not int or value < 0:
        raise Malformed(f"{where}.{name} is not a whole number")
    return value


def _list(obj: dict[str, Any], name: str, where: str) -> list[object]:
    value = obj.get(name, [])
    if not isinstance(value, list):
        raise Malformed(f"{where}.{name} is not a list")
    return value


def _time(raw: object, where: str) -> datetime:
    if not isinstance(raw, str):
        raise Malformed(f"{where} is not a time")
    try:
        when = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise Malformed(f"{where} is not a time") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _reading(what: str, read: Any, body: object, *, action: bool = False) -> Any:
    try:
        return read(body)
    except Malformed as exc:
        message = f"{what}: the microblog's answer is malformed ({exc})"
        if action:
            raise MicroblogError(f"{message}; it may have been applied", ErrorKind.UNKNOWN_OUTCOME) from None
        raise MicroblogError(message, ErrorKind.TRANSIENT) from None


# --- headers ---


def rate_limit_of(headers: Mapping[str, str]) -> RateLimit | None:
    """The ``x-rate-limit-*`` headers, or None when any is missing or not a whole number."""
    raw = [headers.get(f"x-rate-limit-{name}") for name in ("limit", "remaining", "reset")]
    if not all(
        isinstance(value, str) and value.strip().isascii() and value.strip().isdigit() for value in raw
    ):
        return None
    limit, remaining, reset = (int(value.strip()) for value in raw)  # type: ignore[union-attr]
    if reset > MAX_TIMESTAMP:
        return None
    return RateLimit(limit, remaining, datetime.fromtimestamp(reset, UTC))


# --- errors ---


def _clip(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _details(body: object) -> list[str]:
    """Every human text in an error body, in the order X puts them."""
    if not isinstance(body, dict):
        return []
    texts = [body.get(name) for name in ("detail", "title", "error_description", "error")]
    for error in body.get("errors") if isinstance(body.get("errors"), list) else []:
        if isinstance(error, dict):
            texts += [error.get("detail"), error.get("message")]
    return [text for text in texts if isinstance(text, str) and text]


def _missing(body: object) -> bool:
    """X's answer for something that is not there: an ``errors`` list of resource-not-found."""
    if not isinstance(body, dict) or not isinstance(body.get("errors"), list):
        return False
    return any(isinstance(e, dict) and e.get("type") == NOT_FOUND_TYPE for e in body["errors"])


def error_of(
    what: str, status: int, body: object, rate_limit: RateLimit | None = None, *, action: bool = False
) -> MicroblogError | None:
    """The MicroblogError an answer of HTTP `status` with `body` means for `what`, or None for a success.

    A 2xx without ``data`` but with a resource-not-found ``errors`` list is NOT_FOUND; a 5xx to a post
    or repost (``action``) is UNKNOWN_OUTCOME: it may have been applied before the failure.
    """
    if status < 300 and not (isinstance(body, dict) and "data" not in body and _missing(body)):
        return None
    details = _details(body)
    reason = _clip(f"HTTP {status}: {details[0]}" if details else f"HTTP {status}")
    text = " ".join(details).lower()

    def error(message: str, kind: ErrorKind, reset_at: datetime | None = None) -> MicroblogError:
        return MicroblogError(f"{what}: {message} ({reason})", kind, reset_at=reset_at, rate_limit=rate_limit)

    if status == 429:
        reset_at = rate_limit.reset_at if rate_limit else None
        return error("rate limited", ErrorKind.RATE_LIMITED, reset_at)
    if status == 401:
        return error("the token was refused", ErrorKind.UNAUTHORISED)
    if status >= 500:
        if action:
            return error("failed, perhaps after it was applied", ErrorKind.UNKNOWN_OUTCOME)
        return error("the microblog is unavailable", ErrorKind.TRANSIENT)
    if DUPLICATE in text:
        return error("duplicate content", ErrorKind.DUPLICATE)
    if ALREADY_REPOSTED in text:
        return error("already reposted", ErrorKind.ALREADY_REPOSTED)
    if status == 404 or _missing(body):
        return error("not found", ErrorKind.NOT_FOUND)
    if status in (408, 425):
        return error("not answered in time", ErrorKind.UNKNOWN_OUTCOME if action else ErrorKind.TRANSIENT)
    return error("refused", ErrorKind.PERMANENT)


def token_error_of(what: str, status: int, body: object) -> MicroblogError | None:
    """The MicroblogError an answer of the OAuth token or revoke endpoint means, or None for a success.

    A refused code, verifier, refresh token or client is UNAUTHORISED: the channel must be authorised
    again (or the client's settings fixed).
    """
    if status < 300:
        return None
    details = _details(body)
    reason = _clip(f"HTTP {status}: {': '.join(details[:2])}" if details else f"HTTP {status}")
    if status == 429:
        return MicroblogError(f"{what}: rate limited ({reason})", ErrorKind.RATE_LIMITED)
    if status >= 500:
        return MicroblogError(f"{what}: the microblog is unavailable ({reason})", ErrorKind.TRANSIENT)
    if status in (400, 401, 403):
        return MicroblogError(f"{what}: refused ({reason})", ErrorKind.UNAUTHORISED)
    return MicroblogError(f"{what}: refused ({reason})", ErrorKind.PERMANENT)


# --- successes ---


def _data(body: object) -> object:
    return field(as_object(body, "the answer"), "data", "the answer")


def _user_of(value: object, where: str) -> User:
    obj = as_object(value, where)
    return User(_id(obj, "id", where), string(obj, "username", where), string(obj, "name", where, default=""))


def _user(body: object) -> User:
    return _user_of(_data(body), "data")


def _hashtags(obj: dict[str, Any], where: str) -> tuple[str, ...]:
    found = obj.get("entities")
    if found is None:
        return ()
    tags = _list(as_object(found, f"{where}.entities"), "hashtags", f"{where}.entities")
    names = [
        string(as_object(tag, f"{where}.entities.hashtags[]"), "tag", f"{where}.entities.hashtags[]")
        for tag in tags
    ]
    return tuple(dict.fromkeys(names))


def _post(value: object, where: str, usernames: dict[str, str], originals: dict[str, str]) -> TimelinePost:
    obj = as_object(value, where)
    metrics = as_object(obj.get("public_metrics") or {}, f"{where}.public_metrics")
    references: dict[str, str] = {}
    for n, ref in enumerate(_list(obj, "referenced_tweets", where)):
        ref_obj = as_object(ref, f"{where}.referenced_tweets[{n}]")
        references.setdefault(
            string(ref_obj, "type", f"{where}.referenced_tweets[{n}]"),
            _id(ref_obj, "id", f"{where}.referenced_tweets[{n}]"),
        )
    author_id = _id(obj, "author_id", where)
    post_id = _id(obj, "id", where)
    if "retweeted" in references:
        originals[post_id] = references["retweeted"]
    return TimelinePost(
        post_id=post_id,
        author_id=author_id,
        author_username=usernames.get(author_id, ""),
        text=string(obj, "text", where),
        language=obj["lang"] if isinstance(obj.get("lang"), str) and obj["lang"] else None,
        created_at=_time(field(obj, "created_at", where), f"{where}.created_at"),
        like_count=_count(metrics, "like_count", f"{where}.public_metrics"),
        repost_count=_count(metrics, "retweet_count", f"{where}.public_metrics"),
        is_reply="replied_to" in references,
        is_repost="retweeted" in references,
        hashtags=_hashtags(obj, where),
    )


def _usernames(obj: dict[str, Any]) -> dict[str, str]:
    includes = as_object(obj.get("includes") or {}, "includes")
    return {
        user.id: user.username
        for n, item in enumerate(_list(includes, "users", "includes"))
        for user in (_user_of(item, f"includes.users[{n}]"),)
    }


def _page(body: object) -> TimelinePage:
    obj = as_object(body, "the answer")
    usernames = _usernames(obj)
    originals: dict[str, str] = {}
    posts = tuple(
        _post(item, f"data[{n}]", usernames, originals)
        for n, item in enumerate(_list(obj, "data", "the answer"))
    )
    meta = as_object(field(obj, "meta", "the answer"), "meta")
    newest = meta.get("newest_id")
    if newest is not None and (not isinstance(newest, str) or not DIGITS.fullmatch(newest)):
        raise Malformed("meta.newest_id is not an id")
    token = meta.get("next_token")
    if token is not None and (not isinstance(token, str) or not token):
        raise Malformed("meta.next_token is not a token")
    if posts and newest is None:
        newest = max(posts, key=lambda post: int(post.post_id)).post_id
    return TimelinePage(posts, newest, token, originals)


def _found(body: object) -> tuple[TimelinePost, ...]:
    obj = as_object(body, "the answer")
    usernames, originals = _usernames(obj), {}
    return tuple(
        _post(item, f"data[{n}]", usernames, originals)
        for n, item in enumerate(_list(obj, "data", "the answer"))
    )


def _post_made(body: object) -> PostMade:
    data = as_object(_data(body), "data")
    return PostMade(_id(data, "id", "data"), string(data, "text", "data"))


def _reposted(body: object) -> None:
    data = as_object(_data(body), "data")
    if field(data, "retweeted", "data") is not True:
        raise Malformed("data.retweeted is not true")


def read_user(what: str, body: object) -> User:
    return _reading(what, _user, body)


def read_timeline(what: str, body: object) -> TimelinePage:
    """A timeline page (home or own posts); an empty page has no ``data`` and ``result_count`` 0."""
    return _reading(what, _page, body)


def read_posts(what: str, body: object) -> tuple[TimelinePost, ...]:
    """A lookup by ids: the posts found (the ids not found are left out)."""
    return _reading(what, _found, body)


def read_post_made(what: str, body: object) -> PostMade:
    return _reading(what, _post_made, body, action=True)


def read_reposted(what: str, body: object) -> None:
    _reading(what, _reposted, body, action=True)


def _tokens_at(now: datetime) -> Any:
    def read(body: object) -> Tokens:
        obj = as_object(body, "the answer")
        if string(obj, "token_type", "the answer").lower() != "bearer":
            raise Malformed("the answer.token_type is not bearer")
        access = string(obj, "access_token", "the answer")
        refresh = obj.get("refresh_token")
        if not access or (refresh is not None and (not isinstance(refresh, str) or not refresh)):
            raise Malformed("the answer holds an empty token")
        expires_in = obj.get("expires_in")
        if type(expires_in) not in (int, float) or not 0 < expires_in < 10**9:
            raise Malformed("the answer.expires_in is not a number of seconds")
        return Tokens(
            access,
            refresh,
            now + timedelta(seconds=expires_in),
            string(obj, "scope", "the answer", default=""),
        )

    return read


def read_tokens(what: str, body: object, now: datetime) -> Tokens:
    """The token endpoint's answer; ``expires_at`` is `now` plus ``expires_in``."""
    return _reading(what, _tokens_at(now), body)
