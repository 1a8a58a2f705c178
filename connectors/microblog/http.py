"""The microblog over HTTP (its v2 API): `microblog_client`.

Settings: ``microblog.base_url``, ``microblog.connect_timeout``, ``microblog.read_timeout`` (a post or
repost not answered within it raises ``UNKNOWN_OUTCOME``) and ``microblog.concurrency``. The access
token is sent as ``Authorization: Bearer`` and never appears in an error message. Every answer's
rate-limit headers are kept in ``rate_limits`` by endpoint group (``posts``, ``reposts``,
``timeline``, ``users``, ``own_posts``, ``lookup``), for the caller to put in the shared limiter.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import aiohttp
import httpx

from connectors.microblog import answers
from connectors.microblog.base import (
    ErrorKind,
    MicroblogError,
    PostMade,
    RateLimit,
    TimelinePage,
    TimelinePost,
    User,
)
from core.http import async_client, describe_transport_error
from core.secrets import redact
from core.settings import MicroblogSettings

API = "/2"
USER_AGENT = "Switchyard/0.1 (+channels)"
REDACTED = "[token]"
TWEET_FIELDS = "created_at,lang,public_metrics,entities,referenced_tweets,author_id"
MAX_RESULTS = 100
MIN_OWN_RESULTS = 5  # the smallest page of a user's own posts X serves

# errors that mean the request never left: a retry cannot post twice
NOT_SENT = (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError)


def _segment(value: str) -> str:
    return quote(value, safe="")


def _sent(exc: BaseException) -> bool:
    """Whether a transport error may have come after the request was sent."""
    if isinstance(exc, httpx.PoolTimeout | httpx.UnsupportedProtocol):
        return False
    return not isinstance(exc.__cause__, NOT_SENT)


def _iso(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class HttpMicroblog:
    """`connectors.microblog.base.Microblog` over HTTP, as the channel whose token the client carries."""

    def __init__(self, client: httpx.AsyncClient, access_token: str) -> None:
        self._client = client
        self._token = access_token
        self.rate_limits: dict[str, RateLimit] = {}

    async def _request(
        self,
        method: str,
        path: str,
        what: str,
        group: str,
        *,
        action: bool = False,
        params: dict[str, Any] | None = None,
        body: dict[str, Any] | None = None,
    ) -> object:
        """The JSON of a successful answer, else the MicroblogError it means."""
        try:
            response = await self._client.request(method, path, params=params, json=body)
        except (httpx.RequestError, aiohttp.ClientError, OSError) as exc:
            detail = redact(describe_transport_error(exc), self._token, REDACTED)
            if action and _sent(exc):
                raise MicroblogError(
                    f"{what}: no answer, it may or may not have been applied ({detail})",
                    ErrorKind.UNKNOWN_OUTCOME,
                ) from None
            raise MicroblogError(f"{what}: {detail}", ErrorKind.TRANSIENT) from None
        rate_limit = answers.rate_limit_of(response.headers)
        if rate_limit is not None:
            self.rate_limits[group] = rate_limit
        text = redact(response.text, self._token, REDACTED)
        try:
            decoded = json.loads(text)
        except (ValueError, RecursionError):
            decoded = None
        error = answers.error_of(what, response.status_code, decoded, rate_limit, action=action)
        if error is not None:
            raise error
        return decoded

    async def me(self) -> User:
        """The channel the token belongs to."""
        what = "the authorised user"
        return answers.read_user(what, await self._request("GET", f"{API}/users/me", what, "users"))

    async def user_by_username(self, username: str) -> User:
        what = f"user {username}"
        path = f"{API}/users/by/username/{_segment(username.removeprefix('@'))}"
        return answers.read_user(what, await self._request("GET", path, what, "users"))

    async def home_timeline(
        self,
        user_id: str,
        since_id: str | None = None,
        pagination_token: str | None = None,
        max_results: int = MAX_RESULTS,
    ) -> TimelinePage:
        """One page of the channel's home timeline, newest first: posts newer than `since_id`, from
        `pagination_token` on (the previous page's ``next_token``; pass the same `since_id` with it)."""
        what = f"home timeline of user {user_id}"
        params: dict[str, Any] = {
            "max_results": max(1, min(max_results, MAX_RESULTS)),
            "tweet.fields": TWEET_FIELDS,
            "expansions": "author_id",
        }
        if since_id:
            params["since_id"] = since_id
        if pagination_token:
            params["pagination_token"] = pagination_token
        path = f"{API}/users/{_segment(user_id)}/timelines/reverse_chronological"
        return answers.read_timeline(what, await self._request("GET", path, what, "timeline", params=params))

    async def posts_by_ids(self, ids: Sequence[str]) -> tuple[TimelinePost, ...]:
        """The posts of `ids` as they are now (their current likes), up to 100 per call; ids not
        found (deleted, or never there) are left out."""
        wanted = list(dict.fromkeys(ids))
        found: list[TimelinePost] = []
        for start in range(0, len(wanted), MAX_RESULTS):
            chunk = wanted[start : start + MAX_RESULTS]
            what = f"posts {chunk[0]}…" if len(chunk) > 1 else f"post {chunk[0]}"
            params = {"ids": ",".join(chunk), "tweet.fields": TWEET_FIELDS, "expansions": "author_id"}
            try:
                body = await self._request("GET", f"{API}/tweets", what, "lookup", params=params)
            except MicroblogError as error:
                if error.kind is ErrorKind.NOT_FOUND:  # none of them is there
                    continue
                raise
            found += answers.read_posts(what, body)
        return tuple(found)

    async def create_post(self, text: str) -> PostMade:
        """Post `text`; DUPLICATE when it repeats a recent post, UNKNOWN_OUTCOME when unanswered."""
        what = "post"
        body = await self._request("POST", f"{API}/tweets", what, "posts", action=True, body={"text": text})
        return answers.read_post_made(what, body)

    async def repost(self, user_id: str, post_id: str) -> None:
        """Repost `post_id` as `user_id` (the channel itself). The microblog answers a second repost
        of one post as a success (X's v2 does); ALREADY_REPOSTED where it refuses one."""
        what = f"repost of post {post_id}"
        path = f"{API}/users/{_segment(user_id)}/retweets"
        answers.read_reposted(
            what, await self._request("POST", path, what, "reposts", action=True, body={"tweet_id": post_id})
        )

    async def own_posts(
        self, user_id: str, since: datetime | None = None, max_results: int = MAX_RESULTS
    ) -> TimelinePage:
        """The channel's own recent posts and reposts, newest first (to resolve an unknown outcome)."""
        what = f"posts of user {user_id}"
        params: dict[str, Any] = {
            "max_results": max(MIN_OWN_RESULTS, min(max_results, MAX_RESULTS)),
            "tweet.fields": TWEET_FIELDS,
        }
        if since is not None:
            params["start_time"] = _iso(since)
        path = f"{API}/users/{_segment(user_id)}/tweets"
        return answers.read_timeline(what, await self._request("GET", path, what, "own_posts", params=params))


@asynccontextmanager
async def microblog_client(settings: MicroblogSettings, access_token: str) -> AsyncIterator[HttpMicroblog]:
    """A `Microblog` acting as the channel of `access_token`, over ``settings.concurrency``
    connections. Enter it inside the running event loop; the connections close on exit."""
    client = async_client(
        max_connections=settings.concurrency,
        timeout=httpx.Timeout(settings.read_timeout, connect=settings.connect_timeout, pool=None),
        base_url=settings.base_url.rstrip("/"),
        headers={"User-Agent": USER_AGENT, "Authorization": f"Bearer {access_token}"},
    )
    async with client:
        yield HttpMicroblog(client, access_token)
