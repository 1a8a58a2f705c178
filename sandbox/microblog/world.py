"""What changes on the microblog stand-in: the clock, grants and tokens, posts and reposts made through
the API or added by control, rate-limit windows and counters (``app.state.microblog``)."""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass, field

from sandbox.microblog.catalog import EPOCH_MS, WORLD_BIT

DUPLICATE_WINDOW_MS = 86_400_000  # a post repeating one of the channel's posts of the last day is refused
CODE_SECONDS = 30  # an authorization code is good for this long, as on X
ACTIONS = ("posts", "reposts")


@dataclass(slots=True)
class Count:
    received: int = 0
    applied: int = 0
    duplicates: int = 0
    limited: int = 0

    def as_dict(self) -> dict[str, int]:
        return {
            "received": self.received,
            "applied": self.applied,
            "duplicates": self.duplicates,
            "limited": self.limited,
        }


@dataclass(frozen=True, slots=True)
class Post:
    """A post the world keeps: made by a channel, or added to a timeline by control."""

    id: int
    author_id: str
    created_ms: int
    text: str
    lang: str
    referenced: tuple[tuple[str, str], ...] = ()


@dataclass(slots=True)
class Code:
    user_id: str
    client_id: str
    redirect_uri: str
    scope: str
    challenge: str
    method: str
    expires_at: float


@dataclass(slots=True)
class Grant:
    """One authorization of a channel: its current refresh token and the access tokens issued."""

    user_id: str
    scope: str
    refresh: str | None = None
    access: dict[str, float] = field(default_factory=dict)  # token → expires at (sandbox clock)


@dataclass(slots=True)
class Window:
    start: float
    used: int = 0


class World:
    """The mutable overlay of one sandbox app."""

    def __init__(self) -> None:
        self.offset = 0.0  # seconds the sandbox clock is ahead of the real one
        self.codes: dict[str, Code] = {}
        self.grants: dict[str, Grant] = {}  # grant id → grant
        self.access: dict[str, str] = {}  # access token → grant id
        self.refresh: dict[str, str] = {}  # refresh token → grant id
        self._reset_state()

    def _reset_state(self) -> None:
        self.posts: dict[int, Post] = {}
        self.own: dict[str, list[Post]] = {}  # user id → its posts and reposts, oldest first
        self.added: dict[str, list[Post]] = {}  # user id → posts control put in its home timeline
        self.recent_texts: dict[str, dict[str, int]] = {}  # user id → text → when posted (ms)
        self.reposted: dict[tuple[str, str], int] = {}  # (user id, original id) → the repost's id
        self.repost_counts: dict[str, int] = {}  # original id → reposts made through the API
        self.likes: dict[str, int] = {}  # post id → likes control gave it
        self.windows: dict[tuple[str, str], Window] = {}
        self.limits: dict[str, dict[str, int]] = {}  # user id → group → its own limit
        self.counts: dict[tuple[str, str], Count] = {}  # (user id, action) → counts
        self.targets: dict[tuple[str, str], Count] = {}  # (user id, original id) → repost counts
        self._last_id = 0

    # --- the clock ---

    def now(self) -> float:
        return time.time() + self.offset

    def now_ms(self) -> int:
        return int(self.now() * 1000)

    # --- authorization ---

    def new_code(self, code: Code) -> str:
        value = secrets.token_urlsafe(24)
        self.codes[value] = code
        return value

    def issue(self, grant_id: str, lifetime: int) -> tuple[str, str | None]:
        """A new access token (and a new refresh token when the grant has offline.access)."""
        grant = self.grants[grant_id]
        access = secrets.token_urlsafe(32)
        grant.access[access] = self.now() + lifetime
        self.access[access] = grant_id
        if grant.refresh is not None:
            self.refresh.pop(grant.refresh, None)
        grant.refresh = None
        if "offline.access" in grant.scope.split():
            grant.refresh = secrets.token_urlsafe(32)
            self.refresh[grant.refresh] = grant_id
        return access, grant.refresh

    def new_grant(self, user_id: str, scope: str) -> str:
        grant_id = secrets.token_hex(8)
        self.grants[grant_id] = Grant(user_id, scope)
        return grant_id

    def user_of(self, access: str) -> tuple[str, str] | None:
        """(user id, scope) of a live access token, or None (unknown, expired or revoked)."""
        grant_id = self.access.get(access)
        grant = self.grants.get(grant_id) if grant_id else None
        if grant is None or grant.access.get(access, 0) <= self.now():
            return None
        return grant.user_id, grant.scope

    def drop_grant(self, grant_id: str) -> None:
        grant = self.grants.pop(grant_id, None)
        if grant is None:
            return
        for token in grant.access:
            self.access.pop(token, None)
        if grant.refresh:
            self.refresh.pop(grant.refresh, None)

    def revoke_user(self, user_id: str) -> int:
        """Revoke every grant of `user_id`; how many access tokens that ended."""
        grants = [gid for gid, grant in self.grants.items() if grant.user_id == user_id]
        ended = sum(len(self.grants[gid].access) for gid in grants)
        for gid in grants:
            self.drop_grant(gid)
        return ended

    # --- posts ---

    def new_id(self) -> int:
        """A world post's id: a snowflake of the clock with bit 21 set, above every id given before."""
        candidate = ((self.now_ms() - EPOCH_MS) << 22) | WORLD_BIT
        self._last_id = max(candidate, self._last_id + 1) | WORLD_BIT
        return self._last_id

    def keep(self, post: Post, timeline_of: str | None = None) -> None:
        """Keep `post`: the author's own (none given) or added to `timeline_of`'s home timeline."""
        self.posts[post.id] = post
        (self.added if timeline_of else self.own).setdefault(timeline_of or post.author_id, []).append(post)

    def duplicate(self, user_id: str, text: str) -> bool:
        when = self.recent_texts.get(user_id, {}).get(text.strip())
        return when is not None and self.now_ms() - when < DUPLICATE_WINDOW_MS

    # --- limits and counters ---

    def take(self, user_id: str, group: str, limit: int, seconds: int) -> tuple[bool, int, int, int]:
        """Use one call of `group`'s window: (allowed, limit, remaining, reset at in Unix seconds)."""
        limit = self.limits.get(user_id, {}).get(group, limit)
        now = self.now()
        window = self.windows.get((user_id, group))
        if window is None or now >= window.start + seconds:
            window = self.windows[(user_id, group)] = Window(now)
        reset = int(window.start + seconds) + 1
        if window.used >= limit:
            return False, limit, 0, reset
        window.used += 1
        return True, limit, limit - window.used, reset

    def count(self, user_id: str, action: str) -> Count:
        key = (user_id, action)
        found = self.counts.get(key)
        if found is None:
            found = self.counts[key] = Count()
        return found

    def target(self, user_id: str, original: str) -> Count:
        key = (user_id, original)
        found = self.targets.get(key)
        if found is None:
            found = self.targets[key] = Count()
        return found

    def reset(self) -> None:
        """Forget posts, reposts, windows, limits, counters and the clock's offset; grants stay."""
        self._reset_state()
        self.offset = 0.0

    def reset_counters(self) -> None:
        self.counts.clear()
        self.targets.clear()
