"""The one interface the channels domain asks of the microblog, its records and the one error it raises.

A timeline post is the rules' record (`rules.channels.TimelinePost`), the connector's answer as the
rules judge it."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Protocol

from rules.channels import TimelinePost


class ErrorKind(StrEnum):
    """What a failed call means for the work."""

    TRANSIENT = "transient"  # try again later (5xx, a timeout before sending, a malformed answer)
    RATE_LIMITED = "rate_limited"  # wait until ``reset_at``
    UNAUTHORISED = "unauthorised"  # the token is unknown, expired or revoked: refresh or reconnect
    DUPLICATE = "duplicate"  # the same text as one of the channel's recent posts
    ALREADY_REPOSTED = "already_reposted"
    NOT_FOUND = "not_found"
    PERMANENT = "permanent"  # refused for good (too long, forbidden, bad request)
    UNKNOWN_OUTCOME = "unknown_outcome"  # a post or repost sent but not answered: check own posts


@dataclass(frozen=True)
class RateLimit:
    """The last rate-limit headers of one endpoint group."""

    limit: int
    remaining: int
    reset_at: datetime


class MicroblogError(Exception):
    """A call the microblog refused or did not answer; ``kind`` says what the work should do."""

    def __init__(
        self,
        message: str,
        kind: ErrorKind,
        *,
        reset_at: datetime | None = None,
        rate_limit: RateLimit | None = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.reset_at = reset_at
        self.rate_limit = rate_limit


@dataclass(frozen=True)
class User:
    id: str
    username: str
    name: str


@dataclass(frozen=True)
class TimelinePage:
    """Posts newest first; ``newest_id`` is the next poll's ``since_id``; ``next_token`` pages on.

    A repost's ``text`` is "RT @author: …" as the platform shows it; reposting it reposts the
    original (``originals``), so two reposts of one post are one repost."""

    posts: tuple[TimelinePost, ...]
    newest_id: str | None
    next_token: str | None
    originals: Mapping[str, str] = field(default_factory=dict)  # a repost's id → the reposted post's id


@dataclass(frozen=True)
class PostMade:
    id: str
    text: str


@dataclass(frozen=True)
class Tokens:
    """A channel's grant: ``refresh_token`` is None without the offline.access scope."""

    access_token: str
    refresh_token: str | None
    expires_at: datetime
    scope: str

    def __repr__(self) -> str:  # a token never shows in logs
        return f"Tokens(expires_at={self.expires_at.isoformat()}, scope={self.scope!r})"


class Microblog(Protocol):
    """What the channels domain asks of the microblog, as one channel (its access token).

    Every method raises MicroblogError, nothing else, for a failed call. A post or repost that got no
    answer, or a 5xx after it was sent, raises ``UNKNOWN_OUTCOME``: the caller reads `own_posts`
    before ever sending it again.
    """

    rate_limits: dict[str, RateLimit]

    async def me(self) -> User: ...
    async def user_by_username(self, username: str) -> User: ...
    async def home_timeline(
        self,
        user_id: str,
        since_id: str | None = None,
        pagination_token: str | None = None,
        max_results: int = 100,
    ) -> TimelinePage: ...
    async def posts_by_ids(self, ids: Sequence[str]) -> tuple[TimelinePost, ...]: ...
    async def create_post(self, text: str) -> PostMade: ...
    async def repost(self, user_id: str, post_id: str) -> None: ...
    async def own_posts(
        self, user_id: str, since: datetime | None = None, max_results: int = 100
    ) -> TimelinePage: ...
