"""What every channel task asks of the platform's answers: its rate limits as seen, kept for every
worker (``db.limits``) and announced once when reached, and a refused token refreshed or the channel
stopped as unauthorised. Shared by publishing and reposting."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy.orm import Session

from connectors.microblog.base import RateLimit
from core.pacing import LimitKey
from db import limits
from db.channels import channels as channels_db
from db.engine import session_factory
from tasks.channels_tokens import refresh_channel

SERVICE = "microblog"


def limit_key(channel_id: int, action: str) -> LimitKey:
    """The limit of one channel's ``posts`` or ``reposts`` (the platform's endpoint groups)."""
    return LimitKey(SERVICE, str(channel_id), action)


def blocked_until(channel_id: int, action: str) -> datetime | None:
    """The reset the channel's ``action`` waits for, if any worker saw its limit spent."""
    with session_factory().begin() as session:
        return limits.wait_until(session, key=limit_key(channel_id, action))


def saw_limits(channel_id: int, seen: Mapping[str, RateLimit], action: str) -> None:
    """Keep what the platform's last answer of ``action``'s group said, for every worker."""
    found = seen.get(action)
    if found is None:
        return
    with session_factory().begin() as session:
        limits.saw_limit(
            session,
            key=limit_key(channel_id, action),
            limit=found.limit,
            remaining=found.remaining,
            reset_at=found.reset_at,
        )


def limit_reached(session: Session, *, channel_id: int, action: str, reset: datetime, waiting: str) -> None:
    """The channel's ``action`` limit is spent until ``reset``: every worker waits, and its owner is
    told once (``waiting``: what waits, e.g. "3 reposts")."""
    limits.saw_limit(session, key=limit_key(channel_id, action), limit=0, remaining=0, reset_at=reset)
    channels_db.notify(
        session,
        channel_id=channel_id,
        level="info",
        text=f"{action} limit reached: {waiting} until {reset:%H:%M} UTC",
    )


async def refreshed_or_stopped(channel_id: int, reason: str) -> bool:
    """After a 401: whether the channel's token was refreshed (try again once); if it could not be,
    the channel is unauthorised, with a notification (once)."""
    if (await refresh_channel(channel_id)).ok:
        return True
    await asyncio.to_thread(stop_unauthorised, channel_id, reason)
    return False


def stop_unauthorised(channel_id: int, reason: str) -> None:
    """The platform refused the channel's token for good: its work stops, with a notification."""
    with session_factory().begin() as session:
        channels_db.unauthorised(session, channel_id=channel_id, reason=reason)
