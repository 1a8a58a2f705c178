"""The one interface every backend of the photo network offers, and the one error it raises."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from rules.growth import ErrorKind, Friendship, Page, Post, Profile, UserRef


class NetworkError(Exception):
    """A call the network refused or did not answer; ``kind`` says what the work should do."""

    def __init__(self, message: str, kind: ErrorKind, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.kind = kind
        self.retry_after = retry_after


@dataclass(frozen=True)
class LoggedIn:
    """A session of a connected account: who it is and the secret that stands for its login."""

    user_id: str
    username: str
    session: str


class Network(Protocol):
    """What the growth domain asks of the network, as one logged-in account.

    Every method raises NetworkError, nothing else, for a failed call. An action that timed out
    raises it with kind ``UNKNOWN_OUTCOME``: the caller checks ``has_liked`` or ``friendship``
    before ever trying it again.
    """

    async def profile(self, username: str) -> Profile: ...
    async def profile_by_id(self, user_id: str) -> Profile: ...
    async def followers(self, user_id: str, cursor: str | None = None) -> Page[UserRef]: ...
    async def followings(self, user_id: str, cursor: str | None = None) -> Page[UserRef]: ...
    async def user_posts(self, user_id: str, limit: int) -> list[Post]: ...
    async def hashtag_posts(self, tag: str, limit: int) -> list[Post]: ...
    async def location_posts(self, location_id: str, limit: int) -> list[Post]: ...
    async def like(self, post_id: str) -> None: ...
    async def has_liked(self, post_id: str) -> bool: ...
    async def follow(self, user_id: str) -> Friendship: ...
    async def unfollow(self, user_id: str) -> None: ...
    async def friendship(self, user_id: str) -> Friendship: ...
