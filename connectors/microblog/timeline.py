"""Reading a channel's home timeline a bounded number of posts at a time, newest first: shared by the
polling task (since its watermark) and the rule tester (the last N posts)."""

from __future__ import annotations

from dataclasses import dataclass, field

from connectors.microblog.base import Microblog, TimelinePost

PAGE = 100  # the most posts one timeline page holds


@dataclass(frozen=True)
class TimelineRead:
    """Posts newest first; ``newest_id``: the newest id seen (the next poll's ``since_id``), None when
    nothing was read."""

    posts: tuple[TimelinePost, ...]
    newest_id: str | None
    originals: dict[str, str] = field(default_factory=dict)  # a repost's id → the reposted post's id
    more: bool = False  # posts were left unread past ``limit``


async def read_home_timeline(
    client: Microblog, user_id: str, *, since_id: str | None = None, limit: int = 200
) -> TimelineRead:
    """Up to ``limit`` of the newest posts of ``user_id``'s home timeline (newer than ``since_id`` if
    given), page after page with the pagination token."""
    posts: list[TimelinePost] = []
    originals: dict[str, str] = {}
    newest: str | None = None
    token: str | None = None
    while len(posts) < limit:
        page = await client.home_timeline(
            user_id, since_id=since_id, pagination_token=token, max_results=min(PAGE, limit - len(posts))
        )
        posts += page.posts
        originals.update(page.originals)
        if page.newest_id and (newest is None or int(page.newest_id) > int(newest)):
            newest = page.newest_id
        token = page.next_token
        if not token or not page.posts:
            break
    return TimelineRead(tuple(posts[:limit]), newest, originals, more=bool(token))
