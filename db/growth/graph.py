"""What connected accounts know of the network: users, followers and followings (first and last seen,
removals), profile snapshots and follower counts over time."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from db.base import upsert_insert
from db.growth.models import AccountDetails, Edge, FollowerCount, NetworkUser
from rules.growth import Profile, UserRef

FOLLOWER, FOLLOWING = "follower", "following"
EDGE_KINDS = (FOLLOWER, FOLLOWING)


def _in_key_order(rows: Iterable[dict]) -> list[dict]:
    """Rows of users by ``user_id``: concurrent upserts of overlapping users (syncs, follows of
    several accounts) then take the row locks in one order, so PostgreSQL never deadlocks on them."""
    return sorted(rows, key=lambda row: row["user_id"])


def store_users(session: Session, *, users: Sequence[UserRef], now: datetime) -> None:
    """Insert or refresh users as a list shows them (their profile fields are kept)."""
    rows = _in_key_order(
        {
            u.user_id: {
                "user_id": u.user_id,
                "username": u.username,
                "full_name": u.full_name,
                "is_private": u.is_private,
                "seen_at": now,
            }
            for u in users
        }.values()
    )
    if not rows:
        return
    statement = upsert_insert(session, NetworkUser)
    fresh = {name: statement.excluded[name] for name in ("username", "full_name", "is_private", "seen_at")}
    session.execute(statement.on_conflict_do_update(index_elements=["user_id"], set_=fresh), rows)


def store_profiles(session: Session, *, profiles: Sequence[Profile], now: datetime) -> None:
    """Insert or refresh users with their whole profile."""
    rows = _in_key_order(
        {
            p.user_id: {
                "user_id": p.user_id,
                "username": p.username,
                "full_name": p.full_name,
                "is_private": p.is_private,
                "is_business": p.is_business,
                "followers": p.followers,
                "followings": p.followings,
                "posts": p.posts,
                "bio": p.bio,
                "profile_at": now,
                "seen_at": now,
            }
            for p in profiles
        }.values()
    )
    if not rows:
        return
    statement = upsert_insert(session, NetworkUser)
    fresh = {name: statement.excluded[name] for name in rows[0] if name != "user_id"}
    session.execute(statement.on_conflict_do_update(index_elements=["user_id"], set_=fresh), rows)


def known_profiles(
    session: Session, *, user_ids: Iterable[str], fetched_since: datetime
) -> dict[str, Profile]:
    """The profiles fetched since ``fetched_since`` of those of ``user_ids`` we have."""
    ids = list(set(user_ids))
    if not ids:
        return {}
    rows = session.scalars(
        select(NetworkUser).where(NetworkUser.user_id.in_(ids), NetworkUser.profile_at >= fetched_since)
    )
    return {
        row.user_id: Profile(
            user_id=row.user_id,
            username=row.username,
            full_name=row.full_name,
            bio=row.bio or "",
            is_private=row.is_private,
            is_business=bool(row.is_business),
            followers=row.followers or 0,
            followings=row.followings or 0,
            posts=row.posts or 0,
        )
        for row in rows
    }


def store_account_profile(session: Session, *, account_id: int, profile: Profile, now: datetime) -> None:
    """The account's own profile: its details snapshot and one point of its follower counts."""
    details = session.get(AccountDetails, account_id) or AccountDetails(account_id=account_id)
    details.full_name, details.bio = profile.full_name, profile.bio
    details.is_private, details.is_business = profile.is_private, profile.is_business
    details.followers, details.followings, details.posts = (
        profile.followers,
        profile.followings,
        profile.posts,
    )
    details.fetched_at = now
    session.add(details)
    session.add(
        FollowerCount(
            account_id=account_id,
            at=now,
            followers=profile.followers,
            followings=profile.followings,
            posts=profile.posts,
        )
    )
    store_profiles(session, profiles=[profile], now=now)


def store_edges(
    session: Session, *, account_id: int, kind: str, users: Sequence[UserRef], seen_at: datetime
) -> None:
    """Users seen in the account's ``kind`` list now: new edges start, known ones are seen again
    (and come back if they had been removed)."""
    store_users(session, users=users, now=seen_at)
    rows = [
        {
            "account_id": account_id,
            "kind": kind,
            "user_id": user_id,
            "first_seen": seen_at,
            "last_seen": seen_at,
        }
        for user_id in sorted({u.user_id for u in users})  # in key order, as the users
    ]
    if not rows:
        return
    statement = upsert_insert(session, Edge)
    seen_again = {"last_seen": statement.excluded.last_seen, "removed_at": None}
    session.execute(
        statement.on_conflict_do_update(index_elements=["account_id", "kind", "user_id"], set_=seen_again),
        rows,
    )


def close_removed(session: Session, *, account_id: int, kind: str, sync_started: datetime) -> int:
    """After a complete listing: edges it did not see are removed now; returns how many."""
    return session.execute(
        update(Edge)
        .where(
            Edge.account_id == account_id,
            Edge.kind == kind,
            Edge.removed_at.is_(None),
            Edge.last_seen < sync_started,
        )
        .values(removed_at=sync_started)
        .execution_options(synchronize_session=False)
    ).rowcount


def add_edge(session: Session, *, account_id: int, kind: str, user: UserRef, now: datetime) -> None:
    """One edge the account made itself (a follow): seen now."""
    store_edges(session, account_id=account_id, kind=kind, users=[user], seen_at=now)


def remove_edges(
    session: Session, *, account_id: int, kind: str, user_ids: Sequence[str], now: datetime
) -> None:
    """Edges the account ended itself (unfollows)."""
    if user_ids:
        session.execute(
            update(Edge)
            .where(Edge.account_id == account_id, Edge.kind == kind, Edge.user_id.in_(list(user_ids)))
            .values(removed_at=now)
            .execution_options(synchronize_session=False)
        )


def current_edges(session: Session, *, account_id: int, kind: str, user_ids: Iterable[str]) -> set[str]:
    """Those of ``user_ids`` that are in the account's ``kind`` list now."""
    ids = list(set(user_ids))
    if not ids:
        return set()
    return set(
        session.scalars(
            select(Edge.user_id).where(
                Edge.account_id == account_id,
                Edge.kind == kind,
                Edge.removed_at.is_(None),
                Edge.user_id.in_(ids),
            )
        )
    )


def edge_counts(session: Session, *, account_id: int) -> dict[str, int]:
    """Current followers and followings of the account as the last syncs saw them."""
    rows = session.execute(
        select(Edge.kind, func.count())
        .where(Edge.account_id == account_id, Edge.removed_at.is_(None))
        .group_by(Edge.kind)
    )
    return {kind: 0 for kind in EDGE_KINDS} | dict(rows.tuples().all())


def sample_followers(
    session: Session, *, account_id: int, limit: int, exclude: Iterable[str] = ()
) -> list[UserRef]:
    """Up to ``limit`` current followers of the account in random order, none of ``exclude``."""
    excluded = list(set(exclude))
    query = (
        select(NetworkUser)
        .join(Edge, Edge.user_id == NetworkUser.user_id)
        .where(Edge.account_id == account_id, Edge.kind == FOLLOWER, Edge.removed_at.is_(None))
    )
    if excluded:
        query = query.where(NetworkUser.user_id.not_in(excluded))
    rows = session.scalars(query.order_by(func.random()).limit(limit))
    return [UserRef(r.user_id, r.username, r.full_name, r.is_private) for r in rows]
