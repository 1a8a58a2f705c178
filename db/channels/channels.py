"""Channels: connecting one (its tokens encrypted), its state and switches, its time slots and its
notifications."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from typing import Literal

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from core.timezones import check_timezone
from db import notices
from db.base import upsert_insert, utcnow
from db.channels.models import Channel, ChannelNotification, ChannelState, ChannelToken, TimeSlot
from db.secrets import cipher
from rules.channels import check_slots

Level = Literal["info", "warning", "error"]


@dataclass(frozen=True)
class Tokens:
    """A channel's OAuth tokens, decrypted (memory only)."""

    channel_id: int
    access_token: str
    refresh_token: str | None
    expires_at: datetime

    def __repr__(self) -> str:  # never the tokens
        return f"Tokens(channel {self.channel_id}, expires {self.expires_at:%Y-%m-%d %H:%M} UTC)"


def find_channel(session: Session, channel: int | str) -> Channel:
    """The channel by id or screen name (with or without "@"); ValueError if there is none."""
    found = None
    if isinstance(channel, str):
        found = session.scalar(
            select(Channel).where(Channel.screen_name == channel.strip().removeprefix("@"))
        )
    if found is None and str(channel).isdigit():
        found = session.get(Channel, int(channel))
    if found is None:
        raise ValueError(f"there is no channel {channel!r}")
    return found


def channel_of_user(session: Session, *, platform_user_id: str) -> Channel | None:
    """The channel connected for this platform user, if any."""
    return session.scalar(select(Channel).where(Channel.platform_user_id == platform_user_id))


def connect_channel(
    session: Session,
    *,
    owner: str,
    screen_name: str,
    platform_user_id: str,
    timezone: str,
    access_token: str,
    refresh_token: str | None,
    expires_at: datetime,
    scope: str = "",
) -> Channel:
    """Store a newly authorised channel, or the new tokens of one connected before (it runs again)."""
    if not owner.strip() or len(owner) > 64:
        raise ValueError("the owner must be 1–64 characters")
    check_timezone(timezone)
    channel = session.scalar(select(Channel).where(Channel.platform_user_id == platform_user_id))
    if channel is None:
        channel = Channel(owner=owner.strip(), screen_name=screen_name, platform_user_id=platform_user_id)
        session.add(channel)
    channel.screen_name, channel.timezone = screen_name, timezone
    channel.state, channel.state_reason = ChannelState.RUNNING, None
    session.flush()
    store_tokens(
        session,
        channel_id=channel.id,
        access_token=access_token,
        refresh_token=refresh_token,
        expires_at=expires_at,
        scope=scope,
    )
    return channel


def store_tokens(
    session: Session,
    *,
    channel_id: int,
    access_token: str,
    refresh_token: str | None,
    expires_at: datetime,
    scope: str = "",
    now: datetime | None = None,
) -> None:
    """Keep a channel's tokens, each encrypted; a refresh replaces both."""
    keys = cipher()
    row = {
        "channel_id": channel_id,
        "access_token": keys.encrypt(access_token),
        "refresh_token": keys.encrypt(refresh_token) if refresh_token else None,
        "expires_at": expires_at,
        "scope": scope,
        "refreshed_at": now or utcnow(),
    }
    statement = upsert_insert(session, ChannelToken).values(row)
    fresh = {name: statement.excluded[name] for name in row if name != "channel_id"}
    session.execute(statement.on_conflict_do_update(index_elements=["channel_id"], set_=fresh))


def tokens_of(session: Session, *, channel_id: int) -> Tokens:
    """The channel's tokens, decrypted; ValueError if it has none or no key decrypts them."""
    row = session.get(ChannelToken, channel_id)
    if row is None:
        raise ValueError(f"channel {channel_id} has no tokens: connect it")
    keys = cipher()
    refresh = keys.decrypt(row.refresh_token) if row.refresh_token else None
    return Tokens(channel_id, keys.decrypt(row.access_token), refresh, row.expires_at)


def expiring(session: Session, *, within: timedelta, now: datetime | None = None) -> list[int]:
    """Running channels whose access token ends within ``within`` and that can refresh it."""
    now = now or utcnow()
    return list(
        session.scalars(
            select(ChannelToken.channel_id)
            .join(Channel, Channel.id == ChannelToken.channel_id)
            .where(
                Channel.state == ChannelState.RUNNING,
                ChannelToken.refresh_token.is_not(None),
                ChannelToken.expires_at <= now + within,
            )
            .order_by(ChannelToken.expires_at)
        )
    )


def set_state(
    session: Session,
    *,
    channel_id: int,
    state: ChannelState,
    reason: str | None,
    from_: Sequence[ChannelState] = tuple(ChannelState),
) -> bool:
    """Move the channel to ``state`` if it is in one of ``from_``; whether it moved."""
    return bool(
        session.execute(
            update(Channel)
            .where(Channel.id == channel_id, Channel.state.in_(list(from_)))
            .values(state=state, state_reason=reason, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        ).rowcount
    )


def set_switches(
    session: Session,
    *,
    channel_id: int,
    scheduling: bool | None = None,
    reposting: bool | None = None,
    hashtags: bool | None = None,
) -> None:
    """Turn the channel's scheduling, reposting and hashtags on or off (None: left as it is)."""
    values = {
        name: on
        for name, on in (
            ("scheduling_on", scheduling),
            ("reposting_on", reposting),
            ("hashtags_on", hashtags),
        )
        if on is not None
    }
    if values:
        session.execute(
            update(Channel)
            .where(Channel.id == channel_id)
            .values(**values, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )


def unauthorised(session: Session, *, channel_id: int, reason: str) -> bool:
    """The platform refused the channel's token: its work stops, with a notification (once)."""
    moved = set_state(
        session,
        channel_id=channel_id,
        state=ChannelState.UNAUTHORISED,
        reason=reason,
        from_=(ChannelState.RUNNING, ChannelState.STOPPED),
    )
    if moved:
        notify(
            session, channel_id=channel_id, level="error", text=f"unauthorised: {reason}; connect it again"
        )
    return moved


def set_slots(session: Session, *, channel_id: int, times: Sequence[time]) -> list[time]:
    """Replace the channel's posting times (local, in its time zone); returns them sorted.
    Duplicates are refused (``rules.channels.check_slots``)."""
    chosen = list(check_slots(sorted(times)))
    session.execute(delete(TimeSlot).where(TimeSlot.channel_id == channel_id))
    session.add_all(TimeSlot(channel_id=channel_id, local_time=moment) for moment in chosen)
    session.flush()
    return chosen


def slots_of(session: Session, *, channel_id: int) -> list[time]:
    return list(
        session.scalars(
            select(TimeSlot.local_time).where(TimeSlot.channel_id == channel_id).order_by(TimeSlot.local_time)
        )
    )


def notify(session: Session, *, channel_id: int, level: Level, text: str) -> None:
    session.add(ChannelNotification(channel_id=channel_id, level=level, text=text))


MILESTONE = 100  # a milestone notification every this many reposts or published posts


def note_milestones(session: Session, *, channel_id: int, what: str, before: int, after: int) -> int:
    """Notify each multiple of `MILESTONE` passed going from ``before`` to ``after`` ("100 posts
    reposted"); how many."""
    reached = range((before // MILESTONE + 1) * MILESTONE, after + 1, MILESTONE)
    for count in reached:
        notify(session, channel_id=channel_id, level="info", text=f"milestone: {count} {what}")
    return len(reached)


def notifications(
    session: Session, *, channel_id: int | None = None, limit: int = 100, offset: int = 0
) -> list[ChannelNotification]:
    """Notifications, unread first."""
    where = ChannelNotification.channel_id == channel_id if channel_id is not None else None
    return notices.unread_first(session, ChannelNotification, where=where, limit=limit, offset=offset)


def count_notifications(session: Session, *, channel_id: int | None = None) -> int:
    """How many notifications, read or not."""
    where = ChannelNotification.channel_id == channel_id if channel_id is not None else None
    return notices.count_all(session, ChannelNotification, where=where)


def unread_count(session: Session, *, channel_id: int | None = None) -> int:
    where = ChannelNotification.channel_id == channel_id if channel_id is not None else None
    return notices.count_unread(session, ChannelNotification, where=where)


def mark_read(session: Session, *, ids: Sequence[int] | None = None, channel_id: int | None = None) -> int:
    where = ChannelNotification.channel_id == channel_id if channel_id is not None else None
    return notices.mark_read(session, ChannelNotification, ids=ids, where=where)


def rotate_tokens(session: Session) -> int:
    """Encrypt every stored token with the first secret key; returns how many channels."""
    keys = cipher()
    rows = session.scalars(select(ChannelToken)).all()
    for row in rows:
        row.access_token = keys.rotate(row.access_token)
        if row.refresh_token:
            row.refresh_token = keys.rotate(row.refresh_token)
    session.flush()
    return len(rows)
