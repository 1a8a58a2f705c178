"""What changes on the network stand-in: sessions, follows, likes, blocks, challenges and counters.

The synthetic graph (`graph.Graph`) never changes; `World` keeps the overlay on it. An edge
``(follower, followee)`` set here overrides the graph on both sides: it shows (or hides) the follower
in the followee's followers and the followee in the follower's followings. Every like, follow and
unfollow received is counted per (account, action, target): received, applied (it changed the state)
and duplicates (it found the state already so and was answered ok, as the real network does).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from itertools import islice

from sandbox.network.graph import Graph

ACTIONS = ("like", "follow", "unfollow")


@dataclass(slots=True)
class Count:
    received: int = 0
    applied: int = 0
    duplicates: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"received": self.received, "applied": self.applied, "duplicates": self.duplicates}


@dataclass
class Side:
    """One user's followers (or followings) overlay: who was added beyond the graph, and how many
    more (or fewer) there are than the graph says."""

    added: dict[int, None] = field(default_factory=dict)  # insertion-ordered set
    delta: int = 0


class World:
    """The mutable overlay of one sandbox app (``app.state.network``)."""

    def __init__(self) -> None:
        self.sessions: dict[str, int] = {}
        self.edges: dict[tuple[int, int], bool] = {}  # (follower, followee) → follows
        self.followers: dict[int, Side] = {}
        self.followings: dict[int, Side] = {}
        self.requests: set[tuple[int, int]] = set()  # (account, private user) follow requests
        self.likes: set[tuple[int, str]] = set()  # (account, media id)
        self.extra_likes: dict[str, int] = {}  # media id → likes made through the API
        self.challenged: set[int] = set()
        self.budgets: dict[int, int] = {}  # account → its own block budget (overrides the knob)
        self.used: dict[tuple[int, str], int] = {}  # (account, action) → actions past the faults
        self.counts: dict[tuple[int, str, str], Count] = {}
        self.totals: dict[tuple[int, str], Count] = {}

    # --- sessions ---

    def open_session(self, pk: int) -> str:
        token = secrets.token_urlsafe(24)
        self.sessions[token] = pk
        return token

    def revoke(self, pk: int) -> int:
        """Revoke every session of `pk`; how many there were."""
        tokens = [token for token, owner in self.sessions.items() if owner == pk]
        for token in tokens:
            del self.sessions[token]
        return len(tokens)

    # --- follows ---

    def follows(self, graph: Graph, follower: int, followee: int) -> bool:
        """Whether `follower` follows `followee`, as `follower`'s followings say."""
        edge = self.edges.get((follower, followee))
        return graph.followed_virtually(followee, follower) if edge is None else edge

    def followed_by(self, graph: Graph, account: int, other: int) -> bool:
        """Whether `other` follows `account`, as `account`'s followers say."""
        edge = self.edges.get((other, account))
        return graph.follows_virtually(other, account) if edge is None else edge

    def set_edge(self, graph: Graph, follower: int, followee: int, value: bool) -> None:
        """`follower` now follows `followee` (or not), on both sides."""
        old = self.edges.get((follower, followee))
        in_followers = graph.follows_virtually(follower, followee)
        in_followings = graph.followed_virtually(followee, follower)
        self._set_side(self.followers, followee, follower, in_followers, old, value)
        self._set_side(self.followings, follower, followee, in_followings, old, value)
        self.edges[(follower, followee)] = value

    @staticmethod
    def _set_side(
        sides: dict[int, Side], owner: int, other: int, virtual: bool, old: bool | None, value: bool
    ) -> None:
        before = virtual if old is None else old
        if before == value:
            return
        side = sides.setdefault(owner, Side())
        side.delta += 1 if value else -1
        if virtual:
            return
        if value:
            side.added[other] = None
        else:
            side.added.pop(other, None)

    @staticmethod
    def added_slice(side: Side | None, start: int, count: int) -> list[int]:
        return [] if side is None else list(islice(side.added, start, start + count))

    # --- likes ---

    def like(self, account: int, media_id: str) -> bool:
        """Like `media_id` as `account`; False when it was liked already."""
        if (account, media_id) in self.likes:
            return False
        self.likes.add((account, media_id))
        self.extra_likes[media_id] = self.extra_likes.get(media_id, 0) + 1
        return True

    # --- blocks and counters ---

    def blocked(self, account: int, action: str, default_budget: int) -> bool:
        """Whether `account` has used up its budget of `action` (a budget of 0: never blocked)."""
        budget = self.budgets.get(account, default_budget)
        return budget > 0 and self.used.get((account, action), 0) >= budget

    def use(self, account: int, action: str) -> None:
        key = (account, action)
        self.used[key] = self.used.get(key, 0) + 1

    def receive(self, account: int, action: str, target: str) -> tuple[Count, Count]:
        """Count one `action` received; (its target's count, the account's total) to mark applied."""
        key = (account, action, target)
        count = self.counts.get(key)
        if count is None:
            count = self.counts[key] = Count()
        total = self.totals.get((account, action))
        if total is None:
            total = self.totals[(account, action)] = Count()
        count.received += 1
        total.received += 1
        return count, total

    def reset_counters(self) -> None:
        self.counts.clear()
        self.totals.clear()
        self.used.clear()

    def reset(self) -> None:
        """Forget everything but the sessions: the graph as the seed made it."""
        sessions = self.sessions
        self.__init__()  # type: ignore[misc]
        self.sessions = sessions
