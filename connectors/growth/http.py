"""The photo network over HTTP (its private v1 API): `login` and `network_client`.

Settings: ``network.base_url``, ``network.connect_timeout``, ``network.read_timeout`` (a like, follow
or unfollow not answered within it raises ``UNKNOWN_OUTCOME``), ``network.concurrency`` and
``network.page_size``. The session token is sent as ``Authorization: Bearer`` and never appears in an
error message.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import quote

import aiohttp
import httpx

from connectors.growth import answers
from connectors.growth.base import LoggedIn, NetworkError
from core.http import async_client, describe_transport_error
from core.secrets import redact
from core.settings import NetworkSettings
from rules.growth import ErrorKind, Friendship, Page, Post, Profile, UserRef, normalise_hashtag

API = "/api/v1"
USER_AGENT = "Switchyard/0.1 (+growth)"
REDACTED = "[session]"
FEED_PAGE = 50  # the network's largest page of posts
MAX_FEED_PAGES = 20  # a limit never makes a listing page on for ever

# errors that mean the request never left: a retry cannot apply an action twice
NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


def _segment(value: str) -> str:
    """`value` as one path segment (an id from elsewhere never walks the path)."""
    return quote(value, safe="")


def _client(settings: NetworkSettings, session: str | None) -> httpx.AsyncClient:
    headers = {"User-Agent": USER_AGENT}
    if session is not None:
        headers["Authorization"] = f"Bearer {session}"
    return async_client(
        max_connections=settings.concurrency,
        timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout, pool=None),
        base_url=settings.base_url.rstrip("/") + API,
        headers=headers,
    )


def _sent(exc: BaseException) -> bool:
    """Whether a transport error may have come after the request was sent."""
    if isinstance(exc, httpx.PoolTimeout | httpx.UnsupportedProtocol):
        return False
    return not isinstance(exc.__cause__, NOT_SENT)


async def _request(
    client: httpx.AsyncClient,
    method: str,
    path: str,
    what: str,
    *,
    secret: str,
    action: bool = False,
    params: dict[str, Any] | None = None,
    body: dict[str, Any] | None = None,
) -> object:
    """The JSON of a successful answer, else the NetworkError it means."""
    try:
        response = await client.request(method, path, params=params, json=body)
    except (httpx.RequestError, aiohttp.ClientError, OSError) as exc:
        detail = redact(describe_transport_error(exc), secret, REDACTED)
        if action and _sent(exc):
            raise NetworkError(
                f"{what}: no answer, it may or may not have been applied ({detail})",
                ErrorKind.UNKNOWN_OUTCOME,
            ) from None
        raise NetworkError(f"{what}: {detail}", ErrorKind.TRANSIENT) from None
    text = redact(response.text, secret, REDACTED)
    try:
        decoded = json.loads(text)
    except (ValueError, RecursionError):
        decoded = None
    error = answers.error_of(what, response.status_code, decoded, response.headers.get("retry-after"))
    if error is not None:
        raise error
    return decoded


async def login(settings: NetworkSettings, username: str, password: str) -> LoggedIn:
    """Log `username` in; raises NetworkError (``NOT_FOUND`` for an unknown user, ``PERMANENT`` for a
    refused password, ``CHALLENGE`` when the network wants a person to confirm)."""
    what = f"login of {username}"
    async with _client(settings, None) as client:
        body = await _request(
            client,
            "POST",
            "/accounts/login",
            what,
            secret=password,
            body={"username": username, "password": password},
        )
    return answers.read_logged_in(what, body)


class HttpNetwork:
    """`connectors.growth.base.Network` over HTTP, as the account whose session the client carries."""

    def __init__(self, client: httpx.AsyncClient, session: str, page_size: int) -> None:
        self._client = client
        self._session = session
        self._page_size = page_size

    async def _get(self, path: str, what: str, params: dict[str, Any] | None = None) -> object:
        return await _request(self._client, "GET", path, what, secret=self._session, params=params)

    async def _act(self, path: str, what: str) -> object:
        return await _request(self._client, "POST", path, what, secret=self._session, action=True)

    async def profile(self, username: str) -> Profile:
        what = f"profile of {username}"
        return answers.read_profile(what, await self._get(f"/users/{_segment(username)}/usernameinfo", what))

    async def profile_by_id(self, user_id: str) -> Profile:
        what = f"profile of user {user_id}"
        return answers.read_profile(what, await self._get(f"/users/{_segment(user_id)}/info", what))

    async def _users(self, user_id: str, kind: str, cursor: str | None) -> Page[UserRef]:
        what = f"{kind} of user {user_id}"
        params: dict[str, Any] = {"count": self._page_size}
        if cursor:
            params["max_id"] = cursor
        path = f"/friendships/{_segment(user_id)}/{'followers' if kind == 'followers' else 'following'}"
        return answers.read_users(what, await self._get(path, what, params))

    async def followers(self, user_id: str, cursor: str | None = None) -> Page[UserRef]:
        return await self._users(user_id, "followers", cursor)

    async def followings(self, user_id: str, cursor: str | None = None) -> Page[UserRef]:
        return await self._users(user_id, "followings", cursor)

    async def _posts(self, path: str, what: str, limit: int) -> list[Post]:
        """Up to `limit` posts of a feed, newest first, paging as needed."""
        posts: list[Post] = []
        cursor: str | None = None
        for _ in range(MAX_FEED_PAGES):
            if len(posts) >= limit:
                break
            params: dict[str, Any] = {"count": min(FEED_PAGE, limit - len(posts))}
            if cursor:
                params["max_id"] = cursor
            page = answers.read_posts(what, await self._get(path, what, params))
            posts += page.items
            cursor = page.next_cursor
            if cursor is None or not page.items:
                break
        return posts[:limit]

    async def user_posts(self, user_id: str, limit: int) -> list[Post]:
        return await self._posts(f"/feed/user/{_segment(user_id)}", f"posts of user {user_id}", limit)

    async def hashtag_posts(self, tag: str, limit: int) -> list[Post]:
        try:
            tag = normalise_hashtag(tag)
        except ValueError as exc:
            raise NetworkError(f"posts with {tag!r}: {exc}", ErrorKind.PERMANENT) from None
        return await self._posts(f"/feed/tag/{_segment(tag)}", f"posts with #{tag}", limit)

    async def location_posts(self, location_id: str, limit: int) -> list[Post]:
        return await self._posts(
            f"/feed/location/{_segment(location_id)}", f"posts at location {location_id}", limit
        )

    async def like(self, post_id: str) -> None:
        what = f"like of post {post_id}"
        answers.read_ok(what, await self._act(f"/media/{_segment(post_id)}/like", what), action=True)

    async def has_liked(self, post_id: str) -> bool:
        what = f"post {post_id}"
        return answers.read_post(what, await self._get(f"/media/{_segment(post_id)}/info", what)).has_liked

    async def follow(self, user_id: str) -> Friendship:
        what = f"follow of user {user_id}"
        return answers.read_friendship_status(
            what, await self._act(f"/friendships/create/{_segment(user_id)}", what)
        )

    async def unfollow(self, user_id: str) -> None:
        what = f"unfollow of user {user_id}"
        answers.read_ok(what, await self._act(f"/friendships/destroy/{_segment(user_id)}", what), action=True)

    async def friendship(self, user_id: str) -> Friendship:
        what = f"friendship with user {user_id}"
        return answers.read_friendship(what, await self._get(f"/friendships/show/{_segment(user_id)}", what))


@asynccontextmanager
async def network_client(settings: NetworkSettings, session: str) -> AsyncIterator[HttpNetwork]:
    """A `Network` acting as the account of `session`, over ``settings.concurrency`` connections.

    Enter it inside the running event loop; the connections close on exit.
    """
    async with _client(settings, session) as client:
        yield HttpNetwork(client, session, settings.page_size)
