"""Syncing a connected account: its profile (details and follower counts), then its followers and
followings page by page, each page stored while the next is fetched; removals are closed only after
a complete listing."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from prefect import task

from connectors.growth.base import NetworkError
from db.base import utcnow
from db.engine import session_factory
from db.growth import graph
from db.growth.actions import needs_attention
from db.growth.models import Account
from rules.growth import ErrorKind, Page, UserRef
from tasks.growth_network import AccountLogin, CallsSpent, account_login, account_network, read


@dataclass(frozen=True)
class SyncResult:
    account_id: int
    username: str
    followers: int = 0
    followings: int = 0
    removed: int = 0
    seconds: float = 0.0
    error: str | None = None
    likes_on: bool = False  # its likes are switched on: a like job may follow the sync at once


Lister = Callable[[str, str | None], Awaitable[Page[UserRef]]]


async def _list_all(login: AccountLogin, kind: str, lister: Lister) -> tuple[int, int]:
    """Page through one list to its end, storing each page while the next one is fetched; then close
    the edges it no longer holds. Returns (users seen, edges removed)."""
    sessions = session_factory()
    started = utcnow()

    def store(users: list[UserRef]) -> None:
        with sessions.begin() as session:
            graph.store_edges(session, account_id=login.account_id, kind=kind, users=users, seen_at=started)

    seen, cursor, storing = 0, None, None
    while True:
        page = await read(login.account_id, lambda cursor=cursor: lister(login.user_id, cursor))
        if storing is not None:
            await storing
        storing = asyncio.create_task(asyncio.to_thread(store, page.items))
        seen += len(page.items)
        cursor = page.next_cursor
        if cursor is None:
            break
    await storing

    def close() -> int:
        with sessions.begin() as session:
            return graph.close_removed(session, account_id=login.account_id, kind=kind, sync_started=started)

    return seen, await asyncio.to_thread(close)


def _finish(account_id: int, error: str | None, *, challenged: bool) -> bool:
    """Record how the sync ended; whether the account's likes are on."""
    with session_factory().begin() as session:
        account = session.get(Account, account_id)
        if error is None:
            account.last_synced_at = utcnow()
        account.last_sync_error = error
        if challenged:
            needs_attention(session, account_id=account_id, reason=f"the network asks for a check ({error})")
        return account.likes_on


async def sync(account_id: int) -> SyncResult:
    """Sync one account; a failure is recorded on the account (and returned), never raised."""
    began = time.perf_counter()
    login = await asyncio.to_thread(account_login, account_id)
    counts = {"followers": 0, "followings": 0, "removed": 0}
    error, challenged = None, False
    try:
        async with account_network(login) as network:
            profile = await read(account_id, lambda: network.profile_by_id(login.user_id))

            def store_profile() -> None:
                with session_factory().begin() as session:
                    graph.store_account_profile(session, account_id=account_id, profile=profile, now=utcnow())

            await asyncio.to_thread(store_profile)
            for kind, name, lister in (
                (graph.FOLLOWER, "followers", network.followers),
                (graph.FOLLOWING, "followings", network.followings),
            ):
                seen, removed = await _list_all(login, kind, lister)
                counts[name] = seen
                counts["removed"] += removed
    except NetworkError as exc:
        error, challenged = str(exc), exc.kind is ErrorKind.CHALLENGE
    except CallsSpent as exc:
        error = str(exc)
    likes_on = await asyncio.to_thread(lambda: _finish(account_id, error, challenged=challenged))
    return SyncResult(
        account_id=account_id,
        username=login.username,
        seconds=time.perf_counter() - began,
        error=error,
        likes_on=likes_on,
        **counts,
    )


@task(task_run_name="sync account {account_id}")
async def sync_account_task(account_id: int) -> SyncResult:
    """Details, then followers and followings, of one connected account."""
    return await sync(account_id)
