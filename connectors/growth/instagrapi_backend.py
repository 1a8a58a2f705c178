"""The photo network through instagrapi (a third-party client of Instagram's private API), behind the
same `Network` interface as the HTTP backend.

Using it is at the owner's risk and bound by the network's terms of use: automated access to a
private API may be refused, throttled or lead to the account being blocked. Switchyard's own tests
and demo run on the HTTP backend against the sandbox; this module is tested on instagrapi's own types
with a stand-in client, never against the real network.

instagrapi is synchronous: each call runs in a worker thread (``asyncio.to_thread``). The ``session`` of
`LoggedIn` is instagrapi's settings (cookies and device) as JSON, a secret like a password.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import TypeVar

import pydantic
from instagrapi import Client
from instagrapi import exceptions as ig
from instagrapi.types import Media, Relationship, User, UserShort

from connectors.growth.answers import hashtags_of
from connectors.growth.base import LoggedIn, NetworkError
from core.secrets import redact
from rules.growth import ErrorKind, Friendship, Page, Post, Profile, UserRef, normalise_hashtag

T = TypeVar("T")
PAGE_SIZE = 200

# the order matters: the first class an exception is an instance of decides
KINDS: tuple[tuple[type[BaseException] | tuple[type[BaseException], ...], ErrorKind], ...] = (
    ((ig.PleaseWaitFewMinutes, ig.ClientThrottledError, ig.RateLimitError), ErrorKind.THROTTLED),
    ((ig.FeedbackRequired, ig.SentryBlock), ErrorKind.BLOCKED),
    (
        (
            ig.ChallengeError,
            ig.LoginRequired,
            ig.ClientLoginRequired,
            ig.ReloginAttemptExceeded,
            ig.TwoFactorRequired,
            ig.CaptchaChallengeRequired,
            ig.AccountSuspended,
            ig.ClientUnauthorizedError,
        ),
        ErrorKind.CHALLENGE,
    ),
    ((ig.NotFoundError, ig.ClientNotFoundError), ErrorKind.NOT_FOUND),
    ((ig.BadPassword, ig.BadCredentials, ig.PrivateAccount), ErrorKind.PERMANENT),
    (
        (ig.ClientJSONDecodeError, ig.ClientUnknownError, ig.UnknownError, pydantic.ValidationError),
        ErrorKind.TRANSIENT,
    ),
)
NO_ANSWER = (ig.ClientRequestTimeout, ig.ClientIncompleteReadError, ig.ClientConnectionError, OSError)
CAUGHT = (ig.ClientError, pydantic.ValidationError, OSError, AssertionError)


def error_of(exc: BaseException, what: str, *, action: bool = False) -> NetworkError:
    """The NetworkError an instagrapi exception means for `what` (an action's lost answer: unknown)."""
    detail = str(exc) or type(exc).__name__
    if len(detail) > 200:
        detail = detail[:199] + "…"
    message = f"{what}: {type(exc).__name__}: {detail}"
    if isinstance(exc, NO_ANSWER):
        kind = ErrorKind.UNKNOWN_OUTCOME if action else ErrorKind.TRANSIENT
        return NetworkError(message, kind)
    if isinstance(exc, AssertionError):  # instagrapi asserts a login before acting
        return NetworkError(message, ErrorKind.CHALLENGE)
    for classes, kind in KINDS:
        if isinstance(exc, classes):
            return NetworkError(message, kind)
    code = getattr(exc, "code", None)
    if isinstance(code, int) and code >= 500:
        return NetworkError(message, ErrorKind.TRANSIENT)
    return NetworkError(message, ErrorKind.PERMANENT)


def user_ref(user: UserShort) -> UserRef:
    return UserRef(str(user.pk), user.username or "", user.full_name or "", bool(user.is_private))


def profile(user: User) -> Profile:
    return Profile(
        user_id=str(user.pk),
        username=user.username,
        full_name=user.full_name or "",
        bio=user.biography or "",
        is_private=user.is_private,
        is_business=user.is_business,
        followers=user.follower_count,
        followings=user.following_count,
        posts=user.media_count,
    )


def post(media: Media) -> Post:
    caption = media.caption_text or ""
    location = media.location
    return Post(
        post_id=media.id,
        owner=user_ref(media.user),
        taken_at=media.taken_at,
        like_count=media.like_count,
        caption=caption,
        hashtags=hashtags_of(caption),
        location_id=None if location is None or location.pk is None else str(location.pk),
        has_liked=bool(media.has_liked),
    )


def friendship(relationship: Relationship) -> Friendship:
    return Friendship(relationship.following, relationship.followed_by, relationship.outgoing_request)


class InstagrapiNetwork:
    """`connectors.growth.base.Network` over a logged-in instagrapi ``Client``."""

    def __init__(self, client: Client, page_size: int = PAGE_SIZE) -> None:
        self._client = client
        self._page_size = page_size

    async def _run(self, what: str, call: Callable[[], T], *, action: bool = False) -> T:
        try:
            return await asyncio.to_thread(call)
        except CAUGHT as exc:
            raise error_of(exc, what, action=action) from None

    async def profile(self, username: str) -> Profile:
        user = await self._run(
            f"profile of {username}", lambda: self._client.user_info_by_username_v1(username)
        )
        return profile(user)

    async def profile_by_id(self, user_id: str) -> Profile:
        return profile(
            await self._run(f"profile of user {user_id}", lambda: self._client.user_info_v1(user_id))
        )

    async def followers(self, user_id: str, cursor: str | None = None) -> Page[UserRef]:
        users, next_id = await self._run(
            f"followers of user {user_id}",
            lambda: self._client.user_followers_v1_chunk(user_id, self._page_size, cursor or ""),
        )
        return Page([user_ref(user) for user in users], next_id or None)

    async def followings(self, user_id: str, cursor: str | None = None) -> Page[UserRef]:
        users, next_id = await self._run(
            f"followings of user {user_id}",
            lambda: self._client.user_following_v1_chunk(user_id, self._page_size, cursor or ""),
        )
        return Page([user_ref(user) for user in users], next_id or None)

    async def user_posts(self, user_id: str, limit: int) -> list[Post]:
        medias = await self._run(
            f"posts of user {user_id}", lambda: self._client.user_medias_v1(user_id, limit)
        )
        return [post(media) for media in medias[:limit]]

    async def hashtag_posts(self, tag: str, limit: int) -> list[Post]:
        try:
            name = normalise_hashtag(tag)
        except ValueError as exc:
            raise NetworkError(f"posts with {tag!r}: {exc}", ErrorKind.PERMANENT) from None
        medias = await self._run(
            f"posts with #{name}", lambda: self._client.hashtag_medias_recent_v1(name, limit)
        )
        return [post(media) for media in medias[:limit]]

    async def location_posts(self, location_id: str, limit: int) -> list[Post]:
        what = f"posts at location {location_id}"
        if not (location_id.isascii() and location_id.isdigit()):
            raise NetworkError(f"{what}: a location id is a number", ErrorKind.NOT_FOUND)
        medias = await self._run(
            what, lambda: self._client.location_medias_recent_v1(int(location_id), limit)
        )
        return [post(media) for media in medias[:limit]]

    async def like(self, post_id: str) -> None:
        await self._run(f"like of post {post_id}", lambda: self._client.media_like(post_id), action=True)

    async def has_liked(self, post_id: str) -> bool:
        media = await self._run(
            f"post {post_id}", lambda: self._client.media_info_v1(Client.media_pk(post_id))
        )
        return bool(media.has_liked)

    async def follow(self, user_id: str) -> Friendship:
        what = f"follow of user {user_id}"
        await self._run(what, lambda: self._client.user_follow(user_id), action=True)
        return await self.friendship(user_id)

    async def unfollow(self, user_id: str) -> None:
        await self._run(
            f"unfollow of user {user_id}", lambda: self._client.user_unfollow(user_id), action=True
        )

    async def friendship(self, user_id: str) -> Friendship:
        relationship = await self._run(
            f"friendship with user {user_id}", lambda: self._client.user_friendship_v1(user_id)
        )
        return friendship(relationship)


async def login(username: str, password: str, *, client: Client | None = None) -> LoggedIn:
    """Log in through instagrapi; the session is its settings as JSON (keep it secret)."""
    client = client or Client()

    def run() -> LoggedIn:
        client.login(username, password)
        return LoggedIn(str(client.user_id), client.username or username, json.dumps(client.get_settings()))

    try:
        return await asyncio.to_thread(run)
    except CAUGHT as exc:
        error = error_of(exc, f"login of {username}")
        raise NetworkError(redact(str(error), password, "[password]"), error.kind) from None


def instagrapi_network(
    session: str, *, client: Client | None = None, page_size: int = PAGE_SIZE
) -> InstagrapiNetwork:
    """A `Network` acting with the instagrapi settings `session` (from `login`), without logging in again."""
    client = client or Client()
    try:
        client.set_settings(json.loads(session))
    except (ValueError, TypeError, AttributeError) as exc:
        raise NetworkError(
            f"instagrapi session: unreadable ({type(exc).__name__})", ErrorKind.CHALLENGE
        ) from None
    return InstagrapiNetwork(client, page_size)
